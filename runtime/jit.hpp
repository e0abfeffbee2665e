// The JIT: a small wrapper over LLVM ORC LLJIT for the host CPU. No global LLVM state: each
// Jit owns its session; each compile() adds one fused module.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "compiler/codegen.hpp"

namespace gradc {

/// A compiled kernel. The functions stay valid while the Jit that made them lives. An F64
/// kernel sets `single` (and `batch`), an F32 kernel `single_f32` (and `batch_f32`); the others
/// stay null. A tensor kernel is not reentrant (its intermediate buffers are module globals):
/// call it from one thread at a time, with `in` and `out` not overlapping (see KernelSpec).
/// With Options::threads > 1 its large products run on the Jit's threads (one call at a time
/// per Jit uses them; a concurrent call runs its products on its own thread).
struct Kernel {
  void (*single)(const double* in, double* out) = nullptr;
  void (*batch)(const double* in, double* out, std::int64_t rows) = nullptr;  // if spec.batch
  void (*single_f32)(const float* in, float* out) = nullptr;
  void (*batch_f32)(const float* in, float* out, std::int64_t rows) = nullptr;  // if spec.batch
  /// Elements of `in` and `out` per call (the number of inputs and outputs for a scalar kernel).
  std::size_t num_inputs = 0, num_outputs = 0;
};

/// What `gradc --version` reports: the LLVM the JIT is built on, and the target it compiles for
/// (the host's triple and CPU, as JITTargetMachineBuilder::detectHost picks them).
struct JitHost {
  std::string llvm_version, triple, cpu;
};
JitHost jit_host();

class Jit {
 public:
  struct Options {
    bool optimize = true;  // O2 IR pipeline + aggressive codegen; false: no IR passes, codegen O0
    int threads = 1;       // a tensor kernel's large matrix products are split over this many threads
    // a*b + c may become an fma; false: the bits of generated C built with -ffp-contract=off
    bool contract = true;
  };
  /// Throws std::runtime_error if the host target cannot be set up.
  static std::unique_ptr<Jit> create(Options opts);
  static std::unique_ptr<Jit> create() { return create(Options{}); }
  ~Jit();

  /// Generates, optimizes and compiles spec. Throws std::runtime_error on an internal failure
  /// (never aborts the process).
  Kernel compile(const KernelSpec& spec);

  /// The module's LLVM IR as text, after the same optimization compile() applies
  /// (for `gradc emit --stage llvm`).
  std::string llvm_ir(const KernelSpec& spec);

  /// What the loop nests are shaped for (the host's vector registers, the threads).
  TargetInfo target() const;

 private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gradc
