// The tensor plan without LLVM (compiler/codegen/tensor_plan.hpp): which nodes fuse, which get
// buffers and where, when buffers are reused, riders and epilogues. Linked with the compiler
// stages only: no JIT. Tile rules are AVX2's defaults (TargetInfo{}), one thread.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/codegen/tensor_plan.hpp"
#include "compiler/diff.hpp"
#include "compiler/lower.hpp"

namespace gradc {
namespace {

using Nodes = std::vector<const Node*>;

TensorPlan plan_of(const Nodes& in, const Nodes& out, unsigned threads = 1) {
  TargetInfo target;
  target.threads = threads;
  return plan_tensor_kernel(KernelSpec{"k", in, out, false, DType::F64}, TileRules::for_target(target, DType::F64));
}

std::int64_t materialized(const TensorPlan& p) {
  std::int64_t n = 0;
  for (const NodePlan& np : p.nodes) n += np.materialized();
  return n;
}

// tanh(sin(exp(x)) + 1): one loop writing the output; nothing in between has a buffer.
TEST(TensorPlan, ElementwiseChainFusesIntoOneLoop) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{8, 16});
  const Node* e = b.call(Op::Exp, x);
  const Node* s = b.call(Op::Sin, e);
  const Node* a = b.add(s, b.constant(1));
  const Node* y = b.call(Op::Tanh, a);
  TensorPlan p = plan_of({x}, {y});
  EXPECT_EQ(p.at(x).place, Place::Input);
  for (const Node* n : {e, s, a}) {
    EXPECT_EQ(p.at(n).place, Place::Fused) << op_id(n->op);
    EXPECT_EQ(p.at(n).why, Why::SingleUse) << op_id(n->op);
    EXPECT_EQ(p.at(n).eval_pos, p.pos.at(y)) << op_id(n->op);  // computed in y's loop
  }
  EXPECT_EQ(p.at(y).place, Place::Output);
  EXPECT_EQ(p.at(y).why, Why::Output);
  EXPECT_EQ(materialized(p), 1);
  EXPECT_EQ(p.workspace_elems, 0);
}

// sum(p * p) for p = x @ W: the product has a loop nest and a buffer of its own; p * p is
// computed in the sum's loop.
TEST(TensorPlan, MatmulIsMaterialized) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{6, 5});
  const Node* w = g.var("w", Shape{5, 7});
  const Node* prod = b.matmul(x, w);
  const Node* sq = b.mul(prod, prod);
  const Node* total = b.sum(sq, -1);
  TensorPlan p = plan_of({x, w}, {total});
  EXPECT_EQ(p.at(prod).place, Place::Workspace);
  EXPECT_EQ(p.at(prod).why, Why::OwnLoop);
  EXPECT_EQ(p.at(prod).offset, 0);
  EXPECT_EQ((p.at(prod).stride), (std::array<std::int64_t, Shape::kMaxRank>{7, 1, 0}));
  EXPECT_EQ(p.at(sq).place, Place::Fused);
  EXPECT_EQ(p.at(total).place, Place::Scalar);
  EXPECT_EQ(p.workspace_elems, 48);  // 42 elements, rounded up to whole 64-byte lines
}

// tanh(x @ W + b): the product is computed in the output's buffer, tile by tile.
TEST(TensorPlan, DenseLayerIsOneEpilogue) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{16, 12});
  const Node* w = g.var("w", Shape{12, 20});
  const Node* bias = g.var("b", Shape{20});
  const Node* xw = b.matmul(x, w);
  const Node* y = b.call(Op::Tanh, b.add(xw, bias));
  TensorPlan p = plan_of({x, w, bias}, {y});
  EXPECT_EQ(p.at(xw).place, Place::Fused);
  EXPECT_EQ(p.at(xw).why, Why::Epilogue);
  EXPECT_EQ(p.at(y).epilogue_of, xw);
  EXPECT_EQ(p.workspace_elems, 0);
  // Read twice (by tanh and by an output), the product keeps a buffer: its output slot.
  TensorPlan p2 = plan_of({x, w, bias}, {y, xw});
  EXPECT_EQ(p2.at(xw).place, Place::Output);
  EXPECT_EQ(p2.at(xw).offset, 16 * 20);
  EXPECT_EQ(p2.at(y).epilogue_of, nullptr);
}

// exp(x) read by sin and by cos, in two outputs: computed once into a buffer, and fused
// when only one of them reads it.
TEST(TensorPlan, SharedValueIsMaterialized) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{4, 8});
  const Node* e = b.call(Op::Exp, x);
  const Node* u = b.call(Op::Sin, e);
  const Node* v = b.call(Op::Cos, e);
  TensorPlan both = plan_of({x}, {u, v});
  EXPECT_EQ(both.at(e).place, Place::Workspace);
  EXPECT_EQ(both.at(e).why, Why::Shared);
  EXPECT_EQ(both.at(e).sites, 2);
  EXPECT_EQ(both.at(e).last_use, both.pos.at(v));
  TensorPlan one = plan_of({x}, {u});
  EXPECT_EQ(one.at(e).place, Place::Fused);
  EXPECT_EQ(one.at(e).sites, 1);
  // Read through a broadcast that repeats it, a fused value would be computed per repetition.
  const Node* r = b.call(Op::Sin, b.broadcast_to(e, Shape{3, 4, 8}));
  TensorPlan rep = plan_of({x}, {r});
  EXPECT_EQ(rep.at(e).place, Place::Workspace);
  EXPECT_EQ(rep.at(e).why, Why::Repeated);
}

// a = exp(x), b = sin(a) cos(a), c = sin(b) cos(b), d = sin(c) cos(c): a, b and c are each read
// twice, so each has a buffer of 128 elements; a is dead once b is computed, so c takes a's
// place: 256 elements, not 384.
TEST(TensorPlan, BuffersAreReusedAfterTheirLastUse) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{8, 16});
  auto twice = [&](const Node* t) { return b.mul(b.call(Op::Sin, t), b.call(Op::Cos, t)); };
  const Node* a = b.call(Op::Exp, x);
  const Node* bb = twice(a);
  const Node* c = twice(bb);
  const Node* d = twice(c);
  TensorPlan p = plan_of({x}, {d});
  EXPECT_EQ(p.at(a).place, Place::Workspace);
  EXPECT_EQ(p.at(bb).place, Place::Workspace);
  EXPECT_EQ(p.at(c).place, Place::Workspace);
  EXPECT_EQ(p.at(a).last_use, p.pos.at(bb));
  EXPECT_EQ(p.at(bb).last_use, p.pos.at(c));
  EXPECT_EQ(p.at(a).offset, 0);
  EXPECT_EQ(p.at(bb).offset, 128);
  EXPECT_EQ(p.at(c).offset, 0);
  EXPECT_EQ(p.workspace_elems, 256);
}

// Reshape and transpose are strides over a buffer, and index maps over a fused expression:
// never copies.
TEST(TensorPlan, ReshapeAndTransposeFuse) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{24});
  const Node* r = b.reshape(x, Shape{4, 6});
  const Node* t = b.transpose(r);
  const Node* y = b.call(Op::Exp, t);
  TensorPlan p = plan_of({x}, {y});
  EXPECT_EQ(p.at(r).place, Place::View);
  EXPECT_EQ(p.at(r).why, Why::StridedView);
  EXPECT_EQ(p.at(r).base, static_cast<std::int32_t>(p.pos.at(x)));
  EXPECT_EQ((p.at(r).stride), (std::array<std::int64_t, Shape::kMaxRank>{6, 1, 0}));
  EXPECT_EQ(p.at(t).place, Place::View);
  EXPECT_EQ((p.at(t).stride), (std::array<std::int64_t, Shape::kMaxRank>{1, 6, 0}));
  EXPECT_EQ(materialized(p), 1);
  // Over a fused expression: the transpose of exp(x) remaps the loop index of sin's loop.
  const Node* m = g.var("m", Shape{4, 6});
  const Node* z = b.call(Op::Sin, b.transpose(b.call(Op::Exp, m)));
  TensorPlan q = plan_of({m}, {z});
  EXPECT_EQ(q.at(z->arg(0)).place, Place::Fused);
  EXPECT_EQ(q.at(z->arg(0)).why, Why::IndexMap);
  EXPECT_EQ(q.at(z->arg(0)->arg(0)).place, Place::Fused);
  EXPECT_EQ(q.workspace_elems, 0);
}

// The backward of x @ W + b: dW = x^T @ dZ and db = sum(dZ, axis 0). The column sums ride on
// the product's packed strips of dZ, and dZ (elementwise, read by nothing else) is computed as
// it is packed: no buffer for it.
// Blocks of k: a strip of 32 f64 columns (256 bytes a row) in blocks of 64 rows (16 KiB);
// a strip up to half a block longer stays whole. A long strip is packed whatever B's stride
// when two blocks of rows or more read it and it is narrower than B; a short one only when
// B's rows are 4 KiB apart.
TEST(TensorPlan, LongStripsAreBlockedAndPacked) {
  TargetInfo t;
  t.vector_bits = 256, t.wide_vector_bits = 512, t.vector_registers = 32;
  TileRules r = TileRules::for_target(t, DType::F64);
  ASSERT_EQ(r.tile_cols, 32);
  EXPECT_EQ(r.k_block(784, 32), 64);
  EXPECT_EQ(r.k_block(97, 32), 64);
  EXPECT_EQ(r.k_block(96, 32), 96);
  EXPECT_EQ(r.k_block(64, 32), 64);
  EXPECT_TRUE(r.packs(64, 784, 128, 128, false));    // X @ W1 of 784-128-10: W1's rows 1 KiB apart
  EXPECT_FALSE(r.packs(64, 64, 128, 128, false));    // one block, rows 1 KiB apart
  EXPECT_TRUE(r.packs(64, 64, 128, 512, false));     // rows 4 KiB apart
  EXPECT_FALSE(r.packs(4, 784, 128, 128, false));    // one block of rows: nothing to reuse
  EXPECT_FALSE(r.packs(16, 1024, 16, 16, false));    // the strip is all of B: contiguous already
  TileRules r32 = TileRules::for_target(t, DType::F32);
  EXPECT_EQ(r32.k_block(784, r32.tile_cols), 64);
}

TEST(TensorPlan, ColumnSumsRideOnAPackedProduct) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{64, 16});
  const Node* z = g.var("z", Shape{64, 128});
  const Node* dz = b.call(Op::Exp, z);
  const Node* db = b.sum(dz, 0);
  const Node* dw = b.matmul(b.transpose(x), dz);
  ASSERT_LT(db->id, dw->id);  // the sum is filled at the product's step, so it comes first
  TensorPlan p = plan_of({x, z}, {dw, db});
  EXPECT_EQ(p.at(dw).column_sum, db);
  EXPECT_FALSE(p.at(dw).negated_sum);
  EXPECT_EQ(p.at(db).summed_by, dw);
  EXPECT_TRUE(p.at(dz).packed);
  EXPECT_EQ(p.at(dz).place, Place::Fused);
  EXPECT_EQ(p.at(dz).why, Why::Packed);
  EXPECT_EQ(p.workspace_elems, 0);
  // A product large enough to be split over two threads does not pack: dZ gets a buffer
  // (read by the product and by the sum), and the sum a loop of its own.
  const Node* xl = g.var("xl", Shape{512, 64});
  const Node* zl = g.var("zl", Shape{512, 64});
  const Node* dzl = b.call(Op::Exp, zl);
  const Node* dbl = b.sum(dzl, 0);
  const Node* dwl = b.matmul(b.transpose(xl), dzl);
  TensorPlan t1 = plan_of({xl, zl}, {dwl, dbl}, 1);
  EXPECT_EQ(t1.at(dbl).summed_by, dwl);
  TensorPlan t2 = plan_of({xl, zl}, {dwl, dbl}, 2);
  EXPECT_EQ(t2.at(dbl).summed_by, nullptr);
  EXPECT_EQ(t2.at(dwl).column_sum, nullptr);
  EXPECT_EQ(t2.at(dzl).place, Place::Workspace);
  EXPECT_EQ(t2.at(dzl).why, Why::Shared);
  // A sum its own loop would take as partial sums (32 columns: 4 vectors of the notional
  // 512-bit machine) keeps them: riding would change its bits, on hosts whose tiles pack only.
  const Node* zs = g.var("zs", Shape{64, 32});
  const Node* dzs = b.call(Op::Exp, zs);
  const Node* dbs = b.sum(dzs, 0);
  const Node* dws = b.matmul(b.transpose(x), dzs);
  TensorPlan ts = plan_of({x, zs}, {dws, dbs});
  EXPECT_EQ(ts.at(dbs).summed_by, nullptr);
  EXPECT_EQ(ts.at(dws).column_sum, nullptr);
}

// The xor example's training step (2-8-1 tanh network, 4 rows, mean squared error), counted by
// hand: the hidden activations tanh(X W1 + b1) (4 x 8 = 32 elements, read by the next layer and
// by the backward pass), the residual (4 x 1, a 64-byte line: 8 elements), the loss's
// cotangent 2 r / 4 (8) and dL/dh (4 x 8: 32). None dies before the next is taken: 80
// elements. The products are computed in their readers' buffers or in their output slots.
TEST(TensorPlan, SmallMlpStepWorkspaceIsTheHandCount) {
  auto m = compile_module(SourceFile{"xor.grad",
                                     "data X = [[0, 0], [0, 1], [1, 0], [1, 1]]\n"
                                     "data Y = [[0], [1], [1], [0]]\n"
                                     "layer net = sequential(linear(2, 8), tanh, linear(8, 1))\n"
                                     "train {\n  loss = mse(net(X), Y)\n  optimizer = sgd(lr = 0.2)\n}\n"});
  std::vector<DataInput> data;
  const Node* loss = m->lower(*m->training->loss, 0, data);
  Nodes inputs;
  for (const Param& p : m->params) inputs.push_back(p.var);
  Builder b(m->graph, Simplify::Fold);
  Nodes outs = value_and_derivatives(b, loss, inputs, false);
  for (const DataInput& d : data) inputs.push_back(d.var);
  TensorPlan p = plan_of(inputs, outs);
  std::vector<std::pair<std::string, std::int64_t>> buffers;
  for (std::size_t i = 0; i < p.order.size(); ++i)
    if (p.nodes[i].place == Place::Workspace)
      buffers.emplace_back(op_id(p.order[i]->op), p.nodes[i].offset);
  EXPECT_EQ(buffers, (std::vector<std::pair<std::string, std::int64_t>>{
                         {"Tanh", 0}, {"Sub", 32}, {"Add", 40}, {"Mul", 48}}));
  EXPECT_EQ(p.workspace_elems, 80);
  for (std::size_t i = 0; i < p.order.size(); ++i)
    if (p.order[i]->op == Op::MatMul && p.order[i]->arg(0)->shape[1] > 1)
      EXPECT_TRUE(p.nodes[i].place == Place::Output || p.nodes[i].why == Why::Epilogue) << i;
}

// The workspace allocator on its own: first fit, 64-byte blocks, coalescing, growth at the top.
TEST(TensorPlan, WorkspaceFirstFit) {
  Workspace ws(8);
  EXPECT_EQ(ws.allocate(3), 0);   // 8 elements
  EXPECT_EQ(ws.allocate(16), 8);  // 16
  EXPECT_EQ(ws.allocate(8), 24);
  ws.release(0, 3);
  ws.release(8, 16);              // coalesces with [0, 8): [0, 24) free
  EXPECT_EQ(ws.allocate(20), 0);  // fits in the hole
  EXPECT_EQ(ws.allocate(9), 32);  // does not: grows at the top
  EXPECT_EQ(ws.top(), 48);
}

}  // namespace
}  // namespace gradc
