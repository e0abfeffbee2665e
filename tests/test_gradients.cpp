// Table-driven gradient tests: every op, first and second order, in reverse mode, against
// central finite differences; the JIT against the interpreter on the same backward IR.
#include <gtest/gtest.h>

#include <set>

#include "support/helpers.hpp"

namespace gradc::test {
namespace {

struct OpCase {
  Op op;
  const char* expr;  // in the variables a, b
  std::vector<std::vector<double>> points;
};

void PrintTo(const OpCase& c, std::ostream* os) { *os << c.expr; }

const std::vector<OpCase>& cases() {
  static const std::vector<OpCase> kCases = {
      {Op::Add, "a + b", {{0.3, -1.2}, {2, 5}}},
      {Op::Sub, "a - b", {{0.3, -1.2}, {2, 5}}},
      {Op::Mul, "a * b", {{0.3, -1.2}, {2, 5}}},
      {Op::Div, "a / b", {{0.3, -1.2}, {2, 5}}},
      {Op::Pow, "a ^ b", {{0.7, 1.3}, {2, -0.5}, {1.5, 3}}},
      {Op::Neg, "-a", {{0.3, 0}, {-2, 0}}},
      {Op::Sin, "sin(a)", {{0.3, 0}, {2.5, 0}}},
      {Op::Cos, "cos(a)", {{0.3, 0}, {2.5, 0}}},
      {Op::Tan, "tan(a)", {{0.3, 0}, {-1.1, 0}}},
      {Op::Asin, "asin(a)", {{0.3, 0}, {-0.8, 0}}},
      {Op::Acos, "acos(a)", {{0.3, 0}, {-0.8, 0}}},
      {Op::Atan, "atan(a)", {{0.3, 0}, {-4, 0}}},
      {Op::Sinh, "sinh(a)", {{0.3, 0}, {-2, 0}}},
      {Op::Cosh, "cosh(a)", {{0.3, 0}, {-2, 0}}},
      {Op::Tanh, "tanh(a)", {{0.3, 0}, {-2, 0}}},
      {Op::Exp, "exp(a)", {{0.3, 0}, {-2, 0}}},
      {Op::Log, "log(a)", {{0.3, 0}, {7, 0}}},
      {Op::Sqrt, "sqrt(a)", {{0.3, 0}, {7, 0}}},
      {Op::Abs, "abs(a)", {{0.3, 0}, {-7, 0}}},
      {Op::Sigmoid, "sigmoid(a)", {{0.3, 0}, {-3, 0}}},
      {Op::Relu, "relu(a)", {{0.3, 0}, {-3, 0}}},
      {Op::Softplus, "softplus(a)", {{0.3, 0}, {-3, 0}, {40, 0}}},
      {Op::Min, "min(a, b)", {{0.3, -1.2}, {2, 5}}},
      {Op::Max, "max(a, b)", {{0.3, -1.2}, {2, 5}}},
      {Op::Step, "step(a)", {{0.3, 0}, {-3, 0}}},
      {Op::Sign, "sign(a)", {{0.3, 0}, {-3, 0}}},
      {Op::Mask, "mask(a, b)", {{0.3, -1.2}, {2, 5}}},
      {Op::Lgamma, "lgamma(a)", {{0.3, 0}, {2.5, 0}, {-1.5, 0}, {30, 0}}},
      {Op::Log1p, "log1p(a)", {{0.3, 0}, {-0.5, 0}, {1e-3, 0}}},
      {Op::Expm1, "expm1(a)", {{0.3, 0}, {-2, 0}, {1e-3, 0}}},
      {Op::Digamma, "digamma(a)", {{0.3, 0}, {4.5, 0}, {-2.5, 0}}},
      {Op::Polygamma, "polygamma(2, a)", {{0.7, 0}, {3, 0}, {-1.5, 0}}},
  };
  return kCases;
}

TEST(GradientTable, CoversEveryOp) {
  std::set<Op> covered;
  for (const OpCase& c : cases()) covered.insert(c.op);
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    if (!op_info(op).elementwise || op_info(op).syntax == Syntax::Leaf) continue;  // tensor ops: test_tensor_gradients
    EXPECT_TRUE(covered.count(op)) << "no gradient test row for op '" << op_info(op).name << "'";
  }
}

class GradientTable : public ::testing::TestWithParam<OpCase> {};

TEST_P(GradientTable, FirstAndSecondOrderMatchFiniteDifferences) {
  const OpCase& c = GetParam();
  auto m = compile_text(std::string("fn f(a, b) = ") + c.expr, /*simplify=*/false);
  const Function& f = *m->find("f");
  ASSERT_EQ(f.body->op, c.op) << "the row's expression must test its own op";
  Builder b(m->graph, /*simplify=*/false);
  auto grad = gradient(b, f.body, f.params);
  auto hess = hessian(b, f.body, f.params);

  std::vector<const Node*> outs{f.body};
  outs.insert(outs.end(), grad.begin(), grad.end());
  for (auto& row : hess) outs.insert(outs.end(), row.begin(), row.end());
  Kernel k = shared_jit().compile(KernelSpec{"op_case", f.params, outs});

  for (const auto& p : c.points) {
    SCOPED_TRACE(::testing::Message() << c.expr << " at (" << p[0] << ", " << p[1] << ")");
    auto value = [&](const std::vector<double>& x) { return evaluate(std::vector<const Node*>{f.body}, f.params, x)[0]; };
    auto interp = evaluate(outs, f.params, p);
    for (int i = 0; i < 2; ++i) {
      EXPECT_LT(rel_err(interp[1 + i], finite_difference(value, p, i)), 1e-8) << "d/d" << "ab"[i];
      for (int j = 0; j < 2; ++j) {
        auto gi = [&](const std::vector<double>& x) { return evaluate(std::vector<const Node*>{grad[i]}, f.params, x)[0]; };
        EXPECT_LT(rel_err(interp[3 + 2 * i + j], finite_difference(gi, p, j)), 1e-6)
            << "d2/d" << "ab"[i] << "d" << "ab"[j];
      }
    }
    std::vector<double> jit(outs.size());
    k.single(p.data(), jit.data());
    for (std::size_t i = 0; i < outs.size(); ++i) EXPECT_LT(rel_err(jit[i], interp[i]), 1e-14) << "output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOp, GradientTable, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(op_id(info.param.op)); });

// Documented conventions at kinks: relu'(0) = 0, abs'(0) = 0, and at a tie max and min pass
// the adjoint to their first argument.
TEST(GradientConventions, Kinks) {
  auto grad_at = [](const char* expr, std::vector<double> p) {
    auto m = compile_text(std::string("fn f(a, b) = ") + expr);
    const Function& f = *m->find("f");
    Builder b(m->graph);
    return evaluate(gradient(b, f.body, f.params), f.params, p);
  };
  EXPECT_EQ(grad_at("relu(a) + 0*b", {0, 0}), (std::vector<double>{0, 0}));
  EXPECT_EQ(grad_at("abs(a) + 0*b", {0, 0}), (std::vector<double>{0, 0}));
  EXPECT_EQ(grad_at("max(a, b)", {2, 2}), (std::vector<double>{1, 0}));
  EXPECT_EQ(grad_at("min(a, b)", {2, 2}), (std::vector<double>{1, 0}));
  EXPECT_EQ(grad_at("max(a, b)", {1, 2}), (std::vector<double>{0, 1}));
  EXPECT_EQ(grad_at("min(a, b)", {1, 2}), (std::vector<double>{1, 0}));
}

// Fan-out: a value used twice gets the sum of both adjoints.
TEST(Gradient, FanOutAccumulates) {
  auto m = compile_text("fn f(x) { s = sin(x)\n return s * s + s }");
  const Function& f = *m->find("f");
  Builder b(m->graph);
  double x = 0.7;
  double g = evaluate(gradient(b, f.body, f.params), f.params, std::vector<double>{x})[0];
  EXPECT_NEAR(g, 2 * std::sin(x) * std::cos(x) + std::cos(x), 1e-15);
}

// The lecture's values, computed by hand: a = 1, b = sin 1.2, c = a/b, d = 3c, e = ln(1 + d).
TEST(Gradient, LectureByHand) {
  auto m = compile_text("fn f(x, y, z) = tanh(log(1 + z * (2*x / sin(y))))");
  const Function& f = *m->find("f");
  Builder b(m->graph);
  auto g = gradient(b, f.body, f.params);
  double x = 0.5, y = 1.2, z = 3;
  double a = 2 * x, bb = std::sin(y), c = a / bb, d = z * c, e = std::log(1 + d);
  double dfde = 1 - std::tanh(e) * std::tanh(e);
  double dfdx = dfde * (1 / (1 + d)) * z * (1 / bb) * 2;
  double dfdy = dfde * (1 / (1 + d)) * z * (-a / (bb * bb)) * std::cos(y);
  double dfdz = dfde * (1 / (1 + d)) * c;
  auto v = evaluate(g, f.params, std::vector<double>{x, y, z});
  EXPECT_NEAR(v[0], dfdx, 1e-15);
  EXPECT_NEAR(v[1], dfdy, 1e-15);
  EXPECT_NEAR(v[2], dfdz, 1e-15);
}

// Higher orders come from differentiating backward IR again: d^4/dx^4 sin(2x) = 16 sin(2x).
TEST(Gradient, FourthOrder) {
  auto m = compile_text("fn f(x) = sin(2*x)");
  const Function& f = *m->find("f");
  Builder b(m->graph);
  const Node* d = f.body;
  for (int i = 0; i < 4; ++i) d = gradient(b, d, f.params)[0];
  EXPECT_NEAR(evaluate(std::vector<const Node*>{d}, f.params, std::vector<double>{0.3})[0], 16 * std::sin(0.6), 1e-13);
}

}  // namespace
}  // namespace gradc::test
