// The optimizer updates of one training step, over a flat array of every parameter element
// (PyTorch's formulas, element by element). Their own file: compiled at -O3 without errno for
// sqrt and without fma contraction, once per instruction set (AVX-512, AVX2, baseline) with the
// host's picked at load time, so they are vectorized and give the same bits on every host.
#pragma once
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
/// sqrt(1 - b2^t): the bias corrections, as torch.optim.Adam folds them).
template <class T>
struct AdamStep {
  T* m1;
  T* m2;
  T b1, b2, eps, step_size, c2_sqrt;
};
void adam_update(const Update<float>& u, const AdamStep<float>& a);
void adam_update(const Update<double>& u, const AdamStep<double>& a);

}  // namespace gradc
