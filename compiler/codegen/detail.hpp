// Private to compiler/codegen/: the constants and node predicates the codegen files share.
#pragma once

#include "compiler/codegen.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace gradc::codegen_detail {

// The C library functions the generated code declares by name (the other math ops are LLVM
// intrinsics, which LLVM 19 lowers to libm calls itself), f64 and f32 spellings, and gradc's
// own special functions (support/special.hpp, f64 only). A kernel may not take these names.
inline constexpr const char* kDeclaredLibm = "log1p";
inline constexpr const char* kDeclaredLibmF32 = "log1pf";
inline constexpr const char* kLgamma[2] = {"lgamma", "lgammaf"};
inline constexpr const char* kExpm1[2] = {"expm1", "expm1f"};

inline const char* declared_libm(DType t) { return t == DType::F32 ? kDeclaredLibmF32 : kDeclaredLibm; }

// Whether generated code of this element type declares a function called `name`.
inline bool is_declared_function(const std::string& name, DType t) {
  int f32 = t == DType::F32;
  return name == declared_libm(t) || name == kLgamma[f32] || name == kExpm1[f32] || name == "gradc_digamma" ||
         name == "gradc_polygamma";
}

// Distinct constants emitted as immediates; beyond, they are loaded from a table (see emit).
inline constexpr std::size_t kMaxImmediates = 1000;

// A tensor kernel's workspace (its intermediate buffers) is a zero-initialised global; past this
// size, compiling is refused rather than asking the JIT linker for gigabytes.
inline constexpr std::int64_t kMaxWorkspaceBytes = std::int64_t(1) << 30;

// Buffers in the workspace start at this alignment (a cache line, two AVX2 / one AVX-512 vector).
inline constexpr std::int64_t kBufferAlignBytes = 64;

// The constant behind a splat: c, broadcast(c), reshape(c), detach(c); else nullptr.
inline const Node* splat_constant(const Node* n) {
  while (n->op == Op::Broadcast || n->op == Op::Reshape || n->op == Op::Detach) n = n->arg(0);
  return n->op == Op::Const ? n : nullptr;
}

inline bool is_view_op(Op op) { return op_info(op).lowering == Lowering::View; }

// A matrix product over an inner dimension of 1, C[i,j] = A[i,0] * B[0,j]: the backward of a
// one-output layer (dL/dh = dL/dy @ W^T). The kernel computes it like an elementwise product,
// fused into its consumer: a pass over the batch less (bench/choices.md, "Outer products").
inline bool is_outer_product(const Node* n) {
  return n->op == Op::MatMul && n->shape.rank == 2 && n->arg(0)->shape[1] == 1;
}

// Nodes that always get a buffer (and a loop nest of their own) when their result is a tensor.
inline bool has_own_loop(const Node* n) { return n->info().lowering == Lowering::OwnLoop && !is_outer_product(n); }

// Nodes whose element is computed from their operands' elements (so they may be fused).
inline bool is_pointwise(const Node* n) {
  return (n->info().lowering == Lowering::Pointwise && n->nargs > 0) || is_outer_product(n);
}

inline std::int64_t row_major_stride(const Shape& s, int d) {
  std::int64_t st = 1;
  for (int e = d + 1; e < s.rank; ++e) st *= s[e];
  return st;
}

// Whether reshaping `from` to `to` only inserts or removes axes of size 1 (then each index of
// size > 1 maps to one axis of the other shape, no division needed).
inline bool reshape_moves_ones_only(const Shape& from, const Shape& to) {
  std::vector<std::int32_t> a, b;
  for (int d = 0; d < from.rank; ++d)
    if (from[d] != 1) a.push_back(from[d]);
  for (int d = 0; d < to.rank; ++d)
    if (to[d] != 1) b.push_back(to[d]);
  return a == b;
}

}  // namespace gradc::codegen_detail
