// Huge scalar kernels split into parts (compiler/codegen/body_split.hpp, Jit::Options::split_above):
// a split kernel computes the bits of the same kernel compiled as one function (single and batch
// entries, outputs that are inputs or constants, `out` over `in`), in both tiers within the
// interpreter's tolerance, through the object cache, and a kernel whose parts would pass too many
// values to each other is not split.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/interp.hpp"
#include "runtime/jit.hpp"
#include "support/temp_dir.hpp"

namespace gradc::test {
namespace {

using Nodes = std::vector<const Node*>;

std::vector<Op> all_ops() {
  return {
#define GRADC_OP_LIST(name, arity) Op::name,
      GRADC_FOR_EACH_OP(GRADC_OP_LIST)
#undef GRADC_OP_LIST
  };
}

// A random DAG of every elementwise op over 5 inputs, with more distinct constants than the
// immediates limit (constant tables in the parts), long chains and operands from far back (values
// crossing parts); its outputs also an input and a constant.
struct RandomKernel {
  Graph g;
  Nodes in, out;
  explicit RandomKernel(int size) {
    std::vector<Op> ops;
    for (Op op : all_ops())
      if (op_info(op).syntax != Syntax::Leaf && op_info(op).elementwise) ops.push_back(op);
    Builder b(g, Simplify::None);
    std::mt19937 rng(static_cast<unsigned>(size));
    Nodes pool;
    for (char name : std::string("abcde")) pool.push_back(b.var(std::string(1, name)));
    in = pool;
    for (int i = 0; i < size; ++i) {
      auto pick = [&] {
        std::size_t back = rng() % 8 == 0 ? rng() % pool.size() : rng() % std::min<std::size_t>(pool.size(), 16);
        return pool[pool.size() - 1 - back];
      };
      const Node* n;
      if (i % 3 == 0) {
        n = b.add(pick(), b.constant(0.25 + i * 1e-3));  // a distinct constant
      } else {
        Op op = ops[rng() % ops.size()];
        n = op_info(op).arity == 1 ? b.call(op, pick()) : b.apply(op, {pick(), pick()});
      }
      pool.push_back(n);
    }
    out.assign(pool.end() - 6, pool.end());
    for (int i = 1; i < 12; ++i) out.push_back(pool[pool.size() * i / 12]);  // computed by earlier parts
    out.push_back(in[2]);           // an input
    out.push_back(b.constant(-3.5));
  }
  KernelSpec spec() const { return KernelSpec{"random", in, out, /*batch=*/true}; }
};

std::vector<std::vector<double>> points() {
  return {{0.3, -0.7, 1.1, 2.5, -0.2}, {-1.7, 0.05, 3.0, -2.2, 0.9}, {1e-3, 10.0, -0.4, 0.6, 7.0}};
}

// The bits of the single entry at each point, then of the batch entry over all of them.
std::vector<std::uint64_t> bits(const Kernel& k) {
  std::vector<std::uint64_t> b;
  std::vector<double> rows;
  for (const auto& p : points()) {
    std::vector<double> out(k.num_outputs);
    k.single(p.data(), out.data());
    for (double v : out) b.push_back(std::bit_cast<std::uint64_t>(v));
    rows.insert(rows.end(), p.begin(), p.end());
  }
  std::vector<double> out(points().size() * k.num_outputs);
  k.batch(rows.data(), out.data(), static_cast<std::int64_t>(points().size()));
  for (double v : out) b.push_back(std::bit_cast<std::uint64_t>(v));
  return b;
}

Jit::Options split_options(bool optimize) {
  return Jit::Options{.optimize = optimize, .split_above = 400, .split_ops = 100, .compile_threads = 2};
}

TEST(Split, SplitKernelComputesTheBitsOfOneFunction) {
  RandomKernel r(6000);
  auto whole = Jit::create({.optimize = false, .split_above = 0});
  auto split = Jit::create(split_options(false));
  Kernel one = whole->compile(r.spec()), parts = split->compile(r.spec());
  EXPECT_EQ(one.parts, 1u);
  EXPECT_GE(parts.parts, 10u);
  EXPECT_EQ(bits(one), bits(parts));
  // The default: a kernel this small is one function.
  EXPECT_EQ(Jit::create({.optimize = false})->compile(r.spec()).parts, 1u);
}

TEST(Split, BothTiersMatchTheInterpreter) {
  RandomKernel r(3000);
  for (bool optimize : {false, true}) {
    auto jit = Jit::create(split_options(optimize));
    Kernel k = jit->compile(r.spec());
    EXPECT_GT(k.parts, 1u);
    for (const auto& p : points()) {
      std::vector<double> got(k.num_outputs), ref = evaluate(r.out, r.in, p);
      k.single(p.data(), got.data());
      for (std::size_t j = 0; j < got.size(); ++j) {
        bool ok = std::isnan(ref[j]) ? std::isnan(got[j])
                                     : ref[j] == got[j] || std::fabs(ref[j] - got[j]) <= 1e-9 * std::fabs(ref[j]);
        EXPECT_TRUE(ok) << "optimize " << optimize << ", output " << j << ": " << ref[j] << " vs " << got[j];
      }
    }
  }
}

// The outputs are stored after the last part has read the inputs: `out` may be `in`.
TEST(Split, OutputsOverTheInputs) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y");
  const Node* s = x;
  for (int i = 0; i < 2000; ++i) s = b.add(b.mul(s, b.constant(0.999)), b.mul(y, b.constant(i * 1e-4)));
  Nodes in{x, y}, out{y, s};
  auto jit = Jit::create(split_options(false));
  Kernel k = jit->compile(KernelSpec{"chain", in, out, false});
  ASSERT_GT(k.parts, 1u);
  std::vector<double> io{0.5, 2.0}, expected = evaluate(out, in, io);
  k.single(io.data(), io.data());
  EXPECT_EQ(io[0], expected[0]);
  EXPECT_EQ(io[1], expected[1]);
}

// Every output is a value the entry reads from the scratch buffer: 9,000 of them would not fit
// its bound (8,192), so the kernel stays one function.
TEST(Split, TooManyCrossingValuesIsOneFunction) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  Nodes in{x}, out;
  for (int i = 0; i < 9000; ++i) out.push_back(b.mul(x, b.constant(i + 0.5)));
  auto jit = Jit::create(split_options(false));
  Kernel k = jit->compile(KernelSpec{"wide", in, out, false});
  EXPECT_EQ(k.parts, 1u);
  std::vector<double> got(out.size());
  double at = 3.0;
  k.single(&at, got.data());
  for (int i = 0; i < 9000; ++i) ASSERT_EQ(got[i], 3.0 * (i + 0.5)) << i;
}

class SplitCache : public InTempDir {};

// A split kernel's objects are one record in the cache: a second Jit compiles nothing and
// computes the same bits.
TEST_F(SplitCache, SecondJitLoadsEveryPart) {
  RandomKernel r(4000);
  Jit::Options o = split_options(false);
  o.cache_dir = (dir_ / "cache").string();
  auto first = Jit::create(o);
  Kernel a = first->compile(r.spec());
  EXPECT_EQ(first->cache_stats().stores, 1u);
  auto second = Jit::create(o);
  Kernel c = second->compile(r.spec());
  EXPECT_EQ(second->cache_stats().hits, 1u);
  EXPECT_EQ(second->cache_stats().stores, 0u);
  EXPECT_EQ(c.parts, a.parts);
  EXPECT_GT(c.parts, 1u);
  EXPECT_EQ(bits(a), bits(c));
}

}  // namespace
}  // namespace gradc::test
