// Gradients of every tensor op against finite differences (f64, through the interpreter):
// broadcasting, reductions along each axis, matrix products, indexing; second order where
// defined. The same reverse-mode pass as for scalars.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <set>

#include "support/helpers.hpp"

namespace gradc::test {
namespace {

// A scalar loss of the inputs: sum(w * f(inputs)) with a fixed random weight tensor w, so
// every output element's adjoint differs.
struct Case {
  const char* name;
  std::vector<Shape> inputs;
  std::function<const Node*(Builder&, const std::vector<const Node*>&)> f;
  std::set<Op> covers;
};

std::vector<double> random_values(std::size_t n, unsigned seed, double lo = -1.5, double hi = 1.5) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = u(rng);
  return v;
}

const Node* weighted_sum(Builder& b, const Node* y, unsigned seed) {
  if (y->shape.scalar()) return y;
  const Node* w = b.graph().tensor(y->shape, random_values(static_cast<std::size_t>(y->shape.size()), seed, 0.5, 2));
  return b.sum(b.mul(w, y), -1);
}

std::vector<Case> cases() {
  using V = const std::vector<const Node*>&;
  return {
      {"broadcast_row", {{3, 4}, {4}}, [](Builder& b, V x) { return b.mul(x[0], x[1]); }, {Op::Broadcast}},
      {"broadcast_column", {{3, 1}, {1, 4}}, [](Builder& b, V x) { return b.add(b.mul(x[0], x[1]), x[1]); },
       {Op::Broadcast, Op::Reshape}},
      {"broadcast_scalar", {{}, {2, 3}}, [](Builder& b, V x) { return b.call(Op::Sin, b.mul(x[0], x[1])); }, {}},
      {"broadcast_rank3", {{2, 3, 4}, {3, 4}}, [](Builder& b, V x) { return b.call(Op::Tanh, b.sub(x[0], x[1])); }, {}},
      {"sum_all", {{2, 3}}, [](Builder& b, V x) { return b.call(Op::Exp, b.sum(x[0], -1)); }, {Op::Sum}},
      {"sum_axis0", {{2, 3}}, [](Builder& b, V x) { return b.call(Op::Sin, b.sum(x[0], 0)); }, {}},
      {"sum_axis1", {{2, 3}}, [](Builder& b, V x) { return b.call(Op::Sin, b.sum(x[0], 1)); }, {}},
      {"sum_rank3_axis1", {{2, 3, 4}}, [](Builder& b, V x) { return b.call(Op::Cos, b.sum(x[0], 1)); }, {}},
      {"sum_rank3_axis2", {{2, 3, 4}}, [](Builder& b, V x) { return b.call(Op::Cos, b.sum(x[0], 2)); }, {}},
      {"max_all", {{2, 3}}, [](Builder& b, V x) { return b.reduce_max(x[0], -1); }, {Op::ReduceMax}},
      {"max_axis0", {{3, 2}}, [](Builder& b, V x) { return b.reduce_max(b.mul(x[0], x[0]), 0); }, {}},
      {"max_axis1", {{3, 4}}, [](Builder& b, V x) { return b.reduce_max(x[0], 1); }, {}},
      {"matmul", {{3, 5}, {5, 2}}, [](Builder& b, V x) { return b.matmul(x[0], x[1]); }, {Op::MatMul, Op::Transpose}},
      {"matmul_chain", {{2, 3}, {3, 4}, {4}}, [](Builder& b, V x) {
         return b.call(Op::Tanh, b.add(b.matmul(x[0], x[1]), x[2])); }, {}},
      {"transpose", {{2, 3}}, [](Builder& b, V x) { return b.call(Op::Sin, b.transpose(x[0])); }, {}},
      {"index_row", {{3, 4}}, [](Builder& b, V x) { return b.call(Op::Exp, b.index(x[0], 0, 1)); }, {Op::Index, Op::Embed}},
      {"index_column", {{3, 4}}, [](Builder& b, V x) { return b.mul(b.index(x[0], 1, 2), b.index(x[0], 1, 0)); }, {}},
      {"index_rank3", {{2, 3, 4}}, [](Builder& b, V x) { return b.call(Op::Sin, b.index(x[0], 2, 3)); }, {}},
      {"embed", {{4}}, [](Builder& b, V x) { return b.call(Op::Sin, b.embed(x[0], 0, 2, Shape{3, 4})); }, {}},
      {"reshape", {{2, 3}}, [](Builder& b, V x) { return b.call(Op::Sin, b.reshape(x[0], Shape{3, 2})); }, {}},
      {"onehot_weights", {{3, 4}}, [](Builder& b, V x) {
         const Node* labels = b.graph().tensor(Shape{3}, {2, 0, 3});
         return b.mul(x[0], b.apply(Op::OneHot, {labels}, Attrs{{}, 0, 4})); }, {Op::OneHot, Op::Tensor}},
      {"slice", {{3, 5}}, [](Builder& b, V x) { return b.call(Op::Sin, b.slice(x[0], 1, 1, 3)); }, {Op::Slice, Op::Pad}},
      {"slice_rank3", {{2, 4, 3}}, [](Builder& b, V x) { return b.mul(b.slice(x[0], 1, 2, 2), b.slice(x[0], 1, 0, 2)); }, {}},
      {"pad", {{2, 3}}, [](Builder& b, V x) { return b.call(Op::Exp, b.pad(x[0], 0, 1, Shape{4, 3})); }, {}},
      {"concatenate_axis0", {{2, 3}, {1, 3}}, [](Builder& b, V x) {
         const Node* xs[] = {x[0], b.call(Op::Sin, x[1]), x[0]};
         return b.call(Op::Tanh, b.concatenate(xs, 0)); }, {}},
      {"concatenate_axis1", {{2, 3}, {2, 2}}, [](Builder& b, V x) {
         const Node* xs[] = {x[1], x[0]};
         return b.mul(b.concatenate(xs, 1), b.concatenate(xs, 1)); }, {}},
      {"stack_scalars", {{}, {}}, [](Builder& b, V x) {
         const Node* xs[] = {b.mul(x[0], x[1]), b.add(x[0], x[1]), b.call(Op::Sin, x[0])};
         return b.call(Op::Exp, b.stack(xs, 0)); }, {}},
      {"stack_axis1", {{2, 3}, {2, 3}}, [](Builder& b, V x) {
         const Node* xs[] = {x[0], b.mul(x[0], x[1])};
         return b.call(Op::Sin, b.stack(xs, 1)); }, {}},
      {"permute_rank3", {{2, 3, 4}}, [](Builder& b, V x) {
         const int p[] = {2, 0, 1};
         return b.call(Op::Sin, b.mul(b.permute(x[0], p), b.permute(x[0], p))); }, {}},
      {"transpose_rank3", {{2, 3, 4}, {2, 4, 3}}, [](Builder& b, V x) { return b.mul(b.transpose(x[0]), x[1]); }, {}},
      {"batched_matmul", {{2, 3, 4}, {2, 4, 5}}, [](Builder& b, V x) {
         return b.call(Op::Tanh, b.matmul(x[0], x[1])); }, {}},
      {"batched_matmul_broadcast", {{3, 4}, {2, 4, 2}}, [](Builder& b, V x) {
         return b.call(Op::Sin, b.matmul(b.broadcast_to(x[0], Shape{2, 3, 4}), x[1])); }, {}},
      // log_softmax along the last axis, computed stably: x - m - log(sum(exp(x - m))), with the
      // maximum detached (its derivative cancels exactly)
      {"log_softmax", {{3, 4}}, [](Builder& b, V x) {
         const Node* m = b.unreduce(b.apply(Op::Detach, {b.reduce_max(x[0], 1)}), x[0]->shape, 1);
         const Node* z = b.sub(x[0], m);
         return b.sub(z, b.unreduce(b.call(Op::Log, b.sum(b.call(Op::Exp, z), 1)), x[0]->shape, 1)); },
       {Op::Detach}},
  };
}

TEST(TensorGradients, CoverEveryTensorOp) {
  std::set<Op> covered;
  for (const Case& c : cases()) covered.insert(c.covers.begin(), c.covers.end());
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    if (op_info(op).elementwise || op == Op::Var || op == Op::Const) continue;
    EXPECT_TRUE(covered.count(op)) << "no tensor gradient case for " << op_id(op);
  }
}

// Second order: the gradient of (grad . dirs) is H dirs, against Richardson-extrapolated central
// differences of the gradient along dirs (each rule differentiated again).
void expect_hessian_vector_product(Builder& b, const std::vector<const Node*>& grads,
                                   const std::vector<const Node*>& vars, const std::vector<Tensor>& values,
                                   const std::vector<Tensor>& dirs, const char* name) {
  const Node* gv = nullptr;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    const Node* d = dirs[i].shape.scalar() ? b.constant(dirs[i].data[0]) : b.graph().tensor(dirs[i].shape, dirs[i].data);
    const Node* term = b.sum(b.mul(grads[i], d), -1);
    gv = gv ? b.add(gv, term) : term;
  }
  auto hv = evaluate_tensors(gradient(b, gv, vars), vars, values);
  auto grad_at = [&](double t) {
    std::vector<Tensor> v = values;
    for (std::size_t i = 0; i < v.size(); ++i)
      for (std::size_t e = 0; e < v[i].data.size(); ++e) v[i].data[e] += t * dirs[i].data[e];
    return evaluate_tensors(grads, vars, v);
  };
  double h = 1e-4;
  auto up = grad_at(h), down = grad_at(-h), up2 = grad_at(h / 2), down2 = grad_at(-h / 2);
  for (std::size_t i = 0; i < vars.size(); ++i)
    for (std::size_t e = 0; e < hv[i].data.size(); ++e) {
      double c1 = (up[i].data[e] - down[i].data[e]) / (2 * h), c2 = (up2[i].data[e] - down2[i].data[e]) / h;
      EXPECT_LT(rel_err(hv[i].data[e], (4 * c2 - c1) / 3), 1e-6) << name << ": (H v)[" << e << "] of " << vars[i]->name;
    }
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class TensorGradients : public ::testing::TestWithParam<Case> {};

TEST_P(TensorGradients, MatchFiniteDifferences) {
  const Case& c = GetParam();
  Graph g;
  Builder b(g);
  std::vector<const Node*> vars;
  std::vector<Tensor> values;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    vars.push_back(g.var("x" + std::to_string(i), c.inputs[i]));
    values.push_back(Tensor{c.inputs[i], random_values(static_cast<std::size_t>(c.inputs[i].size()), 11 + i)});
  }
  const Node* y = c.f(b, vars);
  const Node* loss = weighted_sum(b, y, 99);
  ASSERT_TRUE(loss->shape.scalar());
  expect_gradients_match_differences(loss, gradient(b, loss, vars), vars, values, 1e-7, c.name);
}

// Second order: d/dx of (grad . v) is the Hessian-vector product H v, against central
// differences of the gradient along v (each row's own rules, differentiated again).
TEST_P(TensorGradients, SecondOrderMatchesFiniteDifferences) {
  const Case& c = GetParam();
  Graph g;
  Builder b(g);
  std::vector<const Node*> vars;
  std::vector<Tensor> values, dirs;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    vars.push_back(g.var("x" + std::to_string(i), c.inputs[i]));
    std::size_t n = static_cast<std::size_t>(c.inputs[i].size());
    values.push_back(Tensor{c.inputs[i], random_values(n, 11 + i)});
    dirs.push_back(Tensor{c.inputs[i], random_values(n, 31 + i)});
  }
  const Node* loss = weighted_sum(b, c.f(b, vars), 99);
  expect_hessian_vector_product(b, gradient(b, loss, vars), vars, values, dirs, c.name);
}

INSTANTIATE_TEST_SUITE_P(EveryTensorOp, TensorGradients, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// einsum (a built-in, lowered from source): first and second order against finite differences.
struct EinsumCase {
  const char* name;
  const char* decls;  // params, in the order of `at`
  const char* expr;   // a scalar
  std::vector<Shape> at;
};

class EinsumGradients : public ::testing::TestWithParam<EinsumCase> {};
void PrintTo(const EinsumCase& c, std::ostream* os) { *os << c.name; }

TEST_P(EinsumGradients, FirstAndSecondOrderMatchFiniteDifferences) {
  const EinsumCase& c = GetParam();
  auto m = compile_text(std::string(c.decls) + "fn f(s) = " + c.expr + "\n");
  const Node* f = m->find("f")->body;
  std::vector<const Node*> vars;
  std::vector<Tensor> values, dirs;
  for (const Param& q : m->params) vars.push_back(q.var);
  ASSERT_EQ(vars.size(), c.at.size());
  ASSERT_TRUE(f->shape.scalar());
  for (std::size_t i = 0; i < c.at.size(); ++i) {
    std::size_t n = static_cast<std::size_t>(c.at[i].size());
    values.push_back(Tensor{c.at[i], random_values(n, 11 + static_cast<unsigned>(i))});
    dirs.push_back(Tensor{c.at[i], random_values(n, 31 + static_cast<unsigned>(i))});
  }
  vars.push_back(m->find("f")->params[0]);
  values.push_back(Tensor::scalar(0.7));
  dirs.push_back(Tensor::scalar(0.4));
  Builder b(m->graph);
  auto grads = gradient(b, f, vars);
  expect_gradients_match_differences(f, grads, vars, values, 1e-7, c.name);
  expect_hessian_vector_product(b, grads, vars, values, dirs, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Einsum, EinsumGradients,
    ::testing::Values(
        EinsumCase{"matmul", "param A[2, 3] = zeros\nparam B[3, 4] = zeros\n", "sum(sin(einsum(\"ij,jk->ik\", A, B * s)))",
                   {Shape{2, 3}, Shape{3, 4}}},
        EinsumCase{"transpose", "param A[2, 3] = zeros\n", "sum(sin(einsum(\"ij->ji\", A * s)) * [[1, 2], [3, 4], [5, 6]])",
                   {Shape{2, 3}}},
        EinsumCase{"diagonal", "param C[3, 3] = zeros\n", "sum(exp(einsum(\"ii->i\", C) * s) * [1, -2, 3])", {Shape{3, 3}}},
        EinsumCase{"trace", "param C[3, 3] = zeros\n", "sin(einsum(\"ii->\", C * C) * s)", {Shape{3, 3}}},
        EinsumCase{"sum_all", "param A[2, 3] = zeros\n", "cos(einsum(\"ij->\", A) + s)", {Shape{2, 3}}},
        EinsumCase{"dot", "param u[4] = zeros\nparam v[4] = zeros\n", "sin(einsum(\"i,i->\", u, v) * s)", {Shape{4}, Shape{4}}},
        EinsumCase{"outer", "param u[3] = zeros\nparam v[2] = zeros\n", "sum(tanh(einsum(\"i,j->ij\", u, v * s)))",
                   {Shape{3}, Shape{2}}},
        EinsumCase{"batched", "param X[2, 3, 2] = zeros\nparam Y[2, 2, 3] = zeros\n",
                   "sum(sin(einsum(\"bij,bjk->bik\", X, Y) * s))", {Shape{2, 3, 2}, Shape{2, 2, 3}}},
        EinsumCase{"chain", "param A[2, 3] = zeros\nparam B[3, 2] = zeros\nparam C[2, 2] = zeros\n",
                   "sum(sin(einsum(\"ij,jk,kl->il\", A, B, C * s)))", {Shape{2, 3}, Shape{3, 2}, Shape{2, 2}}},
        EinsumCase{"implicit", "param A[2, 3] = zeros\nparam B[3, 2] = zeros\n", "sum(sin(einsum(\"ij,jk\", A * s, B)))",
                   {Shape{2, 3}, Shape{3, 2}}},
        EinsumCase{"kept_and_contracted", "param A[2, 2] = zeros\nparam B[2, 2] = zeros\n",
                   "sum(sin(einsum(\"ij,jk,kl->ijl\", A, B, B * s)))", {Shape{2, 2}, Shape{2, 2}}}),
    [](const auto& info) { return std::string(info.param.name); });

// Second order through tensor ops: the Hessian-vector product of sum(tanh(X @ w)) against
// finite differences of the gradient.
TEST(TensorGradients, SecondOrderThroughMatMul) {
  Graph g;
  Builder b(g);
  const Node* X = g.tensor(Shape{4, 3}, random_values(12, 5));
  const Node* w = g.var("w", Shape{3, 1});
  const Node* loss = b.sum(b.call(Op::Tanh, b.matmul(X, w)), -1);
  const Node* gw = gradient(b, loss, std::vector<const Node*>{w})[0];
  // d/dw of (gw . v) for a fixed v is H v.
  const Node* v = g.tensor(Shape{3, 1}, {0.3, -0.7, 1.1});
  const Node* hv = gradient(b, b.sum(b.mul(gw, v), -1), std::vector<const Node*>{w})[0];
  std::vector<Tensor> w0{Tensor{Shape{3, 1}, {0.2, -0.4, 0.6}}};
  auto hv_value = evaluate_tensors(std::vector<const Node*>{hv}, std::vector<const Node*>{w}, w0)[0];
  for (int e = 0; e < 3; ++e) {
    double h = 1e-5;
    auto gwv = [&](double t) {
      std::vector<Tensor> wt = w0;
      for (int k = 0; k < 3; ++k) wt[0].data[k] += t * std::vector<double>{0.3, -0.7, 1.1}[k];
      return evaluate_tensors(std::vector<const Node*>{gw}, std::vector<const Node*>{w}, wt)[0].data[e];
    };
    EXPECT_LT(rel_err(hv_value.data[e], (gwv(h) - gwv(-h)) / (2 * h)), 1e-7);
  }
}

// detach(x) is x in value and has no derivative (stop_gradient).
TEST(TensorGradients, DetachStopsTheGradient) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{3});
  const Node* loss = b.sum(b.mul(x, b.apply(Op::Detach, {b.call(Op::Sin, x)})), -1);
  std::vector<Tensor> v{Tensor{Shape{3}, {0.5, -1, 2}}};
  auto out = evaluate_tensors(std::vector<const Node*>{loss, gradient(b, loss, std::vector<const Node*>{x})[0]},
                              std::vector<const Node*>{x}, v);
  EXPECT_DOUBLE_EQ(out[0].data[0], 0.5 * std::sin(0.5) - std::sin(-1.0) + 2 * std::sin(2.0));
  EXPECT_EQ(out[1].data, (std::vector<double>{std::sin(0.5), std::sin(-1.0), std::sin(2.0)}));
}

TEST(TensorShapes, MismatchNamesBothShapes) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{3, 4});
  const Node* y = g.var("y", Shape{5});
  try {
    b.add(x, y);
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "shapes [3, 4] and [5] cannot be broadcast together");
  }
  try {
    b.matmul(x, g.var("z", Shape{3, 2}));
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "shapes [3, 4] and [3, 2] do not fit a matrix product");
  }
}

}  // namespace
}  // namespace gradc::test
