// Exact numbers for the printed derivative: rationals p/q in 64 bits, which fall back to a
// double (an inexact "float") when an operation would overflow. A number remembers whether it
// came from a decimal literal (2.5, 0.1), so that it prints the way the user wrote it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace gradc::algebra {

class Number {
 public:
  Number() = default;
  static Number integer(std::int64_t v) { return Number(v, 1, false); }
  /// p/q reduced (q != 0); a float when it does not fit.
  static Number ratio(std::int64_t p, std::int64_t q, bool decimal = false);
  static Number inexact(double v);
  /// A constant of the IR: an integer, else the exact value of its shortest decimal form
  /// (0.1 is 1/10, marked decimal), else a float (1e300, nan).
  static Number from_double(double v);

  bool exact() const { return exact_; }
  bool decimal() const { return decimal_; }
  std::int64_t num() const { return p_; }
  std::int64_t den() const { return q_; }
  double value() const;
  bool is_integer() const { return exact_ && q_ == 1; }
  bool is(std::int64_t v) const { return exact_ && q_ == 1 && p_ == v; }
  bool negative() const { return exact_ ? p_ < 0 : f_ < 0; }
  bool zero() const { return exact_ ? p_ == 0 : f_ == 0; }
  /// Prints as a decimal fraction (2.5) rather than p/q: a decimal with a power-of-ten
  /// denominator, or a float.
  bool prints_decimal() const;

  Number operator-() const;
  friend Number operator+(const Number& a, const Number& b);
  friend Number operator-(const Number& a, const Number& b) { return a + (-b); }
  friend Number operator*(const Number& a, const Number& b);
  friend Number operator/(const Number& a, const Number& b);  // b != 0
  /// a^k for a whole k, exactly when it fits (nullopt for 0^negative).
  std::optional<Number> pow(std::int64_t k) const;
  /// The exact q-th root (q > 0) when there is one: 8^(1/3) = 2, (4/9)^(1/2) = 2/3.
  std::optional<Number> root(std::int64_t q) const;
  Number abs() const { return negative() ? -*this : *this; }

  /// Total order by value (floats and rationals compared as doubles when inexact).
  friend int compare(const Number& a, const Number& b);
  friend bool operator==(const Number& a, const Number& b) { return same(a, b); }
  /// Same value and same kind (exactness): hash-consing equality.
  static bool same(const Number& a, const Number& b);
  std::uint64_t hash() const;

 private:
  Number(std::int64_t p, std::int64_t q, bool decimal) : p_(p), q_(q), decimal_(decimal) {}
  std::int64_t p_ = 0, q_ = 1;
  double f_ = 0;
  bool exact_ = true;
  bool decimal_ = false;
};

int compare(const Number& a, const Number& b);

}  // namespace gradc::algebra
