// Tiered compilation: the fast tier (no IR passes, -O0 FastISel backend) and the optimized tier
// against the interpreter and against each other (the fast tier has the bits of no contraction), the switch
// of a TieredKernel when its policy says so, and a 20,000-term expression in the fast tier.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/interp.hpp"
#include "compiler/lower.hpp"
#include "runtime/jit.hpp"
#include "runtime/tiered_kernel.hpp"
#include "support/source.hpp"

namespace gradc {
namespace {

using Nodes = std::vector<const Node*>;

// A random function of 4 variables over the scalar ops a tier may compile differently
// (libm calls that O2 merges, divisions, powers, fma candidates), with its gradient.
struct Random {
  Graph graph;
  Nodes vars, outs;
};

std::unique_ptr<Random> random_function(unsigned seed, int steps) {
  auto r = std::make_unique<Random>();
  Builder b(r->graph, Simplify::Fold);
  for (const char* name : {"a", "b", "c", "d"}) r->vars.push_back(b.var(name));
  std::mt19937 rng(seed);
  Nodes pool = r->vars;
  auto pick = [&] { return pool[pool.size() - 1 - rng() % std::min<std::size_t>(pool.size(), 8)]; };
  for (int s = 0; s < steps; ++s) {
    const Node* x = pick();
    const Node* y = pick();
    switch (rng() % 9) {
      case 0: pool.push_back(b.add(b.mul(x, y), x)); break;
      case 1: pool.push_back(b.sub(x, b.mul(1.5, y))); break;
      case 2: pool.push_back(b.div(x, b.add(2.0, b.mul(y, y)))); break;
      case 3: pool.push_back(b.call(Op::Sin, x)); break;
      case 4: pool.push_back(b.call(Op::Cos, b.add(x, y))); break;
      case 5: pool.push_back(b.call(Op::Tanh, x)); break;
      case 6: pool.push_back(b.call(Op::Exp, b.mul(0.25, b.sub(x, y)))); break;
      case 7: pool.push_back(b.call(Op::Log, b.add(1.5, b.mul(x, x)))); break;
      case 8: pool.push_back(b.call(Op::Sqrt, b.add(1.0, b.mul(y, y)))); break;
    }
  }
  r->outs = value_and_derivatives(b, pool.back(), r->vars, /*hessian=*/false);
  return r;
}

std::vector<std::vector<double>> points(unsigned seed, int n) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  std::vector<std::vector<double>> p(n);
  for (auto& x : p) x = {u(rng), u(rng), u(rng), u(rng)};
  return p;
}

std::uint64_t bits(double v) { return std::bit_cast<std::uint64_t>(v); }

// Each tier agrees with the interpreter (libm may be reached through another entry point, and
// with contraction a*b + c may be one fma: a relative 1e-12), and its batch with its single entry.
TEST(Tiers, BothTiersMatchTheInterpreter) {
  auto jit = Jit::create();
  for (unsigned seed : {1u, 2u, 3u}) {
    auto f = random_function(seed, 60);
    KernelSpec spec{"f", f->vars, f->outs, /*batch=*/true};
    for (Tier tier : {Tier::Fast, Tier::Optimized}) {
      Kernel k = jit->compile(spec, tier);
      auto ps = points(seed, 20);
      std::vector<double> in, batch_out(ps.size() * f->outs.size());
      for (const auto& p : ps) in.insert(in.end(), p.begin(), p.end());
      k.batch(in.data(), batch_out.data(), static_cast<std::int64_t>(ps.size()));
      for (std::size_t i = 0; i < ps.size(); ++i) {
        std::vector<double> want = evaluate(f->outs, f->vars, ps[i]), got(f->outs.size());
        k.single(ps[i].data(), got.data());
        for (std::size_t j = 0; j < want.size(); ++j) {
          if (!std::isfinite(want[j])) continue;
          EXPECT_NEAR(got[j], want[j], 1e-12 * std::max(1.0, std::fabs(want[j])))
              << "seed " << seed << " tier " << int(tier) << " point " << i << " output " << j;
          // The batch entry's vector math (SLEEF, 1 ulp per function) may round differently.
          EXPECT_NEAR(batch_out[i * want.size() + j], got[j], 1e-12 * std::max(1.0, std::fabs(got[j])))
              << "batch row " << i;
        }
      }
    }
  }
}

// The fast tier never contracts: its bits are the optimized tier's without contraction (what
// README promises: `eval --tier fast` prints the bits of `eval --no-fma`), even when the Jit
// allows contraction. The O2 pipeline only rewrites what IEEE arithmetic leaves exact, and
// FastISel selects the same operations.
TEST(Tiers, FastTierHasTheBitsOfNoContraction) {
  auto jit = Jit::create();
  auto plain = Jit::create({.contract = false});
  for (unsigned seed : {4u, 5u, 6u, 7u}) {
    auto f = random_function(seed, 80);
    KernelSpec spec{"f", f->vars, f->outs};
    Kernel fast = jit->compile(spec, Tier::Fast), opt = plain->compile(spec, Tier::Optimized);
    for (const auto& p : points(seed, 50)) {
      std::vector<double> a(f->outs.size()), b(f->outs.size());
      fast.single(p.data(), a.data());
      opt.single(p.data(), b.data());
      for (std::size_t j = 0; j < a.size(); ++j)
        EXPECT_EQ(bits(a[j]), bits(b[j])) << "seed " << seed << " output " << j << ": " << a[j] << " vs " << b[j];
    }
  }
}

// The switch: single calls up to policy.calls, a batch of policy.rows rows.
TEST(Tiers, TieredKernelSwitchesWhenThePolicySays) {
  auto jit = Jit::create();
  auto f = random_function(8, 20);
  KernelSpec spec{"f", f->vars, f->outs, /*batch=*/true};
  std::vector<double> p = {0.1, 0.2, 0.3, 0.4}, out(f->outs.size());
  std::vector<double> want = evaluate(f->outs, f->vars, p);

  TieredKernel by_calls(*jit, spec, TierPolicy{.calls = 3, .rows = 1000});
  EXPECT_EQ(by_calls.tier(), Tier::Fast);
  by_calls.single(p.data(), out.data());
  by_calls.single(p.data(), out.data());
  EXPECT_EQ(by_calls.tier(), Tier::Fast);
  EXPECT_EQ(by_calls.fast_calls(), 2u);
  by_calls.single(p.data(), out.data());
  EXPECT_EQ(by_calls.tier(), Tier::Optimized);
  EXPECT_NEAR(out[0], want[0], 1e-12 * std::max(1.0, std::fabs(want[0])));
  by_calls.single(p.data(), out.data());
  EXPECT_EQ(by_calls.fast_calls(), 3u);  // no counting once optimized

  TieredKernel by_rows(*jit, spec, TierPolicy{.calls = 1000, .rows = 4});
  std::vector<double> in(4 * 4), outs(4 * f->outs.size());
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < 4; ++i) in[4 * r + i] = p[i];
  by_rows.batch(in.data(), outs.data(), 3);
  EXPECT_EQ(by_rows.tier(), Tier::Fast);
  by_rows.batch(in.data(), outs.data(), 4);
  EXPECT_EQ(by_rows.tier(), Tier::Optimized);
  for (int r = 0; r < 4; ++r) EXPECT_NEAR(outs[r * f->outs.size()], want[0], 1e-12 * std::max(1.0, std::fabs(want[0])));

  TieredKernel at_once(*jit, spec, TierPolicy{.calls = 0});
  EXPECT_EQ(at_once.tier(), Tier::Optimized);
}

// A 20,000-term sum x*0.5 + x*1.5 + ... (as in bench/compile.md's 1 MB expression, smaller):
// compiled from source in the fast tier, its value and derivative against sums taken here in
// the same order.
TEST(Tiers, HugeExpressionInTheFastTier) {
  constexpr int kTerms = 20000;
  std::string text = "fn f(x) = ";
  for (int i = 0; i < kTerms; ++i) text += (i ? " + x*" : "x*") + std::to_string(i) + ".5";
  text += "\n";
  auto m = compile_module(text_source("huge.grad", text));
  const Function& f = m->functions.at(0);
  Builder b(m->graph, Simplify::Fold);
  Nodes outs = value_and_derivatives(b, f.body, f.params, /*hessian=*/false);
  auto jit = Jit::create({.contract = false});
  Kernel k = jit->compile(KernelSpec{"f", f.params, outs}, Tier::Fast);
  const double x = 0.75;
  double value = 0, slope = 0;
  for (int i = 0; i < kTerms; ++i) {
    value += x * (i + 0.5);
    slope += i + 0.5;  // exact: every partial sum is a multiple of 0.5 below 2^52
  }
  double out[2];
  k.single(&x, out);
  EXPECT_NEAR(out[0], value, 1e-12 * value);
  EXPECT_EQ(out[1], slope);
}

}  // namespace
}  // namespace gradc
