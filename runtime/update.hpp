// The optimizer updates of one training step, over a flat array of every parameter element
// (PyTorch's formulas, element by element). Their own file: compiled at -O3 without errno for
// sqrt and without fma contraction, once per instruction set (AVX-512, AVX2, baseline) with the
// host's picked at load time, so they are vectorized and give the same bits on every host.
#pragma once
#include <cmath>
#include <cstddef>

namespace gradc {

template <class T>
struct Update {
  T* w;        // parameters
  const T* g;  // their gradients
  std::size_t n;
  T lr, weight_decay;
};

/// w -= lr (g + wd w)
void sgd_update(const Update<float>& u);
void sgd_update(const Update<double>& u);

/// buf = mu buf + (g + wd w) (or g + wd w at the first step), w -= lr buf (Nesterov: lr (g + wd
/// w + mu buf)).
void momentum_update(const Update<float>& u, float* buf, float mu, bool nesterov, bool first);
void momentum_update(const Update<double>& u, double* buf, double mu, bool nesterov, bool first);

/// m1 = b1 m1 + (1 - b1) g', m2 = b2 m2 + (1 - b2) g'^2 with g' = g + wd w, then
/// w -= step_size m1 / (sqrt(m2) / c2_sqrt + eps) (step_size = lr / (1 - b1^t), c2_sqrt =
/// sqrt(1 - b2^t): the bias corrections, as torch.optim.Adam folds them). Every constant is
/// formed in double and then rounded to T, as PyTorch does with its Python floats: 1 - b2 from
/// the rounded float b2 would be off by 1.3e-5 relative at b2 = 0.999 (use adam_constants).
template <class T>
struct AdamStep {
  T* m1;
  T* m2;
  T b1, one_minus_b1, b2, one_minus_b2, eps, step_size, c2_sqrt;
};

/// The constants of Adam's step number t (from 1) in double, rounded once to T.
template <class T>
AdamStep<T> adam_constants(T* m1, T* m2, double lr, double b1, double b2, double eps, double t) {
  return AdamStep<T>{m1, m2, static_cast<T>(b1), static_cast<T>(1 - b1), static_cast<T>(b2), static_cast<T>(1 - b2),
                     static_cast<T>(eps), static_cast<T>(lr / (1 - std::pow(b1, t))),
                     static_cast<T>(std::sqrt(1 - std::pow(b2, t)))};
}
void adam_update(const Update<float>& u, const AdamStep<float>& a);
void adam_update(const Update<double>& u, const AdamStep<double>& a);

}  // namespace gradc
