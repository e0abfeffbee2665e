/* compile_header_hessian.h: 'h' of examples/lecture.grad, compiled by gradc ahead of time.
 *   gradc compile examples/lecture.grad --fn h --hessian -o compile_header_hessian.h
 *
 * Element type: double (f64). Tensors are flattened row-major.
 * Inputs, in signature order (2 elements a point):
 *   in[0]          u
 *   in[1]          v
 * Outputs (7 elements a point):
 *   out[0]         h
 *   out[1]         dh/du
 *   out[2]         dh/dv
 *   out[3..6]      hessian  [2, 2] (row-major, symmetric; rows and columns u, v)
 *
 * h(in, out) computes one point. h_batch(n, in, out) computes n points: row r reads
 * in[r*h_N_IN ...] and writes out[r*h_N_OUT ...].
 * Thread-safe (call from any number of threads at once), allocation-free, and dependent on
 * nothing but libm. `in` and `out` must not overlap.
 * Per-thread workspace: none.
 */
#ifndef GRADC_H_H
#define GRADC_H_H

#include <stddef.h>

#define h_N_IN 2
#define h_N_OUT 7

#ifdef __cplusplus
extern "C" {
#endif

void h(const double* in, double* out);
void h_batch(size_t n, const double* in, double* out);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* GRADC_H_H */
