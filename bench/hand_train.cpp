// A hand-written MLP training step (see hand_train.hpp). Compiled with -O2 (bench/CMakeLists.txt);
// hand_train_native.cpp includes this file again with GRADC_HAND_TRAIN_NS = hand_train_native
// and -O2 -march=native.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "hand_train.hpp"

#ifndef GRADC_HAND_TRAIN_NS
#define GRADC_HAND_TRAIN_NS hand_train
#endif

namespace GRADC_HAND_TRAIN_NS {
namespace {

using gradc::bench::Activation;
using gradc::bench::LossKind;
using gradc::bench::OptimizerConfig;

template <class T>
T forward_backward(HandMlp<T>& m, const T* x, const T* y, int rows) {
  const int L = static_cast<int>(m.sizes.size()) - 1;  // layers
  T* params = m.params.data();
  T* grads = m.grads.data();

  // Forward: z_l = a_{l-1} @ W_l + b_l, a_l = act(z_l) (the last layer has no activation).
  std::size_t off = 0;
  const T* in = x;
  for (int l = 0; l < L; ++l) {
    const int n_in = m.sizes[l], n_out = m.sizes[l + 1];
    const T* W = params + off;
    const T* b = W + static_cast<std::size_t>(n_in) * n_out;
    off += static_cast<std::size_t>(n_in) * n_out + n_out;
    T* z = m.z[l].data();
    T* a = m.a[l].data();
    for (int i = 0; i < rows; ++i) {
      const T* xi = in + static_cast<std::size_t>(i) * n_in;
      T* zi = z + static_cast<std::size_t>(i) * n_out;
      for (int j = 0; j < n_out; ++j) zi[j] = b[j];
      for (int k = 0; k < n_in; ++k) {
        const T xk = xi[k];
        const T* Wk = W + static_cast<std::size_t>(k) * n_out;
        for (int j = 0; j < n_out; ++j) zi[j] += xk * Wk[j];
      }
      if (l < L - 1) {
        T* ai = a + static_cast<std::size_t>(i) * n_out;
        if (m.act == Activation::Tanh)
          for (int j = 0; j < n_out; ++j) ai[j] = std::tanh(zi[j]);
        else
          for (int j = 0; j < n_out; ++j) ai[j] = zi[j] > 0 ? zi[j] : T(0);
      }
    }
    in = a;
  }

  // Loss and its adjoint dL/dz of the last layer.
  const int C = m.sizes[L];
  const T* out = m.z[L - 1].data();
  T* dz = m.dz.data();
  T loss = 0;
  if (m.loss == LossKind::Mse) {
    const int n = rows * C;
    for (int e = 0; e < n; ++e) {
      const T d = out[e] - y[e];
      loss += d * d;
      dz[e] = 2 * d / static_cast<T>(n);
    }
    loss /= static_cast<T>(n);
  } else {  // softmax cross-entropy: mean over rows of logsumexp(z) - z[label]
    for (int i = 0; i < rows; ++i) {
      const T* zi = out + static_cast<std::size_t>(i) * C;
      T* di = dz + static_cast<std::size_t>(i) * C;
      T mx = zi[0];
      for (int j = 1; j < C; ++j) mx = zi[j] > mx ? zi[j] : mx;
      T s = 0;
      for (int j = 0; j < C; ++j) {
        di[j] = std::exp(zi[j] - mx);
        s += di[j];
      }
      const int label = static_cast<int>(y[i]);
      loss += mx + std::log(s) - zi[label];
      for (int j = 0; j < C; ++j) di[j] = (di[j] / s - (j == label ? T(1) : T(0))) / static_cast<T>(rows);
    }
    loss /= static_cast<T>(rows);
  }

  // Backward, from the last layer: dW_l = a_{l-1}^T @ dz, db_l = column sums of dz,
  // da_{l-1} = dz @ W_l^T, dz_{l-1} = da_{l-1} * act'(z_{l-1}).
  T* da = m.da.data();
  for (int l = L - 1; l >= 0; --l) {
    const int n_in = m.sizes[l], n_out = m.sizes[l + 1];
    off -= static_cast<std::size_t>(n_in) * n_out + n_out;
    const T* W = params + off;
    T* gW = grads + off;
    T* gb = gW + static_cast<std::size_t>(n_in) * n_out;
    const T* ain = l == 0 ? x : m.a[l - 1].data();
    for (std::size_t e = 0; e < static_cast<std::size_t>(n_in) * n_out; ++e) gW[e] = 0;
    for (int j = 0; j < n_out; ++j) gb[j] = 0;
    for (int i = 0; i < rows; ++i) {
      const T* di = dz + static_cast<std::size_t>(i) * n_out;
      const T* ai = ain + static_cast<std::size_t>(i) * n_in;
      for (int j = 0; j < n_out; ++j) gb[j] += di[j];
      for (int k = 0; k < n_in; ++k) {
        const T aik = ai[k];
        T* gWk = gW + static_cast<std::size_t>(k) * n_out;
        for (int j = 0; j < n_out; ++j) gWk[j] += aik * di[j];
      }
    }
    if (l == 0) break;  // no gradient for the data
    for (int i = 0; i < rows; ++i) {
      const T* di = dz + static_cast<std::size_t>(i) * n_out;
      T* dai = da + static_cast<std::size_t>(i) * n_in;
      for (int k = 0; k < n_in; ++k) {
        const T* Wk = W + static_cast<std::size_t>(k) * n_out;
        T s = 0;
        for (int j = 0; j < n_out; ++j) s += di[j] * Wk[j];
        dai[k] = s;
      }
    }
    const int n = rows * n_in;
    if (m.act == Activation::Tanh) {
      const T* a = m.a[l - 1].data();
      for (int e = 0; e < n; ++e) dz[e] = da[e] * (1 - a[e] * a[e]);
    } else {
      const T* z = m.z[l - 1].data();
      for (int e = 0; e < n; ++e) dz[e] = z[e] > 0 ? da[e] : T(0);
    }
  }
  return loss;
}

template <class T>
void update(UpdateState<T>& u, T* w, const T* g, std::size_t n) {
  const OptimizerConfig& c = u.cfg;
  const T lr = static_cast<T>(c.lr);
  T* m1 = u.m1.data();
  ++u.step;
  if (c.kind == OptimizerConfig::SgdMomentum) {  // buf = momentum * buf + g; w -= lr * buf
    const T mom = static_cast<T>(c.momentum);
    for (std::size_t k = 0; k < n; ++k) {
      m1[k] = mom * m1[k] + g[k];
      w[k] -= lr * m1[k];
    }
  } else {  // Adam, with bias corrections
    T* m2 = u.m2.data();
    const T b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2), eps = static_cast<T>(c.eps);
    const T bc1 = static_cast<T>(1 - std::pow(c.beta1, static_cast<double>(u.step)));
    const T bc2 = static_cast<T>(1 - std::pow(c.beta2, static_cast<double>(u.step)));
    for (std::size_t k = 0; k < n; ++k) {
      m1[k] = b1 * m1[k] + (1 - b1) * g[k];
      m2[k] = b2 * m2[k] + (1 - b2) * g[k] * g[k];
      const T mhat = m1[k] / bc1, vhat = m2[k] / bc2;
      w[k] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
}

}  // namespace

float loss_and_grads(HandMlp<float>& m, const float* x, const float* y, int rows) {
  return forward_backward(m, x, y, rows);
}
double loss_and_grads(HandMlp<double>& m, const double* x, const double* y, int rows) {
  return forward_backward(m, x, y, rows);
}
void apply(UpdateState<float>& u, float* w, const float* g, std::size_t n) { update(u, w, g, n); }
void apply(UpdateState<double>& u, double* w, const double* g, std::size_t n) { update(u, w, g, n); }
float step(HandMlp<float>& m, const float* x, const float* y, int rows) {
  float loss = forward_backward(m, x, y, rows);
  update(m.update, m.params.data(), m.grads.data(), m.params.size());
  return loss;
}
double step(HandMlp<double>& m, const double* x, const double* y, int rows) {
  double loss = forward_backward(m, x, y, rows);
  update(m.update, m.params.data(), m.grads.data(), m.params.size());
  return loss;
}

}  // namespace GRADC_HAND_TRAIN_NS
