// Exact rational arithmetic with a float fallback (see number.hpp).
#include "compiler/algebra/number.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>

namespace gradc::algebra {
namespace {

using i128 = __int128;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

bool power_of_ten_denominator(std::int64_t q) {
  while (q % 10 == 0) q /= 10;
  while (q % 2 == 0) q /= 2;
  while (q % 5 == 0) q /= 5;
  return q == 1;
}

// p/q from 128-bit parts, reduced; a float when it still does not fit in 64 bits.
Number reduce(i128 p, i128 q, bool decimal) {
  if (q < 0) p = -p, q = -q;
  i128 a = p < 0 ? -p : p, b = q;
  while (b != 0) {
    i128 t = a % b;
    a = b;
    b = t;
  }
  if (a > 1) p /= a, q /= a;
  if (p > kMax || p < -kMax || q > kMax) return Number::inexact(static_cast<double>(p) / static_cast<double>(q));
  return Number::ratio(static_cast<std::int64_t>(p), static_cast<std::int64_t>(q), decimal);
}

}  // namespace

Number Number::ratio(std::int64_t p, std::int64_t q, bool decimal) {
  if (q == 0) return inexact(p == 0 ? std::nan("") : p > 0 ? HUGE_VAL : -HUGE_VAL);
  if (q < 0) {
    if (p == std::numeric_limits<std::int64_t>::min() || q == std::numeric_limits<std::int64_t>::min())
      return inexact(static_cast<double>(p) / static_cast<double>(q));
    p = -p, q = -q;
  }
  std::int64_t g = std::gcd(p, q);
  if (g > 1) p /= g, q /= g;
  return Number(p, q, decimal && power_of_ten_denominator(q) && q != 1);
}

Number Number::inexact(double v) {
  Number n;
  n.exact_ = false;
  n.f_ = v;
  return n;
}

Number Number::from_double(double v) {
  if (!std::isfinite(v)) return inexact(v);
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    if (v == 0 && std::signbit(v)) return inexact(v);  // -0 keeps its sign: a float
    return integer(static_cast<std::int64_t>(v));
  }
  // The shortest decimal that reads back as v: digits and a power of ten.
  std::string s = fmt::format("{}", v);
  std::int64_t mant = 0;
  int exp10 = 0, frac = 0;
  bool neg = false, dot = false, digits = false;
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') neg = true, ++i;
  for (; i < s.size() && s[i] != 'e'; ++i) {
    if (s[i] == '.') {
      dot = true;
      continue;
    }
    if (mant > (kMax - 9) / 10) return inexact(v);
    mant = mant * 10 + (s[i] - '0');
    digits = true;
    if (dot) ++frac;
  }
  if (!digits) return inexact(v);
  if (i < s.size()) exp10 = std::atoi(s.c_str() + i + 1);
  exp10 -= frac;
  i128 p = neg ? -mant : mant, q = 1;
  for (; exp10 > 0; --exp10) {
    p *= 10;
    if (p > kMax || p < -kMax) return inexact(v);
  }
  for (; exp10 < 0; ++exp10) {
    q *= 10;
    if (q > kMax) return inexact(v);
  }
  return reduce(p, q, true);
}

double Number::value() const { return exact_ ? static_cast<double>(p_) / static_cast<double>(q_) : f_; }

bool Number::prints_decimal() const { return !exact_ || (decimal_ && q_ != 1); }

Number Number::operator-() const {
  if (!exact_) return inexact(-f_);
  if (p_ == std::numeric_limits<std::int64_t>::min()) return inexact(-static_cast<double>(p_));
  Number n = *this;
  n.p_ = -p_;
  return n;
}

Number operator+(const Number& a, const Number& b) {
  if (!a.exact_ || !b.exact_) return Number::inexact(a.value() + b.value());
  return reduce(i128(a.p_) * b.q_ + i128(b.p_) * a.q_, i128(a.q_) * b.q_, a.decimal_ || b.decimal_);
}

Number operator*(const Number& a, const Number& b) {
  if (!a.exact_ || !b.exact_) return Number::inexact(a.value() * b.value());
  // Cross-reduce first so that the 128-bit products stay small.
  std::int64_t g1 = std::gcd(a.p_, b.q_), g2 = std::gcd(b.p_, a.q_);
  if (g1 == 0) g1 = 1;
  if (g2 == 0) g2 = 1;
  return reduce(i128(a.p_ / g1) * (b.p_ / g2), i128(a.q_ / g2) * (b.q_ / g1), a.decimal_ || b.decimal_);
}

Number operator/(const Number& a, const Number& b) {
  if (!a.exact_ || !b.exact_) return Number::inexact(a.value() / b.value());
  if (b.p_ == 0) return Number::inexact(a.value() / 0.0);
  return reduce(i128(a.p_) * b.q_, i128(a.q_) * b.p_, a.decimal_ || b.decimal_);
}

std::optional<Number> Number::pow(std::int64_t k) const {
  if (!exact_) return inexact(std::pow(f_, static_cast<double>(k)));
  if (k < 0) {
    if (p_ == 0) return std::nullopt;
    std::optional<Number> r = pow(-k);
    if (!r) return std::nullopt;
    return integer(1) / *r;
  }
  if (k > 4096 && p_ != 1 && p_ != -1 && p_ != 0) return inexact(std::pow(value(), static_cast<double>(k)));
  Number r = integer(1), base = *this;
  r.decimal_ = decimal_;
  for (; k > 0; k >>= 1) {
    if (k & 1) r = r * base;
    if (k > 1) base = base * base;
    if (!r.exact_ || !base.exact_) return inexact(std::pow(value(), static_cast<double>(k)));
  }
  return r;
}

std::optional<Number> Number::root(std::int64_t k) const {
  if (!exact_ || k <= 0 || k > 64) return std::nullopt;  // beyond 2^64's 64th root, only 0 and 1
  if (k == 1) return *this;
  if (p_ < 0) return std::nullopt;  // real roots of negatives are left to pow (nan)
  auto iroot = [k](std::int64_t v) -> std::optional<std::int64_t> {
    auto r = static_cast<std::int64_t>(std::llround(std::pow(static_cast<double>(v), 1.0 / static_cast<double>(k))));
    for (std::int64_t c = std::max<std::int64_t>(0, r - 1); c <= r + 1; ++c) {
      i128 x = 1;
      for (std::int64_t j = 0; j < k && x <= v; ++j) x *= c;
      if (x == v) return c;
    }
    return std::nullopt;
  };
  auto p = iroot(p_), q = iroot(q_);
  if (!p || !q) return std::nullopt;
  return ratio(*p, *q, decimal_);
}

int compare(const Number& a, const Number& b) {
  if (a.exact_ && b.exact_) {
    i128 l = i128(a.p_) * b.q_, r = i128(b.p_) * a.q_;
    return l < r ? -1 : l > r ? 1 : 0;
  }
  double x = a.value(), y = b.value();
  return x < y ? -1 : x > y ? 1 : 0;
}

bool Number::same(const Number& a, const Number& b) {
  if (a.exact_ != b.exact_) return false;
  if (!a.exact_) return std::bit_cast<std::uint64_t>(a.f_) == std::bit_cast<std::uint64_t>(b.f_);
  return a.p_ == b.p_ && a.q_ == b.q_ && a.decimal_ == b.decimal_;
}

std::uint64_t Number::hash() const {
  std::uint64_t h = exact_ ? static_cast<std::uint64_t>(p_) * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint64_t>(q_)
                           : std::bit_cast<std::uint64_t>(f_) ^ 0xF00DULL;
  return h ^ (decimal_ ? 0x51ED27ULL : 0);
}

}  // namespace gradc::algebra
