// Tensor programs end to end (source -> lowering -> gradient -> JIT and interpreter): gradients
// whose parameter is reached by two matrix products, tensor literals (hash-consing, rank 3),
// layer parameters named in expressions, shape-size limits, call memoization and the node limit.
// Each result is checked against a hand-written reference in this file.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime/train.hpp"
#include "support/helpers.hpp"
#include "support/mlp_reference.hpp"

namespace gradc::test {
namespace {

using Matrix = std::vector<std::vector<double>>;

Tensor from(const Matrix& m) {
  Tensor t{Shape{static_cast<std::int32_t>(m.size()), static_cast<std::int32_t>(m[0].size())}, {}};
  for (const auto& row : m) t.data.insert(t.data.end(), row.begin(), row.end());
  return t;
}

// Loss and gradients of the program's training loss at `params` (all rows), from the compiled
// step in `dtype` and from the interpreter; each as {loss, grad per parameter}.
struct Results {
  std::vector<Tensor> jit, interp;
};

Results loss_and_gradients(Module& m, const std::vector<Tensor>& params, DType dtype) {
  Results r;
  TrainOptions opts;
  opts.dtype = dtype;
  opts.start = params;
  Trainer t(m, shared_jit(), opts);
  r.jit = t.step_at(params, t.rows());

  std::vector<DataInput> inputs;
  const Node* loss = m.lower(*m.training->loss, 0, inputs);
  Builder b(m.graph, Simplify::Fold);
  std::vector<const Node*> vars, wrt;
  std::vector<Tensor> values = params;
  for (const Param& p : m.params) wrt.push_back(p.var);
  vars = wrt;
  for (const DataInput& d : inputs) {
    vars.push_back(d.var);
    values.push_back(*d.source);
  }
  std::vector<const Node*> outs = value_and_derivatives(b, loss, wrt, false);
  r.interp = evaluate_tensors(outs, vars, values);
  return r;
}

// Compares both results with the reference {loss, gradients...}: f64 to 1e-12, f32 to 1e-5
// (relative to the largest reference value).
void expect_results(const Results& got, const std::vector<std::vector<double>>& want, DType dtype) {
  ASSERT_EQ(got.jit.size(), want.size());
  ASSERT_EQ(got.interp.size(), want.size());
  for (std::size_t j = 0; j < want.size(); ++j) {
    double scale = 1;
    for (double v : want[j]) scale = std::max(scale, std::fabs(v));
    double tol = (dtype == DType::F64 ? 1e-12 : 1e-5) * scale;
    ASSERT_EQ(got.jit[j].data.size(), want[j].size()) << "output " << j;
    for (std::size_t e = 0; e < want[j].size(); ++e) {
      EXPECT_NEAR(got.jit[j].data[e], want[j][e], tol) << "jit, output " << j << " element " << e;
      EXPECT_NEAR(got.interp[j].data[e], want[j][e], 1e-12 * scale) << "interpreter, output " << j << " element " << e;
    }
  }
}

// Identical literals are one node; a value that differs in one bit (-0) is another.
TEST(TensorLiterals, HashConsed) {
  Graph g;
  const Node* a = g.tensor(Shape{2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(g.tensor(Shape{2, 2}, {1, 2, 3, 4}), a);
  EXPECT_NE(g.tensor(Shape{4}, {1, 2, 3, 4}), a);
  EXPECT_NE(g.tensor(Shape{2, 2}, {1, 2, 3, 5}), a);
  const Node* z = g.tensor(Shape{2}, {0, 1});
  EXPECT_NE(g.tensor(Shape{2}, {-0.0, 1}), z);
  EXPECT_EQ(g.tensor(Shape{2}, {0, 1}), z);
  auto m = compile_text("fn f(x) = sum([[1, 2], [3, 4]] * x) + sum([[1, 2], [3, 4]] * x^2)\n");
  const Node* body = m->find("f")->body;
  int literals = 0;
  for (const Node* n : reachable(std::span<const Node* const>(&body, 1))) literals += n->op == Op::Tensor;
  EXPECT_EQ(literals, 1);
  // f = 10 x + 10 x^2: at x = 2, 60.
  EXPECT_EQ(evaluate(std::span<const Node* const>(&body, 1), m->find("f")->params, std::vector<double>{2})[0], 60);
}

// Rank-3 literals: shape [2, 2, 2], values row-major; used in a loss, every element counts.
TEST(TensorLiterals, RankThree) {
  auto m = compile_text("data Z = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]\nparam W[2] = ones\n"
                        "train {\n  loss = sum(W) * sum(Z * Z)\n}\n");
  ASSERT_EQ(m->data.size(), 1u);
  EXPECT_EQ(m->data[0].x.shape, (Shape{2, 2, 2}));
  EXPECT_EQ(m->data[0].x.data, (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}));
  // loss = (w0 + w1) * 204 (1 + 4 + ... + 64), d/dw = 204.
  auto r = loss_and_gradients(*m, {Tensor{Shape{2}, {0.5, 1}}}, DType::F64);
  EXPECT_EQ(r.jit[0].data[0], 1.5 * 204);
  EXPECT_EQ(r.jit[1].data, (std::vector<double>{204, 204}));
  // In a function of a tensor program, too.
  auto f = compile_text("param W[2] = ones\nfn f(x) = sum([[[1, 2], [3, 4]], [[5, 6], [7, 8]]] * x)\n");
  const Node* body = f->find("f")->body;
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(evaluate(std::span<const Node* const>(&body, 1), f->find("f")->params, std::vector<double>{0.5})[0], 18);
}

TEST(TensorLiterals, RaggedMessages) {
  EXPECT_EQ(compile_error("data Z = [[[1, 2], [3, 4]], [[5, 6], [7]]]"),
            "1:38: ragged tensor literal: 1 element here, 2 in the first row at this depth");
  EXPECT_EQ(compile_error("data Z = [[[1, 2], [3, 4]], [[5, 6]]]"),
            "1:29: ragged tensor literal: 1 element here, 2 in the first row at this depth");
  EXPECT_EQ(compile_error("data Z = [[[1, 2], [3, 4]], [5, 6]]"),
            "1:30: ragged tensor literal: a number where a row was expected");
  EXPECT_EQ(compile_error("data Z = [[1, 2], [[3], [4]]]"),
            "1:20: ragged tensor literal: a row where a number was expected");
  EXPECT_EQ(compile_error("data Z = [[[[1]]]]"), "1:13: tensors have at most 3 dimensions");
  // Inside a function of a tensor program the literal's own error is reported (it used to be
  // taken for a function that only works on tensors).
  EXPECT_EQ(compile_error("param W[2] = ones\nfn f(x) = sum([[[1, 2], [3, 4]], [[5, 6]]] * x)"),
            "2:34: ragged tensor literal: 1 element here, 2 in the first row at this depth");
  EXPECT_EQ(compile_error("param W[2] = ones\nfn f(x) = y + sum(x @ W)"), "2:11: unknown name 'y'");
  // A shape error still only means "works on tensors": f(x) = x @ W is fine for a vector x.
  EXPECT_EQ(compile_error("param W[2] = ones\nfn f(x) = sum(x @ W)\ntrain {\n  loss = f([1, 2])\n}"), "no error");
}

// A regulariser on a layer's weight: loss = mse(net(X), Y) + 0.01 * sum(net.0.W^2) for
// net = linear(2, 3), tanh, linear(3, 1). Gradients by hand (backpropagation written out, plus
// 0.02 W for the penalty) and by finite differences of the compiled loss.
TEST(LayerParameters, RegulariserOnNamedWeight) {
  auto m = compile_text(R"(
data X = [[0.5, -1], [1.5, 0.25], [-0.75, 2]]
data Y = [[1], [-0.5], [0.25]]
layer net = sequential(linear(2, 3), tanh, linear(3, 1))
train {
  loss = mse(net(X), Y) + 0.01 * sum(net.0.W^2)
  optimizer = sgd(lr = 0.1)
}
)");
  ASSERT_EQ(m->params.size(), 4u);
  EXPECT_EQ(m->params[0].name, "net.0.W");
  const double X[3][2] = {{0.5, -1}, {1.5, 0.25}, {-0.75, 2}}, Y[3] = {1, -0.5, 0.25};
  std::vector<Tensor> p{Tensor{Shape{2, 3}, {0.3, -0.7, 1.1, 0.4, -0.2, 0.9}}, Tensor{Shape{3}, {0.1, -0.3, 0.05}},
                        Tensor{Shape{3, 1}, {0.8, -0.6, 0.45}}, Tensor{Shape{1}, {-0.2}}};
  auto reference = [&](const std::vector<Tensor>& q, std::vector<std::vector<double>>* grads) {
    std::vector<double> g[4];
    double loss = mlp_2_3_1_mse(X, Y, 3, q[0].data, q[1].data, q[2].data, q[3].data, g);
    for (int e = 0; e < 6; ++e) {
      loss += 0.01 * q[0].data[e] * q[0].data[e];
      g[0][e] += 0.02 * q[0].data[e];
    }
    if (grads) *grads = {g[0], g[1], g[2], g[3]};
    return loss;
  };
  std::vector<std::vector<double>> want;
  double loss = reference(p, &want);
  want.insert(want.begin(), std::vector<double>{loss});
  expect_results(loss_and_gradients(*m, p, DType::F64), want, DType::F64);
  // Finite differences of the compiled loss along every coordinate of net.0.W.
  Trainer t(*m, shared_jit(), TrainOptions{});
  for (std::size_t e = 0; e < 6; ++e) {
    auto f = [&](const std::vector<double>& w) {
      std::vector<Tensor> q = p;
      q[0].data = w;
      return t.step_at(q, 3)[0].data[0];
    };
    EXPECT_NEAR(finite_difference(f, p[0].data, e), want[1][e], 1e-8) << "net.0.W[" << e << "]";
  }
}

TEST(LayerParameters, Messages) {
  const std::string head = "data X = [[1, 2]]\nlayer net = sequential(linear(2, 3), tanh, linear(3, 1))\n"
                           "layer lin = linear(2, 2)\nlayer act = relu\ntrain {\n  loss = sum(";
  EXPECT_EQ(compile_error(head + "net.5.W^2)\n}"),
            "6:17: layer 'net' has no parameter 'net.5.W' (its parameters: net.0.W, net.0.b, net.2.W, net.2.b)");
  EXPECT_EQ(compile_error(head + "net.0.Q^2)\n}"),
            "6:19: layer 'net' has no parameter 'net.0.Q' (its parameters: net.0.W, net.0.b, net.2.W, net.2.b)");
  EXPECT_EQ(compile_error(head + "net.1.W)\n}"),
            "6:17: layer 'net' has no parameter 'net.1.W' (its parameters: net.0.W, net.0.b, net.2.W, net.2.b)");
  EXPECT_EQ(compile_error(head + "lin.W^2)\n}"), "no error");
  EXPECT_EQ(compile_error(head + "lin.0.W)\n}"), "6:17: layer 'lin' has no parameter 'lin.0.W' (its parameters: lin.W, lin.b)");
  EXPECT_EQ(compile_error(head + "act.W)\n}"), "6:17: layer 'act' has no parameters");
  EXPECT_EQ(compile_error(head + "net.0)\n}"), "6:18: expected member name");
  EXPECT_EQ(compile_error(head + "X.W)\n}"), "6:15: '.W': only tensors (.shape), CSV data sets (.x, .y) and layers (.W, .b) have members");
  // Indexing after the members: net.2.b[0] is the output bias.
  EXPECT_EQ(compile_error(head + "net.2.b[0] * lin.b)\n}"), "no error");
}

// Shape products are checked: a product past INT64_MAX is an error, never a wrapped size.
TEST(ShapeSize, Checked) {
  EXPECT_EQ((Shape{2, 3, 4}).size(), 24);
  EXPECT_EQ(Shape{}.size(), 1);
  std::vector<std::int64_t> huge{1 << 30, 1 << 30, 1 << 30};
  try {
    Shape::of(huge);
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "shape [1073741824, 1073741824, 1073741824] has more than 9223372036854775807 elements");
  }
  // 2^62 fits; 2^63 is one past INT64_MAX.
  EXPECT_EQ(Shape::of(std::vector<std::int64_t>{1 << 30, 1 << 30, 4}).size(), std::int64_t(1) << 62);
  EXPECT_THROW(Shape::of(std::vector<std::int64_t>{1 << 30, 1 << 30, 8}), ShapeError);
}

TEST(ShapeSize, LocatedErrors) {
  EXPECT_EQ(compile_error("param W[1073741824, 1073741824, 1073741824] = ones"),
            "1:7: 'W': shape [1073741824, 1073741824, 1073741824] has more than 9223372036854775807 elements; at most "
            "134217728 elements (1 GiB of f64) are supported");
  EXPECT_EQ(compile_error("param W[65536, 65536] = ones"),
            "1:7: 'W' has 4294967296 elements; at most 134217728 (1 GiB of f64) are supported");
  // Each parameter is within the limit, their broadcast sums are not.
  const std::string abc = "param A[134217728, 1, 1] = ones\nparam B[1, 134217728, 1] = ones\n"
                          "param C[1, 1, 134217728] = ones\ntrain {\n  loss = sum(";
  EXPECT_EQ(compile_error(abc + "A + B + C)\n}"),
            "5:16: this result has shape [134217728, 134217728, 1], 18014398509481984 elements; at most 134217728 (1 GiB "
            "of f64) are supported");
}

// A tensor function called twice at each of 25 levels is lowered once per level: f25(W) =
// 2^25 W (f0 is the identity as a matrix product, each level doubles), so with W = ones the
// loss sum(f25(W)) is 2^26 and each gradient entry 2^25. Re-lowering every call took 2^25
// lowerings (minutes).
TEST(CallMemo, TwentyFiveLevelsOfDoubling) {
  std::string text = "param W[2] = ones\nfn f0(x) = x @ [[1, 0], [0, 1]]\n";
  for (int k = 1; k <= 25; ++k) text += "fn f" + std::to_string(k) + "(x) = f" + std::to_string(k - 1) + "(x) + f" +
                                        std::to_string(k - 1) + "(x)\n";
  text += "train {\n  loss = sum(f25(W))\n}\n";
  auto m = compile_text(text);
  std::vector<Tensor> ones{Tensor{Shape{2}, {1, 1}}};
  auto r = loss_and_gradients(*m, ones, DType::F64);
  EXPECT_EQ(r.jit[0].data[0], 67108864);
  EXPECT_EQ(r.jit[1].data, (std::vector<double>{33554432, 33554432}));
  EXPECT_EQ(r.interp[0].data[0], 67108864);
  // A chain of 256 calls on tensors (the nesting limit) lowers; one more is a located error.
  auto chain = [](int n) {
    std::string t = "param W[2] = ones\nfn f0(x) = x @ [[1, 0], [0, 1]]\n";
    for (int k = 1; k <= n; ++k) t += "fn f" + std::to_string(k) + "(x) = f" + std::to_string(k - 1) + "(x) + 1\n";
    return t + "train {\n  loss = sum(f" + std::to_string(n) + "(W))\n}\n";
  };
  m = compile_text(chain(255));
  r = loss_and_gradients(*m, ones, DType::F64);
  EXPECT_EQ(r.jit[0].data[0], 512);
  EXPECT_EQ(r.jit[1].data, (std::vector<double>{1, 1}));
  EXPECT_EQ(compile_error(chain(256)), "3:12: calls on tensors nested more than 256 deep (README, \"Limits\")");
}

// A function that doubles in size at each level (f_k(x) = f_{k-1}(f_{k-1}(x) + x)) meets the
// node limit: a located input error (here with a limit of 2,000 nodes; the CLI's is 2^21).
TEST(NodeLimit, LocatedError) {
  std::string text = "fn f0(x) = sin(x) * x\n";
  for (int k = 1; k <= 40; ++k)
    text += "fn f" + std::to_string(k) + "(x) = f" + std::to_string(k - 1) + "(f" + std::to_string(k - 1) + "(x) + x)\n";
  SourceFile src{"test.grad", text};
  try {
    compile_module(src, true, {}, 2000);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    auto lc = src.line_col(e.loc);
    EXPECT_EQ(std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + e.what(),
              "11:13: this program needs more than 2000 IR nodes");
  }
  EXPECT_NO_THROW(compile_module(SourceFile{"test.grad", "fn f0(x) = sin(x) * x\nfn f1(x) = f0(f0(x) + x)\n"}, true, {}, 2000));
}

class TensorPrograms : public ::testing::TestWithParam<DType> {
 protected:
  DType dt() const { return GetParam(); }
};

// sum(W @ W): d/dW[i][j] = Σ_l W[j][l] + Σ_k W[k][i] (row sum of row j, column sum of column i).
// Its gradient is G @ W^T + W^T @ G: two products into one sum, which used to share one buffer.
TEST_P(TensorPrograms, SumOfSquareMatrixProduct) {
  auto m = compile_text("param W[2, 2] = ones\ntrain {\n  loss = sum(W @ W)\n  optimizer = sgd(lr = 0.1)\n}\n");
  for (const Matrix& w : {Matrix{{1, 1}, {1, 1}}, Matrix{{1, -2}, {0.5, 3}}}) {
    double loss = 0;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int k = 0; k < 2; ++k) loss += w[i][k] * w[k][j];
    std::vector<double> g(4);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) g[i * 2 + j] = w[j][0] + w[j][1] + w[0][i] + w[1][i];
    expect_results(loss_and_gradients(*m, {from(w)}, dt()), {{loss}, g}, dt());
  }
  // On ones: every entry 2 + 2.
  auto r = loss_and_gradients(*m, {from({{1, 1}, {1, 1}})}, dt());
  EXPECT_EQ(r.jit[1].data, (std::vector<double>{4, 4, 4, 4}));
}

// A layer applied twice: h1 = X W + b, h2 = h1 W + b, loss = mean((h2 - Y)^2). W's gradient is
// h1^T g2 + X^T g1, b's the column sums of g2 and g1.
TEST_P(TensorPrograms, LayerUsedTwice) {
  auto m = compile_text(R"(
data X = [[0.5, -1], [1.5, 0.25], [-0.75, 2]]
data Y = [[1, 0], [-0.5, 2], [0.25, -1]]
layer L = linear(2, 2)
train {
  loss = mse(L(L(X)), Y)
  optimizer = sgd(lr = 0.1)
}
)");
  Matrix X{{0.5, -1}, {1.5, 0.25}, {-0.75, 2}}, Y{{1, 0}, {-0.5, 2}, {0.25, -1}};
  Matrix W{{0.3, -0.7}, {1.1, 0.4}};
  std::vector<double> bias{0.2, -0.1};
  double h1[3][2], h2[3][2], g2[3][2], g1[3][2], loss = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) h1[i][j] = bias[j] + X[i][0] * W[0][j] + X[i][1] * W[1][j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) {
      h2[i][j] = bias[j] + h1[i][0] * W[0][j] + h1[i][1] * W[1][j];
      double d = h2[i][j] - Y[i][j];
      loss += d * d / 6;
      g2[i][j] = 2 * d / 6;
    }
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 2; ++k) g1[i][k] = g2[i][0] * W[k][0] + g2[i][1] * W[k][1];
  std::vector<double> gW(4, 0), gb(2, 0);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 2; ++k)
      for (int j = 0; j < 2; ++j) gW[k * 2 + j] += h1[i][k] * g2[i][j] + X[i][k] * g1[i][j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) gb[j] += g2[i][j] + g1[i][j];
  Tensor b{Shape{2}, bias};
  expect_results(loss_and_gradients(*m, {from(W), b}, dt()), {{loss}, gW, gb}, dt());
}

// Two branches through one weight: sum(tanh(X @ W)) + sum(sigmoid(Z @ W)).
// dW = X^T (1 - tanh^2) + Z^T (s (1 - s)).
TEST_P(TensorPrograms, TwoBranchesThroughOneWeight) {
  auto m = compile_text(R"(
data X = [[0.5, -1, 2], [1.5, 0.25, -0.5]]
data Z = [[-1, 0.75, 0.5], [2, -0.25, 1]]
param W[3, 2] = ones
train {
  loss = sum(tanh(X @ W)) + sum(sigmoid(Z @ W))
  optimizer = sgd(lr = 0.1)
}
)");
  Matrix X{{0.5, -1, 2}, {1.5, 0.25, -0.5}}, Z{{-1, 0.75, 0.5}, {2, -0.25, 1}};
  Matrix W{{0.3, -0.7}, {1.1, 0.4}, {-0.2, 0.9}};
  double loss = 0;
  std::vector<double> g(6, 0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      double a = 0, c = 0;
      for (int k = 0; k < 3; ++k) a += X[i][k] * W[k][j], c += Z[i][k] * W[k][j];
      double t = std::tanh(a), s = 1 / (1 + std::exp(-c));
      loss += t + s;
      for (int k = 0; k < 3; ++k) g[k * 2 + j] += X[i][k] * (1 - t * t) + Z[i][k] * s * (1 - s);
    }
  expect_results(loss_and_gradients(*m, {from(W)}, dt()), {{loss}, g}, dt());
}

// One literal written twice: sum(W @ A) + sum(A @ W) with A = [[1, 2], [3, 4]] (one node).
// dW[k][l] = Σ_j A[l][j] + Σ_i A[i][k]; and sum(A @ W @ A): dW[k][l] = Σ_i A[i][k] Σ_j A[l][j].
TEST_P(TensorPrograms, LiteralWrittenTwice) {
  const double A[2][2] = {{1, 2}, {3, 4}};
  Matrix W{{0.5, -1}, {2, 0.25}};
  for (bool chain : {false, true}) {
    auto m = compile_text(std::string("param W[2, 2] = ones\ntrain {\n  loss = ") +
                          (chain ? "sum([[1, 2], [3, 4]] @ W @ [[1, 2], [3, 4]])"
                                 : "sum(W @ [[1, 2], [3, 4]]) + sum([[1, 2], [3, 4]] @ W)") +
                          "\n  optimizer = sgd(lr = 0.1)\n}\n");
    std::vector<DataInput> inputs;
    const Node* loss = m->lower(*m->training->loss, 0, inputs);
    int literals = 0;
    for (const Node* n : reachable(std::span<const Node* const>(&loss, 1))) literals += n->op == Op::Tensor;
    EXPECT_EQ(literals, 1) << "chain " << chain;
    double value = 0;
    std::vector<double> g(4, 0);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int k = 0; k < 2; ++k) {
          if (chain) {
            for (int l = 0; l < 2; ++l) value += A[i][k] * W[k][l] * A[l][j];
          } else {
            value += W[i][k] * A[k][j] + A[i][k] * W[k][j];
          }
        }
    for (int k = 0; k < 2; ++k)
      for (int l = 0; l < 2; ++l)
        g[k * 2 + l] = chain ? (A[0][k] + A[1][k]) * (A[l][0] + A[l][1]) : A[l][0] + A[l][1] + A[0][k] + A[1][k];
    expect_results(loss_and_gradients(*m, {from(W)}, dt()), {{value}, g}, dt());
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, TensorPrograms, ::testing::Values(DType::F64, DType::F32),
                         [](const auto& info) { return std::string(info.param == DType::F64 ? "f64" : "f32"); });

}  // namespace
}  // namespace gradc::test
