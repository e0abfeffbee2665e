// The lecture function f(x, y, z) = tanh(log(1 + z * (2x / sin(y)))) written by hand, as a
// person would: a forward pass, then the chain rule backwards. Defined in hand_written.cpp (a
// separate translation unit, -O2) so the benchmark's TU cannot inline or hoist it; the same
// source is compiled a second time with -O2 -march=native (hand_written_native.cpp) because the
// JIT targets the host CPU.
#pragma once
#include <cstdint>

#define GRADC_HAND_DECLARE(ns)                                                            \
  namespace ns {                                                                          \
  /* out = {f, df/dx, df/dy, df/dz} (the JIT kernel's output order) */                    \
  void value_grad(const double* in, double* out);                                         \
  /* out = {f} */                                                                         \
  void value(const double* in, double* out);                                              \
  /* value_grad over rows (row-major: 3 inputs, 4 outputs per row) */                     \
  void value_grad_batch(const double* in, double* out, std::int64_t rows);                \
  }

GRADC_HAND_DECLARE(hand)
GRADC_HAND_DECLARE(hand_native)
