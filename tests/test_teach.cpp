// Gradient descent and the labels of learning rates: the iterates on L(w) = w^2 against the
// closed form w(t) = w0 (1 - 2 lr)^t, and the four behaviours of the lecture's plots.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/descent.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

Kernel quadratic_kernel(Module& m) {
  const Function& f = *m.find("L");
  Builder b(m.graph, Simplify::Fold);
  auto outs = value_and_derivatives(b, f.body, f.params, false);
  return shared_jit().compile(KernelSpec{"L", f.params, outs, false});
}

TEST(Descent, IteratesMatchTheClosedForm) {
  auto m = compile_text("fn L(w) = w^2");
  Kernel k = quadratic_kernel(*m);
  for (double lr : {0.01, 0.3, 0.5, 0.8, 1.1}) {
    Trajectory t = descend(k, {1.3}, lr, 40);
    ASSERT_EQ(t.w.size(), 41u);
    for (std::size_t s = 0; s < t.w.size(); ++s) {
      double want = 1.3 * std::pow(1 - 2 * lr, static_cast<double>(s));
      EXPECT_NEAR(t.w[s][0], want, 1e-12 * std::max(1.0, std::fabs(want))) << "lr " << lr << " step " << s;
      EXPECT_NEAR(t.loss[s], t.w[s][0] * t.w[s][0], 1e-12 * std::max(1.0, t.loss[s]));
      EXPECT_NEAR(t.grad[s][0], 2 * t.w[s][0], 1e-12 * std::max(1.0, std::fabs(t.grad[s][0])));
    }
  }
}

TEST(Descent, LecturesFourLearningRates) {
  auto m = compile_text("fn L(w) = w^2");
  Kernel k = quadratic_kernel(*m);
  EXPECT_EQ(classify(descend(k, {1}, 0.01, 50)), Behaviour::Slow);
  EXPECT_EQ(classify(descend(k, {1}, 0.5, 50)), Behaviour::Converged);
  EXPECT_EQ(classify(descend(k, {1}, 0.8, 50)), Behaviour::Oscillating);
  EXPECT_EQ(classify(descend(k, {1}, 1.1, 50)), Behaviour::Diverged);
  EXPECT_EQ(classify(descend(k, {1}, 1e200, 50)), Behaviour::Diverged);  // inf, then nan
}

TEST(Descent, StopsAtTheFirstNonFiniteLoss) {
  auto m = compile_text("fn L(w) = w^2");
  Kernel k = quadratic_kernel(*m);
  Trajectory t = descend(k, {1}, 1e200, 50);
  EXPECT_TRUE(t.diverged);
  EXPECT_LT(t.w.size(), 51u);
  EXPECT_FALSE(std::isfinite(t.loss.back()));
}

TEST(Descent, LossOnlyLabels) {
  EXPECT_EQ(classify_losses({1, 0.9, 0.8, 0.7, 0.6}, 0.6), Behaviour::Slow);
  EXPECT_EQ(classify_losses({1, 0.1, 0.01, 0.001, 0.0001}, 0.0001), Behaviour::Converged);
  EXPECT_EQ(classify_losses({1, 0.5, 0.9, 0.4, 0.8, 0.3, 0.7}, 0.01), Behaviour::Oscillating);
  EXPECT_EQ(classify_losses({1, 2, 30, 400}, 0.1), Behaviour::Diverged);
  EXPECT_EQ(classify_losses({1, 0.5, NAN}, 0.1), Behaviour::Diverged);
}

// The same rough curve is not oscillating when it ends as well as the best run (within 10x).
TEST(Descent, RipplesOfTheBestRunAreNotOscillation) {
  EXPECT_EQ(classify_losses({1, 0.5, 0.9, 0.4, 0.8, 0.3, 0.7}, 0.07), Behaviour::Slow);
  // Momentum's ripples on a falling curve: every other loss rises 12%, the 4-point mean falls.
  std::vector<double> ripples;
  for (int i = 0; i < 40; ++i) ripples.push_back(std::pow(0.7, i) * (i % 2 ? 1.6 : 1.0));
  EXPECT_EQ(classify_losses(ripples, 1e-9), Behaviour::Converged);
}

TEST(Descent, BestFinalLossSkipsDivergedRuns) {
  EXPECT_EQ(best_final_loss({{1, 0.5}, {1, 0.2}, {1, NAN}, {1, 20}}), 0.2);
  EXPECT_EQ(best_final_loss({{1, NAN}}), INFINITY);
}

}  // namespace
}  // namespace gradc::test
