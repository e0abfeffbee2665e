// Test helpers: compile .grad text in memory, evaluate through the interpreter and the JIT,
// and finite differences as an independent reference.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/interp.hpp"
#include "compiler/lower.hpp"
#include "compiler/print.hpp"
#include "io/csv.hpp"
#include "runtime/jit.hpp"
#include "latex_log.hpp"

namespace gradc::test {

inline std::unique_ptr<Module> compile_text(const std::string& text, bool simplify = true) {
  return compile_module(SourceFile{"test.grad", text}, simplify, read_csv);
}

/// The message of the InputError that compiling text throws, as `line:col: message`; `path` is
/// the file's name (csv paths resolve against its folder).
inline std::string compile_error(const std::string& text, const std::string& path = "test.grad") {
  SourceFile src{path, text};
  try {
    compile_module(src, true, read_csv);
  } catch (const InputError& e) {
    auto lc = src.line_col(e.loc);
    return std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + e.what();
  }
  return "no error";
}

/// Central difference with Richardson extrapolation (error O(h^4)) of f along coordinate i.
inline double finite_difference(const std::function<double(const std::vector<double>&)>& f,
                                std::vector<double> x, std::size_t i, double h = 1e-3) {
  double x0 = x[i];
  auto central = [&](double hh) {
    x[i] = x0 + hh;
    double up = f(x);
    x[i] = x0 - hh;
    double down = f(x);
    return (up - down) / (2 * hh);
  };
  return (4 * central(h / 2) - central(h)) / 3;
}

inline double rel_err(double a, double b) {
  return std::fabs(a - b) / std::max({1.0, std::fabs(a), std::fabs(b)});
}

/// Each element of each gradient d[i] (of the scalar f with respect to vars[i], at `values`)
/// against a Richardson-extrapolated central difference of f, evaluated by the interpreter.
inline void expect_gradients_match_differences(const Node* f, std::span<const Node* const> d,
                                               std::span<const Node* const> vars,
                                               const std::vector<Tensor>& values, double tol,
                                               const std::string& label) {
  auto at = [&](const std::vector<Tensor>& v) { return evaluate_tensors(std::span(&f, 1), vars, v)[0].data[0]; };
  auto dv = evaluate_tensors(d, vars, values);
  for (std::size_t i = 0; i < vars.size(); ++i) {
    ASSERT_EQ(dv[i].shape, vars[i]->shape) << label << ": gradient of " << vars[i]->name;
    for (std::size_t e = 0; e < values[i].data.size(); ++e) {
      std::vector<Tensor> v = values;
      double x0 = v[i].data[e];
      auto central = [&](double hh) {
        v[i].data[e] = x0 + hh;
        double up = at(v);
        v[i].data[e] = x0 - hh;
        return (up - at(v)) / (2 * hh);
      };
      double fd = (4 * central(5e-5) - central(1e-4)) / 3;
      EXPECT_LT(rel_err(dv[i].data[e], fd), tol) << label << ": d/d" << vars[i]->name << "[" << e << "]";
    }
  }
}

inline Jit& shared_jit() {
  static std::unique_ptr<Jit> jit = Jit::create();
  return *jit;
}

}  // namespace gradc::test
