// Side by side: random small MLPs (random widths, tanh/relu/sigmoid, mse or cross-entropy,
// SGD with momentum and weight decay or Adam, whole or partial batches) trained a few steps by
// the runtime's Trainer, and by a reference trainer written here with plain loops: forward,
// backward and the optimizer update as PyTorch defines them (torch.optim.SGD, torch.optim.Adam,
// nn.MSELoss, nn.CrossEntropyLoss, nn.Linear's x W^T + b with W stored [in, out] here). Only
// the initial parameters come from gradc (initialize()); the two must agree to 1e-9 in f64.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "runtime/train.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

enum class Act { Tanh, Relu, Sigmoid };
const char* act_name(Act a) { return a == Act::Tanh ? "tanh" : a == Act::Relu ? "relu" : "sigmoid"; }

struct Net {
  std::vector<int> widths;  // input, hidden..., output
  std::vector<Act> acts;    // one per hidden layer
  bool cross_entropy = false;
  bool adam = false;
  double lr = 0, momentum = 0, weight_decay = 0;
  int rows = 0, batch = 0, epochs = 0;
  std::vector<std::vector<double>> X, Y;  // Y: [rows][out] targets, or [rows][1] class labels
};

Net random_net(std::uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1)); };
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  Net n;
  n.cross_entropy = rng() % 2;
  n.adam = rng() % 2;
  n.lr = n.adam ? 0.01 + 0.04 * (rng() % 4) : 0.05 + 0.05 * (rng() % 4);
  n.momentum = n.adam ? 0 : 0.9 * (rng() % 2);
  n.weight_decay = rng() % 2 ? 0.01 : 0;
  n.widths.push_back(pick(1, 4));
  int hidden = pick(1, 2);
  for (int l = 0; l < hidden; ++l) {
    n.widths.push_back(pick(1, 6));
    n.acts.push_back(static_cast<Act>(rng() % 3));
  }
  n.widths.push_back(n.cross_entropy ? pick(2, 4) : pick(1, 3));
  n.rows = pick(3, 8);
  n.batch = rng() % 2 ? n.rows : pick(2, n.rows);
  n.epochs = pick(2, 4);
  for (int r = 0; r < n.rows; ++r) {
    std::vector<double> x;
    for (int k = 0; k < n.widths.front(); ++k) x.push_back(u(rng));
    n.X.push_back(x);
    if (n.cross_entropy) {
      n.Y.push_back({static_cast<double>(rng() % static_cast<unsigned>(n.widths.back()))});
    } else {
      std::vector<double> y;
      for (int k = 0; k < n.widths.back(); ++k) y.push_back(u(rng));
      n.Y.push_back(y);
    }
  }
  return n;
}

std::string rows_text(const std::vector<std::vector<double>>& m, bool vector) {
  std::string s = "[";
  for (std::size_t r = 0; r < m.size(); ++r) {
    s += r ? ", " : "";
    if (vector) {
      s += fmt::format("{}", m[r][0]);
      continue;
    }
    s += "[";
    for (std::size_t k = 0; k < m[r].size(); ++k) s += fmt::format("{}{:.17g}", k ? ", " : "", m[r][k]);
    s += "]";
  }
  return s + "]";
}

std::string program(const Net& n) {
  std::string layers;
  for (std::size_t l = 0; l + 1 < n.widths.size(); ++l) {
    layers += fmt::format("{}linear({}, {})", l ? ", " : "", n.widths[l], n.widths[l + 1]);
    if (l < n.acts.size()) layers += fmt::format(", {}", act_name(n.acts[l]));
  }
  std::string opt = n.adam ? fmt::format("adam(lr = {}, weight_decay = {})", n.lr, n.weight_decay)
                           : fmt::format("sgd(lr = {}, momentum = {}, weight_decay = {})", n.lr, n.momentum,
                                         n.weight_decay);
  return fmt::format(
      "data X = {}\ndata Y = {}\nlayer net = sequential({})\ntrain {{\n  loss = {}(net(X), Y)\n"
      "  optimizer = {}\n  epochs = {}\n  batch = {}\n  shuffle = false\n  seed = 3\n}}\n",
      rows_text(n.X, false), rows_text(n.Y, n.cross_entropy), layers, n.cross_entropy ? "cross_entropy" : "mse", opt,
      n.epochs, n.batch);
}

// The reference: parameters W0, b0, W1, b1, ... (W[l] row-major [in, out]).
struct Reference {
  const Net& n;
  std::vector<std::vector<double>> p;  // in gradc's order: W0, b0, W1, b1, ...

  double act(Act a, double z) const {
    if (a == Act::Tanh) return std::tanh(z);
    if (a == Act::Relu) return z > 0 ? z : 0;
    return 1 / (1 + std::exp(-z));
  }
  double act_grad(Act a, double z, double y) const {  // from the input z and the output y
    if (a == Act::Tanh) return 1 - y * y;
    if (a == Act::Relu) return z > 0 ? 1 : 0;
    return y * (1 - y);
  }

  // Loss and gradients over rows [first, first + count).
  double grads(int first, int count, std::vector<std::vector<double>>& g) const {
    std::size_t L = n.widths.size() - 1;
    g.assign(p.size(), {});
    for (std::size_t i = 0; i < p.size(); ++i) g[i].assign(p[i].size(), 0);
    double loss = 0;
    for (int r = first; r < first + count; ++r) {
      // Forward: h[0] = x; z[l+1] = h[l] W[l] + b[l]; h[l+1] = act(z[l+1]) (none on the output).
      std::vector<std::vector<double>> h{n.X[r]}, z{{}};
      for (std::size_t l = 0; l < L; ++l) {
        int in = n.widths[l], out = n.widths[l + 1];
        std::vector<double> zl(out), hl(out);
        for (int j = 0; j < out; ++j) {
          double s = p[2 * l + 1][j];
          for (int k = 0; k < in; ++k) s += h[l][k] * p[2 * l][k * out + j];
          zl[j] = s;
          hl[j] = l < n.acts.size() ? act(n.acts[l], s) : s;
        }
        z.push_back(zl);
        h.push_back(hl);
      }
      // Loss and its gradient with respect to the output.
      const std::vector<double>& y = h.back();
      int out = n.widths.back();
      std::vector<double> d(out);
      if (n.cross_entropy) {
        double m = y[0];
        for (double v : y) m = std::max(m, v);
        double s = 0;
        for (double v : y) s += std::exp(v - m);
        double lse = m + std::log(s);
        int label = static_cast<int>(n.Y[r][0]);
        loss += (lse - y[label]) / count;
        for (int j = 0; j < out; ++j) d[j] = (std::exp(y[j] - lse) - (j == label ? 1 : 0)) / count;
      } else {
        for (int j = 0; j < out; ++j) {
          double e = y[j] - n.Y[r][j];
          loss += e * e / (count * out);
          d[j] = 2 * e / (count * out);
        }
      }
      // Backward.
      for (std::size_t l = L; l-- > 0;) {
        int in = n.widths[l], o = n.widths[l + 1];
        if (l < n.acts.size())
          for (int j = 0; j < o; ++j) d[j] *= act_grad(n.acts[l], z[l + 1][j], h[l + 1][j]);
        std::vector<double> dh(in, 0);
        for (int j = 0; j < o; ++j) {
          g[2 * l + 1][j] += d[j];
          for (int k = 0; k < in; ++k) {
            g[2 * l][k * o + j] += h[l][k] * d[j];
            dh[k] += p[2 * l][k * o + j] * d[j];
          }
        }
        d = dh;
      }
    }
    return loss;
  }

  // torch.optim.SGD (dampening 0, no nesterov) and torch.optim.Adam (L2 weight decay), steps of
  // `batch` rows in order, `epochs` times.
  void train() {
    std::vector<std::vector<double>> buf(p.size()), m1(p.size()), m2(p.size());
    int t = 0;
    for (int epoch = 0; epoch < n.epochs; ++epoch) {
      for (int first = 0; first < n.rows; first += n.batch) {
        std::vector<std::vector<double>> g;
        grads(first, std::min(n.batch, n.rows - first), g);
        ++t;
        for (std::size_t i = 0; i < p.size(); ++i) {
          if (t == 1) buf[i] = m1[i] = m2[i] = std::vector<double>(p[i].size(), 0);
          for (std::size_t e = 0; e < p[i].size(); ++e) {
            double gi = g[i][e] + n.weight_decay * p[i][e];
            if (n.adam) {
              m1[i][e] = 0.9 * m1[i][e] + (1 - 0.9) * gi;
              m2[i][e] = 0.999 * m2[i][e] + (1 - 0.999) * gi * gi;
              double bc1 = 1 - std::pow(0.9, t), bc2 = 1 - std::pow(0.999, t);
              double denom = std::sqrt(m2[i][e]) / std::sqrt(bc2) + 1e-8;
              p[i][e] -= n.lr / bc1 * m1[i][e] / denom;
            } else {
              buf[i][e] = t == 1 ? gi : n.momentum * buf[i][e] + gi;
              p[i][e] -= n.lr * (n.momentum != 0 ? buf[i][e] : gi);
            }
          }
        }
      }
    }
  }
};

TEST(SideBySide, RandomNetworksTrainLikeTheReference) {
  int cross_entropy = 0, adam = 0, partial = 0;
  for (std::uint32_t seed = 1; seed <= 24; ++seed) {
    Net n = random_net(seed);
    cross_entropy += n.cross_entropy;
    adam += n.adam;
    partial += n.batch < n.rows;
    std::string text = program(n);
    SCOPED_TRACE(fmt::format("seed {}:\n{}", seed, text));
    auto m = compile_text(text);
    ASSERT_EQ(m->params.size(), 2 * (n.widths.size() - 1));
    Trainer trainer(*m, shared_jit(), TrainOptions{});
    TrainResult res = trainer.run(nullptr);
    ASSERT_FALSE(res.diverged);
    Reference ref{n, {}};
    for (const Tensor& t : initialize(m->params, 3)) ref.p.push_back(t.data);
    ref.train();
    for (std::size_t i = 0; i < ref.p.size(); ++i)
      for (std::size_t e = 0; e < ref.p[i].size(); ++e)
        ASSERT_NEAR(res.params[i].data[e], ref.p[i][e], 1e-9 * std::max(1.0, std::fabs(ref.p[i][e])))
            << m->params[i].name << "[" << e << "]";
  }
  // The draw covers both losses, both optimizers and partial batches.
  EXPECT_GT(cross_entropy, 0);
  EXPECT_LT(cross_entropy, 24);
  EXPECT_GT(adam, 0);
  EXPECT_LT(adam, 24);
  EXPECT_GT(partial, 0);
}

}  // namespace
}  // namespace gradc::test
