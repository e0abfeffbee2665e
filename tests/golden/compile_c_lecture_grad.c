/* compile_c_lecture_grad.c: 'f' of examples/lecture.grad, compiled by gradc ahead of time.
 *   gradc compile examples/lecture.grad --fn f --grad -o compile_c_lecture_grad.c
 *
 * Element type: double (f64). Tensors are flattened row-major.
 * Inputs, in signature order (3 elements a point):
 *   in[0]          x
 *   in[1]          y
 *   in[2]          z
 * Outputs (4 elements a point):
 *   out[0]         f
 *   out[1]         df/dx
 *   out[2]         df/dy
 *   out[3]         df/dz
 *
 * f(in, out) computes one point; f_batch(n, in, out) n points, row r reading
 * in[r*f_N_IN ...] and writing out[r*f_N_OUT ...]. Thread-safe, allocation-free.
 * `out` may overlap `in` (every output is stored after the last input is read).
 * Compiled with -ffp-contract=off, it has the bits of gradc's kernels built without fma
 * contraction (gradc eval contracts a*b + c into an fma where the CPU has one).
 */
#include <math.h>
#include <stddef.h>

#define f_N_IN 3
#define f_N_OUT 4
#define f_N_WORK 0

void f(const double* in, double* out) {
  const double t0 = in[0]; /* x */
  const double t1 = in[1]; /* y */
  const double t2 = in[2]; /* z */
  const double t3 = 0x1p+0; /* 1 */
  const double t4 = 0x1p+1; /* 2 */
  const double t5 = t4 * t0;
  const double t6 = sin(t1);
  const double t7 = t5 / t6;
  const double t8 = t2 * t7;
  const double t9 = t3 + t8;
  const double t10 = log(t9);
  const double t11 = tanh(t10);
  const double t26 = t11 * t11;
  const double t27 = t3 - t26;
  const double t28 = t27 / t9;
  const double t29 = t28 * t7;
  const double t30 = t28 * t2;
  const double t31 = t30 / t6;
  const double t32 = t30 * t7;
  const double t33 = t32 / t6;
  const double t34 = -t33;
  const double t35 = cos(t1);
  const double t36 = t34 * t35;
  const double t38 = t31 * t4;
  out[0] = t11;
  out[1] = t38;
  out[2] = t36;
  out[3] = t29;
}

void f_batch(size_t n, const double* in, double* out) {
  size_t row;
  for (row = 0; row < n; ++row) f(in + row * f_N_IN, out + row * f_N_OUT);
}
