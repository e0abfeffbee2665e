// Tensor kernels, checked against the IR interpreter (evaluate_tensors) in f64 and f32
// (support/tensor_kernels.hpp): every broadcasting pattern, reductions along each axis, matrix
// products up to 64x784 @ 784x128, transposes, indexing, embedding, one-hot, reshapes, fused
// elementwise chains, buffer reuse, outputs of every kind, scalar kernels and errors. Whole
// programs (random graphs, the batch entry point, MLP steps): test_tensor_steps.cpp; fusion
// across products: test_tensor_fusion.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/interp.hpp"
#include "runtime/jit.hpp"
#include "support/tensor_kernels.hpp"

namespace gradc {
namespace {

using namespace tensor_kernels;

// The comparison itself can fail: a wrong element, a nan where a number is due, a size.
TEST(TensorJitHarness, ComparisonRejectsWrongResults) {
  std::vector<double> ref = {1.0, -2.0, 3.5, kNan, kInf};
  EXPECT_TRUE(close(ref, ref, 1e-12));
  std::vector<double> off = ref;
  off[2] *= 1 + 1e-9;
  EXPECT_FALSE(close(ref, off, 1e-12));
  std::vector<double> nan = ref;
  nan[0] = kNan;
  EXPECT_FALSE(close(ref, nan, 1e-4));
  std::vector<double> num = ref;
  num[3] = 0;
  EXPECT_FALSE(close(ref, num, 1e-4));
  EXPECT_FALSE(close(ref, {1.0}, 1e-4));
  // A kernel result compared with a deliberately different graph's reference fails too.
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{3, 4});
  Tensor xv = random_tensor(x->shape, 1);
  auto got = run_kernel(shared_jit(), {x}, {b.call(Op::Exp, x)}, {xv}, DType::F64);
  auto wrong = evaluate_tensors(Nodes{b.call(Op::Exp, b.mul(1.0000001, x))}, Nodes{x}, std::vector{xv});
  EXPECT_FALSE(close(wrong[0].data, got[0], 1e-12));
}

TEST_P(TensorJit, BroadcastingPatterns) {
  struct Pattern {
    Shape a, b;
  };
  const std::vector<Pattern> patterns = {
      {Shape{3, 4}, Shape{4}},       {Shape{3, 1}, Shape{1, 4}},  {Shape{}, Shape{2, 3}},
      {Shape{2, 3, 4}, Shape{3, 4}}, {Shape{2, 1, 4}, Shape{3, 1}}, {Shape{4}, Shape{2, 3, 4}},
      {Shape{2, 3, 1}, Shape{2, 1, 5}}, {Shape{1}, Shape{3}},      {Shape{5, 1}, Shape{}},
  };
  std::uint32_t seed = 10;
  for (const Pattern& p : patterns) {
    Graph g;
    Builder b(g);
    const Node* x = g.var("x", p.a);
    const Node* y = g.var("y", p.b);
    // Positive data: no cancellation, so f32 stays within 1e-4 of the f64 reference.
    std::vector<Tensor> v = {random_tensor(p.a, seed++, 0.5, 2), random_tensor(p.b, seed++, 0.5, 2)};
    Nodes out = {b.add(x, y), b.mul(y, x), b.div(x, y), b.apply(Op::Max, {x, y}),
                 b.call(Op::Exp, b.sub(b.mul(x, y), y))};
    SCOPED_TRACE(p.a.str() + " with " + p.b.str());
    expect_matches({x, y}, out, v, dt());
  }
}

// Broadcast of a fused expression that repeats it: the expression is materialized once (the
// result is the same either way; the workspace shows it).
TEST_P(TensorJit, BroadcastOfExpressions) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{4});
  const Node* y = g.var("y", Shape{3, 4});
  const Node* s = g.var("s");
  Nodes out = {b.mul(b.call(Op::Exp, x), y), b.add(b.call(Op::Sin, s), y), b.broadcast_to(b.call(Op::Tanh, x), Shape{2, 4})};
  std::vector<Tensor> v = {random_tensor(x->shape, 3), random_tensor(y->shape, 4), Tensor::scalar(0.7)};
  expect_matches({x, y, s}, out, v, dt());
}

TEST_P(TensorJit, ReductionsAlongEachAxis) {
  for (Shape s : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}, Shape{1, 6}, Shape{4, 1, 3}}) {
    for (int axis = -1; axis < s.rank; ++axis) {
      Graph g;
      Builder b(g);
      const Node* x = g.var("x", s);
      Tensor xv = random_tensor(s, 100 + axis);
      Nodes out = {b.sum(x, axis), b.reduce_max(x, axis), b.sum(b.call(Op::Exp, x), axis),
                   b.reduce_max(b.mul(x, x), axis)};
      Nodes mags = {b.sum(b.call(Op::Abs, x), axis), nullptr, nullptr, nullptr};
      SCOPED_TRACE(s.str() + " axis " + std::to_string(axis));
      expect_matches({x}, out, {xv}, dt(), mags);
    }
  }
}

// ReduceMax follows the interpreter: a nan anywhere along the axis gives nan, -inf and ties
// are ordinary values.
TEST_P(TensorJit, ReduceMaxWithNanAndInfinities) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{3, 4});
  Tensor xv{x->shape, {1, kNan, 3, -kInf,  //
                       -kInf, -kInf, -kInf, -kInf, 0, -0.0, 2, kNan}};
  Nodes out = {b.reduce_max(x, 0), b.reduce_max(x, 1), b.reduce_max(x, -1), b.sum(x, 1)};
  expect_matches({x}, out, {xv}, dt());
  auto got = run_kernel(shared_jit(), {x}, out, {xv}, dt());
  EXPECT_EQ(got[0][0], 1.0);
  EXPECT_TRUE(std::isnan(got[0][1]));
  EXPECT_EQ(got[0][2], 3.0);
  EXPECT_TRUE(std::isnan(got[0][3]));
  EXPECT_TRUE(std::isnan(got[1][0]));
  EXPECT_EQ(got[1][1], -kInf);
  EXPECT_TRUE(std::isnan(got[2][0]));
}

// log-sum-exp: the exp is computed in the sum's loop (no buffer of its own).
TEST_P(TensorJit, SoftmaxStyleReductionFuses) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{5, 6});
  const Node* m = b.reduce_max(x, 1);
  const Node* shifted = b.sub(x, b.unreduce(m, x->shape, 1));
  const Node* se = b.sum(b.call(Op::Exp, shifted), 1);
  const Node* lse = b.add(m, b.call(Op::Log, se));
  const Node* softmax = b.div(b.call(Op::Exp, shifted), b.unreduce(se, x->shape, 1));
  Nodes in = {x};
  Nodes out = {lse, softmax};
  expect_matches(in, out, {random_tensor(x->shape, 5)}, dt(), {b.sum(b.call(Op::Abs, x), 1), nullptr});
  auto raw = Jit::create({.optimize = false});
  std::string ir = raw->llvm_ir(KernelSpec{"lse", in, Nodes{lse}, false, dt()});
  // Buffers: the max (5) and the sum (5), each padded to a 64-byte line; no 5x6 exp buffer.
  std::string elem = dt() == DType::F64 ? "double" : "float";
  std::int64_t line = dt() == DType::F64 ? 8 : 16;
  EXPECT_NE(ir.find("[" + std::to_string(2 * line) + " x " + elem + "] zeroinitializer"), std::string::npos) << ir;
}

TEST_P(TensorJit, MatMulShapes) {
  struct Dims {
    int m, k, n;
  };
  // Also: narrow products (fewer than 16 columns, computed transposed), column counts that
  // leave a remainder after the register tiles (joined to the last tile, or a tile of their
  // own), row counts that are not a multiple of the row block (29 rows of 16 columns: a wide
  // block, 4-row blocks, single rows).
  for (Dims d : {Dims{1, 1, 1}, Dims{3, 5, 2}, Dims{1, 7, 9}, Dims{6, 1, 4}, Dims{5, 3, 1}, Dims{17, 33, 19},
                 Dims{64, 128, 10}, Dims{20, 7, 3}, Dims{16, 1, 1}, Dims{17, 5, 74}, Dims{18, 3, 42},
                 Dims{33, 9, 100}, Dims{7, 4, 150}, Dims{64, 784, 128}, Dims{29, 6, 16}, Dims{40, 5, 1}}) {
    Graph g;
    Builder b(g);
    const Node* x = g.var("x", Shape{d.m, d.k});
    const Node* w = g.var("w", Shape{d.k, d.n});
    std::vector<Tensor> v = {random_tensor(x->shape, 7), random_tensor(w->shape, 8)};
    Nodes mags = {b.matmul(b.call(Op::Abs, x), b.call(Op::Abs, w))};
    SCOPED_TRACE(std::to_string(d.m) + "x" + std::to_string(d.k) + " @ " + std::to_string(d.k) + "x" +
                 std::to_string(d.n));
    expect_matches({x, w}, {b.matmul(x, w)}, v, dt(), mags);
  }
}

// Long products walk their packed strips in blocks of k (TileRules::k_block: 64 rows of a
// 512-bit tile of f64): each element still adds its terms with k increasing from +0, so
// without contraction the bits are the interpreter's. Inner dimensions: 784 (12 blocks and a
// short one), 300, 64 (one block), and a product finished by an epilogue at its last block.
TEST(TensorJitBlocks, LongProductsKeepTheInterpretersBits) {
  auto jit = Jit::create(Jit::Options{.optimize = true, .threads = 1, .contract = false});
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{64, 784});
  const Node* w = g.var("w", Shape{784, 128});
  const Node* h = g.var("h", Shape{40, 300});
  const Node* w2 = g.var("w2", Shape{300, 48});
  const Node* bias = g.var("bias", Shape{48});
  const Node* dz = g.var("dz", Shape{64, 128});
  Nodes in{x, w, h, w2, bias, dz};
  Nodes out{b.matmul(x, w), b.call(Op::Tanh, b.add(b.matmul(h, w2), b.broadcast_to(bias, Shape{40, 48}))),
            b.matmul(b.transpose(x), dz)};
  std::vector<Tensor> v;
  for (std::size_t i = 0; i < in.size(); ++i) v.push_back(random_tensor(in[i]->shape, 60 + static_cast<std::uint32_t>(i)));
  std::vector<Tensor> ref = evaluate_tensors(out, in, v);
  auto got = run_kernel(*jit, in, out, v, DType::F64);
  for (std::size_t j = 0; j < out.size(); ++j) {
    ASSERT_EQ(got[j].size(), ref[j].data.size());
    std::size_t differ = 0;
    for (std::size_t e = 0; e < got[j].size(); ++e) differ += std::memcmp(&got[j][e], &ref[j].data[e], sizeof(double)) != 0;
    EXPECT_EQ(differ, 0u) << "output " << j;
  }
}

// Transposed operands (the backward pass's X^T @ G and G @ W^T), fused operands and a
// broadcast operand.
TEST_P(TensorJit, MatMulOperandForms) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{6, 5});
  const Node* w = g.var("w", Shape{5, 4});
  const Node* gr = g.var("g", Shape{6, 4});
  const Node* r = g.var("r", Shape{4});
  std::vector<Tensor> v = {random_tensor(x->shape, 11), random_tensor(w->shape, 12), random_tensor(gr->shape, 13),
                           random_tensor(r->shape, 14)};
  auto mm_mag = [&](const Node* a, const Node* c) { return b.matmul(b.call(Op::Abs, a), b.call(Op::Abs, c)); };
  const Node* tx = b.transpose(x);
  const Node* tw = b.transpose(w);
  const Node* fused = b.call(Op::Tanh, b.mul(x, b.constant(0.5)));
  const Node* rb = b.broadcast_to(r, Shape{5, 4});
  Nodes out = {b.matmul(tx, gr), b.matmul(gr, tw), b.matmul(fused, w), b.matmul(x, rb),
               b.matmul(b.transpose(gr), b.transpose(b.transpose(x)))};
  Nodes mags = {mm_mag(tx, gr), mm_mag(gr, tw), mm_mag(fused, w), mm_mag(x, rb), mm_mag(b.transpose(gr), x)};
  expect_matches({x, w, gr, r}, out, v, dt(), mags);

  // The same forms when the product is narrow (computed transposed): h^T @ dz, dz @ W^T,
  // h @ W, a fused left operand.
  const Node* h = g.var("h", Shape{40, 24});
  const Node* dz = g.var("dz", Shape{40, 10});
  const Node* w2 = g.var("w2", Shape{24, 10});
  std::vector<Tensor> v2 = {random_tensor(h->shape, 15), random_tensor(dz->shape, 16), random_tensor(w2->shape, 17)};
  Nodes out2 = {b.matmul(b.transpose(h), dz), b.matmul(dz, b.transpose(w2)), b.matmul(h, w2),
                b.matmul(b.call(Op::Sin, h), w2), b.matmul(b.transpose(b.mul(dz, dz)), dz)};
  Nodes mags2 = {mm_mag(b.transpose(h), dz), mm_mag(dz, b.transpose(w2)), mm_mag(h, w2),
                 mm_mag(b.call(Op::Sin, h), w2), mm_mag(b.transpose(b.mul(dz, dz)), dz)};
  expect_matches({h, dz, w2}, out2, v2, dt(), mags2);
}

// The matrix product's inner loop is vectorized for the host (its vector width).
TEST_P(TensorJit, MatMulIsVectorized) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{64, 784});
  const Node* w = g.var("w", Shape{784, 128});
  std::string ir = shared_jit().llvm_ir(KernelSpec{"mm", Nodes{x, w}, Nodes{b.matmul(x, w)}, false, dt()});
  std::regex vec(dt() == DType::F64 ? "<(2|4|8) x double>" : "<(4|8|16) x float>");
  EXPECT_TRUE(std::regex_search(ir, vec)) << ir;
  EXPECT_EQ(ir.find(" fast "), std::string::npos);
  EXPECT_EQ(ir.find("reassoc"), std::string::npos);
}

TEST_P(TensorJit, Transposes) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{3, 5});
  const Node* y = g.var("y", Shape{5, 3});
  std::vector<Tensor> v = {random_tensor(x->shape, 31), random_tensor(y->shape, 32)};
  Nodes out = {b.transpose(x), b.add(b.transpose(x), y), b.transpose(b.call(Op::Exp, x)),
               b.mul(b.transpose(b.add(x, b.transpose(y))), y), b.sum(b.transpose(x), 1)};
  expect_matches({x, y}, out, v, dt(), {nullptr, nullptr, nullptr, nullptr, b.sum(b.call(Op::Abs, x), 0)});
}

TEST_P(TensorJit, IndexAlongEachAxis) {
  for (Shape s : {Shape{6}, Shape{3, 4}, Shape{2, 3, 4}}) {
    for (int axis = 0; axis < s.rank; ++axis) {
      for (int i : {0, s[axis] - 1}) {
        Graph g;
        Builder b(g);
        const Node* x = g.var("x", s);
        Nodes out = {b.index(x, axis, i), b.index(b.call(Op::Sin, x), axis, i),
                     b.mul(b.index(x, axis, i), b.constant(3))};
        SCOPED_TRACE(s.str() + " axis " + std::to_string(axis) + " index " + std::to_string(i));
        expect_matches({x}, out, {random_tensor(s, 40 + axis)}, dt());
      }
    }
  }
}

TEST_P(TensorJit, EmbedAlongEachAxis) {
  for (Shape s : {Shape{6}, Shape{3, 4}, Shape{2, 3, 4}}) {
    for (int axis = 0; axis < s.rank; ++axis) {
      for (int i : {0, s[axis] - 1}) {
        Graph g;
        Builder b(g);
        Shape small = s.without(axis);
        const Node* x = g.var("x", small);
        Nodes out = {b.embed(x, axis, i, s), b.embed(b.call(Op::Exp, x), axis, i, s),
                     b.add(b.embed(x, axis, i, s), b.constant(1))};
        SCOPED_TRACE(s.str() + " axis " + std::to_string(axis) + " index " + std::to_string(i));
        expect_matches({x}, out, {random_tensor(small, 50 + axis)}, dt());
      }
    }
  }
}

// A label that is not a class index (negative, fractional, too large, nan, inf) gives a row of
// zeros.
TEST_P(TensorJit, OneHot) {
  Graph g;
  Builder b(g);
  const Node* labels = g.var("labels", Shape{10});
  Tensor v{labels->shape, {0, 2, 1, 3, -1, 2.5, kNan, kInf, -0.0, 2}};
  const Node* oh = g.make(Op::OneHot, std::vector<const Node*>{labels}, Attrs{{}, 0, 3});
  Nodes out = {oh, b.mul(oh, b.constant(2)), b.sum(oh, 0)};
  expect_matches({labels}, out, {v}, dt());
  auto got = run_kernel(shared_jit(), {labels}, {oh}, {v}, dt());
  std::vector<double> expected(30, 0.0);
  for (int i : {0, 1, 2, 8, 9}) expected[i * 3 + static_cast<int>(v.data[i] == -0.0 ? 0 : v.data[i])] = 1;
  EXPECT_EQ(got[0], expected);
}

TEST_P(TensorJit, Reshapes) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{2, 6});
  const Node* v = g.var("v", Shape{4});
  std::vector<Tensor> val = {random_tensor(x->shape, 61), random_tensor(v->shape, 62)};
  Nodes out = {
      b.reshape(x, Shape{3, 4}),                                 // contiguous buffer: a view
      b.reshape(b.transpose(x), Shape{4, 3}),                    // strided: index by division
      b.reshape(b.call(Op::Exp, x), Shape{12}),                  // a fused expression
      b.add(b.reshape(v, Shape{4, 1}), b.reshape(x, Shape{1, 12})), // axes of size 1 only
      b.reshape(b.sum(x, 1), Shape{2, 1}),
      b.mul(b.reshape(b.transpose(x), Shape{2, 3, 2}), b.constant(2)),
      b.reshape(b.index(x, 1, 2), Shape{1, 2}),
  };
  expect_matches({x, v}, out, val, dt(), {nullptr, nullptr, nullptr, nullptr, b.reshape(b.sum(b.call(Op::Abs, x), 1), Shape{2, 1})});
}

// Rank-0 results of tensor ops and scalars mixed with tensors.
TEST_P(TensorJit, ScalarsAmongTensors) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{4});
  const Node* s = g.var("s");
  const Node* one = g.var("one", Shape{1});
  std::vector<Tensor> val = {random_tensor(x->shape, 71), Tensor::scalar(1.5), Tensor{Shape{1}, {0.25}}};
  const Node* total = b.sum(x, -1);
  Nodes out = {total, b.mul(total, s), b.index(x, 0, 2), b.add(x, b.mul(s, b.index(x, 0, 3))),
               b.reshape(one, Shape{}), b.sum(b.call(Op::Sin, x), 0), b.reduce_max(x, -1),
               b.call(Op::Exp, b.reshape(one, Shape{}))};
  expect_matches({x, s, one}, out, val, dt(), {b.sum(b.call(Op::Abs, x), -1), b.mul(b.sum(b.call(Op::Abs, x), -1), s)});
}

// Outputs of every kind: an input, a constant tensor, a view, the same node twice, a node
// that is both an output and an operand, a scalar between tensors; an unused input.
TEST_P(TensorJit, OutputsOfEveryKind) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{2, 3});
  const Node* unused = g.var("unused", Shape{5});
  const Node* y = g.var("y", Shape{3});
  const Node* c = g.tensor(Shape{2, 3}, {1, 2, 3, 4, 5, 6.5});
  const Node* e = b.call(Op::Exp, x);
  const Node* used = b.add(e, c);
  Nodes out = {x, c, b.transpose(x), used, b.sum(used, -1), used, b.mul(used, y), b.broadcast_to(y, Shape{2, 3}),
               b.call(Op::Detach, e)};
  std::vector<Tensor> val = {random_tensor(x->shape, 81), random_tensor(unused->shape, 82), random_tensor(y->shape, 83)};
  expect_matches({x, unused, y}, out, val, dt(),
                 {nullptr, nullptr, nullptr, nullptr, b.sum(b.add(b.call(Op::Exp, x), b.call(Op::Abs, c)), -1)});
}

// Every elementwise op on a tensor of edge-case points: the loop bodies (vectorized or not)
// keep the scalar lowering's nan and inf conventions.
TEST(TensorJitF64, EveryElementwiseOpAtEdgeCases) {
  const std::vector<double> points = {0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0, 1e-300, 20.0,
                                      -20.0, 710.0, -745.5, 1e300, kInf, -kInf, kNan};
  std::vector<double> xs, ys;
  for (double p : points)
    for (double q : points) {
      xs.push_back(p);
      ys.push_back(q);
    }
  const int n = static_cast<int>(xs.size());
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    const OpInfo& info = op_info(op);
    if (info.syntax == Syntax::Leaf || !info.elementwise) continue;
    Graph g;
    Builder b(g, Simplify::None);
    Nodes in = {g.var("x", Shape{n}), g.var("y", Shape{n})};
    const Node* f = info.arity == 1 ? b.call(op, in[0]) : b.apply(op, {in[0], in[1]});
    std::vector<Tensor> v = {Tensor{Shape{n}, xs}, Tensor{Shape{n}, ys}};
    auto ref = evaluate_tensors(Nodes{f}, in, v);
    auto got = run_kernel(shared_jit(), in, {f}, v, DType::F64);
    EXPECT_TRUE(close(ref[0].data, got[0], 1e-15)) << info.name;
  }
}

// A long elementwise chain fuses into one loop, evaluated without recursion.
TEST_P(TensorJit, LongFusedChain) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = g.var("x", Shape{3, 8});
  const Node* e = x;
  const Node* c = b.broadcast_to(b.constant(0.5), x->shape);
  for (int i = 0; i < 20000; ++i) e = i % 2 ? b.mul(e, c) : b.add(e, c);
  expect_matches({x}, {e}, {random_tensor(x->shape, 91)}, dt());
}

// More than a thousand distinct constants (they go to a table) in a tensor kernel.
TEST_P(TensorJit, ManyConstants) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = g.var("x", Shape{5});
  const Node* e = x;
  for (int i = 0; i < 1200; ++i) e = b.add(e, b.constant(1.0 / (i + 3)));
  expect_matches({x}, {e}, {random_tensor(x->shape, 92)}, dt());
}

// A deep network with many intermediate buffers, which the workspace reuses.
TEST_P(TensorJit, ManyLayersReuseTheWorkspace) {
  Graph g;
  Builder b(g);
  const Node* h = g.var("x", Shape{8, 16});
  Nodes in = {h};
  std::vector<Tensor> val = {random_tensor(h->shape, 100)};
  Nodes outs;
  for (int layer = 0; layer < 6; ++layer) {
    const Node* w = g.var("w" + std::to_string(layer), Shape{16, 16});
    in.push_back(w);
    val.push_back(random_tensor(w->shape, 200 + layer, -0.3, 0.3));
    const Node* z = b.matmul(h, w);
    h = b.call(Op::Tanh, b.sub(z, b.unreduce(b.reduce_max(z, 1), z->shape, 1)));
  }
  outs.push_back(h);
  outs.push_back(b.sum(h, 0));
  expect_matches(in, outs, val, dt(), {nullptr, b.sum(b.call(Op::Abs, h), 0)});
  auto raw = Jit::create({.optimize = false});
  std::string ir = raw->llvm_ir(KernelSpec{"deep", in, outs, false, dt()});
  // Six 8x16 products and six 8-element maxima, but at most two products alive at a time.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ir, m, std::regex("\\[([0-9]+) x (double|float)\\] zeroinitializer")));
  EXPECT_LE(std::stoi(m[1]), 3 * 128 + 2 * 16) << m[0];
}

// Without the IR pipeline (Jit optimize = false: allocas, no vectorization, the -O0 backend)
// the loop nests compute the same values.
TEST_P(TensorJit, UnoptimizedJit) {
  auto raw = Jit::create({.optimize = false});
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{20, 6});
  const Node* w = g.var("w", Shape{6, 18});
  const Node* v = g.var("v", Shape{6, 3});
  const Node* z = b.matmul(x, w);
  const Node* m = b.reduce_max(z, 1);
  const Node* sm = b.call(Op::Exp, b.sub(z, b.unreduce(m, z->shape, 1)));
  Nodes in = {x, w, v};
  Nodes out = {b.sum(sm, 1), b.matmul(x, v), b.transpose(b.matmul(b.transpose(x), x)),
               b.embed(m, 1, 1, Shape{20, 3}), b.sum(z, -1)};
  std::vector<Tensor> val = {random_tensor(x->shape, 1), random_tensor(w->shape, 2), random_tensor(v->shape, 3)};
  auto ref = evaluate_tensors(out, in, val);
  auto got = run_kernel(*raw, in, out, val, dt());
  for (std::size_t j = 0; j < out.size(); ++j) {
    double scale = 0;
    for (double e : ref[j].data) scale = std::max(scale, std::fabs(e));
    std::vector<double> mag(ref[j].data.size(), scale);
    EXPECT_TRUE(close(ref[j].data, got[j], tolerance(dt()), &mag)) << "output " << j;
  }
}

// Tensor ops on scalars stay in the straight-line scalar code (identities; a sum starts at +0,
// so sum(-0) = +0 as in the interpreter).
TEST(TensorJitF64, RankZeroTensorOpsInScalarKernels) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = g.var("x");
  const Node* c = g.tensor(Shape{}, {2.5});
  Nodes out = {g.make(Op::Sum, Nodes{x}, Attrs{{}, -1, 0}), g.make(Op::ReduceMax, Nodes{x}, Attrs{{}, -1, 0}),
               g.make(Op::Detach, Nodes{x}), g.make(Op::Reshape, Nodes{x}, Attrs{Shape{}}), b.mul(c, x)};
  Nodes in = {x};
  KernelSpec spec{"s", in, out, true};
  EXPECT_FALSE(is_tensor_kernel(spec));
  Kernel k = shared_jit().compile(spec);
  for (double v : {-0.0, 1.5, -kInf, kNan}) {
    std::vector<double> got(out.size());
    k.single(&v, got.data());
    auto ref = evaluate_tensors(out, in, std::vector{Tensor::scalar(v)});
    for (std::size_t j = 0; j < out.size(); ++j) {
      EXPECT_TRUE(close(ref[j].data, {got[j]}, 0)) << j << " at " << v;
      if (!std::isnan(v)) {
        EXPECT_EQ(std::signbit(ref[j].data[0]), std::signbit(got[j])) << j << " at " << v;
      }
    }
  }
}

// An F32 scalar kernel: float arithmetic, the float math functions, both entry points.
TEST(TensorJitF32, ScalarKernel) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = g.var("x");
  const Node* y = g.var("y");
  Nodes in = {x, y};
  Nodes out = {b.add(b.call(Op::Softplus, x), b.mul(b.call(Op::Sin, y), b.constant(0.1))),
               b.div(b.call(Op::Tanh, x), b.add(b.constant(2), b.call(Op::Cos, y)))};
  KernelSpec spec{"f", in, out, true, DType::F32};
  std::string ir = shared_jit().llvm_ir(spec);
  EXPECT_NE(ir.find("@log1pf("), std::string::npos) << ir;
  EXPECT_NE(ir.find("@llvm.sin.f32("), std::string::npos) << ir;
  // The single entry computes in float (the batch's own vector sin, cos, log and tanh compute
  // f32 results in double on purpose: compiler/codegen/vector_math.cpp).
  std::size_t single = ir.find("@f(");
  ASSERT_NE(single, std::string::npos) << ir;
  std::string body = ir.substr(single, ir.find("\n}\n", single) - single);
  EXPECT_NE(body.find("fadd contract float"), std::string::npos) << body;
  EXPECT_EQ(body.find("double"), std::string::npos) << body;
  Kernel k = shared_jit().compile(spec);
  ASSERT_NE(k.single_f32, nullptr);
  ASSERT_NE(k.batch_f32, nullptr);
  EXPECT_EQ(k.single, nullptr);
  EXPECT_EQ(k.batch, nullptr);
  std::vector<float> rows = {0.3f, -1.2f, 2.0f, 0.5f, -20.0f, 3.0f};
  std::vector<float> batch(6, -777);
  k.batch_f32(rows.data(), batch.data(), 3);
  for (int r = 0; r < 3; ++r) {
    std::vector<float> single(2);
    k.single_f32(&rows[2 * r], single.data());
    auto ref = evaluate(out, in, std::vector<double>{rows[2 * r], rows[2 * r + 1]});
    for (int j = 0; j < 2; ++j) {
      EXPECT_TRUE(close({ref[j]}, {single[j]}, 1e-4)) << "row " << r << " output " << j;
      // The batch computes tanh, sin, ... with SLEEF's vector functions (1.0 ulp).
      EXPECT_NEAR(single[j], batch[2 * r + j], 4e-7f * std::max(1.0f, std::fabs(single[j]))) << "row " << r << " output " << j;
    }
  }
}

TEST_P(TensorJit, Errors) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{2, 2});
  const Node* y = g.var("y", Shape{2, 2});
  EXPECT_THROW(shared_jit().compile(KernelSpec{"k", Nodes{x}, Nodes{b.matmul(x, y)}, false, dt()}), std::logic_error);
  // The declared C function's name is refused for the dtype that declares it.
  const char* libm = dt() == DType::F64 ? "log1p" : "log1pf";
  EXPECT_THROW(shared_jit().llvm_ir(KernelSpec{libm, Nodes{x}, Nodes{x}, false, dt()}), std::invalid_argument);
  // A workspace beyond the limit is a user-facing limit error (exit 1), not an abort.
  const Node* big = g.var("big", Shape{1 << 15, 1 << 15});
  try {
    shared_jit().llvm_ir(KernelSpec{"k", Nodes{big}, Nodes{b.sum(b.matmul(big, big), -1)}, false, dt()});
    ADD_FAILURE() << "a workspace past 1 GiB compiled";
  } catch (const LimitError& e) {
    EXPECT_STREQ(e.what(), "the compiled kernel's intermediate tensors need more than 1024 MiB (README, \"Limits\")");
  }
  // An f32 graph compiles only as f32 (its retyped step: what --dtype f32 trains).
  std::vector<const Node*> typed = retype(g, Nodes{x, y, b.matmul(x, y)}, DType::F32);
  Nodes in32{typed[0], typed[1]}, out32{typed[2]};
  if (dt() == DType::F64)
    EXPECT_THROW(shared_jit().compile(KernelSpec{"k", in32, out32, false, dt()}), std::logic_error);
  else
    EXPECT_EQ(run_kernel(shared_jit(), in32, out32, {random_tensor(x->shape, 1), random_tensor(y->shape, 2)}, dt()),
              run_kernel(shared_jit(), Nodes{x, y}, Nodes{b.matmul(x, y)}, {random_tensor(x->shape, 1), random_tensor(y->shape, 2)}, dt()));
  // The Jit stays usable.
  expect_matches({x, y}, {b.matmul(x, y)}, {random_tensor(x->shape, 1), random_tensor(y->shape, 2)}, dt(),
                 {b.matmul(b.call(Op::Abs, x), b.call(Op::Abs, y))});
}

INSTANTIATE_TEST_SUITE_P(DTypes, TensorJit, ::testing::Values(DType::F64, DType::F32),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

}  // namespace
}  // namespace gradc
