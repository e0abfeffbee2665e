// Checking a compiled partial derivative against finite differences, kinks included.
#pragma once
#include <functional>

namespace gradc {

/// The verdict on one partial derivative g of f at t = 0 (f(t): the function moved by t along
/// one coordinate). Central differences (Richardson-extrapolated) are the reference. Where they
/// disagree, and the one-sided differences differ (a kink: relu at 0, max at a tie), g passes
/// as a subgradient when it lies between the one-sided derivatives (widened by the tolerance):
/// relu'(0) = 0, abs'(0) = 0 and the 1/k shares of a k-way tie in max(W) all do, while central
/// differences see 1/2 there.
struct PartialCheck {
  double fd = 0;           // central difference
  double rel = 0;          // |g - fd| / max(1, |g|, |fd|)
  bool good = false;       // matches fd, or a subgradient at a kink
  bool kink = false;       // good only as a subgradient
  double left = 0, right = 0;  // one-sided derivatives (computed when fd disagrees)
};

PartialCheck check_partial(const std::function<double(double)>& f, double g, double h, double tol);

}  // namespace gradc
