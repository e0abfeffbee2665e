// The algebraic normal form behind the printed derivative: n-ary sums and products over exact
// numbers, hash-consed, built only through Algebra's constructors, which keep every expression
// canonical (like terms collected, powers merged, factors and terms in a fixed order). The
// rewrites hold at every point where the original expression is defined, as SymPy's automatic
// simplification does (u/u = 1, log(exp(u)) = u); the compiled kernel never sees them.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "compiler/algebra/number.hpp"
#include "compiler/ir.hpp"

namespace gradc::algebra {

enum class Kind : std::uint8_t { Num, Sym, Pow, Mul, Add, Fn, Opaque };

struct Expr {
  Kind kind = Kind::Num;
  Op op = Op::Const;              // Fn: the elementwise IR op
  Number num;                     // Num
  const Node* node = nullptr;     // Sym: a Var or named Const leaf; Opaque: an IR node kept whole
  std::vector<const Expr*> args;  // Pow: base, exponent; Mul: factors (a Num first); Add: terms (a Num last); Fn: operands
  std::uint64_t hash = 0;         // structural: the same for the same expression in any run
  std::uint32_t id = 0;           // creation order: arguments come first
  bool has_var = false;           // depends on a variable
  bool defined = true;            // finite for all finite variables (no division, log, sqrt, ...)
};

class Algebra {
 public:
  /// `order` ranks variables for printing (the function's parameters, in signature order).
  Algebra(Graph& g, std::span<const std::string> order);

  const Expr* num(const Number& n);
  const Expr* num(std::int64_t v) { return num(Number::integer(v)); }
  const Expr* sym(const Node* leaf);  // a Var, or a Const named pi or e
  const Expr* e();                    // Euler's number
  const Expr* pi();                   // nullptr when a variable is called pi
  /// Names variables take: the constants of those names are not used by name.
  void shadow(std::unordered_set<std::string> names) { shadowed_ = std::move(names); }
  bool shadowed(const std::string& name) const { return shadowed_.count(name) > 0; }
  const Expr* opaque(const Node* n, std::uint64_t hash);

  const Expr* add(std::vector<const Expr*> terms);
  const Expr* mul(std::vector<const Expr*> factors);
  const Expr* pow(const Expr* base, const Expr* exponent);
  const Expr* neg(const Expr* a) { return mul({num(-1), a}); }
  const Expr* fn(Op op, std::vector<const Expr*> args);  // rules.cpp

  /// The factors common to every one of a sum's terms, and the sum of what is left: x*y + x*z
  /// is ({x}, y + z). nullopt when there are none (or fewer than two terms).
  std::optional<std::pair<std::vector<const Expr*>, const Expr*>> factor_terms(std::span<const Expr* const> terms);

  /// The number and the rest of a term: 3*x*y is (3, x*y), x is (1, x), 5 is (5, 1).
  std::pair<Number, const Expr*> split_coefficient(const Expr* t);
  /// A structural total order, the same in every run (factors and terms are kept sorted by it).
  int compare(const Expr* a, const Expr* b, int depth = 0) const;
  /// Negative-looking: a negative number, or a product with a negative coefficient.
  static bool minus(const Expr* a);

 private:
  const Expr* intern(Expr e);
  const Expr* raw_mul(const Number& c, std::vector<const Expr*> factors);
  int var_rank(const Expr* s) const;
  int factor_rank(const Expr* f) const;
  bool factor_less(const Expr* a, const Expr* b) const;
  bool term_less(const Expr* a, const Expr* b) const;
  double degree(const Expr* t) const;

  Graph& g_;
  const Expr* e_ = nullptr;
  std::unordered_map<std::string, int> order_;
  std::unordered_set<std::string> shadowed_;
  std::deque<Expr> pool_;
  std::unordered_multimap<std::uint64_t, const Expr*> table_;
};

}  // namespace gradc::algebra
