// A kernel that starts in the fast tier and is recompiled in the optimized tier once its work
// pays for the optimizing compile: after many single calls, or before a large batch.
#pragma once
#include <cstdint>

#include "runtime/jit.hpp"

namespace gradc {

/// When a TieredKernel switches to the optimized tier. The optimizing compile costs ~8 ms for
/// the lecture function and ~90 ms for a 2,000-node one; the optimized code saves a few ns per
/// point (bench/compile.md), so it pays after about 10^5 points.
struct TierPolicy {
  std::uint64_t calls = 100'000;  // single evaluations in the fast tier before switching
  std::int64_t rows = 100'000;    // a batch of at least this many rows runs optimized code
};

/// One f64 kernel in its current tier. The spec's nodes (and their graph) must outlive it.
/// Not reentrant: call it from one thread at a time (the switch recompiles in the calling
/// thread, then every later call runs the optimized code).
class TieredKernel {
 public:
  /// Compiles spec in the fast tier (in the optimized one at once if policy.calls is 0).
  TieredKernel(Jit& jit, const KernelSpec& spec, TierPolicy policy = {});

  void single(const double* in, double* out) {
    if (tier_ == Tier::Fast && ++calls_ >= policy_.calls) optimize();
    kernel_.single(in, out);
  }
  /// Needs spec.batch.
  void batch(const double* in, double* out, std::int64_t rows) {
    if (tier_ == Tier::Fast && rows >= policy_.rows) optimize();
    kernel_.batch(in, out, rows);
  }

  /// Recompiles in the optimized tier (nothing if it is already there).
  void optimize();
  Tier tier() const { return tier_; }
  /// Single calls made in the fast tier.
  std::uint64_t fast_calls() const { return calls_; }
  const Kernel& kernel() const { return kernel_; }

 private:
  Jit& jit_;
  KernelSpec spec_;
  TierPolicy policy_;
  Tier tier_ = Tier::Fast;
  std::uint64_t calls_ = 0;
  Kernel kernel_;
};

}  // namespace gradc
