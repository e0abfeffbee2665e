// Fusion across matrix products, each kernel against the interpreter in f64 and f32
// (support/tensor_kernels.hpp) and, where the fused code must not change a bit, against a
// kernel that does not fuse (the threaded one, or a reference summed in the test): products
// finished in their register tiles, summation orders, threads, B's column strips packed, column
// sums riding on the packing and B computed as it is packed, and reshapes of grouped columns
// indexed without divisions.
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "compiler/builder.hpp"
#include "runtime/jit.hpp"
#include "support/tensor_kernels.hpp"

namespace gradc {
namespace {

using namespace tensor_kernels;

// tanh(x @ W + b): one matrix-product loop nest that writes the output directly, applying
// tanh(. + b) to each register tile as it is finished: no intermediate buffer at all.
TEST_P(TensorJit, DenseLayerFusesIntoOneLoop) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{16, 12});
  const Node* w = g.var("w", Shape{12, 20});
  const Node* bias = g.var("b", Shape{20});
  const Node* xw = b.matmul(x, w);
  const Node* y = b.call(Op::Tanh, b.add(xw, bias));
  Nodes in = {x, w, bias};
  std::vector<Tensor> v = {random_tensor(x->shape, 21), random_tensor(w->shape, 22), random_tensor(bias->shape, 23)};
  expect_matches(in, {y}, v, dt(), {b.add(b.matmul(b.call(Op::Abs, x), b.call(Op::Abs, w)), b.call(Op::Abs, bias))});
  auto raw = Jit::create({.optimize = false});
  std::string ir = raw->llvm_ir(KernelSpec{"dense", in, Nodes{y}, false, dt()});
  EXPECT_EQ(ir.find("workspace"), std::string::npos) << ir;
  std::string elem = dt() == DType::F64 ? "double" : "float";
  EXPECT_NE(ir.find("call " + elem + " @llvm.tanh"), std::string::npos) << ir;  // the fast tier: no contract
  // Read twice (here by tanh and by an output), the product keeps its own buffer.
  std::string ir2 = raw->llvm_ir(KernelSpec{"dense2", in, Nodes{y, xw}, false, dt()});
  EXPECT_EQ(ir2.find("workspace"), std::string::npos) << ir2;
  expect_matches(in, {y, xw}, v, dt(), {b.add(b.matmul(b.call(Op::Abs, x), b.call(Op::Abs, w)), b.call(Op::Abs, bias)),
                                        b.matmul(b.call(Op::Abs, x), b.call(Op::Abs, w))});
}

// The summation orders of long sums: partial sums over rows (column sums of a tall matrix, a
// total over rows, a product with a small result and a long inner dimension), dot products in
// vectors for products with at most 4 columns, leftover rows and terms; an outer product (inner
// dimension 1) fused into its reader; step(x) read as step(relu(x)); a product finished in its
// tiles by relu(. + b). Each against the interpreter, with the sum of |terms| as the scale.
TEST_P(TensorJit, LongSumsAndFusedProducts) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{203, 16});
  const Node* h = g.var("h", Shape{203, 37});
  const Node* w = g.var("w", Shape{37, 3});
  const Node* u = g.var("u", Shape{203, 1});
  const Node* v = g.var("v", Shape{1, 16});
  const Node* bias = g.var("bias", Shape{16});
  const Node* w2 = g.var("w2", Shape{37, 16});
  std::vector<Tensor> vals = {random_tensor(x->shape, 31), random_tensor(h->shape, 32), random_tensor(w->shape, 33),
                              random_tensor(u->shape, 34), random_tensor(v->shape, 35), random_tensor(bias->shape, 36),
                              random_tensor(w2->shape, 37)};
  auto abs = [&](const Node* n) { return b.call(Op::Abs, n); };
  const Node* z = b.add(b.matmul(h, w2), bias);  // 203 x 16
  const Node* col0 = b.reshape(b.index(x, 1, 0), Shape{1, 203});  // x's first column, strided
  const Node* relu_z = b.call(Op::Relu, z);
  Nodes out = {
      b.sum(x, 0),                                   // column sums, 203 = 4 * 50 + 3 rows
      b.sum(b.mul(x, x), -1),                        // a total over rows
      b.matmul(b.transpose(u), x),                   // 1 x 16 over 203 terms
      b.matmul(col0, x),                             // the same with a strided operand
      b.matmul(h, w),                                // 3 columns: dot products of 37 = 4 * 8 + 5 terms
      b.mul(b.matmul(u, v), b.call(Op::Step, z)),    // outer product, step(z) with relu(z) computed
      b.matmul(b.transpose(relu_z), x),              // relu(z) finished in the tiles of h @ ...
  };
  Nodes mags = {
      b.sum(abs(x), 0),
      b.sum(b.mul(x, x), -1),
      b.matmul(b.transpose(abs(u)), abs(x)),
      b.matmul(abs(col0), abs(x)),
      b.matmul(abs(h), abs(w)),
      nullptr,
      b.matmul(b.transpose(abs(relu_z)), abs(x)),
  };
  expect_matches({x, h, w, u, v, bias, w2}, out, vals, dt(), mags);
}

// Large products split over threads give the same bits as on one thread (each element is
// computed by one thread, in the same order): a dense layer forward and its weight gradient,
// with leftover rows (300 = 2 x 148 + 4), a product finished by relu(. + b) on one thread.
TEST_P(TensorJit, ThreadsGiveTheSameBits) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{72, 300});
  const Node* w = g.var("w", Shape{300, 130});
  const Node* bias = g.var("bias", Shape{130});
  const Node* dz = g.var("dz", Shape{72, 130});
  std::vector<Tensor> vals = {random_tensor(x->shape, 41), random_tensor(w->shape, 42), random_tensor(bias->shape, 43),
                              random_tensor(dz->shape, 44)};
  Nodes in = {x, w, bias, dz};
  Nodes out = {b.call(Op::Relu, b.add(b.matmul(x, w), bias)), b.matmul(b.transpose(x), dz)};
  auto abs = [&](const Node* n) { return b.call(Op::Abs, n); };
  expect_matches(in, out, vals, dt(), {b.add(b.matmul(abs(x), abs(w)), abs(bias)), b.matmul(b.transpose(abs(x)), abs(dz))});
  auto one = run_kernel(shared_jit(), in, out, vals, dt());
  auto jit2 = Jit::create({.threads = 2});
  EXPECT_NE(jit2->llvm_ir(KernelSpec{"t", in, out, false, dt()}).find("@gradc_parallel"), std::string::npos);
  EXPECT_EQ(run_kernel(*jit2, in, out, vals, dt()), one);
  auto jit3 = Jit::create({.threads = 3});
  EXPECT_EQ(run_kernel(*jit3, in, out, vals, dt()), one);

  // Two kernels of one Jit called at once from two threads: one gets the pool, the other runs
  // its parts itself; both are right every time.
  Kernel k1 = jit2->compile(KernelSpec{"a", in, out, false, DType::F64});
  Kernel k2 = jit2->compile(KernelSpec{"b", in, out, false, DType::F64});
  std::vector<double> flat;
  for (const Tensor& t : vals) flat.insert(flat.end(), t.data.begin(), t.data.end());
  std::vector<double> expected(k1.num_outputs);
  k1.single(flat.data(), expected.data());
  std::atomic<int> wrong{0};
  auto hammer = [&](const Kernel& k) {
    std::vector<double> o(k.num_outputs);
    for (int r = 0; r < 200; ++r) {
      k.single(flat.data(), o.data());
      if (o != expected) ++wrong;
    }
  };
  std::thread t1(hammer, std::cref(k1)), t2(hammer, std::cref(k2));
  t1.join();
  t2.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A right operand whose rows are 4 KiB or more apart (X^T @ dZ of examples/gmm.grad) has its
// column strips copied to a contiguous buffer first (matmul_tiles' packing): the bits are
// those of the threaded kernel, which does not pack (27 rows: 4-row blocks and a 3-row one;
// 1,100 columns: a leftover tile; a relu(. + b) finished in the tiles on one thread).
TEST_P(TensorJit, PackedRightOperandGivesTheSameBits) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{200, 27});
  const Node* dz = g.var("dz", Shape{200, 1100});
  const Node* bias = g.var("bias", Shape{1100});
  std::vector<Tensor> vals = {random_tensor(x->shape, 51), random_tensor(dz->shape, 52),
                              random_tensor(bias->shape, 53)};
  Nodes in = {x, dz, bias};
  const Node* xt_dz = b.matmul(b.transpose(x), dz);
  Nodes out = {xt_dz, b.call(Op::Relu, b.add(b.matmul(b.transpose(x), b.mul(dz, dz)), bias))};
  auto abs = [&](const Node* n) { return b.call(Op::Abs, n); };
  expect_matches(in, out, vals, dt(),
                 {b.matmul(b.transpose(abs(x)), abs(dz)), b.add(b.matmul(b.transpose(abs(x)), b.mul(dz, dz)), abs(bias))});
  auto one = run_kernel(shared_jit(), in, out, vals, dt());
  auto jit2 = Jit::create({.threads = 2});
  EXPECT_NE(jit2->llvm_ir(KernelSpec{"t", in, out, false, dt()}).find("@gradc_parallel"), std::string::npos);
  EXPECT_EQ(run_kernel(*jit2, in, out, vals, dt()), one);
}


// The workspace of a kernel, in elements (0 without one): the optimized IR's global.
std::int64_t workspace_elements(const std::string& ir) {
  std::smatch m;
  static const std::regex re(R"(\.workspace = internal [a-z_ ]*global \[(\d+) x)");
  return std::regex_search(ir, m, re) ? std::stoll(m[1]) : 0;
}

// The backward of x @ W - b over a batch: W's gradient x^T @ dZ and b's -sum(dZ, axis 0). The
// column sums ride on the product's packed strips, and dZ, elementwise and read by nothing
// else, is computed as it is packed: no buffer of 160 x 600 at all. Bits: those of the
// threaded kernel (its parallel product takes neither path), and the column sums those of a
// sum written here (each column from +0, rows in order).
TEST_P(TensorJit, ColumnSumsRideOnThePackedProduct) {
  for (bool negate : {true, false}) {
    Graph g;
    Builder b(g);
    const Node* x = g.var("x", Shape{160, 27});
    const Node* u = g.var("u", Shape{160, 600});
    const Node* v = g.var("v", Shape{160, 600});
    std::vector<Tensor> vals = {random_tensor(x->shape, 61), random_tensor(u->shape, 62), random_tensor(v->shape, 63)};
    Nodes in = {x, u, v};
    const Node* dz = b.mul(u, v);
    const Node* colsum = b.sum(negate ? b.call(Op::Neg, dz) : dz, 0);
    Nodes out = {b.matmul(b.transpose(x), dz), colsum};
    auto abs = [&](const Node* n) { return b.call(Op::Abs, n); };
    SCOPED_TRACE(negate ? "sum(-dZ)" : "sum(dZ)");
    expect_matches(in, out, vals, dt(), {b.matmul(b.transpose(abs(x)), abs(dz)), b.sum(abs(dz), 0)});
    auto one = run_kernel(shared_jit(), in, out, vals, dt());
    auto jit2 = Jit::create({.threads = 2});
    EXPECT_NE(jit2->llvm_ir(KernelSpec{"t", in, out, false, dt()}).find("@gradc_parallel"), std::string::npos);
    EXPECT_EQ(run_kernel(*jit2, in, out, vals, dt()), one);
    for (int j = 0; j < 600; ++j) {
      if (dt() == DType::F64) {
        double s = 0;
        for (int k = 0; k < 160; ++k) {
          double t = vals[1].data[k * 600 + j] * vals[2].data[k * 600 + j];
          s += negate ? -t : t;
        }
        ASSERT_EQ(one[1][j], s) << "column " << j;
      } else {
        float s = 0;
        for (int k = 0; k < 160; ++k) {
          float t = float(vals[1].data[k * 600 + j]) * float(vals[2].data[k * 600 + j]);
          s += negate ? -t : t;
        }
        ASSERT_EQ(one[1][j], double(s)) << "column " << j;
      }
    }
    std::int64_t ws = workspace_elements(shared_jit().llvm_ir(KernelSpec{"t", in, out, false, dt()}));
    EXPECT_LT(ws, 160 * 600) << "dZ got a buffer";
    // Read by a third product too, dZ keeps its buffer, and the sums their loop of their own.
    Nodes out3 = {b.matmul(b.transpose(x), dz), colsum, b.matmul(dz, b.transpose(u))};
    expect_matches(in, out3, vals, dt(),
                   {b.matmul(b.transpose(abs(x)), abs(dz)), b.sum(abs(dz), 0), b.matmul(abs(dz), b.transpose(abs(u)))});
  }
}

// gmm.grad's backward: dZ[i, k d + r] = w[i, k] Z[i, k d + r] reads w through a reshape of
// [n, K, d] as [n, K d]. Packed group by group, each column carries its digits (k, r): no
// division in the kernel (d = 20). With d = 5, shorter than a vector, the strip is packed by
// columns and the reshape divides; both against the interpreter and the threaded kernel.
TEST_P(TensorJit, GroupedColumnsArePackedWithoutDivisions) {
  for (int d : {20, 5}) {
    Graph g;
    Builder b(g);
    const int n = 160, K = 30;
    const Node* x = g.var("x", Shape{n, 21});
    const Node* z = g.var("z", Shape{n, K * d});
    const Node* w = g.var("w", Shape{n, K});
    std::vector<Tensor> vals = {random_tensor(x->shape, 71), random_tensor(z->shape, 72), random_tensor(w->shape, 73)};
    Nodes in = {x, z, w};
    const Node* spread = b.reshape(b.broadcast_to(b.reshape(w, Shape{n, K, 1}), Shape{n, K, d}), Shape{n, K * d});
    const Node* dz = b.mul(spread, z);
    Nodes out = {b.matmul(b.transpose(x), dz), b.sum(b.call(Op::Neg, dz), 0)};
    auto abs = [&](const Node* e) { return b.call(Op::Abs, e); };
    SCOPED_TRACE("d = " + std::to_string(d));
    expect_matches(in, out, vals, dt(), {b.matmul(b.transpose(abs(x)), abs(dz)), b.sum(abs(dz), 0)});
    auto jit2 = Jit::create({.threads = 2});
    EXPECT_EQ(run_kernel(*jit2, in, out, vals, dt()), run_kernel(shared_jit(), in, out, vals, dt()));
    if (d == 20) {
      auto raw = Jit::create({.optimize = false});
      std::string ir = raw->llvm_ir(KernelSpec{"t", in, out, false, dt()});
      EXPECT_EQ(ir.find("udiv"), std::string::npos) << "a division in the packing";
    }
  }
}

// A reshape that merges axes ([n, K, d] read as [n, K d]) or splits an index merged before is
// index arithmetic, not division: a sum over groups of columns, and an elementwise result read
// through a broadcast of [n, K, 1] (its loop runs over [n, K, d]). A reshape whose axes do not
// line up ([6, 4] as [4, 6]) still divides, and is right.
TEST_P(TensorJit, ReshapesOfGroupsNeedNoDivision) {
  Graph g;
  Builder b(g);
  const int n = 7, K = 5, d = 3;
  const Node* z = g.var("z", Shape{n, K * d});
  const Node* w = g.var("w", Shape{n, K});
  const Node* m = g.var("m", Shape{6, 4});
  std::vector<Tensor> vals = {random_tensor(z->shape, 81), random_tensor(w->shape, 82), random_tensor(m->shape, 83)};
  const Node* groups = b.sum(b.reshape(b.mul(z, z), Shape{n, K, d}), 2);
  const Node* spread = b.mul(b.reshape(b.broadcast_to(b.reshape(w, Shape{n, K, 1}), Shape{n, K, d}), Shape{n, K * d}),
                             b.call(Op::Sin, z));
  Nodes grouped = {groups, spread};
  expect_matches({z, w, m}, grouped, vals, dt(), {groups, nullptr});
  auto raw = Jit::create({.optimize = false});
  std::string ir = raw->llvm_ir(KernelSpec{"t", Nodes{z, w, m}, grouped, false, dt()});
  EXPECT_EQ(ir.find("udiv"), std::string::npos) << ir;
  Nodes skew = {b.mul(b.reshape(b.call(Op::Exp, m), Shape{4, 6}), b.reshape(m, Shape{4, 6}))};
  expect_matches({z, w, m}, skew, vals, dt());
  EXPECT_NE(raw->llvm_ir(KernelSpec{"t", Nodes{z, w, m}, skew, false, dt()}).find("udiv"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(DTypes, TensorJit, ::testing::Values(DType::F64, DType::F32),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

}  // namespace
}  // namespace gradc
