// The JIT's on-disk cache of object code ($XDG_CACHE_HOME/gradc): one file per kernel, keyed by
// the kernel's IR, the target and gradc's build, so that a second run of a program compiles nothing.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "compiler/codegen.hpp"

namespace gradc {

using CacheKey = std::array<std::uint8_t, 32>;  // a BLAKE3 digest

/// Where the cache lives by default: $XDG_CACHE_HOME/gradc (the XDG base directory convention;
/// an unset, empty or relative XDG_CACHE_HOME means ~/.cache), or "" (no cache) when the
/// environment variable GRADC_NO_CACHE is set and not empty, or there is no home directory.
std::string default_cache_dir();

/// The build ID of the binary that holds gradc's runtime (the linker's digest of its code,
/// .note.gnu.build-id) as hex, or "" when it has none. A rebuilt gradc with other code never
/// reads its predecessor's objects.
std::string runtime_build_id();

/// The host CPU as the C library's start-up saw it, as hex: cpuid's vendor and maximum leaf, the
/// words of every leaf glibc keeps (family, model and stepping, the feature flags, and which of
/// them are usable), the enabled register state (xgetbv), and AVX10's version leaf where there is
/// one; the APIC ID (which core the process started on) is masked out. LLVM's detected CPU name
/// and features are a function of these words, so they name the code LLVM generates for the host,
/// for one cpuid instruction instead of LLVM's twenty (each a trap to the hypervisor in a virtual
/// machine). "" where this is not known (not x86-64 with glibc 2.33 or later): the caller then
/// names the CPU by LLVM's detection.
std::string host_cpu_signature();

/// The key of a kernel: a digest of everything its object code is made from. The IR DAG (each
/// node reachable from the outputs or an input, in creation order: op, arguments, shape,
/// attributes, dtype, value, name, tensor data), the spec's inputs, outputs, batch and dtype (not
/// its name: the Jit gives every kernel the same symbol, each in its own JITDylib), `target`'s
/// threads and contract, and `context`: what the Jit adds (the CPU and its features, the
/// optimization tier, LLVM's version, gradc's version and build ID). The digest is SHA-256 when
/// the serialized DAG is under 64 KiB, BLAKE3 past it (BLAKE3's first use probes the CPU's SIMD
/// with cpuid, a 0.05 ms trap in a virtual machine that a small kernel's start-up need not pay;
/// a big graph hashes ten times faster). `target`'s vector widths
/// are not read: they are the host's, which the context names, and a cached run need not probe
/// them (that is most of creating a target machine).
CacheKey cache_key(const KernelSpec& spec, const TargetInfo& target, std::string_view context);

/// The directory of objects. Safe with several processes at once: a file is written under a
/// temporary name and renamed into place, and read whole and checked (a header with a magic, the
/// key, the lengths and a checksum of the data layout and the object), so a corrupt, truncated or foreign file is a
/// miss, never an error; the next store replaces it. Nothing here throws: a directory that cannot
/// be created or written is a cache that never hits.
class ObjectCache {
 public:
  /// The bound on the cache's size: past it, storing evicts the least recently used objects
  /// (a hit renews an object's time) until the cache is at 3/4 of it.
  static constexpr std::uint64_t kDefaultMaxBytes = std::uint64_t(256) << 20;

  explicit ObjectCache(std::filesystem::path dir, std::uint64_t max_bytes = kDefaultMaxBytes);

  /// The object stored under key, if a valid one is there; its data layout (as stored) to
  /// `layout` if given.
  std::optional<std::string> load(const CacheKey& key, std::string* layout = nullptr) const;
  /// Writes the object under key atomically, with the data layout it was compiled for (a run
  /// whose kernels all come from the cache sets up its JIT with it instead of creating a target
  /// machine to learn it); false if it could not be written. Checks the size bound after one
  /// store in 16 (chosen by the key, so that a miss rarely lists the folder).
  bool store(const CacheKey& key, std::string_view object, std::string_view layout = {}) const;
  /// Evicts the least recently used objects (and temporary files left by a killed process) until
  /// the objects take at most 3/4 of the bound, if they take more than the bound.
  void trim() const;

  /// The file of key: DIR/<64 hex digits>.o.
  std::filesystem::path path(const CacheKey& key) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::uint64_t max_bytes_;
};

}  // namespace gradc
