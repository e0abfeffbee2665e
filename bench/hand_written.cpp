// Hand-written value and gradient of the lecture function (see hand_written.hpp).
// Compiled with -O2 (bench/CMakeLists.txt); hand_written_native.cpp includes this file again
// with GRADC_HAND_NS = hand_native and -O2 -march=native.
#include <cmath>
#include <cstdint>

#include "hand_written.hpp"

#ifndef GRADC_HAND_NS
#define GRADC_HAND_NS hand
#endif

namespace GRADC_HAND_NS {

void value_grad(const double* in, double* out) {
  const double x = in[0], y = in[1], z = in[2];
  // Forward pass (the lecture's a..e).
  const double a = 2 * x;
  const double b = std::sin(y);
  const double c = a / b;
  const double d = z * c;
  const double e = std::log(1 + d);
  const double f = std::tanh(e);
  // Backward pass: adjoints, from the output back to the inputs.
  const double f_e = 1 - f * f;          // tanh' = 1 - tanh^2
  const double f_d = f_e / (1 + d);      // log'(1 + d) = 1 / (1 + d)
  const double f_z = f_d * c;
  const double f_c = f_d * z;
  const double f_a = f_c / b;
  const double f_b = -f_c * a / (b * b);
  const double f_x = f_a * 2;
  const double f_y = f_b * std::cos(y);
  out[0] = f;
  out[1] = f_x;
  out[2] = f_y;
  out[3] = f_z;
}

void value(const double* in, double* out) {
  const double x = in[0], y = in[1], z = in[2];
  out[0] = std::tanh(std::log(1 + z * (2 * x / std::sin(y))));
}

void value_grad_batch(const double* in, double* out, std::int64_t rows) {
  for (std::int64_t r = 0; r < rows; ++r) value_grad(in + 3 * r, out + 4 * r);
}

}  // namespace GRADC_HAND_NS
