// The error of a computed value in units in the last place of its type, against a long double
// reference (the vector-math and batch accuracy tests).
#pragma once
#include <cmath>
#include <limits>

namespace gradc::test {

// The error of `got` in units in the last place of T at the exact value `ref`.
template <class T>
double ulps(T got, long double ref) {
  T r = static_cast<T>(ref);
  T a = std::fabs(r);
  T ulp = std::nextafter(a, std::numeric_limits<T>::infinity()) - a;
  if (!std::isfinite(ulp)) ulp = a - std::nextafter(a, T(0));
  return static_cast<double>(std::fabs(static_cast<long double>(got) - ref) / ulp);
}

}  // namespace gradc::test
