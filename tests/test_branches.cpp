// Branches not taken: the adjoint of the side of max, min, relu, abs or clamp that did not win
// contributes exactly 0, even where that side's own partial is inf or nan (log(y), sqrt(y) at
// y = 0); ties in max reductions share the adjoint. Checked through the interpreter and the JIT at every simplification level, in second
// order, in printed derivatives that parse back, and in tensor kernels. The expected values are
// worked out by hand (and agree with PyTorch wherever PyTorch's gradient is finite).
#include <gtest/gtest.h>

#include <limits>
#include <tuple>

#include "runtime/fd_check.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct BranchCase {
  const char* expr;  // in x and y
  double x, y;
  double dx, dy;     // expected, exactly
};

void PrintTo(const BranchCase& c, std::ostream* os) { *os << c.expr; }

const BranchCase kCases[] = {
    // The two cases: log(0) = -inf and sqrt's partial at 0 are on the side not taken.
    {"max(x, log(y))", 1, 0, 1, 0},
    {"min(x, sqrt(y))", -1, 0, 1, 0},
    // relu, abs and a clamp around a branch whose partial is inf at 0
    {"relu(log(y)) + x", 1, 0, 1, 0},
    {"abs(sqrt(y)) + x", 1, 0, 1, 0},
    {"min(max(log(y), -1), 1) + x", 1, 0, 1, 0},
    // An infinite adjoint meeting the side not taken (PyTorch: 0 for x, as here)
    {"sqrt(max(x, 0)) + y", -1, 2, 0, 1},
    {"sqrt(relu(x)) + y", -1, 2, 0, 1},
    {"log(max(x, y))", 1, 0, 1, 0},
    // The side taken keeps its own infinity; away from the kinks, the ordinary derivative.
    {"min(x, sqrt(y))", 1, 0, 0, kInf},
    {"max(x, log(y))", 1, 4, 0, 0.25},
    {"min(x, sqrt(y))", 3, 4, 0, 0.25},
};

class UntakenBranch : public ::testing::TestWithParam<BranchCase> {};

// Exact equality (0 must be 0, not nan): EXPECT_EQ on doubles is false for nan.
void expect_gradient(const std::vector<double>& got, const BranchCase& c, const char* how) {
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], c.dx) << how << ": df/dx";
  EXPECT_EQ(got[1], c.dy) << how << ": df/dy";
}

TEST_P(UntakenBranch, InterpreterAndJitAtEveryLevel) {
  const BranchCase& c = GetParam();
  const std::vector<double> at{c.x, c.y};
  for (Simplify level : {Simplify::None, Simplify::Fold, Simplify::Full}) {
    SCOPED_TRACE(::testing::Message() << "simplify level " << static_cast<int>(level));
    auto m = compile_text(std::string("fn f(x, y) = ") + c.expr, level != Simplify::None);
    const Function& f = *m->find("f");
    Builder b(m->graph, level);
    auto outs = value_and_derivatives(b, f.body, f.params, /*hessian=*/false);
    auto interp = evaluate(outs, f.params, at);
    expect_gradient({interp[1], interp[2]}, c, "interpreter");
    Kernel k = shared_jit().compile(KernelSpec{"branch", f.params, outs});
    std::vector<double> jit(outs.size());
    k.single(at.data(), jit.data());
    expect_gradient({jit[1], jit[2]}, c, "jit");
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, UntakenBranch, ::testing::ValuesIn(kCases));

// Second order: the side not taken stays exactly 0 in the Hessian too.
TEST(UntakenBranchHessian, MaxOfLogIsZero) {
  auto m = compile_text("fn f(x, y) = max(x, log(y))");
  const Function& f = *m->find("f");
  Builder b(m->graph, Simplify::Fold);
  auto outs = value_and_derivatives(b, f.body, f.params, /*hessian=*/true);
  std::vector<double> at{1, 0}, jit(outs.size());
  shared_jit().compile(KernelSpec{"hess", f.params, outs}).single(at.data(), jit.data());
  EXPECT_EQ(jit, (std::vector<double>{1, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(evaluate(outs, f.params, at), jit);
}

// The printed derivative spells the selection `mask(c, x)` and parses back to the same numbers.
TEST(UntakenBranchPrinted, ParsesBackToTheSameValue) {
  auto m = compile_text("fn f(x, y) = max(x, log(y))");
  const Function& f = *m->find("f");
  Builder b(m->graph);
  auto g = simplify(m->graph, gradient(b, f.body, f.params));
  EXPECT_EQ(print_inline(g[1], Format::Text), "mask(step(log(y) - x), 1/y)");
  EXPECT_EQ(rendered(print_inline(g[1], Format::Latex)),
            "\\operatorname{mask}\\left(\\operatorname{step}\\left(\\ln\\left(y\\right) - x\\right), \\frac{1}{y}\\right)");
  auto back = compile_text("fn d(x, y) = " + print_inline(g[1], Format::Text));
  const Function& d = *back->find("d");
  for (std::vector<double> at : {std::vector<double>{1, 0}, {1, 4}, {2, 0.5}}) {
    double original = evaluate(std::span<const Node* const>(&g[1], 1), f.params, at)[0];
    double reparsed = evaluate(std::span<const Node* const>(&d.body, 1), d.params, at)[0];
    EXPECT_EQ(original, reparsed) << "at y = " << at[1];
  }
  EXPECT_EQ(evaluate(std::span<const Node* const>(&d.body, 1), d.params, std::vector<double>{1, 0})[0], 0);
  EXPECT_EQ(evaluate(std::span<const Node* const>(&d.body, 1), d.params, std::vector<double>{1, 4})[0], 0.25);
}

// No guard where nothing can leak: derivatives without kinks, or kinks with finite partials,
// print as products.
TEST(UntakenBranchPrinted, NoMaskWithoutAnInfinitePartial) {
  auto grad_text = [](const char* src, std::size_t i) {
    auto m = compile_text(src);
    const Function& f = *m->find("f");
    Builder b(m->graph);
    return print_inline(simplify(m->graph, gradient(b, f.body, f.params))[i], Format::Text);
  };
  EXPECT_EQ(grad_text("fn f(x, y) = log(x*y)", 0), "1/(x*y)*y");
  EXPECT_EQ(grad_text("fn f(x) = relu(x)", 0), "step(x)");
  EXPECT_EQ(grad_text("fn f(x, y) = max(x, sin(y))", 1), "step(sin(y) - x)*cos(y)");
  EXPECT_EQ(grad_text("fn f(x, y) = max(x, atan(y))", 1), "step(atan(y) - x)/(1 + y^2)");
}

// The mask op itself: mask(0, x) is 0 for any x; elsewhere c*x.
TEST(MaskOp, SelectsRatherThanMultiplies) {
  auto m = compile_text("fn f(c, x) = mask(c, x)", /*simplify=*/false);
  const Function& f = *m->find("f");
  Kernel k = shared_jit().compile(KernelSpec{"mask", f.params, std::vector<const Node*>{f.body}});
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (auto [c, x, want] : {std::tuple{0.0, kInf, 0.0}, {0.0, nan, 0.0}, {0.0, -kInf, 0.0}, {2.0, 3.0, 6.0},
                            {-1.0, kInf, -kInf}, {1.0, 0.5, 0.5}}) {
    std::vector<double> in{c, x}, out(1);
    k.single(in.data(), out.data());
    EXPECT_EQ(out[0], want) << "jit mask(" << c << ", " << x << ")";
    EXPECT_EQ(evaluate(std::span<const Node* const>(&f.body, 1), f.params, in)[0], want)
        << "interpreter mask(" << c << ", " << x << ")";
  }
}

// A tensor kernel: sum(relu(log(W))) with a 0 in W. Hand computed: relu'(log w) / w, with
// relu'(0) = 0 at w = 1 and the side not taken (log 0 = -inf) exactly 0.
TEST(UntakenBranchTensor, ReluOfLogWithAZero) {
  for (DType dtype : {DType::F64, DType::F32}) {
    Graph g;
    Builder b(g, Simplify::Fold);
    const Node* w = g.var("W", Shape{5});
    const Node* loss = b.sum(b.call(Op::Relu, b.call(Op::Log, w)), -1);
    auto outs = value_and_derivatives(b, loss, std::vector<const Node*>{w}, false);
    std::vector<const Node*> in{w};
    if (dtype == DType::F32) {
      in = retype(g, in, dtype);
      outs = retype(g, outs, dtype);
    }
    Kernel k = shared_jit().compile(KernelSpec{"relu_log", in, outs, /*batch=*/false, dtype});
    const std::vector<double> values{0, 1, 2, 4, 0.5};
    const std::vector<double> want{0, 0, 0.5, 0.25, 0};
    std::vector<double> got(6);
    if (dtype == DType::F64) {
      k.single(values.data(), got.data());
    } else {
      std::vector<float> vf(values.begin(), values.end()), of(6);
      k.single_f32(vf.data(), of.data());
      got.assign(of.begin(), of.end());
    }
    EXPECT_NEAR(got[0], std::log(2.0) + std::log(4.0), 1e-6);
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[1 + i], want[i]) << dtype_str(dtype) << " W[" << i << "]";
    auto interp = evaluate_tensors(outs, in, std::vector<Tensor>{Tensor{Shape{5}, values}});
    EXPECT_EQ(interp[1].data, want);
  }
}

// Ties in max reductions share the adjoint equally (PyTorch's amax): hand-computed gradients of
// max(W) + sum(max(W, axis = a)), through the interpreter and the JIT.
TEST(ReduceMaxTies, ShareTheAdjointEqually) {
  struct TieCase {
    Shape shape;
    int axis;
    std::vector<double> w, want;
  };
  const TieCase cases[] = {
      // ones: 1/4 from max(W), 1/2 from each column's maximum
      {Shape{2, 2}, 0, {1, 1, 1, 1}, {0.75, 0.75, 0.75, 0.75}},
      // max(W) = 3 twice: 1/2 each; each column's maximum is one of those 3s
      {Shape{2, 2}, 0, {1, 3, 3, 2}, {0, 1.5, 1.5, 0}},
      // rows [2, 2, 1] and [0, 5, 5]: max(W) = 5 twice; each row's maximum twice
      {Shape{2, 3}, 1, {2, 2, 1, 0, 5, 5}, {0.5, 0.5, 0, 0, 1, 1}},
      // no tie: the whole adjoint to the maximum
      {Shape{3}, 0, {0.5, -1, 0.25}, {2, 0, 0}},
  };
  for (const TieCase& c : cases) {
    Graph g;
    Builder b(g, Simplify::Fold);
    const Node* w = g.var("W", c.shape);
    const Node* by_axis = b.reduce_max(w, c.axis);
    const Node* loss = b.add(b.reduce_max(w, -1), by_axis->shape.scalar() ? by_axis : b.sum(by_axis, -1));
    auto outs = value_and_derivatives(b, loss, std::vector<const Node*>{w}, false);
    auto interp = evaluate_tensors(outs, std::vector<const Node*>{w}, std::vector<Tensor>{Tensor{c.shape, c.w}});
    EXPECT_EQ(interp[1].data, c.want) << "interpreter, shape " << c.shape.str();
    Kernel k = shared_jit().compile(KernelSpec{"ties", std::vector<const Node*>{w}, outs});
    std::vector<double> got(1 + c.w.size());
    k.single(c.w.data(), got.data());
    EXPECT_EQ(std::vector<double>(got.begin() + 1, got.end()), c.want) << "jit, shape " << c.shape.str();
  }
}

// check's verdict: central differences, else a subgradient between one-sided derivatives.
TEST(CheckPartial, KinkAcceptsOnlyValuesBetweenTheOneSidedDerivatives) {
  auto abs_at_0 = [](double t) { return std::fabs(t); };
  PartialCheck zero = check_partial(abs_at_0, 0, 1e-3, 1e-6);  // central differences see 0
  EXPECT_TRUE(zero.good);
  EXPECT_FALSE(zero.kink);
  EXPECT_EQ(zero.fd, 0);
  PartialCheck sub = check_partial(abs_at_0, -0.5, 1e-3, 1e-6);
  EXPECT_TRUE(sub.good);
  EXPECT_TRUE(sub.kink);
  EXPECT_NEAR(sub.left, -1, 1e-12);
  EXPECT_NEAR(sub.right, 1, 1e-12);
  PartialCheck outside = check_partial(abs_at_0, 1.5, 1e-3, 1e-6);
  EXPECT_FALSE(outside.good);
  EXPECT_FALSE(outside.kink);
  // Smooth: t^2 + 3t has derivative 3 at 0; 3.1 is no subgradient of anything.
  auto smooth = [](double t) { return t * t + 3 * t; };
  PartialCheck right = check_partial(smooth, 3, 1e-3, 1e-6);
  EXPECT_TRUE(right.good);
  EXPECT_FALSE(right.kink);
  PartialCheck wrong = check_partial(smooth, 3.1, 1e-3, 1e-6);
  EXPECT_FALSE(wrong.good);
  EXPECT_FALSE(wrong.kink);
  EXPECT_NEAR(wrong.left, 3, 1e-6);
  EXPECT_NEAR(wrong.right, 3, 1e-6);
}

}  // namespace
}  // namespace gradc::test
