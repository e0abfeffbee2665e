// The JIT's module construction and optimization, shared with ahead-of-time compilation
// (runtime/aot.cpp) so that an object file computes the same bits as the JIT.
#pragma once
#include <functional>
#include <memory>

#include "compiler/codegen.hpp"

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
}  // namespace llvm

namespace gradc {

/// The vector registers of tm's target as the vectorizer's cost model sees them.
TargetInfo target_info(llvm::TargetMachine& tm);

/// What the kernel is shaped for on a host: the widest vectors only when its matrix products
/// are large enough for them to pay (see wide_vectors_pay in jit.cpp).
TargetInfo kernel_target(const KernelSpec& spec, const TargetInfo& host);

/// codegen(spec) for tm's data layout and triple; `edit` (if any) changes the module before
/// optimization; then the JIT's pipeline (O2 tuned per kernel) when `optimize`.
std::unique_ptr<llvm::Module> build_module(llvm::LLVMContext& ctx, const KernelSpec& spec, llvm::TargetMachine& tm,
                                           const TargetInfo& target, bool optimize,
                                           const std::function<void(llvm::Module&)>& edit = {});

/// Modules this large go through the -O0 backend (see kHugeModule in jit.cpp).
bool huge_module(const llvm::Module& m);

}  // namespace gradc
