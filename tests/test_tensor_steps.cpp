// Whole tensor programs compiled and checked against the IR interpreter in f64 and f32
// (support/tensor_kernels.hpp): random DAGs of every tensor op, the batch entry point, random
// layer steps, the value and gradient of a small MLP, and a 784-128-10 classifier's training step.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/interp.hpp"
#include "runtime/jit.hpp"
#include "support/tensor_kernels.hpp"

namespace gradc {
namespace {

using namespace tensor_kernels;

// Random DAGs of every tensor op over shapes of rank 0 to 3: buffers of many sizes are
// allocated, freed and reused, views stack on views, and outputs are taken anywhere.
TEST_P(TensorJit, RandomTensorGraphs) {
  const std::vector<Op> unary = {Op::Tanh, Op::Sin, Op::Sigmoid, Op::Abs, Op::Relu, Op::Neg, Op::Cos};
  const std::vector<Op> binary = {Op::Add, Op::Sub, Op::Mul, Op::Max, Op::Min};
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    Graph g;
    Builder b(g, seed % 2 ? Simplify::Full : Simplify::None);
    std::mt19937 rng(seed);
    auto dim = [&] { return std::int32_t(std::vector<int>{1, 2, 3, 5}[rng() % 4]); };
    auto shape = [&] {
      switch (rng() % 4) {
        case 0: return Shape{};
        case 1: return Shape{dim()};
        case 2: return Shape{dim(), dim()};
        default: return Shape{dim(), dim(), dim()};
      }
    };
    Nodes in, pool;
    std::vector<Tensor> val;
    for (int i = 0; i < 5; ++i) {
      Shape s = shape();
      in.push_back(g.var(std::string(1, static_cast<char>('a' + i)), s));
      val.push_back(random_tensor(s, seed * 100 + i));
      pool.push_back(in.back());
    }
    pool.push_back(g.tensor(Shape{3, 2}, {0.5, -1, 2, 0.25, -0.75, 1.5}));
    auto pick = [&] { return pool[pool.size() - 1 - rng() % std::min<std::size_t>(pool.size(), 8)]; };
    for (int i = 0; i < 60; ++i) {
      const Node* x = pick();
      const Node* r = nullptr;
      try {
        switch (rng() % 10) {
          case 0: case 1: r = b.call(unary[rng() % unary.size()], x); break;
          case 2: case 3: r = b.apply(binary[rng() % binary.size()], {x, pick()}); break;
          case 4:
            r = x->shape.rank == 0 ? nullptr
                : rng() % 2     ? b.sum(x, static_cast<int>(rng() % (x->shape.rank + 1)) - 1)
                                : b.reduce_max(x, static_cast<int>(rng() % (x->shape.rank + 1)) - 1);
            break;
          case 5: {
            if (x->shape.rank != 2) break;
            if (rng() % 3 == 0) {
              r = b.transpose(x);
              break;
            }
            for (const Node* y : pool)
              if (y->shape.rank == 2 && y->shape[0] == x->shape[1]) r = b.mul(0.5, b.matmul(x, y));
            if (!r) r = b.matmul(x, b.transpose(x));
            break;
          }
          case 6:
            if (x->shape.rank > 0) {
              int axis = static_cast<int>(rng() % x->shape.rank);
              r = b.index(x, axis, static_cast<int>(rng() % x->shape[axis]));
            }
            break;
          case 7:
            if (x->shape.rank < 3) {
              Shape big;
              int axis = static_cast<int>(rng() % (x->shape.rank + 1));
              std::int32_t extent = dim();
              for (int d = 0, e = 0; d <= x->shape.rank; ++d) big.dims[big.rank++] = d == axis ? extent : x->shape[e++];
              r = b.embed(x, axis, static_cast<int>(rng() % extent), big);
            }
            break;
          case 8: {  // reshape to a random factorization of the size
            std::int64_t n = x->shape.size();
            if (n == 4 || n == 6 || n == 9 || n == 10 || n == 15 || n == 25 || n == 30)
              for (std::int32_t f : {2, 3, 5})
                if (n % f == 0) {
                  r = b.reshape(x, rng() % 2 ? Shape{f, std::int32_t(n / f)} : Shape{std::int32_t(n / f), 1, f});
                  break;
                }
            if (!r && n == 1) r = b.reshape(x, Shape{1, 1});
            break;
          }
          default: {
            Shape s = x->shape;
            if (s.rank < 3) {
              Shape t;
              t.dims[t.rank++] = dim();
              for (int d = 0; d < s.rank; ++d) t.dims[t.rank++] = s[d];
              r = b.broadcast_to(x, t);
            }
            break;
          }
        }
      } catch (const ShapeError&) {
        r = nullptr;
      }
      if (r) pool.push_back(r);
    }
    Nodes out(pool.end() - 6, pool.end());
    for (int i = 0; i < 4; ++i) out.push_back(pool[rng() % pool.size()]);
    SCOPED_TRACE("seed " + std::to_string(seed));
    auto ref = evaluate_tensors(out, in, val);
    auto got = run_kernel(shared_jit(), in, out, val, dt());
    for (std::size_t j = 0; j < out.size(); ++j) {
      double scale = 1;
      for (double v : ref[j].data) scale = std::max(scale, std::fabs(v));
      std::vector<double> mag(ref[j].data.size());
      for (std::size_t e = 0; e < mag.size(); ++e) mag[e] = std::fabs(ref[j].data[e]) + scale;
      EXPECT_TRUE(close(ref[j].data, got[j], tolerance(dt()), &mag))
          << "output " << j << " " << op_id(out[j]->op) << " " << out[j]->shape.str();
    }
  }
}

// The batch entry point runs the kernel per row (row strides are the element counts).
TEST_P(TensorJit, BatchRows) {
  Graph g;
  Builder b(g);
  const Node* x = g.var("x", Shape{2, 3});
  const Node* w = g.var("w", Shape{3, 2});
  Nodes in = {x, w};
  Nodes out = {b.matmul(x, w), b.sum(b.call(Op::Exp, x), -1)};
  Kernel k = shared_jit().compile(KernelSpec{"rows", in, out, true, dt()});
  ASSERT_EQ(k.num_inputs, 12u);
  ASSERT_EQ(k.num_outputs, 5u);
  constexpr int kRows = 7;
  std::vector<double> data = random_data(kRows * 12, 5);
  std::vector<double> got(kRows * 5 + 1, -777);
  if (dt() == DType::F64) {
    k.batch(data.data(), got.data(), kRows);
  } else {
    std::vector<float> f(data.begin(), data.end()), o(got.begin(), got.end());
    k.batch_f32(f.data(), o.data(), kRows);
    std::copy(o.begin(), o.end(), got.begin());
  }
  EXPECT_EQ(got.back(), -777);
  for (int r = 0; r < kRows; ++r) {
    std::vector<Tensor> v = {Tensor{x->shape, std::vector<double>(data.begin() + r * 12, data.begin() + r * 12 + 6)},
                             Tensor{w->shape, std::vector<double>(data.begin() + r * 12 + 6, data.begin() + r * 12 + 12)}};
    auto ref = evaluate_tensors(out, in, v);
    std::vector<double> flat_ref = ref[0].data;
    flat_ref.push_back(ref[1].data[0]);
    std::vector<double> row(got.begin() + r * 5, got.begin() + r * 5 + 5);
    std::vector<double> mag(flat_ref.size());
    for (std::size_t e = 0; e < mag.size(); ++e) mag[e] = std::fabs(flat_ref[e]) + 10;
    EXPECT_TRUE(close(flat_ref, row, tolerance(dt()), &mag)) << "row " << r;
  }
}

// Value and gradient of a 2-8-1 tanh MLP with mean squared error, from gradient().
// Sums of products: each output compared relative to its own largest element as well.
double expect_close_to_scale(const std::vector<Tensor>& ref, const std::vector<std::vector<double>>& got, std::size_t j,
                             double tol) {
  double scale = 0;
  for (double v : ref[j].data) scale = std::max(scale, std::fabs(v));
  std::vector<double> mag(ref[j].data.size());
  for (std::size_t e = 0; e < mag.size(); ++e) mag[e] = std::fabs(ref[j].data[e]) + scale;
  EXPECT_TRUE(close(ref[j].data, got[j], tol, &mag)) << "output " << j;
  return scale;
}

// Random MLPs at the sizes where the compiled step changes its summation order and fuses
// (rows 1 to 130, widths 1 to 70: partial sums, dot products, outer products, epilogues,
// step(relu)): loss and every gradient against the interpreter, relative to each output's
// largest element.
TEST_P(TensorJit, RandomLayerSteps) {
  const std::vector<int> dims = {1, 2, 3, 16, 17, 40, 70};
  const std::vector<Op> act = {Op::Relu, Op::Tanh, Op::Sigmoid, Op::Softplus};
  for (std::uint32_t seed = 1; seed <= 24; ++seed) {
    std::mt19937 rng(seed);
    Graph g;
    Builder b(g, Simplify::Fold);
    std::int32_t rows = std::vector<int>{1, 5, 64, 67, 130}[rng() % 5];
    std::int32_t width = dims[rng() % dims.size()];
    const Node* x = g.var("x", Shape{rows, width});
    Nodes in{x}, params;
    std::vector<Tensor> val{random_tensor(x->shape, seed)};
    const Node* h = x;
    int layers = 1 + static_cast<int>(rng() % 3);
    for (int l = 0; l < layers; ++l) {
      std::int32_t next = l + 1 == layers ? dims[rng() % 3] : dims[rng() % dims.size()];
      const Node* w = g.var("w" + std::to_string(l), Shape{width, next});
      const Node* bias = g.var("b" + std::to_string(l), Shape{next});
      for (const Node* p : {w, bias}) {
        in.push_back(p);
        params.push_back(p);
        val.push_back(random_tensor(p->shape, seed * 10 + static_cast<std::uint32_t>(in.size()), -1, 1));
      }
      h = b.add(b.matmul(h, w), bias);
      if (l + 1 < layers) h = b.call(act[rng() % act.size()], h);
      width = next;
    }
    const Node* y = g.var("y", h->shape);
    in.push_back(y);
    val.push_back(random_tensor(y->shape, seed + 7));
    const Node* err = b.sub(h, y);
    const Node* loss = b.mul(1.0 / rows, b.sum(b.mul(err, err), -1));
    Nodes out = value_and_derivatives(b, loss, params, false);
    auto ref = evaluate_tensors(out, in, val);
    auto got = run_kernel(shared_jit(), in, out, val, dt());
    for (std::size_t j = 0; j < out.size(); ++j) {
      double scale = 0;
      for (double v : ref[j].data) scale = std::max(scale, std::fabs(v));
      for (std::size_t e = 0; e < got[j].size(); ++e)
        ASSERT_LE(std::fabs(got[j][e] - ref[j].data[e]), (dt() == DType::F64 ? 1e-11 : 1e-3) * (scale + 1e-300))
            << "seed " << seed << ", output " << j << " element " << e;
    }
  }
}

TEST_P(TensorJit, MlpValueAndGradient) {
  constexpr int kN = 16;
  Graph g;
  Builder b(g);
  const Node* x = g.var("X", Shape{kN, 2});
  const Node* y = g.var("Y", Shape{kN, 1});
  const Node* w1 = g.var("W1", Shape{2, 8});
  const Node* b1 = g.var("b1", Shape{8});
  const Node* w2 = g.var("W2", Shape{8, 1});
  const Node* b2 = g.var("b2", Shape{1});
  const Node* h = b.call(Op::Tanh, b.add(b.matmul(x, w1), b1));
  const Node* yhat = b.add(b.matmul(h, w2), b2);
  const Node* err = b.sub(yhat, y);
  const Node* loss = b.mul(1.0 / kN, b.sum(b.mul(err, err), -1));
  Nodes wrt = {w1, b1, w2, b2};
  Nodes grads = gradient(b, loss, wrt);
  Nodes out = {loss};
  out.insert(out.end(), grads.begin(), grads.end());
  Nodes in = {x, y, w1, b1, w2, b2};
  std::vector<Tensor> val = {random_tensor(x->shape, 1), random_tensor(y->shape, 2, -1, 1),
                             random_tensor(w1->shape, 3, -1, 1), random_tensor(b1->shape, 4, -0.5, 0.5),
                             random_tensor(w2->shape, 5, -1, 1), random_tensor(b2->shape, 6, -0.5, 0.5)};
  auto t0 = std::chrono::steady_clock::now();
  Kernel k = shared_jit().compile(KernelSpec{"mlp", in, out, false, dt()});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty(std::string("compile_ms_") + dtype_name(dt()), static_cast<int>(ms));
  std::printf("MLP value+gradient kernel (%s): compiled in %.1f ms\n", dtype_name(dt()), ms);
  (void)k;
  // Sums of products: compare relative to each output's largest element as well.
  auto ref = evaluate_tensors(out, in, val);
  auto got = run_kernel(shared_jit(), in, out, val, dt());
  for (std::size_t j = 0; j < out.size(); ++j) {
    double scale = expect_close_to_scale(ref, got, j, tolerance(dt()));
    EXPECT_GT(scale, 1e-3) << "a degenerate test: output " << j << " is about zero";
  }
  // And the gradient is right (central differences of the interpreter's loss), so that a
  // wrong reference could not hide a wrong kernel.
  for (std::size_t wi = 0; wi < wrt.size(); ++wi) {
    std::size_t vi = 2 + wi;
    for (std::size_t e = 0; e < val[vi].data.size(); e += 3) {
      auto at = [&](double delta) {
        std::vector<Tensor> moved = val;
        moved[vi].data[e] += delta;
        return evaluate_tensors(Nodes{loss}, in, moved)[0].data[0];
      };
      double h6 = 1e-6;
      double fd = (at(h6) - at(-h6)) / (2 * h6);
      EXPECT_NEAR(fd, got[1 + wi][e], 1e-6 + (dt() == DType::F32 ? 1e-4 : 1e-7) * std::fabs(fd))
          << "d loss / d " << wrt[wi]->name << "[" << e << "]";
    }
  }
}

// Softmax cross-entropy training step of a 784-128-10 classifier on a 64-row batch (the shapes
// the training runtime uses): value and gradients against the interpreter.
TEST_P(TensorJit, ClassifierTrainingStep) {
  constexpr int kB = 64, kIn = 784, kH = 128, kC = 10;
  Graph g;
  Builder b(g);
  const Node* x = g.var("X", Shape{kB, kIn});
  const Node* labels = g.var("labels", Shape{kB});
  const Node* w1 = g.var("W1", Shape{kIn, kH});
  const Node* b1 = g.var("b1", Shape{kH});
  const Node* w2 = g.var("W2", Shape{kH, kC});
  const Node* b2 = g.var("b2", Shape{kC});
  const Node* h = b.call(Op::Relu, b.add(b.matmul(x, w1), b1));
  const Node* z = b.add(b.matmul(h, w2), b2);
  const Node* m = b.call(Op::Detach, b.reduce_max(z, 1));
  const Node* shifted = b.sub(z, b.unreduce(m, z->shape, 1));
  const Node* lse = b.call(Op::Log, b.sum(b.call(Op::Exp, shifted), 1));
  const Node* onehot = g.make(Op::OneHot, std::vector<const Node*>{labels}, Attrs{{}, 0, kC});
  const Node* picked = b.sum(b.mul(shifted, onehot), 1);
  const Node* loss = b.mul(1.0 / kB, b.sum(b.sub(lse, picked), -1));
  Nodes wrt = {w1, b1, w2, b2};
  Nodes grads = gradient(b, loss, wrt);
  Nodes out = {loss};
  out.insert(out.end(), grads.begin(), grads.end());
  Nodes in = {x, labels, w1, b1, w2, b2};
  Tensor lab{labels->shape, {}};
  for (int i = 0; i < kB; ++i) lab.data.push_back(i * 7 % kC);
  std::vector<Tensor> val = {random_tensor(x->shape, 1, 0, 1), lab,
                             random_tensor(w1->shape, 3, -0.05, 0.05), random_tensor(b1->shape, 4, -0.1, 0.1),
                             random_tensor(w2->shape, 5, -0.2, 0.2), random_tensor(b2->shape, 6, -0.1, 0.1)};
  auto ref = evaluate_tensors(out, in, val);
  auto got = run_kernel(shared_jit(), in, out, val, dt());
  for (std::size_t j = 0; j < out.size(); ++j) expect_close_to_scale(ref, got, j, tolerance(dt()));
}


INSTANTIATE_TEST_SUITE_P(DTypes, TensorJit, ::testing::Values(DType::F64, DType::F32),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

}  // namespace
}  // namespace gradc
