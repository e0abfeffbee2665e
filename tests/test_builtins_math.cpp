// The NumPy-named built-ins where, clip, norm, diag, tril, triu: values against NumPy's results
// written here, first and second derivatives against finite differences, the conventions at
// the edges (a branch not taken is exactly 0, norm'(0) = 0, clip at its bounds as PyTorch's
// clamp), and the JIT (f64 and f32) against the interpreter.
#include <gtest/gtest.h>

#include <random>

#include "support/helpers.hpp"

namespace gradc::test {
namespace {

// `decls` then `fn f(s) = expr`: f's body with the parameters and s as variables.
struct Program {
  std::unique_ptr<Module> m;
  const Node* f = nullptr;
  std::vector<const Node*> vars;  // the params in order, then s
};

Program program(const std::string& decls, const std::string& expr) {
  Program p;
  p.m = compile_text(decls + "fn f(s) = " + expr + "\n");
  const Function& fn = *p.m->find("f");
  p.f = fn.body;
  for (const Param& q : p.m->params) p.vars.push_back(q.var);
  p.vars.push_back(fn.params[0]);
  return p;
}

std::vector<double> values_of(const Program& p, std::vector<Tensor> values) {
  return evaluate_tensors(std::span(&p.f, 1), p.vars, values)[0].data;
}

// Value of each of NumPy's examples (`s` unused, the data written as literals).
TEST(MathBuiltins, ValuesAsNumPy) {
  struct Case {
    const char* expr;
    std::vector<double> want;  // row-major
  };
  const Case cases[] = {
      {"where([1, 0, -2, 0.5], [1, 2, 3, 4], [10, 20, 30, 40])", {1, 20, 3, 4}},
      {"where([[1], [0]], [1, 2], 7)", {1, 2, 7, 7}},  // broadcast like np.where
      {"clip([-2, 0.5, 3, 1], 0, 1)", {0, 0.5, 1, 1}},
      {"clip([-2, 0.5, 3], 2, 1)", {1, 1, 1}},  // lo > hi: hi, as np.clip
      {"clip([-2, 0.5, 3], [0, 1, 2], 2.5)", {0, 1, 2.5}},
      {"norm([3, 4])", {5}},
      {"norm([[1, 2], [3, 4]])", {std::sqrt(30.0)}},  // Frobenius, as np.linalg.norm
      {"norm([[3, 4], [6, 8]], axis = 1)", {5, 10}},
      {"norm([[3, 4], [6, 8]], 0)", {std::sqrt(45.0), std::sqrt(80.0)}},
      {"norm([[3, 4], [6, 8]], axis = -1)", {5, 10}},
      {"norm(-2)", {2}},
      {"norm([0, 0])", {0}},
      {"diag([1, 2, 3])", {1, 0, 0, 0, 2, 0, 0, 0, 3}},
      {"diag([[1, 2, 3], [4, 5, 6]])", {1, 5}},
      {"diag([[1, 2], [3, 4], [5, 6]])", {1, 4}},
      {"tril([[1, 2, 3], [4, 5, 6], [7, 8, 9]])", {1, 0, 0, 4, 5, 0, 7, 8, 9}},
      {"tril([[1, 2, 3], [4, 5, 6], [7, 8, 9]], 1)", {1, 2, 0, 4, 5, 6, 7, 8, 9}},
      {"tril([[1, 2, 3], [4, 5, 6]], k = -1)", {0, 0, 0, 4, 0, 0}},
      {"triu([[1, 2, 3], [4, 5, 6], [7, 8, 9]])", {1, 2, 3, 0, 5, 6, 0, 0, 9}},
      {"triu([[1, 2, 3], [4, 5, 6], [7, 8, 9]], k = -1)", {1, 2, 3, 4, 5, 6, 0, 8, 9}},
      {"triu([[1, 2, 3], [4, 5, 6]], 2)", {0, 0, 3, 0, 0, 0}},
      {"tril([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])", {1, 0, 3, 4, 5, 0, 7, 8}},  // the last two axes
  };
  for (const Case& c : cases) {
    Program p = program("", c.expr);
    EXPECT_EQ(values_of(p, {Tensor::scalar(0)}), c.want) << c.expr;
  }
}

// Inf and nan where they are not taken do not leak; nan where it is taken does (np.clip).
TEST(MathBuiltins, ExactZerosAndNan) {
  Program p = program("", "tril(log([[1, 0], [2, 3]]))");  // log(0) = -inf above the diagonal
  EXPECT_EQ(values_of(p, {Tensor::scalar(0)}), (std::vector<double>{0, 0, std::log(2.0), std::log(3.0)}));
  p = program("", "diag(1/[[1, 0], [0, 4]])");  // inf off the diagonal
  EXPECT_EQ(values_of(p, {Tensor::scalar(0)}), (std::vector<double>{1, 0.25}));
  p = program("", "where([0, 1], log([-1, 2]), 5)");  // nan in the branch not taken
  EXPECT_EQ(values_of(p, {Tensor::scalar(0)}), (std::vector<double>{5, std::log(2.0)}));
  p = program("", "clip(log(-1), 0, 1)");
  EXPECT_TRUE(std::isnan(values_of(p, {Tensor::scalar(0)})[0]));
}

// The gradient of f at `values` with respect to every variable, through the interpreter.
std::vector<Tensor> gradients(Program& p, const std::vector<Tensor>& values) {
  Builder b(p.m->graph);
  return evaluate_tensors(gradient(b, p.f, p.vars), p.vars, values);
}

TEST(MathBuiltins, DerivativeConventions) {
  // where: the branch not taken gets exactly 0, though log'(0) = inf and log'(-1) is nan.
  Program p = program("param v[3] = zeros\n", "sum(where(step(v), log(v), s*v))");
  auto g = gradients(p, {Tensor{Shape{3}, {1, 0, -1}}, Tensor::scalar(2)});
  EXPECT_EQ(g[0].data, (std::vector<double>{1, 2, 2}));
  EXPECT_EQ(g[1].data, (std::vector<double>{-1}));  // d/ds = the v not taken: 0 + (-1)
  // norm at 0: gradient 0 (torch.linalg.norm), not nan; elsewhere v/norm(v).
  p = program("param v[3] = zeros\n", "s*norm(v)");
  g = gradients(p, {Tensor{Shape{3}, {0, 0, 0}}, Tensor::scalar(2)});
  EXPECT_EQ(g[0].data, (std::vector<double>{0, 0, 0}));
  g = gradients(p, {Tensor{Shape{3}, {2, -1, 2}}, Tensor::scalar(2)});
  EXPECT_EQ(g[0].data, (std::vector<double>{4.0 / 3, -2.0 / 3, 4.0 / 3}));
  // clip(x, lo, hi): x gets the gradient where lo <= x <= hi, bounds included (torch.clamp);
  // lo where x < lo; hi where x > hi.
  p = program("param x[5] = zeros\nparam lo[1] = zeros\nparam hi[1] = zeros\n", "sum([1, 2, 3, 4, 5] * clip(x, lo, hi))");
  g = gradients(p, {Tensor{Shape{5}, {-1, 0, 0.5, 1, 2}}, Tensor{Shape{1}, {0}}, Tensor{Shape{1}, {1}}, Tensor::scalar(0)});
  EXPECT_EQ(g[0].data, (std::vector<double>{0, 2, 3, 4, 0}));
  EXPECT_EQ(g[1].data, (std::vector<double>{1}));
  EXPECT_EQ(g[2].data, (std::vector<double>{5}));
  // lo > hi: hi everywhere, and all of the gradient to hi.
  g = gradients(p, {Tensor{Shape{5}, {-1, 0, 0.5, 1, 2}}, Tensor{Shape{1}, {1}}, Tensor{Shape{1}, {0}}, Tensor::scalar(0)});
  EXPECT_EQ(g[0].data, (std::vector<double>{0, 0, 0, 0, 0}));
  EXPECT_EQ(g[1].data, (std::vector<double>{0}));
  EXPECT_EQ(g[2].data, (std::vector<double>{15}));
  // tril of log: the gradient above the diagonal is exactly 0 although log'(0) = inf.
  p = program("param A[2, 2] = zeros\n", "sum(tril(log(A)))");
  g = gradients(p, {Tensor{Shape{2, 2}, {2, 0, 4, 5}}, Tensor::scalar(0)});
  EXPECT_EQ(g[0].data, (std::vector<double>{0.5, 0, 0.25, 0.2}));
}

// First and second order against finite differences, and the JIT against the interpreter.
struct DerivCase {
  const char* name;
  const char* decls;
  const char* expr;
  std::vector<Tensor> at;  // one per param, then s
};

std::vector<DerivCase> deriv_cases() {
  const char* mats = "param A[3, 3] = zeros\nparam v[3] = zeros\ndata W = [[0.5, -1, 2], [1.5, 0.25, -0.75], [1, 2, 3]]\n";
  Tensor A{Shape{3, 3}, {0.3, -1.2, 0.8, 1.1, 0.45, -0.6, -0.9, 0.7, 1.3}};
  Tensor v{Shape{3}, {0.4, -1.3, 0.9}};
  Tensor s = Tensor::scalar(0.7);
  return {
      {"where", mats, "sum(W * where([[1, 0, 1], [0, 1, 0], [1, 1, 0]], sin(A*s), exp(A) * v))", {A, v, s}},
      {"where_cond_of_params", mats, "sum(W * where(step(A), A^2, s*A))", {A, v, s}},
      {"clip", mats, "sum(W * clip(A * s, -0.5, v))", {A, v, s}},
      {"norm", mats, "norm(A * s + v)", {A, v, s}},
      {"norm_axis", mats, "sum([1, -2, 3] * norm(A * s, axis = 0)) + s*norm(v)", {A, v, s}},
      {"diag_vector", mats, "sum(W * exp(diag(v * s)))", {A, v, s}},
      {"diag_matrix", mats, "sum(v * diag(A @ A) * s)", {A, v, s}},
      {"tril", mats, "sum(W * tril(A * A, -1)) + s*sum(tril(A))", {A, v, s}},
      {"triu", mats, "sum(W * triu(sin(A) * s, 1)) + sum(triu(A*A))", {A, v, s}},
  };
}

class MathBuiltinDerivatives : public ::testing::TestWithParam<DerivCase> {};

TEST_P(MathBuiltinDerivatives, FirstAndSecondOrderMatchFiniteDifferences) {
  const DerivCase& c = GetParam();
  Program p = program(c.decls, c.expr);
  ASSERT_TRUE(p.f->shape.scalar());
  Builder b(p.m->graph);
  std::vector<const Node*> g = gradient(b, p.f, p.vars);
  // Second order along fixed weights: q = sum over variables of sum(w_i * g_i); its gradient
  // is the Hessian times w.
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0.5, 2);
  const Node* q = b.constant(0);
  for (const Node* gi : g) {
    std::vector<double> w(static_cast<std::size_t>(gi->shape.size()));
    for (double& x : w) x = u(rng);
    const Node* wi = gi->shape.scalar() ? b.constant(w[0]) : b.graph().tensor(gi->shape, w);
    q = b.add(q, gi->shape.scalar() ? b.mul(wi, gi) : b.sum(b.mul(wi, gi), -1));
  }
  std::vector<const Node*> h = gradient(b, q, p.vars);
  expect_gradients_match_differences(p.f, g, p.vars, c.at, 1e-7, "first order");
  expect_gradients_match_differences(q, h, p.vars, c.at, 1e-6, "second order");

  // The JIT computes the same value, gradient and second order.
  std::vector<const Node*> outs{p.f};
  outs.insert(outs.end(), g.begin(), g.end());
  outs.insert(outs.end(), h.begin(), h.end());
  std::vector<Tensor> ref = evaluate_tensors(outs, p.vars, c.at);
  Kernel k = shared_jit().compile(KernelSpec{"builtin", p.vars, outs, false});
  std::vector<double> in, out(k.num_outputs);
  for (const Tensor& t : c.at) in.insert(in.end(), t.data.begin(), t.data.end());
  k.single(in.data(), out.data());
  std::size_t at = 0;
  for (const Tensor& r : ref)
    for (double want : r.data) EXPECT_LT(rel_err(out[at++], want), 1e-12) << "JIT output " << at - 1;

  // In f32: the same up to rounding (relative to the largest output).
  std::vector<const Node*> outs32 = retype(p.m->graph, outs, DType::F32);
  std::vector<const Node*> vars32 = retype(p.m->graph, p.vars, DType::F32);
  Kernel k32 = shared_jit().compile(KernelSpec{"builtin32", vars32, outs32, false, DType::F32});
  std::vector<float> in32(in.begin(), in.end()), out32(k32.num_outputs);
  k32.single_f32(in32.data(), out32.data());
  double scale = 1;
  for (const Tensor& r : ref)
    for (double want : r.data) scale = std::max(scale, std::fabs(want));
  at = 0;
  for (const Tensor& r : ref)
    for (double want : r.data) EXPECT_LT(std::fabs(out32[at++] - want), 1e-4 * scale) << "f32 JIT output " << at - 1;
}

INSTANTIATE_TEST_SUITE_P(EachBuiltin, MathBuiltinDerivatives, ::testing::ValuesIn(deriv_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gradc::test
