// Ahead-of-time compilation: a kernel as a relocatable object file for the host or another
// target, made by the JIT's own module construction and optimization (the same bits).
#pragma once
#include <cstdint>
#include <string>

#include "compiler/codegen.hpp"

namespace gradc {

struct AotTarget {
  std::string triple;  // empty: the host's
  std::string cpu;     // empty: the host's CPU (and its features) for the host, "generic" otherwise
  // The batch entry W rows at a time with SLEEF's functions, as the JIT's (the object then
  // needs libsleef); else the single entry's code in a loop (libm only, the same bits).
  bool simd = false;
};

struct AotObject {
  std::string bytes;                 // the ELF (or target format) object file
  std::uint64_t workspace_bytes = 0;  // a tensor kernel's thread_local workspace, per thread
  std::string triple, cpu;           // what it was compiled for
};

/// Compiles spec (spec.name is the C symbol prefix) into an object with the entries
///   void NAME(const T* in, T* out);
///   void NAME_batch(size_t n, const T* in, T* out);   // n rows of inputs and of outputs
/// Everything else in it has internal linkage; its intermediate buffers are thread_local, so
/// the entries are reentrant and allocate nothing. Throws UsageError for an unknown triple or
/// CPU, LimitError when the kernel calls a function only gradc provides (digamma, polygamma).
AotObject compile_object(const KernelSpec& spec, const AotTarget& target);

}  // namespace gradc
