// A training step of a multilayer perceptron written by hand in plain C++, as a person would:
// natural loops, sizes known at run time, no BLAS, no intrinsics. Forward (matmul + bias +
// activation per layer), the loss (mean squared error, or softmax cross-entropy over integer
// labels), the backward pass (the chain rule, layer by layer) and the optimizer update (SGD
// with momentum, or Adam; PyTorch's formulas, as in runtime/train.cpp). f32 and f64 through a
// template.
//
// The functions are defined in hand_train.cpp (its own translation unit, -O2, so the
// benchmark's TU cannot see through them); hand_train_native.cpp compiles the same source again
// in namespace hand_train_native with -O2 -march=native (the JIT compiles for the host CPU), and
// hand_train_o3.cpp in namespace hand_train_o3 with -O3 -march=native.
//
// Parameters and gradients are one flat array in gradc's order (Module::params: net.0.W [in,
// out] row-major, net.0.b [out], net.1.W, ...), so the compiled step's outputs and this code's
// can be compared element by element, and the gradc harness applies the same update code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace gradc::bench {

enum class Activation { Tanh, Relu };
enum class LossKind { Mse, CrossEntropy };  // CrossEntropy: targets are class indices (as T)

struct OptimizerConfig {
  enum Kind { SgdMomentum, Adam } kind = SgdMomentum;
  double lr = 0.01, momentum = 0.9, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

/// Optimizer state: SGD keeps its momentum buffer in m1; Adam its two moments.
template <class T>
struct UpdateState {
  OptimizerConfig cfg;
  std::vector<T> m1, m2;
  std::int64_t step = 0;
  UpdateState(const OptimizerConfig& c, std::size_t n) : cfg(c), m1(n, T(0)), m2(n, T(0)) {}
};

/// The network, its parameters, gradients, optimizer state and work buffers.
template <class T>
struct HandMlp {
  std::vector<int> sizes;  // e.g. {2, 8, 1}
  Activation act;          // between layers (none after the last)
  LossKind loss;
  std::vector<T> params, grads;  // flat, gradc's order
  UpdateState<T> update;
  std::vector<std::vector<T>> z, a;  // pre-activations and activations per layer (rows x width)
  std::vector<T> dz, da;             // adjoints of the current layer's z and of its input

  HandMlp(std::vector<int> s, Activation act_, LossKind loss_, const OptimizerConfig& opt,
          std::vector<T> init, int max_rows)
      : sizes(std::move(s)), act(act_), loss(loss_), params(std::move(init)), grads(params.size()),
        update(opt, params.size()) {
    int widest = 0;
    for (int w : sizes) widest = w > widest ? w : widest;
    for (std::size_t l = 1; l < sizes.size(); ++l) {
      z.emplace_back(static_cast<std::size_t>(max_rows) * sizes[l]);
      a.emplace_back(static_cast<std::size_t>(max_rows) * sizes[l]);
    }
    dz.resize(static_cast<std::size_t>(max_rows) * widest);
    da.resize(static_cast<std::size_t>(max_rows) * widest);
  }
};

}  // namespace gradc::bench

// One set of entry points per compilation (hand_train: -O2; hand_train_native: -O2
// -march=native; hand_train_o3: -O3 -march=native).
#define GRADC_HAND_TRAIN_DECLARE(ns)                                                         \
  namespace ns {                                                                             \
  using gradc::bench::HandMlp;                                                               \
  using gradc::bench::UpdateState;                                                           \
  /* Loss and gradients (into m.grads) on `rows` rows: x [rows, sizes[0]] row-major; y      \
     [rows, sizes.back()] targets (Mse) or [rows] class indices (CrossEntropy). */           \
  float loss_and_grads(HandMlp<float>& m, const float* x, const float* y, int rows);         \
  double loss_and_grads(HandMlp<double>& m, const double* x, const double* y, int rows);     \
  /* w -= the optimizer's step for gradient g, over n parameters. */                         \
  void apply(UpdateState<float>& u, float* w, const float* g, std::size_t n);                \
  void apply(UpdateState<double>& u, double* w, const double* g, std::size_t n);             \
  /* loss_and_grads, then apply to m.params; returns the loss. */                            \
  float step(HandMlp<float>& m, const float* x, const float* y, int rows);                   \
  double step(HandMlp<double>& m, const double* x, const double* y, int rows);               \
  }

GRADC_HAND_TRAIN_DECLARE(hand_train)
GRADC_HAND_TRAIN_DECLARE(hand_train_native)
GRADC_HAND_TRAIN_DECLARE(hand_train_o3)
