// LLVM code generation: one fused function per request, computing every output node from the
// input variables in a single pass (each DAG node is emitted once, so shared subexpressions
// between the value, the gradient and the Hessian are computed once).
//
// Scalar kernels (every node a scalar) are straight-line code. Tensor kernels are loop nests:
// elementwise chains, broadcasts, reshapes, transposes and indexing fuse into the loop of the
// node that consumes them; matrix products, reductions, embeds, one-hots and shared values are
// materialized in buffers (see codegen.cpp for the rules).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "compiler/ir.hpp"

namespace llvm {
class LLVMContext;
class Module;
}  // namespace llvm

namespace gradc {

/// What to compile: `name(const T* in, T* out)`, T being double (F64) or float (F32): the
/// kernel's element type (DType, see ir.hpp). With F32 every value is a float: constants are
/// rounded to float, and the math functions are the float ones (expf, log1pf, ...). An f64 graph
/// compiles in either type; an f32 graph (see retype) only as F32. `in` is
/// the concatenation of the inputs' data (Var nodes, each flattened row-major, in `inputs`
/// order) and `out` likewise for `outputs`; for a scalar kernel in[i] = inputs[i] and out[j] =
/// outputs[j]. Plus `name_batch(const T* in, T* out, int64_t n)` looping over n rows (row-major;
/// the row strides are the total element counts of the inputs and of the outputs).
///
/// A scalar kernel's single call stores its outputs after its last load, so `out` may overlap
/// `in`. A tensor kernel's may not (its buffers are declared noalias), and a tensor kernel keeps
/// its intermediate buffers in a module-level workspace: it is not reentrant (one call at a
/// time per compiled kernel; distinct kernels are independent).
struct KernelSpec {
  std::string name;
  std::span<const Node* const> inputs;
  std::span<const Node* const> outputs;
  bool batch = true;  // also emit name_batch (about half the compile time of a small kernel)
  DType dtype = DType::F64;
};

/// What the loop nests are shaped for (the JIT fills it in from the host's cost model; the
/// defaults are AVX2's). Only performance depends on it, never results, except `contract`.
struct TargetInfo {
  unsigned vector_bits = 256;     // width of a vector register
  unsigned vector_registers = 16;  // how many there are
  // The widest vectors the CPU has (512 on AVX-512 hosts, whose default tuning prefers 256):
  // tensor kernels' matrix products use them (runtime/jit.cpp marks the kernel's functions).
  unsigned wide_vector_bits = 256;
  // Threads for large matrix products (> 1: the kernel calls gradc_parallel with the external
  // symbol gradc_pool, both defined by the Jit; see runtime/threads.hpp). Each element of a
  // product is computed by one thread in the same order, so results do not depend on it.
  unsigned threads = 1;
  // Whether a*b + c may become an fma (LLVM's `contract` flag). The one field here that changes
  // results: false gives the bits of C compiled with -ffp-contract=off (compiler/codegen_c.hpp).
  bool contract = true;
  // The batch entry of a scalar kernel computes as many points at a time as fit in a vector of
  // this many bits (8 f64 or 16 f32 with 512), its transcendental functions from SLEEF: the
  // module then calls Sleef_* functions (SLEEF's libsleef), and a row's results may differ from
  // the single entry's within SLEEF's 1.0-ulp bound. 0 (or 64): one row at a time, the single
  // entry's code in a loop. Only 128, 256 and 512 (SLEEF's x86 widths) vectorize.
  unsigned batch_vector_bits = 0;
  // x86 with AVX-512F: gradc's own vector math (compiler/codegen/vector_math.cpp) replaces
  // divisions by vrcp14pd and Newton steps.
  bool avx512 = false;
};

/// Builds the LLVM module for a kernel (verified; not yet optimized). Throws std::logic_error
/// for a variable that is not an input, std::invalid_argument for a bad name or a workspace
/// too large to allocate.
std::unique_ptr<llvm::Module> codegen(llvm::LLVMContext& ctx, const KernelSpec& spec,
                                      const TargetInfo& target = {});

struct BodySplit;  // compiler/codegen/body_split.hpp

/// A huge scalar kernel split into parts: the module of its entry points (as codegen's, their
/// body calling the parts `split_part_name(spec.name, p)`, declared here), and each part's module
/// (codegen_parts: parts first to last - 1). Linked together, they compute the bits of codegen's single module.
std::unique_ptr<llvm::Module> codegen_split(llvm::LLVMContext& ctx, const KernelSpec& spec, const BodySplit& split,
                                            const TargetInfo& target = {});
std::unique_ptr<llvm::Module> codegen_parts(llvm::LLVMContext& ctx, const KernelSpec& spec, const BodySplit& split,
                                            std::size_t first, std::size_t last, const TargetInfo& target = {});
std::string split_part_name(const std::string& kernel, std::size_t part);

/// How many rows one vector of the batch entry holds (1: the entry computes one row per
/// iteration; see TargetInfo::batch_vector_bits). The entry computes several such vectors per
/// iteration (codegen.cpp's kBatchVectors), one for a body too large to inline.
unsigned batch_lanes(const KernelSpec& spec, const TargetInfo& target);

/// Whether some node the kernel computes has rank > 0 (it is then generated as loop nests).
bool is_tensor_kernel(const KernelSpec& spec);

/// Total element count of the nodes (the length of `in` for spec.inputs, of `out` for
/// spec.outputs).
std::int64_t element_count(std::span<const Node* const> nodes);

}  // namespace gradc
