// TieredKernel: the fast tier first, the optimized tier when the work is there.
#include "runtime/tiered_kernel.hpp"

#include <stdexcept>

namespace gradc {

TieredKernel::TieredKernel(Jit& jit, const KernelSpec& spec, TierPolicy policy)
    : jit_(jit), spec_(spec), policy_(policy) {
  if (spec.dtype != DType::F64) throw std::logic_error("TieredKernel: an f64 kernel only");
  tier_ = policy.calls == 0 ? Tier::Optimized : Tier::Fast;
  kernel_ = jit_.compile(spec_, tier_);
}

void TieredKernel::optimize() {
  if (tier_ == Tier::Optimized) return;
  kernel_ = jit_.compile(spec_, Tier::Optimized);
  tier_ = Tier::Optimized;
}

}  // namespace gradc
