/* compile_c_energy_f32.c: 'energy' of tests/inputs/tensor_args.grad, compiled by gradc ahead of time.
 *   gradc compile tests/inputs/tensor_args.grad --fn energy --grad --dtype f32 --prefix spring_energy -o compile_c_energy_f32.c
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
 * spring_energy(in, out) computes one point; spring_energy_batch(n, in, out) n points, row r reading
 * in[r*spring_energy_N_IN ...] and writing out[r*spring_energy_N_OUT ...]. Thread-safe, allocation-free.
 * `in` and `out` must not overlap.
 * Workspace: spring_energy_N_WORK elements for the intermediate tensors. spring_energy_work(in, out, work)
 * takes the caller's; spring_energy and spring_energy_batch keep it on their stack (48 bytes).
 * Compiled with -ffp-contract=off, it has the bits of gradc's kernels built without fma
 * contraction (gradc eval contracts a*b + c into an fma where the CPU has one).
 */
#include <math.h>
#include <stddef.h>

#define spring_energy_N_IN 4
#define spring_energy_N_OUT 5
#define spring_energy_N_WORK 12

void spring_energy_work(const float* in, float* out, float* work) {
  size_t e, r, i0, i1, i2;
  (void)e; (void)r; (void)i0; (void)i1; (void)i2;
  const float t0 = 0x1p+1f; /* 2 */
  const float t28 = in[3]; /* k */
  /* t29: Mul [3] */
  {
    float* const w = work + 0;
    for (e = 0; e < 3; ++e) w[e] = in[e] * in[e];
  }
  float t30;
  {
    float acc = 0x0p+0f;
    for (e = 0; e < 3; ++e) acc += work[0 + e];
    t30 = acc;
  }
  const float t31 = t28 * t30;
  const float t32 = t31 / t0;
  const float t37 = 0x1p-1f; /* 0.5 */
  const float t40 = t37 * t30;
  const float t41 = t37 * t28;
  /* t42: Broadcast [3] */
  {
    float* const w = work + 3;
    for (i2 = 0; i2 < 3; ++i2)
      w[i2] = t41;
  }
  /* t43: Mul [3] */
  {
    float* const w = work + 6;
    for (e = 0; e < 3; ++e) w[e] = work[3 + e] * in[e];
  }
  /* t44: Add [3] */
  {
    float* const w = work + 9;
    for (e = 0; e < 3; ++e) w[e] = work[6 + e] + work[6 + e];
  }
  out[0] = t32;
  for (e = 0; e < 3; ++e) out[1 + e] = work[9 + e];
  out[4] = t40;
}

void spring_energy(const float* in, float* out) {
  float work[spring_energy_N_WORK];
  spring_energy_work(in, out, work);
}

void spring_energy_batch(size_t n, const float* in, float* out) {
  float work[spring_energy_N_WORK];
  size_t row;
  for (row = 0; row < n; ++row) spring_energy_work(in + row * spring_energy_N_IN, out + row * spring_energy_N_OUT, work);
}
