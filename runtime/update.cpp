#include "runtime/update.hpp"

#include <cmath>

namespace gradc {
namespace {

template <class T>
[[gnu::always_inline]] inline void sgd(const Update<T>& u) {
  T* __restrict w = u.w;
  const T* __restrict g = u.g;
  const T lr = u.lr, wd = u.weight_decay;  // locals: not reloaded after each store
  for (std::size_t k = 0, n = u.n; k < n; ++k) w[k] -= lr * (g[k] + wd * w[k]);
}

template <class T>
[[gnu::always_inline]] inline void momentum(const Update<T>& u, T* __restrict buf, T mu, bool nesterov, bool first) {
  T* __restrict w = u.w;
  const T* __restrict g = u.g;
  const T lr = u.lr, wd = u.weight_decay;
  for (std::size_t k = 0, n = u.n; k < n; ++k) {
    T gk = g[k] + wd * w[k];
    buf[k] = first ? gk : mu * buf[k] + gk;
    w[k] -= lr * (nesterov ? gk + mu * buf[k] : buf[k]);
  }
}

template <class T>
[[gnu::always_inline]] inline void adam(const Update<T>& u, const AdamStep<T>& a) {
  T* __restrict w = u.w;
  const T* __restrict g = u.g;
  T* __restrict m1 = a.m1;
  T* __restrict m2 = a.m2;
  const T wd = u.weight_decay, b1 = a.b1, c1 = a.one_minus_b1, b2 = a.b2, c2 = a.one_minus_b2, eps = a.eps,
          step_size = a.step_size, c2_sqrt = a.c2_sqrt;
  for (std::size_t k = 0, n = u.n; k < n; ++k) {
    T gk = g[k] + wd * w[k];
    m1[k] = b1 * m1[k] + c1 * gk;
    m2[k] = b2 * m2[k] + c2 * gk * gk;
    w[k] -= step_size * m1[k] / (std::sqrt(m2[k]) / c2_sqrt + eps);
  }
}

}  // namespace

// One clone per instruction set; the loader picks the host's (GCC function multiversioning).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GRADC_CLONES [[gnu::target_clones("avx512f", "avx2", "default")]]
#else
#define GRADC_CLONES
#endif

GRADC_CLONES void sgd_update(const Update<float>& u) { sgd(u); }
GRADC_CLONES void sgd_update(const Update<double>& u) { sgd(u); }
GRADC_CLONES void momentum_update(const Update<float>& u, float* buf, float mu, bool nesterov, bool first) {
  momentum(u, buf, mu, nesterov, first);
}
GRADC_CLONES void momentum_update(const Update<double>& u, double* buf, double mu, bool nesterov, bool first) {
  momentum(u, buf, mu, nesterov, first);
}
GRADC_CLONES void adam_update(const Update<float>& u, const AdamStep<float>& a) { adam(u, a); }
GRADC_CLONES void adam_update(const Update<double>& u, const AdamStep<double>& a) { adam(u, a); }

}  // namespace gradc
