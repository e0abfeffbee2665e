// Finite-difference checks of partial derivatives, with one-sided differences at kinks.
#include "runtime/fd_check.hpp"

#include <algorithm>
#include <cmath>

namespace gradc {

PartialCheck check_partial(const std::function<double(double)>& f, double g, double h, double tol) {
  PartialCheck c;
  // Central and one-sided differences, each Richardson-extrapolated (errors O(h^4) and O(h^2)).
  auto central = [&](double s) { return (f(s) - f(-s)) / (2 * s); };
  c.fd = (4 * central(h / 2) - central(h)) / 3;
  c.rel = std::fabs(g - c.fd) / std::max({1.0, std::fabs(g), std::fabs(c.fd)});
  c.good = c.rel <= tol || (std::isnan(g) && std::isnan(c.fd));
  if (c.good || !std::isfinite(g)) return c;
  double f0 = f(0);
  auto forward = [&](double s) { return (f(s) - f0) / s; };
  c.right = 2 * forward(h / 2) - forward(h);
  c.left = 2 * forward(-h / 2) - forward(-h);
  if (!std::isfinite(c.left) || !std::isfinite(c.right)) return c;
  double scale = std::max({1.0, std::fabs(c.left), std::fabs(c.right)});
  c.kink = std::fabs(c.right - c.left) > tol * scale;
  double lo = std::min(c.left, c.right) - tol * scale, hi = std::max(c.left, c.right) + tol * scale;
  c.kink = c.kink && g >= lo && g <= hi;
  c.good = c.kink;
  return c;
}

}  // namespace gradc
