// LLVM code generation: one fused function per request, computing every output node from the
// input variables in a single pass (each DAG node is emitted once, so shared subexpressions
// between the value, the gradient and the Hessian are computed once).
#pragma once
#include <memory>
#include <span>
#include <string>

#include "compiler/ir.hpp"

namespace llvm {
class LLVMContext;
class Module;
}  // namespace llvm

namespace gradc {

/// What to compile: `name(const double* in, double* out)` with in[i] = inputs[i] (Var nodes)
/// and out[j] = outputs[j]; plus `name_batch(const double* in, double* out, int64_t n)` looping
/// over n rows (row-major; row strides inputs.size() and outputs.size()).
struct KernelSpec {
  std::string name;
  std::span<const Node* const> inputs;
  std::span<const Node* const> outputs;
  bool batch = true;  // also emit name_batch (about half the compile time of a small kernel)
};

/// Builds the LLVM module for a kernel (verified; not yet optimized).
std::unique_ptr<llvm::Module> codegen(llvm::LLVMContext& ctx, const KernelSpec& spec);

}  // namespace gradc
