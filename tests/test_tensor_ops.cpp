// The joining, slicing and reshaping ops and built-ins (slice, pad, concatenate, stack,
// reshape, expand_dims, transpose with axes, batched @): compiled kernels against the
// interpreter, built-in values against NumPy results worked out by hand in this file, and the
// exact messages for shapes that do not fit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/interp.hpp"
#include "support/helpers.hpp"
#include "support/tensor_kernels.hpp"

namespace gradc::test {
namespace {

using Nodes = std::vector<const Node*>;
using tensor_kernels::random_tensor;

// The kernel's outputs against the interpreter's: f64 to 1e-12 relative to the sum of |terms|
// (1 for these small products), f32 to 1e-4.
void expect_kernel_matches(const Nodes& in, const Nodes& out, const std::vector<Tensor>& values, DType dtype) {
  std::vector<Tensor> ref = evaluate_tensors(out, in, values);
  Kernel k = shared_jit().compile(KernelSpec{"t", in, out, /*batch=*/false, dtype});
  std::vector<double> flat;
  for (const Tensor& t : values) flat.insert(flat.end(), t.data.begin(), t.data.end());
  std::vector<double> got(k.num_outputs);
  if (dtype == DType::F64) {
    k.single(flat.data(), got.data());
  } else {
    std::vector<float> f(flat.begin(), flat.end()), o(k.num_outputs);
    k.single_f32(f.data(), o.data());
    got.assign(o.begin(), o.end());
  }
  double tol = dtype == DType::F64 ? 1e-12 : 1e-4;
  std::size_t at = 0;
  for (std::size_t j = 0; j < out.size(); ++j)
    for (double r : ref[j].data) {
      EXPECT_LE(std::fabs(got[at] - r), tol * std::max(1.0, std::fabs(r)) * 8) << "output " << j << " element " << at;
      ++at;
    }
}

class TensorOpsJit : public ::testing::TestWithParam<DType> {};

TEST_P(TensorOpsJit, SlicesAndPadsAlongEachAxis) {
  for (Shape s : {Shape{6}, Shape{3, 5}, Shape{2, 4, 3}}) {
    for (int axis = 0; axis < s.rank; ++axis) {
      Graph g;
      Builder b(g);
      const Node* x = g.var("x", s);
      int len = s[axis] - 1;
      Shape big = s;
      big.dims[axis] += 2;
      Nodes out = {b.slice(x, axis, 1, len), b.slice(b.call(Op::Exp, x), axis, 0, len),
                   b.pad(x, axis, 1, big), b.pad(b.call(Op::Sin, x), axis, 2, big),
                   b.add(b.pad(x, axis, 0, big), b.constant(1))};
      SCOPED_TRACE(s.str() + " axis " + std::to_string(axis));
      expect_kernel_matches({x}, out, {random_tensor(s, 7 + axis)}, GetParam());
    }
  }
}

TEST_P(TensorOpsJit, ConcatenateAndStack) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{2, 3});
  const Node* y = g.var("y", Shape{2, 3});
  const Node* s = g.var("s", Shape{});
  const Node* two[] = {x, b.call(Op::Tanh, y)};
  const Node* three[] = {b.mul(s, y), x, y};
  const Node* scalars[] = {s, b.mul(s, s), b.call(Op::Sin, s)};
  Nodes out = {b.concatenate(two, 0), b.concatenate(three, 1), b.stack(two, 0), b.stack(two, 1),
               b.stack(three, 2), b.stack(scalars, 0), b.call(Op::Exp, b.stack(scalars, 0))};
  expect_kernel_matches({x, y, s}, out, {random_tensor(x->shape, 1), random_tensor(y->shape, 2), Tensor::scalar(0.7)},
                        GetParam());
}

TEST_P(TensorOpsJit, PermutationsAndBatchedProducts) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{2, 3, 4});
  const Node* y = g.var("y", Shape{2, 4, 5});
  const Node* w = g.var("w", Shape{4, 3});
  Nodes out;
  for (std::array<int, 3> p : {std::array{0, 2, 1}, std::array{1, 0, 2}, std::array{2, 1, 0}, std::array{1, 2, 0},
                               std::array{2, 0, 1}}) {
    out.push_back(b.permute(x, p));
    out.push_back(b.call(Op::Exp, b.permute(b.call(Op::Sin, x), p)));
  }
  out.push_back(b.matmul(x, y));
  out.push_back(b.call(Op::Tanh, b.matmul(b.call(Op::Sin, x), y)));
  out.push_back(b.matmul(x, b.broadcast_to(w, Shape{2, 4, 3})));
  out.push_back(b.matmul(b.transpose(y), b.permute(x, std::array{0, 2, 1})));
  expect_kernel_matches({x, y, w}, out, {random_tensor(x->shape, 3), random_tensor(y->shape, 4), random_tensor(w->shape, 5)},
                        GetParam());
}

INSTANTIATE_TEST_SUITE_P(BothTypes, TensorOpsJit, ::testing::Values(DType::F64, DType::F32),
                         [](const auto& info) { return std::string(info.param == DType::F64 ? "f64" : "f32"); });

// The value of fn f at x (a scalar), through the interpreter.
double value_at(const std::string& src, double x) {
  auto m = compile_text(src);
  const Function& f = m->functions.at(0);
  return evaluate(std::vector<const Node*>{f.body}, f.params, std::vector<double>{x})[0];
}

// Every tensor op's row carries its shape rule and its evaluation (and elementwise ops none).
TEST(OpTable, EveryTensorOpHasShapeRuleAndEvaluation) {
  int tensor_ops = 0;
  for (int i = 0; i < kNumOps; ++i) {
    const OpInfo& info = op_info(static_cast<Op>(i));
    if (info.elementwise) continue;
    ++tensor_ops;
    EXPECT_NE(info.shape, nullptr) << op_id(info.op) << " has no shape rule";
    EXPECT_NE(info.evaluate, nullptr) << op_id(info.op) << " has no evaluation";
  }
  EXPECT_EQ(tensor_ops, 12);  // Broadcast .. Detach, Slice, Pad
}

// NumPy's results, worked out by hand: A = [[1, 2, 3], [4, 5, 6]].
TEST(TensorBuiltins, MatchNumPy) {
  const std::string data = "data A = [[1, 2, 3], [4, 5, 6]]\ndata B = [[7, 8, 9]]\n";
  struct Case {
    const char* body;  // fn f(x) = body, evaluated at x = 2
    double want;
  };
  const Case cases[] = {
      // np.concatenate([A, 2 B]) = [[1, 2, 3], [4, 5, 6], [14, 16, 18]]; weighted row sums 6 + 150 + 4800
      {"sum(concatenate([A, B * x]) * [[1], [10], [100]])", 4956},
      // np.concatenate([A, A], axis=-1)[1] = [4, 5, 6, 4, 5, 6]
      {"sum(concatenate([A, A * x], axis = -1)[1] * [1, 0, 0, 0, 0, 10])", 124},
      // np.stack([A, 2 A], axis=2)[1] = [[4, 8], [5, 10], [6, 12]]
      {"sum(stack([A, A * x], axis = 2)[1] * [[1, 2]])", 75},
      // np.stack(A) is A (its rows, stacked again)
      {"sum(stack(A) * x)", 42},
      // np.reshape(2 A, [3, -1])[2] = [10, 12]; np.reshape(A, 6)[4] = 5
      {"sum(reshape(A * x, [3, -1])[2] * [1, 10])", 130},
      {"reshape(A, 6)[4] * x", 10},
      // np.transpose(np.expand_dims(2 A, 0), [2, 0, 1])[2] = [[6, 12]]
      {"sum(transpose(expand_dims(A, 0) * x, [2, 0, 1])[2] * [[1, 10]])", 126},
      // np.expand_dims(A, -1) has shape [2, 3, 1]: [:, 2] is [[3], [6]]
      {"sum(expand_dims(A, -1)[:, 2] * [[1], [10]]) * x", 126},
      // np.transpose of rank 3 reverses the axes: transpose(stack([A, 2A]))[2] = [[3, 6], [6, 12]]
      {"sum(transpose(stack([A, A * x]))[2] * [[1, 10], [100, 1000]])", 12663},
      // np.stack([A, 2A]) @ A.T: A A^T = [[14, 32], [32, 77]], sums 155 and 310
      {"sum(stack([A, A * x]) @ transpose(A))", 465},
      // A vector on the left of a stack: [1, 1, 1] @ stack([A^T, 2 A^T]) = [[5, 7, 9] . 1, ...] = [[6, 15], [12, 30]]
      {"sum(([1, 1, 1] @ stack([transpose(A), transpose(A) * x])) * [[1, 1], [0, 1]])", 51},
  };
  for (const Case& c : cases) EXPECT_EQ(value_at(data + "fn f(x) = " + c.body, 2), c.want) << c.body;
  // np.stack([x, 2x, 3]) = [x, 2x, 3]
  EXPECT_EQ(value_at("fn f(x) = sum(stack([x, 2*x, 3]) * [1, 10, 100])", 2), 342);
}

// einsum against NumPy's results, worked out by hand: A = [[1, 2, 3], [4, 5, 6]],
// P = [[1, 0], [2, 1], [0, 3]], C = [[1, 2], [3, 4]].
TEST(TensorBuiltins, EinsumMatchesNumPy) {
  const std::string data = "data A = [[1, 2, 3], [4, 5, 6]]\ndata P = [[1, 0], [2, 1], [0, 3]]\n"
                           "data C = [[1, 2], [3, 4]]\n";
  auto einsum = [&](const std::string& call) {
    auto m = compile_text(data + "fn f(x) = x * " + call);
    const Function& f = m->functions.at(0);
    return evaluate_tensors(std::vector<const Node*>{f.body}, f.params, std::vector<Tensor>{Tensor::scalar(1)})[0];
  };
  struct Case {
    const char* call;
    Shape shape;
    std::vector<double> want;
  };
  const Case cases[] = {
      {"einsum(\"ij,jk->ik\", A, P)", Shape{2, 2}, {5, 11, 14, 23}},  // A @ P
      {"einsum(\"ij->ji\", A)", Shape{3, 2}, {1, 4, 2, 5, 3, 6}},
      {"einsum(\"ii->i\", C)", Shape{2}, {1, 4}},  // np.diag
      {"einsum(\"ii->\", C)", Shape{}, {5}},      // np.trace
      {"einsum(\"ij->\", A)", Shape{}, {21}},
      {"einsum(\"i,i->\", A[0], A[1])", Shape{}, {32}},  // 4 + 10 + 18
      {"einsum(\"i,j->ij\", A[0], C[1])", Shape{3, 2}, {3, 4, 6, 8, 9, 12}},  // np.outer
      // [C, 2C] @ [C, C^T]: C C = [[7, 10], [15, 22]], 2 C C^T = 2 [[5, 11], [11, 25]]
      {"einsum(\"bij,bjk->bik\", [C, C + C], [C, transpose(C)])", Shape{2, 2, 2}, {7, 10, 15, 22, 10, 22, 22, 50}},
      {"einsum(\"ij,jk,kl->il\", A, P, C)", Shape{2, 2}, {38, 54, 83, 120}},  // [[5, 11], [14, 23]] @ C
      // C[i, j] (C C)[j, l]: the shared j kept, k contracted
      {"einsum(\"ij,jk,kl->ijl\", C, C, C)", Shape{2, 2, 2}, {7, 10, 30, 44, 21, 30, 60, 88}},
      {"einsum(\"bii->bi\", [C, C + C])", Shape{2, 2}, {1, 4, 2, 8}},
      // Implicit output: the letters that appear once, in alphabetical order.
      {"einsum(\"ij,jk\", A, P)", Shape{2, 2}, {5, 11, 14, 23}},
      {"einsum(\"ji\", A)", Shape{3, 2}, {1, 4, 2, 5, 3, 6}},  // np.einsum('ji', A) is A.T
      {"einsum(\"ii\", C)", Shape{}, {5}},
      {"einsum(\" ij , jk -> ik \", A, P)", Shape{2, 2}, {5, 11, 14, 23}},  // spaces are ignored
  };
  for (const Case& c : cases) {
    Tensor t = einsum(c.call);
    EXPECT_EQ(t.shape, c.shape) << c.call;
    EXPECT_EQ(t.data, c.want) << c.call;
  }
}

// The message for `fn f(x) = <body>` without its position, which must be the first occurrence
// of `at` in the body (A is the matrix [[1, 2, 3], [4, 5, 6]], written out in both).
std::string error_in(std::string body, std::string at) {
  const std::string a = "[[1, 2, 3], [4, 5, 6]]";
  for (std::string* s : {&body, &at})
    for (std::size_t p; (p = s->find('A')) != std::string::npos;) s->replace(p, 1, a);
  const std::string src = "fn f(x) = " + body;
  const std::string error = compile_error(src);
  const std::string column = std::to_string(src.find(at) + 1), prefix = "1:" + column + ": ";
  return error.rfind(prefix, 0) == 0 ? error.substr(prefix.size()) : error + " (expected at column " + column + ")";
}

TEST(TensorBuiltins, ShapeErrorsAreLocated) {
  struct Case {
    const char* body;
    const char* at;
    const char* message;
  };
  const Case cases[] = {
      {"sum(concatenate([A, [1, 2]]))", "concatenate", "concatenate: shapes [2, 3] and [2] differ off axis 0"},
      {"sum(concatenate([A, transpose(A)], axis = 1))", "concatenate",
       "concatenate: shapes [2, 3] and [3, 2] differ off axis 1"},
      {"concatenate([x, x])", "concatenate", "concatenate: scalars cannot be concatenated (stack them)"},
      {"concatenate([x, x], axis = 0)", "axis", "axis 0 is out of range for concatenating operands of shape []"},
      {"sum(stack([A, transpose(A)]))", "stack", "stack: shapes [2, 3] and [3, 2] differ (stack needs equal shapes)"},
      {"sum(stack([A, A], axis = 3))", "axis", "axis 3 is out of range for stacking operands of shape [2, 3]"},
      {"sum(stack([stack([A, A]), stack([A, A])]))", "stack",
       "stack: operands of shape [2, 2, 3] would make a rank-4 result; the maximum is 3"},
      {"sum(reshape(A, [4, -1]))", "reshape", "reshape: cannot reshape [2, 3] to [4, -1]"},
      {"sum(reshape(A, [5]))", "reshape", "reshape: cannot reshape [2, 3] to [5]"},
      {"sum(reshape(A, [-1, -1]))", "-1]", "reshape: only one dimension can be -1"},
      {"sum(reshape(A, [1, 1, 2, 3]))", "reshape", "rank 4 exceeds the maximum of 3"},
      {"sum(expand_dims(A, 3))", "3))", "axis 3 is out of range for expanding shape [2, 3]"},
      {"sum(transpose(A, [0, 0]))", "transpose",
       "transpose: axes [0, 0] are not a permutation of the axes of shape [2, 3]"},
      {"sum(transpose(A, [0, 2]))", "2]", "axis 2 is out of range for shape [2, 3]"},
      {"sum(transpose(A, 1))", "1))", "'transpose' needs a list [..] as axes"},
      {"sum(stack([A, A]) @ stack([A, A, A]))", "@", "shapes [2, 2, 3] and [3, 2, 3] do not fit a matrix product"},
      {"sum(einsum(\"ij,jk->ik\", A))", "einsum", "einsum: 'ij,jk->ik' names 2 operands, but 1 was given"},
      {"sum(einsum(\"ij,jk->ik\", A, A))", "A))", "einsum: 'j' is 3 in operand 1 but 2 in operand 2"},
      {"sum(einsum(\"ii->i\", A))", "A))", "einsum: 'i' is 2 in operand 1 but 3 in operand 1"},
      {"sum(einsum(\"i->i\", A))", "A))", "einsum: operand 1 has shape [2, 3], but 'i' names 1 axis"},
      {"sum(einsum(\"ijk->i\", A))", "A))", "einsum: operand 1 has shape [2, 3], but 'ijk' names 3 axes"},
      {"sum(einsum(\"ij,kl->ijkl\", A, A))", "einsum",
       "einsum: 'ij,kl->ijkl' makes a rank-4 result; at most rank 3 is supported"},
      {"sum(einsum(\"ade,bde,cde->abc\", [A, A], [A, A], [A, A]))", "einsum",
       "einsum: 'ade,bde,cde->abc' needs a rank-4 intermediate; at most rank 3 is supported"},
      {"sum(einsum(\"i...->i\", A))", "\"i.", "einsum: subscripts are letters, not '.'"},
      {"sum(einsum(\"ij->i-\", A))", "\"ij", "einsum: output subscripts are letters, not '-'"},
      {"sum(einsum(\"ij->iz\", A))", "\"ij", "einsum: the output subscript 'z' is not an input's"},
      {"sum(einsum(\"ij->ii\", A))", "\"ij", "einsum: the output subscript 'i' appears twice"},
      {"sum(einsum(A, A))", "A, A", "'einsum' needs a string \"..\" as subscripts like \"ij,jk->ik\""},
  };
  for (const Case& c : cases) EXPECT_EQ(error_in(c.body, c.at), c.message) << c.body;
}

}  // namespace
}  // namespace gradc::test
