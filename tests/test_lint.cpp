// The lint's interval analysis: ranges of expressions by hand, and which operations it flags.
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/lint.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

Range range_of(const std::string& expr) {
  auto m = compile_text("fn f(x, y) = " + expr);
  return value_range(m->find("f")->body);
}

void expect_range(const std::string& expr, double lo, bool lo_in, double hi, bool hi_in) {
  Range r = range_of(expr);
  EXPECT_EQ(r.lo, lo) << expr;
  EXPECT_EQ(r.hi, hi) << expr;
  EXPECT_EQ(r.lo_in, lo_in) << expr << ": lower end attained";
  EXPECT_EQ(r.hi_in, hi_in) << expr << ": upper end attained";
}

TEST(LintRanges, ByHand) {
  const double inf = INFINITY;
  expect_range("x + y", -inf, false, inf, false);
  expect_range("exp(x)", 0, false, inf, false);
  expect_range("1 + exp(x)", 1, false, inf, false);
  expect_range("x^2", 0, true, inf, false);
  expect_range("x*x + 1", 1, true, inf, false);
  expect_range("sqrt(x)", 0, true, inf, false);
  expect_range("sigmoid(x)", 0, false, 1, false);
  expect_range("1 - sigmoid(x)", 0, false, 1, false);
  expect_range("tanh(x)", -1, false, 1, false);
  expect_range("relu(x)", 0, true, inf, false);
  expect_range("softplus(x)", 0, false, inf, false);
  expect_range("sin(x) + 2", 1, true, 3, true);
  expect_range("1 / (1 + x^2)", 0, false, 1, true);
  expect_range("exp(x) * exp(y)", 0, false, inf, false);
  expect_range("-exp(x)", -inf, false, 0, false);
  expect_range("max(exp(x), 2)", 2, true, inf, false);
  expect_range("min(sigmoid(x), 0.5)", 0, false, 0.5, true);
  expect_range("abs(x) + 3", 3, true, inf, false);
  expect_range("step(x)", 0, true, 1, true);
}

std::vector<std::string> findings(const std::string& expr) {
  auto m = compile_text("fn f(x, y) = " + expr);
  std::vector<std::string> out;
  for (const LintFinding& f : lint(*m->find("f"))) out.push_back((f.warning ? "warning: " : "note: ") + f.message);
  return out;
}

TEST(Lint, FlagsOnlyWhatCanFail) {
  EXPECT_EQ(findings("log(1 + exp(x))"), std::vector<std::string>{});
  EXPECT_EQ(findings("log(x)"), std::vector<std::string>{
      "warning: log of an expression that can be 0 or negative: its derivative 1/x is inf at 0, nan below"});
  EXPECT_EQ(findings("sqrt(x^2)"), std::vector<std::string>{
      "warning: sqrt of an expression that can reach 0: its derivative 1/(2 sqrt(x)) is inf there"});
  EXPECT_EQ(findings("x / (2 + sin(y))"), std::vector<std::string>{});
  EXPECT_EQ(findings("relu(exp(x)) + max(exp(x), -1)"), std::vector<std::string>{});
  EXPECT_EQ(findings("abs(x)"), std::vector<std::string>{"note: abs at 0 uses the subgradient 0 (abs'(0) = 0)"});
  // constants are not flagged: no gradient flows through them
  EXPECT_EQ(findings("x + sqrt(2)"), std::vector<std::string>{});
}

}  // namespace
}  // namespace gradc::test
