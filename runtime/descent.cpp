// Gradient descent on scalar functions and the classification of runs.
#include "runtime/descent.hpp"

#include <algorithm>
#include <cmath>

namespace gradc {

Trajectory descend(const Kernel& k, std::vector<double> w, double lr, std::int64_t steps) {
  Trajectory t;
  std::vector<double> out(1 + w.size());
  for (std::int64_t s = 0;; ++s) {
    k.single(w.data(), out.data());
    t.w.push_back(w);
    t.loss.push_back(out[0]);
    t.grad.emplace_back(out.begin() + 1, out.end());
    bool finite = std::isfinite(out[0]);
    for (double x : w) finite = finite && std::isfinite(x);
    if (!finite) {
      t.diverged = true;
      break;
    }
    if (s == steps) break;
    for (std::size_t i = 0; i < w.size(); ++i) w[i] -= lr * out[1 + i];
  }
  return t;
}

const char* behaviour_name(Behaviour b) {
  switch (b) {
    case Behaviour::Slow: return "slow";
    case Behaviour::Converged: return "converged";
    case Behaviour::Oscillating: return "oscillating";
    case Behaviour::Diverged: return "diverged";
  }
  return "";
}

Behaviour classify(const Trajectory& t) {
  if (t.diverged || t.loss.back() > 10 * t.loss.front()) return Behaviour::Diverged;
  std::size_t turns = 0, moves = 0;
  for (std::size_t s = 2; s < t.w.size(); ++s) {
    double dot = 0, a = 0, b = 0;
    for (std::size_t i = 0; i < t.w[s].size(); ++i) {
      double d1 = t.w[s][i] - t.w[s - 1][i], d0 = t.w[s - 1][i] - t.w[s - 2][i];
      dot += d1 * d0;
      a += d1 * d1;
      b += d0 * d0;
    }
    if (a == 0 || b == 0) continue;  // at rest
    ++moves;
    turns += dot < 0;
  }
  if (moves > 0 && 2 * turns >= moves) return Behaviour::Oscillating;
  auto norm = [](const std::vector<double>& g) {
    double s = 0;
    for (double x : g) s += x * x;
    return std::sqrt(s);
  };
  double g0 = norm(t.grad.front()), g1 = norm(t.grad.back());
  if (g1 <= 1e-4 * g0 || g1 == 0) return Behaviour::Converged;
  return Behaviour::Slow;
}

namespace {
bool diverged(const std::vector<double>& loss) {
  if (loss.empty()) return true;
  for (double l : loss)
    if (!std::isfinite(l)) return true;
  return loss.back() > 10 * loss.front();
}
}  // namespace

double best_final_loss(const std::vector<std::vector<double>>& runs) {
  double best = INFINITY;
  for (const auto& r : runs)
    if (!diverged(r)) best = std::min(best, r.back());
  return best;
}

Behaviour classify_losses(const std::vector<double>& loss, double best_final) {
  if (diverged(loss)) return Behaviour::Diverged;
  // A trailing moving mean: each point the mean of the last `w` losses.
  std::size_t n = loss.size(), w = std::max<std::size_t>(1, n / 10);
  std::vector<double> smooth(n);
  double sum = 0;
  for (std::size_t s = 0; s < n; ++s) {
    sum += loss[s];
    if (s >= w) sum -= loss[s - w];
    smooth[s] = sum / static_cast<double>(std::min(s + 1, w));
  }
  std::size_t rises = 0;
  for (std::size_t s = 1; s < n; ++s) rises += smooth[s] > 1.05 * smooth[s - 1];
  if (n > 4 && 4 * rises >= n - 1 && loss.back() > 10 * best_final) return Behaviour::Oscillating;
  if (loss.back() <= 1e-3 * loss.front()) return Behaviour::Converged;
  return Behaviour::Slow;
}

}  // namespace gradc
