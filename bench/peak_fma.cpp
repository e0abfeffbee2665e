// The core's peak: GFLOP/s of independent FMA chains on one thread, 512-bit and 256-bit
// vectors, f32 and f64 (bench/peak.md). The figure the training step's GFLOP/s is set against.
//
//   build/bench/gradc_peak_fma [--seconds S] [--reps N]
//
// Each measurement runs kChains independent accumulators (acc = acc * x + y, more chains than
// the FMA units times their latency: 2 units x 4 cycles on Sapphire Rapids) for a fixed number
// of iterations and divides the flops (2 per lane per FMA) by the thread's CPU time. Prints one
// line per (width, type): the median over --reps repetitions, and the best.
#include <immintrin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

namespace {

constexpr int kChains = 12;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// One kernel per (vector type, fma): `iters` rounds of kChains FMAs; returns a value read from
// every chain so that none is dead. The multiplier is just below 1 and the addend small, so
// the accumulators stay normal numbers (denormals would be slow) however long it runs.
#define GRADC_FMA_KERNEL(NAME, ATTR, VEC, SET1, FMA, STORE, LANES, T)          \
  ATTR double NAME(long iters) {                                                \
    VEC acc[kChains];                                                           \
    for (int c = 0; c < kChains; ++c) acc[c] = SET1(static_cast<T>(1 + c));     \
    const VEC x = SET1(static_cast<T>(0.999999));                               \
    const VEC y = SET1(static_cast<T>(1e-6));                                   \
    for (long i = 0; i < iters; ++i) {                                          \
      _Pragma("GCC unroll 12") for (int c = 0; c < kChains; ++c) acc[c] = FMA(acc[c], x, y); \
                                                                                \
    }                                                                           \
    T out[LANES];                                                               \
    double sum = 0;                                                             \
    for (int c = 0; c < kChains; ++c) {                                         \
      STORE(out, acc[c]);                                                       \
      sum += static_cast<double>(out[0]);                                       \
    }                                                                           \
    return sum;                                                                 \
  }

#define ATTR512 __attribute__((target("avx512f,fma"), noinline))
#define ATTR256 __attribute__((target("avx2,fma"), noinline))
GRADC_FMA_KERNEL(fma512_f32, ATTR512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps, 16, float)
GRADC_FMA_KERNEL(fma512_f64, ATTR512, __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_storeu_pd, 8, double)
GRADC_FMA_KERNEL(fma256_f32, ATTR256, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, 8, float)
GRADC_FMA_KERNEL(fma256_f64, ATTR256, __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd, 4, double)

struct Case {
  const char* name;
  double (*run)(long);
  int lanes;
  bool avx512;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.2;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--reps N]\n", argv[0]);
      return 2;
    }
  }
  __builtin_cpu_init();
  bool has512 = __builtin_cpu_supports("avx512f");
  bool has256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const Case cases[] = {{"512-bit f32", fma512_f32, 16, true},
                        {"512-bit f64", fma512_f64, 8, true},
                        {"256-bit f32", fma256_f32, 8, false},
                        {"256-bit f64", fma256_f64, 4, false}};
  double sink = 0;
  std::printf("%-12s %10s %10s   (GFLOP/s, 1 thread, CPU time; %d chains)\n", "fma", "median", "best", kChains);
  for (const Case& c : cases) {
    if (c.avx512 ? !has512 : !has256) {
      std::printf("%-12s %10s\n", c.name, "n/a");
      continue;
    }
    // Calibrate the iteration count to about `seconds` of CPU time.
    long iters = 1 << 16;
    while (true) {
      double t0 = cpu_seconds();
      sink += c.run(iters);
      double t = cpu_seconds() - t0;
      if (t >= seconds / 4) {
        iters = static_cast<long>(static_cast<double>(iters) * seconds / t);
        break;
      }
      iters *= 4;
    }
    std::vector<double> rates;
    for (int r = 0; r < reps; ++r) {
      double t0 = cpu_seconds();
      sink += c.run(iters);
      double t = cpu_seconds() - t0;
      rates.push_back(2.0 * c.lanes * kChains * static_cast<double>(iters) / t / 1e9);
    }
    std::sort(rates.begin(), rates.end());
    std::printf("%-12s %10.1f %10.1f\n", c.name, rates[rates.size() / 2], rates.back());
  }
  return sink == 42.0 ? 1 : 0;  // never: keeps the chains live
}
