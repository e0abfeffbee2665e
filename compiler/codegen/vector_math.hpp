// gradc's own vector math for the batch entry (sin, cos, tanh on vectors of f64 or f32, log on
// f64), emitted as LLVM IR: faster than SLEEF's 1.0-ulp functions and within 1 ulp too.
#pragma once

#include "compiler/ops.hpp"
#include "compiler/ir.hpp"

#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>

namespace gradc::codegen_detail {

/// Whether gradc has its own vector function for op on dtype (else the batch calls SLEEF's):
/// sin, cos, tanh, and log in f64.
bool has_own_vector_math(Op op, DType dtype);

/// gradc's function for op on vectors of `lanes` elements of dtype: an internal, always inlined
/// function of m, emitted on first use, named gradc.vm.OP.f64xLANES (f32xLANES): one function on
/// all the vectors of an iteration, so that their instructions interleave. Lanes outside the fast
/// path (|x| huge for sin and cos; 0, subnormals, negative, inf and nan for log) are computed by
/// SLEEF's `fallback` function on `call_lanes` elements (a declaration of m), called only when a
/// lane needs it. `rcp14`: the target has AVX-512F, whose vrcp14pd (and Newton steps) replaces
/// divisions when lanes is a multiple of 8.
llvm::Function* own_vector_function(llvm::Module& m, Op op, DType dtype, unsigned lanes, unsigned call_lanes,
                                    bool rcp14, llvm::FunctionCallee fallback);

}  // namespace gradc::codegen_detail
