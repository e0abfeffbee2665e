// The random-expression oracle: 500 generated .grad functions of x, y, z. For each, the
// compiled gradient and Hessian agree with finite differences, the JIT agrees with the
// interpreter, and the printed derivative, parsed back and compiled, gives the same numbers.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>

#include "support/helpers.hpp"

namespace gradc::test {
namespace {

// Random expressions that are smooth and defined on the sampled box [-1.5, 1.5]^3: domains
// are guarded by construction (log(1 + u^2), sqrt(2 + sin(u)), division by 2 + cos(u), ...).
class Generator {
 public:
  explicit Generator(unsigned seed) : rng_(seed) {}

  std::string expr(int depth) {
    int pick = depth <= 0 ? 0 : uniform(0, 22);
    switch (pick) {
      case 0: case 1: case 2: return leaf();
      case 3: return fmt("{} + {}", expr(depth - 1), expr(depth - 1));
      case 4: return fmt("{} - {}", expr(depth - 1), paren(expr(depth - 1)));
      case 5: case 6: return fmt("{} * {}", paren(expr(depth - 1)), paren(expr(depth - 1)));
      case 7: return fmt("{} / (2 + cos({}))", paren(expr(depth - 1)), expr(depth - 1));
      case 8: return fmt("sin({})", expr(depth - 1));
      case 9: return fmt("cos({})", expr(depth - 1));
      case 10: return fmt("tanh({})", expr(depth - 1));
      case 11: return fmt("exp(sin({}))", expr(depth - 1));
      case 12: return fmt("log(1 + ({})^2)", expr(depth - 1));
      case 13: return fmt("sqrt(2 + sin({}))", expr(depth - 1));
      case 14: return fmt("atan({})", expr(depth - 1));
      case 15: return fmt("sigmoid({})", expr(depth - 1));
      case 16: return fmt("softplus({})", expr(depth - 1));
      case 17: return fmt("(1.5 + cos({}))^{}", expr(depth - 1), std::to_string(uniform(-2, 3)));
      case 18: return fmt("pow(2 + sin({}), cos({}))", expr(depth - 1), expr(depth - 1));
      case 19: return fmt("lgamma(2 + sin({}))", expr(depth - 1));
      case 20: return fmt("log1p(({})^2)", expr(depth - 1));
      case 21: return fmt("expm1(sin({}))", expr(depth - 1));
      default: return fmt("-{}", paren(expr(depth - 1)));
    }
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string leaf() {
    const char* vars[] = {"x", "y", "z"};
    int k = uniform(0, 5);
    if (k < 4) return vars[k % 3];
    return k == 4 ? std::to_string(uniform(1, 5)) : "0.5";
  }
  static std::string paren(const std::string& s) { return "(" + s + ")"; }
  template <class... A>
  static std::string fmt(const char* f, A&&... a) {
    return ::fmt::format(::fmt::runtime(f), std::forward<A>(a)...);
  }
  std::mt19937 rng_;
};

TEST(Oracle, FiveHundredRandomExpressions) {
  Generator gen(20261126);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> coord(-1.5, 1.5);
  int checked = 0;
  for (int i = 0; i < 500; ++i) {
    std::string src = "fn f(x, y, z) = " + gen.expr(4);
    SCOPED_TRACE(src);
    auto m = compile_text(src);
    const Function& f = *m->find("f");
    Builder b(m->graph);
    auto grad = gradient(b, f.body, f.params);
    auto hess = hessian(b, f.body, f.params);
    std::vector<const Node*> outs{f.body};
    outs.insert(outs.end(), grad.begin(), grad.end());
    for (auto& row : hess) outs.insert(outs.end(), row.begin(), row.end());
    Kernel k = shared_jit().compile(KernelSpec{"oracle", f.params, outs});

    // The printed derivatives, read back as a .grad program.
    std::string printed;
    for (std::size_t v = 0; v < 3; ++v) {
      Printed p = print(std::span<const Node* const>(&grad[v], 1), Format::Text);
      printed += ::fmt::format("fn d{}(x, y, z) {{\n", v);
      for (auto& [t, def] : p.temps) printed += ::fmt::format("  {} = {}\n", t, def);
      printed += ::fmt::format("  return {}\n}}\n", p.results[0]);
    }
    auto back = compile_text(printed);
    std::vector<const Node*> back_roots;
    for (const char* name : {"d0", "d1", "d2"}) back_roots.push_back(back->find(name)->body);

    std::vector<double> out(outs.size()), tmp(outs.size());
    for (int trial = 0; trial < 2; ++trial) {
      std::vector<double> p{coord(rng), coord(rng), coord(rng)};
      k.single(p.data(), out.data());
      auto value = [&](const std::vector<double>& x) {
        k.single(x.data(), tmp.data());
        return tmp[0];
      };
      auto interp = evaluate(outs, f.params, p);
      auto reread = evaluate(back_roots, back->find("d0")->params, p);
      for (std::size_t v = 0; v < 3; ++v) {
        EXPECT_LT(rel_err(out[1 + v], finite_difference(value, p, v)), 1e-6) << "gradient " << v;
        EXPECT_LT(rel_err(reread[v], out[1 + v]), 1e-12) << "printed derivative " << v << ":\n" << printed;
        for (std::size_t w = 0; w < 3; ++w) {
          auto gv = [&](const std::vector<double>& x) {
            k.single(x.data(), tmp.data());
            return tmp[1 + v];
          };
          EXPECT_LT(rel_err(out[4 + 3 * v + w], finite_difference(gv, p, w)), 1e-5) << "hessian " << v << w;
        }
      }
      for (std::size_t j = 0; j < outs.size(); ++j) EXPECT_LT(rel_err(out[j], interp[j]), 1e-12) << "jit vs interp " << j;
      ++checked;
    }
    if (HasFailure()) break;  // one clear failure beats five hundred
  }
  EXPECT_EQ(checked, 1000);
}

}  // namespace
}  // namespace gradc::test
