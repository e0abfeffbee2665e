// `gradc eval --jacobian/--jvp/--vjp` as a user runs it, against references written here: each
// vector function again in C++, its Jacobian by central differences of that C++ code.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/process.hpp"
#include "support/temp_dir.hpp"

namespace gradc::test {
namespace {

using Vec = std::vector<double>;
using Matrix = std::vector<Vec>;

struct Case {
  std::string name, source;
  std::vector<std::string> params;
  std::vector<std::size_t> sizes;  // per parameter: 0 a scalar, n a vector of n
  Vec at;                          // every parameter's elements, in order
  std::function<Vec(const Vec&)> f;  // the same function in C++, of the flattened parameters
};

std::vector<Case> cases() {
  return {
      {"polar", "fn polar(r, t) = [r*cos(t), r*sin(t)]\n", {"r", "t"}, {0, 0}, {1.7, 0.6},
       [](const Vec& x) { return Vec{x[0] * std::cos(x[1]), x[0] * std::sin(x[1])}; }},
      // A planar two-link arm (links 1.5 and 0.8): the hand's position from the joint angles.
      {"arm", "fn arm(a, b) = [1.5*cos(a) + 0.8*cos(a + b), 1.5*sin(a) + 0.8*sin(a + b)]\n", {"a", "b"}, {0, 0},
       {0.4, -1.1},
       [](const Vec& x) {
         return Vec{1.5 * std::cos(x[0]) + 0.8 * std::cos(x[0] + x[1]), 1.5 * std::sin(x[0]) + 0.8 * std::sin(x[0] + x[1])};
       }},
      // Spherical to Cartesian: 3 x 3.
      {"sph", "fn sph(r, t, p) = [r*sin(t)*cos(p), r*sin(t)*sin(p), r*cos(t)]\n", {"r", "t", "p"}, {0, 0, 0},
       {2.0, 0.9, -0.3},
       [](const Vec& x) {
         return Vec{x[0] * std::sin(x[1]) * std::cos(x[2]), x[0] * std::sin(x[1]) * std::sin(x[2]), x[0] * std::cos(x[1])};
       }},
      // More inputs than outputs (auto picks reverse mode): R^3 -> R^2.
      {"wide", "fn wide(x, y, z) = [x*y*exp(z), log(x^2 + y^2) - z]\n", {"x", "y", "z"}, {0, 0, 0},
       {0.8, -1.3, 0.25},
       [](const Vec& x) { return Vec{x[0] * x[1] * std::exp(x[2]), std::log(x[0] * x[0] + x[1] * x[1]) - x[2]}; }},
      // Tensor parameters: the arm's angles in one vector, and a vector with a scalar.
      {"arm2", "fn arm2(q[2]) = [1.5*cos(q[0]) + 0.8*cos(q[0] + q[1]), 1.5*sin(q[0]) + 0.8*sin(q[0] + q[1])]\n",
       {"q"}, {2}, {0.4, -1.1},
       [](const Vec& x) {
         return Vec{1.5 * std::cos(x[0]) + 0.8 * std::cos(x[0] + x[1]), 1.5 * std::sin(x[0]) + 0.8 * std::sin(x[0] + x[1])};
       }},
      {"mix", "fn mix(x[3], s) = [x[0]*x[1]*s, exp(x[2])*sin(s), sum(x*x)/s, x[1] - x[0]]\n", {"x", "s"}, {3, 0},
       {0.5, -0.7, 0.3, 1.3},
       [](const Vec& x) {
         return Vec{x[0] * x[1] * x[3], std::exp(x[2]) * std::sin(x[3]), (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]) / x[3],
                    x[1] - x[0]};
       }},
  };
}

// `x=[1.5, 2], s=3` for the flattened values v, given for the parameters in `which`.
std::string values_arg(const Case& c, const Vec& v, const std::vector<bool>& which) {
  std::string out;
  std::size_t e = 0;
  for (std::size_t p = 0; p < c.params.size(); ++p) {
    std::size_t n = std::max<std::size_t>(1, c.sizes[p]);
    if (which[p]) {
      std::string value;
      for (std::size_t i = 0; i < n; ++i) value += (i ? "," : "") + std::to_string(v[e + i]);
      out += (out.empty() ? "" : ",") + c.params[p] + "=" + (c.sizes[p] ? "[" + value + "]" : value);
    }
    e += n;
  }
  return out;
}

Matrix central_differences(const Case& c) {
  Matrix J(c.f(c.at).size(), Vec(c.at.size()));
  for (std::size_t j = 0; j < c.at.size(); ++j) {
    double h = 1e-5 * std::max(1.0, std::fabs(c.at[j]));
    Vec a = c.at, b = c.at;
    a[j] += h;
    b[j] -= h;
    Vec fa = c.f(a), fb = c.f(b);
    for (std::size_t i = 0; i < J.size(); ++i) J[i][j] = (fa[i] - fb[i]) / (2 * h);
  }
  return J;
}

class CliJacobian : public InTempDir {
 protected:
  nlohmann::json eval(const Case& c, std::vector<std::string> extra) {
    {
      std::ofstream(c.name + ".grad") << c.source;
    }
    std::string at = values_arg(c, c.at, std::vector<bool>(c.params.size(), true));
    std::vector<std::string> argv{GRADC_BINARY, "eval", c.name + ".grad", "--json", "--at", at};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessResult r = run_program(argv, "").value();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return nlohmann::json::parse(r.out);
  }
};

TEST_F(CliJacobian, MatchesCentralDifferencesInEveryMode) {
  for (const Case& c : cases()) {
    // std::to_string's six decimals are the point gradc evaluates at.
    Case rounded = c;
    for (double& x : rounded.at) x = std::stod(std::to_string(x));
    Matrix fd = central_differences(rounded);
    Vec value = rounded.f(rounded.at);
    Matrix by_mode[3];
    const char* modes[] = {"fwd", "rev", "auto"};
    for (int k = 0; k < 3; ++k) {
      SCOPED_TRACE(c.name + " --mode " + modes[k]);
      nlohmann::json out = eval(rounded, {"--jacobian", "--mode", modes[k]});
      ASSERT_EQ(out["value"].size(), value.size());
      for (std::size_t i = 0; i < value.size(); ++i) EXPECT_NEAR(out["value"][i].get<double>(), value[i], 1e-14);
      ASSERT_EQ(out["jacobian"].size(), fd.size());
      for (std::size_t i = 0; i < fd.size(); ++i) {
        ASSERT_EQ(out["jacobian"][i].size(), fd[i].size());
        Vec row;
        for (std::size_t j = 0; j < fd[i].size(); ++j) {
          double got = out["jacobian"][i][j].get<double>();
          EXPECT_NEAR(got, fd[i][j], 1e-8 * std::max(1.0, std::fabs(fd[i][j]))) << "J[" << i << "][" << j << "]";
          row.push_back(got);
        }
        by_mode[k].push_back(row);
      }
    }
    // Forward and reverse mode agree up to rounding.
    for (std::size_t i = 0; i < fd.size(); ++i)
      for (std::size_t j = 0; j < fd[i].size(); ++j) {
        EXPECT_NEAR(by_mode[0][i][j], by_mode[1][i][j], 1e-15 * std::max(1.0, std::fabs(fd[i][j])));
        EXPECT_EQ(by_mode[2][i][j], by_mode[fd[i].size() <= fd.size() ? 0 : 1][i][j]);
      }
  }
}

TEST_F(CliJacobian, ProductsWithGivenVectorsAreJvAndUJ) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Case rounded = c;
    for (double& x : rounded.at) x = std::stod(std::to_string(x));
    Matrix J = central_differences(rounded);
    // v: 1, -2, 3, ... for every parameter but the last (left out: zero), or the only one.
    std::vector<bool> given(c.params.size(), true);
    if (c.params.size() > 1) given.back() = false;
    Vec v(c.at.size(), 0.0);
    std::size_t tangents = 0;
    for (std::size_t p = 0; p < c.params.size(); ++p) tangents += given[p] ? std::max<std::size_t>(1, c.sizes[p]) : 0;
    for (std::size_t j = 0; j < tangents; ++j) v[j] = (j % 2 ? -1.0 : 1.0) * static_cast<double>(j + 1);
    std::string jvp = values_arg(c, v, given);
    Vec u(J.size());
    std::string vjp = "[";
    for (std::size_t i = 0; i < u.size(); ++i) {
      u[i] = 0.5 - static_cast<double>(i);
      vjp += (i ? "," : "") + std::to_string(u[i]);
    }
    vjp += "]";
    nlohmann::json out = eval(rounded, {"--jvp", jvp, "--vjp", vjp});
    for (std::size_t i = 0; i < J.size(); ++i) {
      double want = 0;
      for (std::size_t j = 0; j < v.size(); ++j) want += J[i][j] * v[j];
      EXPECT_NEAR(out["jvp"][i].get<double>(), want, 1e-8) << "jvp[" << i << "]";
    }
    std::size_t j = 0;
    for (std::size_t p = 0; p < c.params.size(); ++p)
      for (std::size_t e = 0; e < std::max<std::size_t>(1, c.sizes[p]); ++e, ++j) {
        double want = 0;
        for (std::size_t i = 0; i < J.size(); ++i) want += u[i] * J[i][j];
        const nlohmann::json& got = out["vjp"][c.params[p]];
        EXPECT_NEAR((c.sizes[p] ? got[e] : got).get<double>(), want, 1e-8) << "vjp " << c.params[p] << " " << e;
      }
  }
}

// diff --jacobian's text reads back: each entry's line (`darm[0]/da = EXPR`) or block function
// (`fn darm_0_da(a, b) {...}`), compiled again by gradc, gives eval --jacobian's number.
TEST_F(CliJacobian, PrintedEntriesReadBackAsTheirValues) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Case rounded = c;
    for (double& x : rounded.at) x = std::stod(std::to_string(x));
    nlohmann::json want = eval(rounded, {"--jacobian"});
    ProcessResult d = run_program({GRADC_BINARY, "diff", c.name + ".grad", "--jacobian"}, "").value();
    ASSERT_EQ(d.exit_code, 0) << d.err;
    // Each entry as a function e_I_J of the parameters.
    std::string params, program;
    for (std::size_t j = 0; j < c.params.size(); ++j)
      params += (j ? ", " : "") + c.params[j] + (c.sizes[j] ? "[" + std::to_string(c.sizes[j]) + "]" : "");
    std::istringstream lines(d.out);
    std::string line;
    std::vector<std::string> names;
    std::size_t entries = 0;
    while (std::getline(lines, line)) {
      if (line.rfind("# ", 0) == 0) continue;  // a block's heading comment
      if (line.rfind("fn ", 0) == 0) {          // a block: kept as it is, named by position
        std::string name = "e" + std::to_string(entries++);
        program += "fn " + name + line.substr(line.find('(')) + "\n";
        names.push_back(name);
        continue;
      }
      std::size_t eq = line.find(" = ");
      if (line.rfind("d" + c.name + "[", 0) == 0 && eq != std::string::npos) {
        std::string name = "e" + std::to_string(entries++);
        program += "fn " + name + "(" + params + ") = " + line.substr(eq + 3) + "\n";
        names.push_back(name);
      } else {
        program += line + "\n";  // inside a block
      }
    }
    const std::size_t cols = c.at.size();
    ASSERT_EQ(names.size(), want["jacobian"].size() * cols) << d.out;
    {
      std::ofstream("entries.grad") << program;
    }
    std::string at = values_arg(c, c.at, std::vector<bool>(c.params.size(), true));
    for (std::size_t k = 0; k < names.size(); ++k) {
      ProcessResult r = run_program({GRADC_BINARY, "eval", "entries.grad", "--fn", names[k], "--at", at, "--json"}, "").value();
      ASSERT_EQ(r.exit_code, 0) << r.err << program;
      double got = nlohmann::json::parse(r.out)["value"].get<double>();
      double expected = want["jacobian"][k / cols][k % cols].get<double>();
      EXPECT_NEAR(got, expected, 1e-12 * std::max(1.0, std::fabs(expected))) << names[k] << "\n" << program;
    }
  }
}

}  // namespace
}  // namespace gradc::test
