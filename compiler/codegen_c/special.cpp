// The C text of gradc's special functions (support/special.hpp) for generated C: digamma ported
// from Boost.Math's 53-bit implementation (its coefficients; Boost Software License 1.0), and
// polygamma by the recurrence and the asymptotic series, both with support/special.cpp's rules
// at poles, infinities and nan. C source needs them because it may depend on nothing but libm.
#include "compiler/codegen_c/detail.hpp"

#include <fmt/format.h>

namespace gradc::codegen_c_detail {

const char* const kCDigamma = R"C(
/* psi(x) = d/dx ln Gamma(x), as Boost.Math computes it for 53-bit doubles: the asymptotic series
 * for x >= 10, the recurrence down or up to [1, 2] and there (x - root) (Y + R(x - 1)). Below 0
 * the recurrence as well (its steps toward 0 are exact, where Boost's reflection loses the low
 * bits of 1 - x) down to -20, the reflection psi(x) = psi(1 - x) - pi / tan(pi x) below. Poles as in gradc: psi(+-0) =
 * -+inf, nan at the negative integers. */
static double gradc_c_digamma(double x) {
  static const double P[] = {0.25479851061131551, -0.32555031186804491, -0.65031853770896507,
                             -0.28919126444774784, -0.045251321448739056, -0.0020713321167745952};
  static const double Q[] = {1.0, 2.0767117023730469, 1.4606242909763515, 0.43593529692665969,
                             0.054151797245674225, 0.0021284987017821144, -0.55789841321675513e-6};
  static const double L[] = {0.083333333333333333333333333333333333333333333333333,
                             -0.0083333333333333333333333333333333333333333333333333,
                             0.003968253968253968253968253968253968253968253968254,
                             -0.0041666666666666666666666666666666666666666666666667,
                             0.0075757575757575757575757575757575757575757575757576,
                             -0.021092796092796092796092796092796092796092796092796,
                             0.083333333333333333333333333333333333333333333333333,
                             -0.44325980392156862745098039215686274509803921568627};
  const double pi = 3.141592653589793238462643383279502884;
  double result = 0, g, p, q, z;
  int i;
  if (isnan(x)) return x;
  if (x == INFINITY) return INFINITY;
  if (x == -INFINITY) return NAN;
  if (x <= 0 && x == floor(x)) return x == 0 ? (signbit(x) ? INFINITY : -INFINITY) : NAN;
  if (x < -20) {
    /* Reflection, with rem = frac(-x) taken from x itself (exact), not from the rounded 1 - x. */
    double y = -x, rem = y - floor(y);
    if (rem > 0.5) rem -= 1;
    result = pi / tan(pi * rem);
    x = 1 + y;
  } else {
    /* Up to 0 by exact steps (x + 1 is exact while it moves toward 0). */
    while (x < 0) {
      result -= 1 / x;
      x += 1;
    }
  }
  if (x >= 10) {
    x -= 1;
    result += log(x);
    result += 1 / (2 * x);
    z = 1 / (x * x);
    p = L[7];
    for (i = 6; i >= 0; --i) p = p * z + L[i];
    return result - z * p;
  }
  while (x > 2) {
    x -= 1;
    result += 1 / x;
  }
  while (x < 1) {
    result -= 1 / x;
    x += 1;
  }
  g = x - 1569415565.0 / 1073741824.0;
  g -= (381566830.0 / 1073741824.0) / 1073741824.0;
  g -= 0.9016312093258695918615325266959189453125e-19;
  p = P[5];
  for (i = 4; i >= 0; --i) p = p * (x - 1) + P[i];
  q = Q[6];
  for (i = 5; i >= 0; --i) q = q * (x - 1) + Q[i];
  return result + (g * 0.99558162689208984 + g * (p / q));
}
)C";

std::string c_lgamma(bool f32) {
  return fmt::format(R"C(/* ln|Gamma(x)|. C's lgamma stores the sign of Gamma(x) in the global signgam, a data race between
 * threads: lgamma_r (POSIX; the same computation) where the C library has it. Elsewhere lgamma,
 * and then calls from several threads at once race on signgam (the results stay right). */
#if defined(__GLIBC__) || defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__) || \
    defined(__NetBSD__) || defined(__OpenBSD__)
extern {0} lgamma{1}_r({0}, int*);
static {0} gradc_c_lgamma{1}({0} x) {{ int sign; return lgamma{1}_r(x, &sign); }}
#else
static {0} gradc_c_lgamma{1}({0} x) {{ return lgamma{1}(x); }}
#endif
)C", f32 ? "float" : "double", f32 ? "f" : "");
}

const char* const kCPolygamma = R"C(
/* psi^(n)(x) for an integer order n >= 0 (nan otherwise; orders past 10000 are refused, as in
 * gradc). With y = x + m >= n + 10:
 *   psi^(n)(x) = (-1)^(n+1) n! [sum_{j<m} (x+j)^-(n+1) + (1 + n/(2y) + sum_i B_2i/(2i)! n(n+1)..(n+2i-1)/y^2i) / (n y^n)].
 * Orders up to 20 in direct arithmetic, higher ones through logarithms (a few digits fewer);
 * negative x costs |x| steps. Poles as in gradc: +inf for odd n, the side's limit at +-0, else nan. */
static double gradc_c_polygamma(double order, double x) {
  static const double B[] = {1.0 / 2.0 / 6.0, -1.0 / 24.0 / 30.0, 1.0 / 720.0 / 42.0, -1.0 / 40320.0 / 30.0,
                             5.0 / 66.0 / 3628800.0, -691.0 / 2730.0 / 479001600.0, 7.0 / 6.0 / 87178291200.0,
                             -3617.0 / 510.0 / 20922789888000.0, 43867.0 / 798.0 / 6402373705728000.0,
                             -174611.0 / 330.0 / 2432902008176640000.0};
  double y, s = 0, a, r, lf;
  long m, j;
  int n, i, neg;
  if (!(order >= 0 && order <= 10000 && order == floor(order))) return NAN;
  n = (int)order;
  if (n == 0) return gradc_c_digamma(x);
  if (isnan(x)) return x;
  if (x == INFINITY) return 0.0;
  if (x == -INFINITY) return NAN;
  if (x <= 0 && x == floor(x)) {
    if (n % 2 == 1) return INFINITY;
    return x == 0 ? (signbit(x) ? INFINITY : -INFINITY) : NAN;
  }
  m = x < n + 10 ? (long)ceil(n + 10 - x) : 0;
  y = x + (double)m;
  /* The series' bracket (1 + n/(2y) + ...). */
  a = 0;
  r = 1;
  for (i = 0; i < 10; ++i) {
    r *= (n + 2.0 * i) * (n + 2.0 * i + 1) / (y * y);
    a += B[i] * r;
  }
  a = 1 + n / (2 * y) + a;
  neg = n % 2 == 0; /* (-1)^(n+1) */
  if (n <= 20) {
    double f = 1;
    for (i = 2; i <= n; ++i) f *= i;
    for (j = m - 1; j >= 0; --j) s += pow(x + (double)j, -(n + 1.0));
    s += a / (n * pow(y, (double)n));
    return neg ? -f * s : f * s;
  }
  lf = lgamma(n + 1.0);
  for (j = m - 1; j >= 0; --j) {
    double b = x + (double)j;
    double t = exp(lf - (n + 1.0) * log(fabs(b)));
    s += b < 0 && n % 2 == 0 ? -t : t;
  }
  s += a * exp(lf - log((double)n) - n * log(y));
  return neg ? -s : s;
}
)C";

}  // namespace gradc::codegen_c_detail
