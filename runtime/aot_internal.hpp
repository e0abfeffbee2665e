// The pieces of ahead-of-time compilation (runtime/aot.cpp) that the training step's object
// (runtime/aot_step.cpp) builds on: the target machine, the C surface of a kernel, emission.
#pragma once
#include <llvm/Support/CodeGen.h>

#include <memory>
#include <string>

#include "runtime/aot.hpp"

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace gradc {

/// Every LLVM target, once per process.
void init_targets();

/// The target machine for t (the host's CPU and features by default); triple and cpu receive
/// what it is for. Throws UsageError for an unknown triple or CPU.
std::unique_ptr<llvm::TargetMachine> target_machine(const AotTarget& t, llvm::CodeGenOptLevel level,
                                                    std::string& triple, std::string& cpu);

/// A kernel's module made callable from C: internal globals, a thread_local workspace,
/// reentrant lgamma, and (for a batch spec) NAME_batch(size_t, in, out).
void make_c_surface(llvm::Module& m, const KernelSpec& spec);

/// The object file of m for tm.
std::string emit_object(llvm::TargetMachine& tm, llvm::Module& m);

}  // namespace gradc
