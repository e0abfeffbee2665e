// A lint for nan and inf gradients: an interval analysis over a function's IR finds the
// operations whose derivative can be inf or nan at a finite input, and the kinks whose
// subgradient a convention picks.
#pragma once
#include <string>
#include <vector>

#include "compiler/lower.hpp"

namespace gradc {

/// The values an expression can take, ignoring overflow and underflow: from lo to hi, each end
/// attained or not (an infinite end never is). exp(x) is (0, inf), x^2 is [0, inf).
struct Range {
  double lo, hi;
  bool lo_in, hi_in;
  static Range all();
  static Range point(double v);
  bool contains(double v) const;
};

/// The range of n when every variable is unbounded.
Range value_range(const Node* n);

struct LintFinding {
  bool warning;  // else a note (a kink's convention)
  Loc loc;
  std::string message;
};

/// Every place in f where a gradient can become nan or inf at some finite input (a warning),
/// and every reachable kink with the subgradient used there (a note), in source order.
std::vector<LintFinding> lint(const Function& f);

}  // namespace gradc
