// Private to compiler/codegen_c/: the op spelling table and the C text of the special functions.
#pragma once
#include <string>

#include "compiler/ir.hpp"

namespace gradc::codegen_c_detail {

/// How an op is written in C. An elementwise op: `expr[f32]`, in which $a and $b stand for the
/// operands (plain names or array elements, so repeating them costs nothing) and $0, $1, $m1
/// for the literals 0, 1 and -1 of the element type. A tensor op: its loop nest is written by
/// the emitter (emit.cpp), `tensor` says so.
struct CSpelling {
  Op op;
  const char* expr[2];  // f64, f32
  bool tensor = false;
};

/// The row of op, or nullptr when there is none.
const CSpelling* c_spelling(Op op);

/// `op(a, b)` in C for an elementwise node n of element type f32 or not (b empty for a unary op).
std::string c_elementwise(const Node* n, const std::string& a, const std::string& b, bool f32);

/// Whether the C of n reads operand i (not the exponent of x^2, x^0.5, ..., nor the base of
/// 2^y, which are folded into the spelling; so no variable is left unused).
bool reads_operand(const Node* n, int i, bool f32);

extern const char* const kCDigamma;
extern const char* const kCPolygamma;
/// gradc_c_lgamma (f64) or gradc_c_lgammaf (f32): lgamma_r where the C library has it.
std::string c_lgamma(bool f32);

}  // namespace gradc::codegen_c_detail
