/* compile_header_f32.h: 'energy' of tests/inputs/tensor_args.grad, compiled by gradc ahead of time.
 *   gradc compile tests/inputs/tensor_args.grad --fn energy --grad --dtype f32 --prefix spring_energy -o compile_header_f32.h
 *
 * Element type: float (f32). Tensors are flattened row-major.
 * Inputs, in signature order (4 elements a point):
 *   in[0..2]       x  [3]
 *   in[3]          k
 * Outputs (5 elements a point):
 *   out[0]         energy
 *   out[1..3]      denergy/dx  [3]
 *   out[4]         denergy/dk
 *
 * spring_energy(in, out) computes one point. spring_energy_batch(n, in, out) computes n points: row r reads
 * in[r*spring_energy_N_IN ...] and writes out[r*spring_energy_N_OUT ...].
 * Thread-safe (call from any number of threads at once), allocation-free, and dependent on
 * nothing but libm. `in` and `out` must not overlap.
 * Per-thread workspace: none.
 */
#ifndef GRADC_SPRING_ENERGY_H
#define GRADC_SPRING_ENERGY_H

#include <stddef.h>

#define spring_energy_N_IN 4
#define spring_energy_N_OUT 5

#ifdef __cplusplus
extern "C" {
#endif

void spring_energy(const float* in, float* out);
void spring_energy_batch(size_t n, const float* in, float* out);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* GRADC_SPRING_ENERGY_H */
