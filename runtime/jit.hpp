// The JIT: a small wrapper over LLVM ORC LLJIT for the host CPU. No global LLVM state: each
// Jit owns its session; each compile() adds one fused module.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "compiler/codegen.hpp"

namespace gradc {

/// gradc's version, as `gradc --version` prints it (and part of the object cache's key).
inline constexpr const char* kGradcVersion = "0.1";

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
  /// The functions a huge scalar kernel's body was split into (Jit::Options::split_above); 1: not split.
  std::size_t parts = 1;
};

/// What `gradc --version` reports: the LLVM the JIT is built on, and the target it compiles for
/// (the host's triple and CPU, as JITTargetMachineBuilder::detectHost picks them).
struct JitHost {
  std::string llvm_version, triple, cpu;
};
JitHost jit_host();

/// How a module is compiled. The fast tier never fuses a*b + c into an fma: for a scalar kernel
/// it computes the bits of the optimized tier with Options::contract = false (and of the
/// generated C built with -ffp-contract=off); tests/test_tiers.cpp pins this. A tensor kernel
/// may sum in another order in the optimized tier (partial sums of its vectorized loops).
enum class Tier : std::uint8_t {
  Fast,       // no IR passes, the -O0 backend (FastISel), no contraction: ~1 ms for a small kernel
  Optimized,  // the O2 pipeline tuned per kernel + the aggressive backend (the -O0 one past kHugeModule)
};

class Jit {
 public:
  struct Options {
    bool optimize = true;  // the tier of compile(spec): Tier::Optimized; false: Tier::Fast
    int threads = 1;       // a tensor kernel's large matrix products are split over this many threads
    // a*b + c may become an fma; false: the bits of generated C built with -ffp-contract=off
    bool contract = true;
    // The on-disk object cache's folder (runtime/object_cache.hpp; the CLI passes
    // default_cache_dir()); empty: no cache.
    std::string cache_dir = {};
    // A scalar kernel of more than `split_above` operations is compiled as parts of about
    // `split_ops` operations, each its own function (a few per module), on up to
    // `compile_threads` threads (0: one per core); the same bits as one function (FastISel and
    // the fast register allocator run per function: small ones stay in the caches;
    // bench/compile.md). split_above = 0: never split.
    std::size_t split_above = 20000, split_ops = 1500;
    unsigned compile_threads = 0;
  };
  /// Throws std::runtime_error if the host target cannot be set up (with a cache_dir, when the
  /// first kernel is compiled: a Jit whose kernels all come from the cache never sets up a
  /// target machine).
  static std::unique_ptr<Jit> create(Options opts);
  static std::unique_ptr<Jit> create() { return create(Options{}); }
  ~Jit();

  /// Generates, optimizes and compiles spec. Throws std::runtime_error on an internal failure
  /// (never aborts the process).
  Kernel compile(const KernelSpec& spec);
  Kernel compile(const KernelSpec& spec, Tier tier);

  /// The module's LLVM IR as text, after the same optimization compile() applies
  /// (for `gradc emit --stage llvm`).
  std::string llvm_ir(const KernelSpec& spec);

  /// What the object cache did for this Jit's compile() calls: objects found (nothing compiled),
  /// kernels compiled with the cache on, objects written.
  struct CacheStats {
    std::uint64_t hits = 0, misses = 0, stores = 0;
  };
  CacheStats cache_stats() const;

  /// The widest vector instruction set the target machine has, e.g. "avx512", "avx2", "neon",
  /// and the widest vectors of the kernels compiled so far (a scalar kernel's batch entry: its
  /// points at a time; a tensor kernel: its matrix products' tiles, 512 bits on AVX-512 hosts
  /// when they are large); before any, the width LLVM's cost model shapes loops for (which may
  /// be narrower, as its tuning for some AVX-512 CPUs prefers 256 bits).
  struct Vectors {
    std::string isa;
    unsigned bits = 0;
  };
  Vectors vectors() const;

  /// What the loop nests are shaped for (the host's vector registers, the threads).
  TargetInfo target() const;

 private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gradc
