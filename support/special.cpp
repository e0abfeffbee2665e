// Digamma and polygamma on Boost.Math (computed in long double: within an ulp or two of the
// true value for x > 0), with the poles and infinities decided here so that no Boost error
// policy is ever reached.
#include "support/special.hpp"

#include <cmath>
#include <limits>

#include <boost/math/special_functions/digamma.hpp>
#include <boost/math/special_functions/polygamma.hpp>
#include <boost/math/special_functions/trigamma.hpp>

namespace {

namespace policies = boost::math::policies;
// Overflow and underflow return ±inf and 0 (a result too large is inf, as for exp).
using Policy = policies::policy<policies::domain_error<policies::ignore_error>,
                                policies::pole_error<policies::ignore_error>,
                                policies::overflow_error<policies::ignore_error>,
                                policies::underflow_error<policies::ignore_error>,
                                policies::evaluation_error<policies::ignore_error>>;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ψ⁽ⁿ⁾ where Boost is not asked: poles, infinities and nan. Returns false when x is ordinary.
bool edge(int n, double x, double& r) {
  if (std::isnan(x)) return r = x, true;
  if (x == kInf) return r = n == 0 ? kInf : 0.0, true;  // ψ ~ ln x, ψ⁽ⁿ⁾ ~ (-1)^(n+1) (n-1)!/x^n
  if (x == -kInf) return r = kNan, true;
  if (x > 0 || x != std::floor(x)) return false;
  // Near the pole at -k, ψ⁽ⁿ⁾(x) ~ (-1)^(n+1) n!/(x + k)^(n+1): the same sign on both sides
  // for odd n; for even n, opposite signs, so only a signed zero picks one.
  if (n % 2 == 1) return r = kInf, true;
  if (x == 0) return r = std::signbit(x) ? kInf : -kInf, true;
  return r = kNan, true;
}

}  // namespace

extern "C" double gradc_digamma(double x) {
  double r;
  if (edge(0, x, r)) return r;
  return boost::math::digamma(x, Policy());
}

extern "C" double gradc_polygamma(double n, double x) {
  // The order is an integer n >= 0. Orders past 10000 are refused too: Boost's cost grows
  // with n (milliseconds at n = 1000), and no program differentiates that often.
  if (!(n >= 0 && n <= 10000 && n == std::floor(n))) return kNan;
  int k = static_cast<int>(n);
  double r;
  if (edge(k, x, r)) return r;
  if (k == 0) return boost::math::digamma(x, Policy());
  if (k == 1) return boost::math::trigamma(x, Policy());
  return boost::math::polygamma(k, x, Policy());
}
