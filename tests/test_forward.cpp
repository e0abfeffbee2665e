// Forward mode against reverse mode and finite differences: every op of the table, random
// compositions (scalar and tensor), Jacobians of R^n -> R^m, JVPs and VJPs with given vectors,
// Hessian-vector products and second order (tangent IR differentiated again).
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>

#include "compiler/forward.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

using Nodes = std::vector<const Node*>;

// The values of roots, flattened and concatenated (row-major, in order), by the interpreter.
std::vector<double> values_of(std::span<const Node* const> roots, const Nodes& vars, const std::vector<Tensor>& at) {
  std::vector<double> out;
  for (const Tensor& t : evaluate_tensors(roots, vars, at)) out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

std::vector<Tensor> random_point(const Nodes& vars, std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<Tensor> at;
  for (const Node* v : vars) {
    Tensor t{v->shape, std::vector<double>(static_cast<std::size_t>(v->shape.size()))};
    for (double& x : t.data) x = u(rng);
    at.push_back(std::move(t));
  }
  return at;
}

using Matrix = std::vector<std::vector<double>>;

// The Jacobian's value at `at`, from its column nodes (forward) or row nodes (reverse).
Matrix jacobian_value(const Jacobian& J, const Nodes& vars, const std::vector<Tensor>& at) {
  Matrix m(static_cast<std::size_t>(J.rows), std::vector<double>(static_cast<std::size_t>(J.cols)));
  if (J.mode == Mode::Forward) {
    for (std::size_t j = 0; j < J.columns.size(); ++j) {
      auto col = values_of(J.columns[j], vars, at);
      for (std::size_t i = 0; i < col.size(); ++i) m[i][j] = col[i];
    }
  } else {
    for (std::size_t i = 0; i < J.rows_.size(); ++i) m[i] = values_of(J.rows_[i], vars, at);
  }
  return m;
}

// Central differences (Richardson-extrapolated) of the flattened outputs in each input element.
Matrix finite_jacobian(const Nodes& outputs, const Nodes& vars, const std::vector<Tensor>& at) {
  std::size_t rows = values_of(outputs, vars, at).size();
  Matrix m(rows);
  for (std::size_t k = 0; k < vars.size(); ++k)
    for (std::size_t e = 0; e < at[k].data.size(); ++e) {
      auto central = [&](double h) {
        std::vector<Tensor> up = at, down = at;
        up[k].data[e] += h;
        down[k].data[e] -= h;
        auto a = values_of(outputs, vars, up), b = values_of(outputs, vars, down);
        std::vector<double> d(rows);
        for (std::size_t i = 0; i < rows; ++i) d[i] = (a[i] - b[i]) / (2 * h);
        return d;
      };
      auto d1 = central(1e-3), d2 = central(5e-4);
      for (std::size_t i = 0; i < rows; ++i) m[i].push_back((4 * d2[i] - d1[i]) / 3);
    }
  return m;
}

void expect_near(const Matrix& a, const Matrix& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << what;
    for (std::size_t j = 0; j < a[i].size(); ++j)
      EXPECT_LE(rel_err(a[i][j], b[i][j]), tol) << what << " J[" << i << "][" << j << "] = " << a[i][j] << " vs " << b[i][j];
  }
}

// ---------------------------------------------------------------------------------------------
// Every op of the table: forward Jacobian = reverse Jacobian = finite differences.

struct OpCase {
  std::vector<Shape> inputs;
  std::function<const Node*(Builder&, const Nodes&)> f;
  bool smooth = true;  // finite differences apply (false: data-only or detached arguments)
};

// The tensor ops, each in a use of its own; elementwise ops are applied to vectors directly.
std::map<Op, OpCase> tensor_cases() {
  using V = const Nodes&;
  return {
      {Op::Broadcast, {{{3}}, [](Builder& b, V x) { return b.broadcast_to(x[0], Shape{2, 3}); }}},
      {Op::Reshape, {{{2, 3}}, [](Builder& b, V x) { return b.reshape(x[0], Shape{3, 2}); }}},
      {Op::Sum, {{{2, 3}}, [](Builder& b, V x) { return b.sum(b.mul(x[0], x[0]), 1); }}},
      {Op::ReduceMax, {{{3, 2}}, [](Builder& b, V x) { return b.reduce_max(x[0], 0); }}},
      {Op::MatMul, {{{2, 3}, {3, 2}}, [](Builder& b, V x) { return b.matmul(x[0], x[1]); }}},
      {Op::Transpose, {{{2, 3}}, [](Builder& b, V x) { return b.transpose(b.call(Op::Sin, x[0])); }}},
      {Op::Index, {{{2, 3}}, [](Builder& b, V x) { return b.index(b.call(Op::Exp, x[0]), 1, 2); }}},
      {Op::Embed, {{{3}}, [](Builder& b, V x) { return b.embed(b.call(Op::Cos, x[0]), 0, 1, Shape{2, 3}); }}},
      {Op::Slice, {{{3, 4}}, [](Builder& b, V x) { return b.slice(b.call(Op::Sin, x[0]), 1, 1, 2); }}},
      {Op::Pad, {{{2, 3}}, [](Builder& b, V x) { return b.pad(b.call(Op::Cos, x[0]), 0, 1, Shape{4, 3}); }}},
      {Op::OneHot, {{{3, 4}}, [](Builder& b, V x) {
         const Node* labels = b.graph().tensor(Shape{3}, {2, 0, 3});
         return b.mul(x[0], b.apply(Op::OneHot, {labels}, Attrs{{}, 0, 4})); }}},
      {Op::Detach, {{{3}}, [](Builder& b, V x) { return b.mul(b.apply(Op::Detach, {x[0]}), x[0]); }, false}},
  };
}

TEST(ForwardMode, EveryOpHasAJvpRule) {
  for (int i = 0; i < kNumOps; ++i)
    EXPECT_NE(op_info(static_cast<Op>(i)).jvp, nullptr) << op_id(static_cast<Op>(i)) << " has no forward-mode rule";
}

TEST(ForwardMode, EveryOpMatchesReverseAndFiniteDifferences) {
  auto cases = tensor_cases();
  std::mt19937 rng(11);
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    const OpInfo& info = op_info(op);
    if (info.syntax == Syntax::Leaf) continue;
    OpCase c;
    if (op == Op::Polygamma) {  // the order is a constant integer, not a variable
      c.inputs = {Shape{3}};
      c.f = [](Builder& b, const Nodes& x) { return b.apply(Op::Polygamma, {b.constant(2), x[0]}); };
    } else if (info.elementwise) {
      c.inputs.assign(static_cast<std::size_t>(info.arity), Shape{3});
      c.f = [op](Builder& b, const Nodes& x) { return b.apply(op, std::span<const Node* const>(x)); };
    } else if (auto it = cases.find(op); it != cases.end()) {
      c = it->second;
    } else {
      ADD_FAILURE() << "no forward-mode case for the tensor op " << op_id(op);
      continue;
    }
    SCOPED_TRACE(op_id(op));
    Graph g;
    Builder b(g);
    Nodes vars;
    for (std::size_t k = 0; k < c.inputs.size(); ++k) vars.push_back(b.var("x" + std::to_string(k), c.inputs[k]));
    Nodes out{c.f(b, vars)};
    // (0.2, 0.8) is inside every op's domain (log, sqrt, asin, acos, pow's base) and keeps
    // random elements apart (no ties at min, max, step).
    auto at = random_point(vars, rng, 0.2, 0.8);
    for (double v : values_of(out, vars, at)) ASSERT_TRUE(std::isfinite(v));
    Jacobian fwd = jacobian(b, out, vars, Mode::Forward), rev = jacobian(b, out, vars, Mode::Reverse);
    EXPECT_EQ(fwd.mode, Mode::Forward);
    EXPECT_EQ(rev.mode, Mode::Reverse);
    Matrix jf = jacobian_value(fwd, vars, at), jr = jacobian_value(rev, vars, at);
    expect_near(jf, jr, 1e-12, "forward vs reverse");
    if (c.smooth) expect_near(jf, finite_jacobian(out, vars, at), 1e-7, "forward vs finite differences");
  }
}

// Where a branch is not taken, its tangent contributes exactly 0 even if its partial is
// infinite there, as in reverse mode: max(x, log(y)) at y = 0, relu(x) inside a log.
TEST(ForwardMode, BranchNotTakenContributesZero) {
  Graph g;
  Builder b(g);
  const Node* x = b.var("x");
  const Node* y = b.var("y");
  Nodes vars{x, y};
  Nodes f{b.apply(Op::Max, {x, b.call(Op::Log, y)})};
  Matrix j = jacobian_value(jacobian(b, f, vars, Mode::Forward), vars, {Tensor::scalar(1), Tensor::scalar(0)});
  EXPECT_EQ(j[0][0], 1.0);
  EXPECT_EQ(j[0][1], 0.0);
  // mask(c, x) at c = 0 with x's tangent infinite: 0.
  Nodes m{b.apply(Op::Mask, {b.call(Op::Step, x), b.call(Op::Sqrt, y)})};
  Matrix jm = jacobian_value(jacobian(b, m, vars, Mode::Forward), vars, {Tensor::scalar(-1), Tensor::scalar(0)});
  EXPECT_EQ(jm[0][0], 0.0);
  EXPECT_EQ(jm[0][1], 0.0);
}

// ---------------------------------------------------------------------------------------------
// Random compositions: a seeded generator of expressions that stay finite on [-1, 1] (guarded
// domains: log(1 + e^2), asin(0.9 tanh(e)), e1 / (1 + e2^2), ...).

class ExprGen {
 public:
  ExprGen(Builder& b, Nodes leaves, unsigned seed) : b_(b), leaves_(std::move(leaves)), rng_(seed) {}

  const Node* scalar_like(int depth) {
    if (depth == 0 || pick(4) == 0) return leaf();
    const Node* e = scalar_like(depth - 1);
    switch (pick(22)) {
      case 0: return b_.call(Op::Sin, e);
      case 1: return b_.call(Op::Cos, e);
      case 2: return b_.call(Op::Tanh, e);
      case 3: return b_.call(Op::Exp, b_.call(Op::Tanh, e));
      case 4: return b_.call(Op::Sigmoid, e);
      case 5: return b_.call(Op::Softplus, e);
      case 6: return b_.call(Op::Atan, e);
      case 7: return b_.call(Op::Log, b_.add(1, b_.pow(e, b_.constant(2))));
      case 8: return b_.call(Op::Sqrt, b_.add(1, b_.pow(e, b_.constant(2))));
      case 9: return b_.call(Op::Asin, b_.mul(0.9, b_.call(Op::Tanh, e)));
      case 10: return b_.call(Op::Acos, b_.mul(0.9, b_.call(Op::Tanh, e)));
      case 11: return b_.call(Op::Tan, b_.mul(0.7, b_.call(Op::Tanh, e)));
      case 12: return b_.call(Op::Sinh, b_.call(Op::Tanh, e));
      case 13: return b_.call(Op::Cosh, b_.call(Op::Tanh, e));
      case 14: return b_.neg(e);
      case 15: return b_.add(e, scalar_like(depth - 1));
      case 16: return b_.sub(e, scalar_like(depth - 1));
      case 17: return b_.mul(e, scalar_like(depth - 1));
      case 18: return b_.div(e, b_.add(1, b_.pow(scalar_like(depth - 1), b_.constant(2))));
      case 19: return b_.pow(b_.add(1.5, b_.call(Op::Sin, e)), b_.call(Op::Tanh, scalar_like(depth - 1)));
      case 20: return b_.apply(pick(2) ? Op::Max : Op::Min, {e, scalar_like(depth - 1)});
      default: return b_.apply(Op::Mask, {b_.call(Op::Step, e), scalar_like(depth - 1)});
    }
  }

  // A [2, 3] tensor expression of [2, 3] leaves, through the tensor ops as well.
  const Node* tensor(int depth) {
    const Shape s{2, 3};
    if (depth == 0 || pick(5) == 0) return leaf();
    switch (pick(8)) {
      case 0: { int axis = pick(2); return b_.unreduce(b_.sum(tensor(depth - 1), axis), s, axis); }
      case 1: return b_.unreduce(b_.reduce_max(tensor(depth - 1), last_axis_), s, last_axis_);
      case 2: return b_.call(Op::Tanh, b_.matmul(b_.matmul(tensor(depth - 1), b_.transpose(tensor(depth - 1))), tensor(depth - 1)));
      case 3: return b_.transpose(b_.reshape(tensor(depth - 1), Shape{3, 2}));
      case 4: return b_.add(b_.embed(b_.index(tensor(depth - 1), 0, pick(2)), 0, pick(2), s), tensor(depth - 1));
      case 5: return b_.mul(b_.broadcast_to(b_.index(tensor(depth - 1), 0, 1), s), tensor(depth - 1));
      default: return scalar_like(depth);  // elementwise ops apply to tensors alike
    }
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  const Node* leaf() {
    if (pick(5) == 0) {
      double c = std::uniform_real_distribution<double>(0.5, 2)(rng_);
      return leaves_[0]->shape.scalar() ? b_.constant(c) : b_.broadcast_to(b_.constant(c), leaves_[0]->shape);
    }
    return leaves_[static_cast<std::size_t>(pick(static_cast<int>(leaves_.size())))];
  }
  Builder& b_;
  Nodes leaves_;
  std::mt19937 rng_;
  int last_axis_ = 1;
};

TEST(ForwardMode, RandomScalarCompositionsMatchReverse) {
  std::mt19937 rng(2024);
  int compared = 0;
  for (unsigned seed = 0; seed < 300; ++seed) {
    Graph g;
    Builder b(g, seed % 2 ? Simplify::Full : Simplify::Fold);
    Nodes vars{b.var("x"), b.var("y"), b.var("z")};
    ExprGen gen(b, vars, seed);
    Nodes f{gen.scalar_like(5)};
    auto at = random_point(vars, rng, -1, 1);
    auto value = values_of(f, vars, at);
    ASSERT_TRUE(std::isfinite(value[0])) << "seed " << seed;
    Matrix jf = jacobian_value(jacobian(b, f, vars, Mode::Forward), vars, at);
    auto grad = values_of(gradient(b, f[0], vars), vars, at);
    expect_near(jf, Matrix{grad}, 1e-12, "seed " + std::to_string(seed));
    ++compared;
  }
  EXPECT_EQ(compared, 300);
}

TEST(ForwardMode, RandomTensorCompositionsMatchReverse) {
  std::mt19937 rng(7);
  for (unsigned seed = 0; seed < 120; ++seed) {
    Graph g;
    Builder b(g);
    Nodes vars{b.var("X", Shape{2, 3}), b.var("Y", Shape{2, 3})};
    ExprGen gen(b, vars, 1000 + seed);
    Nodes f{gen.tensor(4)};
    auto at = random_point(vars, rng, -1, 1);
    for (double v : values_of(f, vars, at)) ASSERT_TRUE(std::isfinite(v)) << "seed " << seed;
    Matrix jf = jacobian_value(jacobian(b, f, vars, Mode::Forward), vars, at);
    Matrix jr = jacobian_value(jacobian(b, f, vars, Mode::Reverse), vars, at);
    expect_near(jf, jr, 1e-11, "seed " + std::to_string(seed));
  }
}

// ---------------------------------------------------------------------------------------------
// Jacobians of R^n -> R^m.

// Two functions with n < m and n > m, over scalar and tensor inputs:
//   f(r, theta, x[3]) = [r cos(theta), r sin(theta), tanh(A x) (3), sum(x^2) r]  (R^5 -> R^6)
//   g(x[2, 3]) = [sum(exp(x)), max(x) over axis 0 (3)]                           (R^6 -> R^4)
struct VectorFunction {
  Nodes vars, outputs;
};

VectorFunction polar_and_layer(Builder& b) {
  const Node* r = b.var("r");
  const Node* th = b.var("theta");
  const Node* x = b.var("x", Shape{3});
  const Node* A = b.graph().tensor(Shape{3, 3}, {1, 2, 0, -1, 0.5, 3, 0.25, -2, 1});
  const Node* Ax = b.reshape(b.matmul(A, b.reshape(x, Shape{3, 1})), Shape{3});
  return {{r, th, x},
          {b.mul(r, b.call(Op::Cos, th)), b.mul(r, b.call(Op::Sin, th)), b.call(Op::Tanh, Ax),
           b.mul(b.sum(b.pow(x, b.constant(2)), -1), r)}};
}

VectorFunction reductions(Builder& b) {
  const Node* x = b.var("x", Shape{2, 3});
  return {{x}, {b.sum(b.call(Op::Exp, x), -1), b.reduce_max(b.mul(x, b.call(Op::Sin, x)), 0)}};
}

TEST(Jacobian, BothModesMatchFiniteDifferences) {
  std::mt19937 rng(3);
  for (auto make : {polar_and_layer, reductions}) {
    Graph g;
    Builder b(g);
    VectorFunction vf = make(b);
    auto at = random_point(vf.vars, rng, -1, 1);
    Matrix fd = finite_jacobian(vf.outputs, vf.vars, at);
    for (Mode m : {Mode::Forward, Mode::Reverse, Mode::Auto}) {
      Jacobian J = jacobian(b, vf.outputs, vf.vars, m);
      EXPECT_EQ(J.rows, static_cast<std::int64_t>(fd.size()));
      EXPECT_EQ(J.cols, static_cast<std::int64_t>(fd[0].size()));
      expect_near(jacobian_value(J, vf.vars, at), fd, 1e-7, "mode " + std::to_string(static_cast<int>(m)));
      // entry() gives the same numbers one scalar node at a time.
      Matrix entries(fd.size());
      for (std::int64_t i = 0; i < J.rows; ++i)
        for (std::int64_t j = 0; j < J.cols; ++j) {
          const Node* e = J.entry(b, i, j);
          ASSERT_TRUE(e->shape.scalar());
          entries[static_cast<std::size_t>(i)].push_back(values_of(Nodes{e}, vf.vars, at)[0]);
        }
      expect_near(entries, fd, 1e-7, "entries");
    }
  }
}

TEST(Jacobian, AutoPicksForwardForFewInputs) {
  Graph g;
  Builder b(g);
  VectorFunction wide = polar_and_layer(b);  // 5 inputs, 6 outputs
  EXPECT_EQ(jacobian(b, wide.outputs, wide.vars).mode, Mode::Forward);
  VectorFunction narrow = reductions(b);  // 6 inputs, 4 outputs
  EXPECT_EQ(jacobian(b, narrow.outputs, narrow.vars).mode, Mode::Reverse);
  Jacobian J = jacobian(b, narrow.outputs, narrow.vars);
  EXPECT_EQ(J.rows_.size(), 4u);
  EXPECT_TRUE(J.columns.empty());
}

// [x*y, x + y] as the language stacks it (a sum of Embeds): each entry is the derivative of
// that element, not an Index of the stacked column.
TEST(Jacobian, EntriesOfAStackedResultAreTheElementDerivatives) {
  Graph g;
  Builder b(g);
  const Node* x = b.var("x");
  const Node* y = b.var("y");
  const Shape s{2};
  Nodes out{b.add(b.embed(b.mul(x, y), 0, 0, s), b.embed(b.add(x, y), 0, 1, s))};
  Nodes vars{x, y};
  for (Mode m : {Mode::Forward, Mode::Reverse}) {
    Jacobian J = jacobian(b, out, vars, m);
    EXPECT_EQ(J.entry(b, 0, 0), y);
    EXPECT_EQ(J.entry(b, 0, 1), x);
    EXPECT_EQ(J.entry(b, 1, 0), b.constant(1));
    EXPECT_EQ(J.entry(b, 1, 1), b.constant(1));
  }
  EXPECT_THROW(jacobian(b, out, vars).entry(b, 2, 0), std::out_of_range);
}

// The Builder's x[i] of constant data is the slice (any axis), of a value broadcast along a new
// leading axis is the value, and passes through elementwise ops only when every operand
// reduces (so no computation is copied): x[i] of sin(X) stays an Index.
TEST(Jacobian, IndexReducesOnlyWhereItIsFree) {
  Graph g;
  Builder b(g);
  const Node* t = g.tensor(Shape{2, 3, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const Node* mid = b.index(t, 1, 2);
  ASSERT_EQ(mid->op, Op::Tensor);
  EXPECT_EQ(mid->shape, (Shape{2, 2}));
  EXPECT_EQ(*mid->data, (std::vector<double>{4, 5, 10, 11}));
  EXPECT_EQ(element(b, t, 7), g.constant(7));
  const Node* v = b.var("v", Shape{3});
  EXPECT_EQ(b.index(b.broadcast_to(v, Shape{4, 3}), 0, 2), v);
  EXPECT_EQ(b.index(b.add(b.embed(v, 0, 1, Shape{2, 3}), b.broadcast_to(b.constant(2), Shape{2, 3})), 0, 1),
            b.add(b.constant(2), v));
  const Node* X = b.var("X", Shape{2, 3});
  const Node* row = b.index(b.call(Op::Sin, X), 0, 1);
  EXPECT_EQ(row->op, Op::Index);
  EXPECT_EQ(row->arg(0)->op, Op::Sin);
}

// ---------------------------------------------------------------------------------------------
// JVPs and VJPs with given vectors: J v and u^T J, with J from finite differences.

TEST(ForwardMode, JvpAndVjpWithGivenVectors) {
  Graph g;
  Builder b(g);
  VectorFunction vf = polar_and_layer(b);
  std::mt19937 rng(5);
  auto at = random_point(vf.vars, rng, -1, 1);
  Matrix J = finite_jacobian(vf.outputs, vf.vars, at);
  // v = (0.5, -2, [1, 0.25, -1]); u = one value per output element
  Nodes v{b.constant(0.5), b.constant(-2), b.graph().tensor(Shape{3}, {1, 0.25, -1})};
  std::vector<double> vflat{0.5, -2, 1, 0.25, -1};
  Nodes u{b.constant(1.5), b.constant(-1), b.graph().tensor(Shape{3}, {0.5, 2, -0.75}), b.constant(3)};
  std::vector<double> uflat{1.5, -1, 0.5, 2, -0.75, 3};
  auto jv = values_of(jvp(b, vf.outputs, vf.vars, v), vf.vars, at);
  auto uj = values_of(vjp(b, vf.outputs, u, vf.vars), vf.vars, at);
  ASSERT_EQ(jv.size(), J.size());
  ASSERT_EQ(uj.size(), J[0].size());
  for (std::size_t i = 0; i < J.size(); ++i) {
    double ref = 0;
    for (std::size_t j = 0; j < vflat.size(); ++j) ref += J[i][j] * vflat[j];
    EXPECT_LE(rel_err(jv[i], ref), 1e-7) << "(J v)[" << i << "]";
  }
  for (std::size_t j = 0; j < J[0].size(); ++j) {
    double ref = 0;
    for (std::size_t i = 0; i < uflat.size(); ++i) ref += uflat[i] * J[i][j];
    EXPECT_LE(rel_err(uj[j], ref), 1e-7) << "(u^T J)[" << j << "]";
  }
}

TEST(ForwardMode, ShapesOfGivenVectorsAreChecked) {
  Graph g;
  Builder b(g);
  VectorFunction vf = polar_and_layer(b);
  Nodes bad{b.constant(1), b.constant(1), b.constant(1)};  // x is a [3] vector
  try {
    jvp(b, vf.outputs, vf.vars, bad);
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "the tangent of input 3 has shape [], not the input's shape [3]");
  }
  Nodes cot{b.constant(1), b.constant(1), b.constant(1), b.constant(1)};
  try {
    vjp(b, vf.outputs, cot, vf.vars);
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "the cotangent of output 3 has shape [], not the output's shape [3]");
  }
}

// ---------------------------------------------------------------------------------------------
// Second order.

// f(x, y, W[2, 2]) = sin(x y) + exp(x) / (1 + y^2) + sum(tanh(W)^2) x, a scalar.
struct ScalarFunction {
  Nodes vars;
  const Node* f;
};
ScalarFunction second_order_function(Builder& b) {
  const Node* x = b.var("x");
  const Node* y = b.var("y");
  const Node* W = b.var("W", Shape{2, 2});
  const Node* f = b.add(b.add(b.call(Op::Sin, b.mul(x, y)), b.div(b.call(Op::Exp, x), b.add(1, b.pow(y, b.constant(2))))),
                        b.mul(b.sum(b.pow(b.call(Op::Tanh, W), b.constant(2)), -1), x));
  return {{x, y, W}, f};
}

TEST(ForwardMode, HvpMatchesFiniteDifferencesOfTheGradient) {
  Graph g;
  Builder b(g);
  ScalarFunction sf = second_order_function(b);
  std::mt19937 rng(9);
  auto at = random_point(sf.vars, rng, -1, 1);
  Nodes v{b.constant(0.75), b.constant(-1.25), b.graph().tensor(Shape{2, 2}, {1, -0.5, 0.25, 2})};
  auto hv = values_of(hvp(b, sf.f, sf.vars, v), sf.vars, at);
  // H v = d/dh grad(at + h v) at h = 0, by central differences.
  Nodes grad = gradient(b, sf.f, sf.vars);
  auto grad_at = [&](double h) {
    std::vector<Tensor> p = at;
    p[0].data[0] += h * 0.75;
    p[1].data[0] += h * -1.25;
    std::vector<double> w{1, -0.5, 0.25, 2};
    for (std::size_t k = 0; k < 4; ++k) p[2].data[k] += h * w[k];
    return values_of(grad, sf.vars, p);
  };
  auto c = [&](double h) {
    auto up = grad_at(h), down = grad_at(-h);
    for (std::size_t i = 0; i < up.size(); ++i) up[i] = (up[i] - down[i]) / (2 * h);
    return up;
  };
  auto c1 = c(1e-3), c2 = c(5e-4);
  ASSERT_EQ(hv.size(), 6u);
  for (std::size_t i = 0; i < hv.size(); ++i) EXPECT_LE(rel_err(hv[i], (4 * c2[i] - c1[i]) / 3), 1e-7) << i;
}

// Tangent IR is differentiated again like any IR: reverse over forward, forward over forward
// and forward over reverse all give the reverse-over-reverse Hessian.
TEST(ForwardMode, SecondOrderOfTangentIrEqualsReverseOverReverse) {
  Graph g;
  Builder b(g);
  ScalarFunction sf = second_order_function(b);
  std::mt19937 rng(13);
  auto at = random_point(sf.vars, rng, -1, 1);
  Nodes vars{sf.vars[0], sf.vars[1]};  // the scalar variables; W stays an input
  Nodes grad = gradient(b, sf.f, vars);
  Matrix rr, rf, ff, fr;
  for (const Node* gi : grad) rr.push_back(values_of(gradient(b, gi, vars), sf.vars, at));
  for (std::size_t j = 0; j < vars.size(); ++j) {
    Nodes e{b.constant(j == 0 ? 1 : 0), b.constant(j == 1 ? 1 : 0)};
    const Node* df = jvp(b, Nodes{sf.f}, vars, e)[0];               // ∂f/∂v_j, in tangent IR
    rf.push_back(values_of(gradient(b, df, vars), sf.vars, at));     // row j by reverse mode
    fr.push_back(values_of(jvp(b, grad, vars, e), sf.vars, at));     // column j by forward mode
    std::vector<double> row;
    for (std::size_t k = 0; k < vars.size(); ++k) {
      Nodes ek{b.constant(k == 0 ? 1 : 0), b.constant(k == 1 ? 1 : 0)};
      row.push_back(values_of(jvp(b, Nodes{df}, vars, ek), sf.vars, at)[0]);
    }
    ff.push_back(row);
  }
  expect_near(rf, rr, 1e-12, "reverse over forward");
  expect_near(fr, rr, 1e-12, "forward over reverse");
  expect_near(ff, rr, 1e-12, "forward over forward");
  // And hessian() (forward over reverse) lays them out the same way.
  Matrix h;
  for (const auto& row : hessian(b, sf.f, vars)) h.push_back(values_of(row, sf.vars, at));
  expect_near(h, rr, 1e-12, "hessian()");
}

// With a tensor variable, row i of the fused Hessian is the tangent of the gradient along ones
// in wrt[i] (for W, the row sums of its block), which by symmetry is what reverse over reverse
// gave (the gradient of the sum of ∂f/∂wrt[i]); the kernel layout is unchanged.
TEST(ForwardMode, FusedHessianOfTensorVariablesKeepsItsLayout) {
  Graph g;
  Builder b(g);
  ScalarFunction sf = second_order_function(b);
  std::mt19937 rng(17);
  auto at = random_point(sf.vars, rng, -1, 1);
  Nodes fused = value_and_derivatives(b, sf.f, sf.vars, true);
  Nodes grad = gradient(b, sf.f, sf.vars);
  Nodes rr{sf.f};
  rr.insert(rr.end(), grad.begin(), grad.end());
  for (const Node* gi : grad)
    for (const Node* h : gradient(b, gi->shape.scalar() ? gi : b.sum(gi, -1), sf.vars)) rr.push_back(h);
  ASSERT_EQ(fused.size(), rr.size());
  for (std::size_t k = 0; k < fused.size(); ++k) EXPECT_EQ(fused[k]->shape, rr[k]->shape) << k;
  expect_near(Matrix{values_of(fused, sf.vars, at)}, Matrix{values_of(rr, sf.vars, at)}, 1e-12, "fused Hessian");
}

// Tangent IR compiles: the JIT's values of a JVP equal the interpreter's.
TEST(ForwardMode, TangentIrCompiles) {
  Graph g;
  Builder b(g, Simplify::Fold);
  ScalarFunction sf = second_order_function(b);
  Nodes v{b.constant(1), b.constant(0.5), b.graph().tensor(Shape{2, 2}, {0, 1, -1, 0.5})};
  Nodes t = jvp(b, Nodes{sf.f}, sf.vars, v);
  Kernel k = shared_jit().compile(KernelSpec{"tangent", sf.vars, t, /*batch=*/false});
  std::vector<double> in{0.3, -0.7, 0.1, 0.2, -0.4, 0.9}, out(1);
  k.single(in.data(), out.data());
  std::vector<Tensor> at{Tensor::scalar(0.3), Tensor::scalar(-0.7), Tensor{Shape{2, 2}, {0.1, 0.2, -0.4, 0.9}}};
  EXPECT_LE(rel_err(out[0], values_of(t, sf.vars, at)[0]), 1e-13);
}

}  // namespace
}  // namespace gradc::test

namespace gradc::test {
namespace {

// The kernel `gradc eval --hessian` compiles (value, gradient, Hessian at Simplify::Fold) is built
// forward over reverse because it is not larger than reverse over reverse: measured here on the
// example functions, against reverse over reverse written out in the test. Smaller in total and
// on most functions (tensor_fn: 38 nodes against 45); one is 2 nodes larger (simple_graph's
// loss: 59 against 57, a negation kept on each side of a product).
TEST(ForwardMode, HessianKernelNoLargerThanReverseOverReverse) {
  const char* files[] = {"examples/lecture.grad", "examples/nested.grad", "examples/gradient_field.grad",
                         "examples/simple_graph.grad", "tests/inputs/rosenbrock.grad",
                         "tests/inputs/hessian_small.grad", "tests/inputs/untaken.grad",
                         "tests/golden/inputs/tensor_fn.grad"};
  std::size_t total_fwd = 0, total_rev = 0;
  for (const char* file : files) {
    std::ifstream in(std::string(GRADC_SOURCE_DIR) + "/" + file);
    std::stringstream text;
    text << in.rdbuf();
    auto m = compile_text(text.str());
    for (const Function& f : m->functions) {
      if (!f.body) continue;
      Builder b(m->graph, Simplify::Fold);
      Nodes fwd = value_and_derivatives(b, f.body, f.params, true);
      Nodes rev{f.body};
      Nodes grad = gradient(b, f.body, f.params);
      rev.insert(rev.end(), grad.begin(), grad.end());
      for (const Node* gi : grad)
        for (const Node* h : gradient(b, gi, f.params)) rev.push_back(h);
      std::size_t nf = dag_size(fwd), nr = dag_size(rev);
      std::printf("%-36s %-6s fwd-over-rev %5zu  rev-over-rev %5zu\n", file, f.name.c_str(), nf, nr);
      EXPECT_LE(nf, nr + nr / 20) << file << " " << f.name;
      total_fwd += nf, total_rev += nr;
      // The same numbers either way.
      std::vector<double> at(f.params.size());
      for (std::size_t i = 0; i < at.size(); ++i) at[i] = 0.3 + 0.2 * static_cast<double>(i);
      if (!f.params.empty() && f.params[0]->shape.scalar()) {
        auto a = evaluate(fwd, f.params, at), r = evaluate(rev, f.params, at);
        for (std::size_t i = 0; i < a.size(); ++i)
          if (std::isfinite(r[i])) EXPECT_LE(rel_err(a[i], r[i]), 1e-12) << file << " " << f.name << " output " << i;
      }
    }
  }
  std::printf("total: fwd-over-rev %zu, rev-over-rev %zu nodes\n", total_fwd, total_rev);
  EXPECT_LT(total_fwd, total_rev);
}

}  // namespace
}  // namespace gradc::test
