// Special functions with no C library counterpart (digamma, polygamma): one C-callable
// implementation, called by the interpreter and, through symbols the JIT defines, by compiled code.
#pragma once

extern "C" {
/// ψ(x) = d/dx ln Γ(x). Poles at 0, -1, -2, ...: ψ(±0) = ∓inf (the limit from that side, as in
/// PyTorch and C's lgamma conventions), nan at the negative integers (the sides disagree).
double gradc_digamma(double x);
/// ψ⁽ⁿ⁾(x), the n-th derivative of ψ, for an integer order n >= 0 (nan otherwise). At a pole,
/// the limit when both sides agree (+inf for odd n), the side's limit at ±0, nan otherwise.
double gradc_polygamma(double n, double x);
}

namespace gradc {

/// The JIT symbols of the functions above, for `Jit` to define and codegen to declare.
inline constexpr const char* kDigammaSymbol = "gradc_digamma";
inline constexpr const char* kPolygammaSymbol = "gradc_polygamma";

}  // namespace gradc
