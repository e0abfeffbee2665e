// Gradient descent on a scalar function, w(t+1) = w(t) - lr * grad L(w(t)), and the labels the
// lecture gives learning rates: too small (slow), right (converged), too big (oscillating) and
// divergent.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/jit.hpp"

namespace gradc {

/// The most steps of one descent: every iterate is kept for the plot.
inline constexpr std::int64_t kMaxDescentSteps = 1'000'000;

struct Trajectory {
  std::vector<std::vector<double>> w;     // w(0) .. w(T)
  std::vector<double> loss;               // L(w(t))
  std::vector<std::vector<double>> grad;  // grad L(w(t))
  bool diverged = false;                  // stopped at a nan or inf
};

/// `steps` steps from w0 with a value+gradient kernel (outputs: L, then dL/dw_i).
Trajectory descend(const Kernel& value_and_grad, std::vector<double> w0, double lr, std::int64_t steps);

enum class Behaviour { Slow, Converged, Oscillating, Diverged };
const char* behaviour_name(Behaviour b);

/// How a run went, from its losses and (when known) its parameter updates:
///  diverged:    a nan/inf, or the final loss above 10x the initial one;
///  oscillating: consecutive updates point in opposite directions in at least half of the
///               steps (parameter updates known);
///  converged:   the gradient norm fell below 1e-4 of its initial value;
///  slow:        otherwise.
Behaviour classify(const Trajectory& t);

/// How a training run went from its losses alone, judged against the best run of the sweep
/// (`best_final`: the lowest final loss of the runs that did not diverge):
///  diverged:    a nan/inf, or the final loss above 10x the initial one;
///  oscillating: the smoothed loss (a moving mean over a tenth of the run, which averages away
///               momentum's ripples) rises by more than 5% in at least a quarter of the steps,
///               and the run ends more than 10x above the best run (a run that ends as well as
///               the best is never called oscillating);
///  converged:   the final loss is at most 1e-3 of the initial one;
///  slow:        otherwise.
Behaviour classify_losses(const std::vector<double>& loss, double best_final);

/// The lowest final loss of the runs that did not diverge (inf when every run diverged).
double best_final_loss(const std::vector<std::vector<double>>& runs);

}  // namespace gradc
