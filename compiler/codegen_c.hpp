// C99 source for a kernel (`gradc compile -o f.c`): dependency-free code, like CasADi's codegen,
// for targets without LLVM. It computes what the JIT computes, op for op (the same libm calls,
// x^2 and x^3 as multiplies, the same selects at nan), so compiled with `-ffp-contract=off` it
// has the bits of a JIT kernel built with Jit::Options::contract = false.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "compiler/codegen.hpp"

namespace gradc {

/// A workspace up to this size lives on the stack of NAME (and NAME_batch); a larger one in
/// C11 thread-local storage, or, under C99, not at all (then only NAME_work is defined).
inline constexpr std::int64_t kCMaxLocalWorkBytes = 64 * 1024;

struct CSource {
  std::string text;
  std::int64_t work_elements = 0;  // NAME_N_WORK: a tensor kernel's intermediate buffers
};

/// The C source of spec: entries
///   void NAME(const T* in, T* out);
///   void NAME_batch(size_t n, const T* in, T* out);      // n rows of inputs and of outputs
///   void NAME_work(const T* in, T* out, T* work);        // if NAME_N_WORK > 0
/// with the layout of compiler/codegen.hpp's KernelSpec; NAME is spec.name made a C identifier
/// (c_identifier). `layout` opens the file's comment ("/* ..." lines: what it is, the element
/// type, the inputs and outputs; gradc compile passes its header's); empty: a title and one
/// line per input and output with its offset and shape. The comment goes on with the entries,
/// the workspace and thread safety. Includes <math.h> and <stddef.h> only. Throws
/// std::logic_error for a variable that is not an input.
CSource codegen_c(const KernelSpec& spec, std::string_view layout = {});

/// name with every character outside [A-Za-z0-9_] replaced by '_' and a leading digit (or an
/// empty name) prefixed with '_'.
std::string c_identifier(std::string_view name);

/// Whether the C generator has a spelling for op (every op of GRADC_FOR_EACH_OP must).
bool has_c_spelling(Op op);

}  // namespace gradc
