// Algebra's constructors: sums, products and powers in canonical form (see expr.hpp).
#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <unordered_set>

#include "compiler/algebra/expr.hpp"

namespace gradc::algebra {
namespace {

// Nested sums and products are flattened up to this many operands: beyond it an operand stays
// whole. A derivative's adjoint is a product chain as long as the expression is deep; flattened,
// its common factors come out of sums (factor_terms) and the printed form stays linear, so the
// bound is generous (at 64 the nested example broke down past depth 32).
constexpr std::size_t kMaxFlatten = 256;

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  return (h ^ (v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2))) * 0x100000001B3ULL;
}

std::uint64_t text_hash(const std::string& s) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ULL;
  return h;
}

// a + b and a*b, unless the result of finite numbers would be inf or nan: then the two stay
// apart, as the kernel's simplifier keeps 1e308 + (1e308 + x) (printed text has no inf).
std::optional<Number> finite_sum(const Number& a, const Number& b) {
  Number r = a + b;
  if (std::isfinite(r.value()) || !std::isfinite(a.value()) || !std::isfinite(b.value())) return r;
  return std::nullopt;
}
std::optional<Number> finite_product(const Number& a, const Number& b) {
  Number r = a * b;
  if (std::isfinite(r.value()) || !std::isfinite(a.value()) || !std::isfinite(b.value())) return r;
  return std::nullopt;
}

}  // namespace

Algebra::Algebra(Graph& g, std::span<const std::string> order) : g_(g) {
  for (std::size_t i = 0; i < order.size(); ++i) order_.try_emplace(order[i], static_cast<int>(i));
}

const Expr* Algebra::intern(Expr e) {
  std::uint64_t h = mix(static_cast<std::uint64_t>(e.kind), static_cast<std::uint64_t>(e.op));
  if (e.kind == Kind::Num) h = mix(h, e.num.hash());
  if (e.kind == Kind::Sym) h = mix(h, text_hash(e.node->name));
  if (e.kind == Kind::Opaque) h = mix(h, e.hash);
  for (const Expr* a : e.args) h = mix(h, a->hash);
  auto [lo, hi] = table_.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    const Expr* c = it->second;
    if (c->kind == e.kind && c->op == e.op && c->node == e.node && c->args == e.args &&
        (e.kind != Kind::Num || Number::same(c->num, e.num)))
      return c;
  }
  e.hash = h;
  e.id = static_cast<std::uint32_t>(pool_.size());
  e.has_var = e.kind == Kind::Sym ? e.node->op == Op::Var : e.kind == Kind::Opaque;
  if (e.kind == Kind::Num) e.defined = std::isfinite(e.num.value());
  for (const Expr* a : e.args) {
    e.has_var = e.has_var || a->has_var;
    e.defined = e.defined && a->defined;
  }
  if (e.kind == Kind::Opaque) e.defined = false;
  if (e.kind == Kind::Fn && !op_info(e.op).everywhere_defined) e.defined = false;
  if (e.kind == Kind::Pow) {  // b^k for a whole k >= 0, and e^u, are defined where b and u are
    const Expr* x = e.args[1];
    bool whole = x->kind == Kind::Num && x->num.is_integer() && !x->num.negative();
    if (!whole && e.args[0] != this->e()) e.defined = false;
  }
  pool_.push_back(std::move(e));
  table_.emplace(h, &pool_.back());
  return &pool_.back();
}

const Expr* Algebra::num(const Number& n) {
  Expr e;
  e.kind = Kind::Num;
  e.num = n;
  return intern(std::move(e));
}

const Expr* Algebra::sym(const Node* leaf) {
  Expr e;
  e.kind = Kind::Sym;
  e.node = leaf;
  return intern(std::move(e));
}

const Expr* Algebra::e() {
  if (!e_) e_ = sym(g_.constant(std::numbers::e, "e"));
  return e_;
}

const Expr* Algebra::pi() { return shadowed("pi") ? nullptr : sym(g_.constant(std::numbers::pi, "pi")); }

const Expr* Algebra::opaque(const Node* n, std::uint64_t hash) {
  Expr e;
  e.kind = Kind::Opaque;
  e.node = n;
  e.hash = hash;
  return intern(std::move(e));
}

bool Algebra::minus(const Expr* a) {
  if (a->kind == Kind::Num) return a->num.negative();
  return a->kind == Kind::Mul && a->args[0]->kind == Kind::Num && a->args[0]->num.negative();
}

std::pair<Number, const Expr*> Algebra::split_coefficient(const Expr* t) {
  if (t->kind == Kind::Num) return {t->num, num(1)};
  if (t->kind != Kind::Mul || t->args[0]->kind != Kind::Num) return {Number::integer(1), t};
  std::vector<const Expr*> rest(t->args.begin() + 1, t->args.end());
  if (rest.size() == 1) return {t->args[0]->num, rest[0]};
  return {t->args[0]->num, raw_mul(Number::integer(1), std::move(rest))};
}

// A product whose factors are already merged and sorted.
const Expr* Algebra::raw_mul(const Number& c, std::vector<const Expr*> factors) {
  if (c.zero()) return num(0);
  if (factors.empty()) return num(c);
  if (c.is(1) && factors.size() == 1) return factors[0];
  Expr e;
  e.kind = Kind::Mul;
  if (!c.is(1)) e.args.push_back(num(c));
  e.args.insert(e.args.end(), factors.begin(), factors.end());
  return intern(std::move(e));
}

const Expr* Algebra::add(std::vector<const Expr*> terms) {
  std::vector<const Expr*> flat;
  // Sums inside sums, and a number times a sum (2*(x + 1) + 3 = 2*x + 5), open up, so that
  // like terms meet.
  for (const Expr* t : terms) {
    if (t->kind == Kind::Add && t->args.size() <= kMaxFlatten) {
      flat.insert(flat.end(), t->args.begin(), t->args.end());
    } else if (t->kind == Kind::Mul && t->args.size() == 2 && t->args[0]->kind == Kind::Num &&
               t->args[1]->kind == Kind::Add && t->args[1]->args.size() <= kMaxFlatten) {
      for (const Expr* u : t->args[1]->args) flat.push_back(mul({t->args[0], u}));
    } else {
      flat.push_back(t);
    }
  }
  // A factored term a*(b + c) (see factor_terms) opens up again when one of its pieces meets a
  // like term: a*(b + c) - a*b = a*c.
  std::unordered_set<const Expr*> rests;
  for (const Expr* t : flat)
    if (t->kind != Kind::Num) rests.insert(split_coefficient(t).second);
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const Expr* t = flat[i];
    if (t->kind != Kind::Mul) continue;
    auto sum = std::find_if(t->args.begin(), t->args.end(), [this](const Expr* f) {
      return f->kind == Kind::Add && f->args.size() <= kMaxFlatten;
    });
    if (sum == t->args.end()) continue;
    std::vector<const Expr*> others(t->args.begin(), sum);
    others.insert(others.end(), sum + 1, t->args.end());
    std::vector<const Expr*> pieces;
    bool meets = false;
    for (const Expr* s : (*sum)->args) {
      std::vector<const Expr*> fs = others;
      fs.push_back(s);
      pieces.push_back(mul(std::move(fs)));
      meets = meets || (pieces.back()->kind != Kind::Num && rests.count(split_coefficient(pieces.back()).second));
    }
    if (!meets) continue;
    flat.erase(flat.begin() + static_cast<std::ptrdiff_t>(i));
    flat.insert(flat.end(), pieces.begin(), pieces.end());
    --i;
  }
  Number constant = Number::integer(0);
  std::vector<std::pair<const Expr*, Number>> coef;  // like terms, in first-seen order
  std::unordered_map<const Expr*, std::size_t> where;
  std::vector<const Expr*> apart;  // would overflow if combined
  for (const Expr* t : flat) {
    if (t->kind == Kind::Num) {
      if (auto r = finite_sum(constant, t->num)) {
        constant = *r;
      } else {
        apart.push_back(t);
      }
      continue;
    }
    auto [c, rest] = split_coefficient(t);
    auto [it, fresh] = where.try_emplace(rest, coef.size());
    if (fresh) {
      coef.emplace_back(rest, c);
    } else if (auto r = finite_sum(coef[it->second].second, c)) {
      coef[it->second].second = *r;
    } else {
      apart.push_back(t);
    }
  }
  std::vector<const Expr*> out;
  for (auto& [rest, c] : coef) {
    if (c.zero()) continue;  // x - x = 0: holds wherever x is defined
    if (c.is(1)) {
      out.push_back(rest);
    } else if (rest->kind == Kind::Mul) {
      out.push_back(raw_mul(c, rest->args));
    } else {
      out.push_back(raw_mul(c, {rest}));
    }
  }
  std::stable_sort(out.begin(), out.end(), [this](const Expr* a, const Expr* b) { return term_less(a, b); });
  if (constant.zero() && apart.empty() && out.size() >= 2) {
    if (auto ft = factor_terms(out)) {
      std::vector<const Expr*> fs = ft->first;
      fs.push_back(ft->second);
      return mul(std::move(fs));
    }
  }
  if (!constant.zero()) out.push_back(num(constant));
  out.insert(out.end(), apart.begin(), apart.end());
  if (out.empty()) return num(0);
  if (out.size() == 1) return out[0];
  Expr e;
  e.kind = Kind::Add;
  e.args = std::move(out);
  return intern(std::move(e));
}

// a*b + a*c = a*(b + c), for the factors every term has (SymPy's factor_terms).
std::optional<std::pair<std::vector<const Expr*>, const Expr*>> Algebra::factor_terms(
    std::span<const Expr* const> terms) {
  if (terms.size() < 2) return std::nullopt;
  auto factors_of = [](const Expr* t) {
    std::vector<const Expr*> fs;
    if (t->kind == Kind::Mul) {
      for (const Expr* f : t->args)
        if (f->kind != Kind::Num) fs.push_back(f);
    } else if (t->kind != Kind::Num) {
      fs.push_back(t);
    }
    return fs;
  };
  std::vector<const Expr*> common = factors_of(terms[0]);
  for (std::size_t i = 1; i < terms.size() && !common.empty(); ++i) {
    std::vector<const Expr*> fs = factors_of(terms[i]);
    std::erase_if(common, [&](const Expr* f) { return std::find(fs.begin(), fs.end(), f) == fs.end(); });
  }
  if (common.empty()) return std::nullopt;
  std::vector<const Expr*> rest;
  for (const Expr* t : terms) {
    auto [c, r] = split_coefficient(t);
    std::vector<const Expr*> fs{num(c)};
    for (const Expr* f : factors_of(r))
      if (std::find(common.begin(), common.end(), f) == common.end()) fs.push_back(f);
    rest.push_back(mul(std::move(fs)));
  }
  return std::pair{common, add(std::move(rest))};
}

const Expr* Algebra::mul(std::vector<const Expr*> factors) {
  std::vector<const Expr*> flat;
  for (const Expr* f : factors) {
    if (f->kind == Kind::Mul && f->args.size() <= kMaxFlatten) {
      flat.insert(flat.end(), f->args.begin(), f->args.end());
    } else {
      flat.push_back(f);
    }
  }
  Number c = Number::integer(1);
  std::vector<std::pair<const Expr*, std::vector<const Expr*>>> powers;  // base, exponents
  std::unordered_map<const Expr*, std::size_t> where;
  std::vector<const Expr*> apart;  // numbers whose product would overflow
  for (const Expr* f : flat) {
    if (f->kind == Kind::Num) {
      if (auto r = finite_product(c, f->num)) {
        c = *r;
      } else {
        apart.push_back(f);
      }
      continue;
    }
    const Expr* base = f->kind == Kind::Pow ? f->args[0] : f;
    const Expr* x = f->kind == Kind::Pow ? f->args[1] : num(1);
    auto [it, fresh] = where.try_emplace(base, powers.size());
    if (fresh) powers.emplace_back(base, std::vector<const Expr*>{});
    powers[it->second].second.push_back(x);
  }
  if (c.zero()) return num(0);  // 0*u = 0 wherever u is defined (also a float 0 or -0)
  std::vector<const Expr*> out;
  bool again = false;  // a merged power came out as a product or a number: flatten once more
  for (auto& [base, xs] : powers) {
    const Expr* p = xs.size() == 1 ? (xs[0]->kind == Kind::Num && xs[0]->num.is(1) ? base : pow(base, xs[0]))
                                   : pow(base, add(xs));
    if (p->kind == Kind::Num) {
      if (auto r = finite_product(c, p->num)) {
        c = *r;
      } else {
        apart.push_back(p);
      }
    } else {
      again = again || (p->kind == Kind::Mul && p != base && p->args.size() <= kMaxFlatten);
      out.push_back(p);
    }
  }
  if (again && apart.empty()) {
    out.push_back(num(c));
    return mul(std::move(out));
  }
  if (!apart.empty()) {  // kept as written: the numbers apart, after the coefficient
    std::stable_sort(out.begin(), out.end(), [this](const Expr* a, const Expr* b) { return factor_less(a, b); });
    out.insert(out.begin(), apart.begin(), apart.end());
    return raw_mul(c, std::move(out));
  }
  // A negated sum distributes (-(a - b) = b - a). Other numbers stay outside (2*(x + 1); SymPy
  // distributes them), unless the product is a term of a sum (see add): a sum copied into each
  // of its users makes the DAG grow.
  if (out.size() == 1 && out[0]->kind == Kind::Add && c.is(-1)) {
    std::vector<const Expr*> terms;
    for (const Expr* t : out[0]->args) terms.push_back(mul({num(c), t}));
    return add(std::move(terms));
  }
  // sign(u)*|u| = u, step(u)*sign(u) = step(u)
  auto find = [&](Op op, const Expr* arg) {
    return std::find_if(out.begin(), out.end(), [&](const Expr* f) { return f->kind == Kind::Fn && f->op == op && f->args[0] == arg; });
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const Expr* f = out[i];
    if (f->kind != Kind::Fn || f->op != Op::Sign) continue;
    if (auto a = find(Op::Abs, f->args[0]); a != out.end()) {
      *a = f->args[0];
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(i));
      out.push_back(num(c));
      return mul(std::move(out));
    }
    if (find(Op::Step, f->args[0]) != out.end()) {
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(i));
      out.push_back(num(c));
      return mul(std::move(out));
    }
  }
  std::stable_sort(out.begin(), out.end(), [this](const Expr* a, const Expr* b) { return factor_less(a, b); });
  return raw_mul(c, std::move(out));
}

const Expr* Algebra::pow(const Expr* b, const Expr* x) {
  if (x->kind == Kind::Num && x->num.zero() && x->num.exact()) return num(1);  // u^0 = 1
  if (x->kind == Kind::Num && x->num.is(1)) return b;
  if (b->kind == Kind::Num && b->num.is(1)) return b;
  if (b->kind == Kind::Num && x->kind == Kind::Num) {
    const Number &n = b->num, &k = x->num;
    double v = std::pow(n.value(), k.value());
    if (!n.exact() || !k.exact()) {
      if (std::isfinite(v)) return num(Number::inexact(v));
    } else if (k.is_integer()) {
      if (auto r = n.pow(k.num()); r && std::isfinite(r->value())) return num(*r);
    } else if (auto r = n.root(k.den())) {  // 8^(2/3) = 4
      if (auto s = r->pow(k.num()); s && std::isfinite(s->value())) return num(*s);
    }
  }
  bool whole = x->kind == Kind::Num && x->num.is_integer();
  // (b^u)^k = b^(u k) for a whole k, and always for b = e (e^u > 0).
  if (b->kind == Kind::Pow && (whole || b->args[0] == e() ||
                               (b->args[0]->kind == Kind::Num && !b->args[0]->num.negative())))
    return pow(b->args[0], mul({b->args[1], x}));
  // (x y)^k = x^k y^k for a whole k.
  if (b->kind == Kind::Mul && whole) {
    std::vector<const Expr*> fs;
    for (const Expr* f : b->args) fs.push_back(pow(f, x));
    return mul(std::move(fs));
  }
  // |u|^k = u^k for an even k.
  if (b->kind == Kind::Fn && b->op == Op::Abs && whole && x->num.num() % 2 == 0) return pow(b->args[0], x);
  if (b == e()) {
    // e^log(u) = u, e^(c log(u)) = u^c, e^(a + log(u)) = u e^a
    auto log_part = [&](const Expr* t) -> std::pair<const Expr*, const Expr*> {  // (u, c) or nulls
      auto [c, rest] = split_coefficient(t);
      if (rest->kind == Kind::Fn && rest->op == Op::Log) return {rest->args[0], num(c)};
      return {nullptr, nullptr};
    };
    if (auto [u, c] = log_part(x); u) return pow(u, c);
    if (x->kind == Kind::Add) {
      std::vector<const Expr*> rest, fs;
      for (const Expr* t : x->args) {
        auto [u, c] = log_part(t);
        if (u) {
          fs.push_back(pow(u, c));
        } else {
          rest.push_back(t);
        }
      }
      if (!fs.empty()) {
        fs.push_back(pow(e(), add(std::move(rest))));
        return mul(std::move(fs));
      }
    }
  }
  Expr p;
  p.kind = Kind::Pow;
  p.args = {b, x};
  return intern(std::move(p));
}

// Variables rank by the signature; pi and e come before them.
int Algebra::var_rank(const Expr* s) const {
  if (s->node->op == Op::Const) return s->node->name == "pi" ? -2 : -1;
  auto it = order_.find(s->node->name);
  return it == order_.end() ? static_cast<int>(order_.size()) : it->second;
}

// Factors print as SymPy orders them: the number, then constant powers of numbers (sqrt(2)),
// then pi and e, then variables in signature order, then sums (in parentheses), then other
// powers of numbers (2^x), then calls.
int Algebra::factor_rank(const Expr* f) const {
  const Expr* b = f->kind == Kind::Pow ? f->args[0] : f;
  if (f != b && b == e_) return 6;  // e^u prints as the call exp(u)
  switch (b->kind) {
    case Kind::Num: return f == b ? 0 : f->args[1]->kind == Kind::Num ? 1 : 5;  // 2*sqrt(2)*x, x*2^x
    case Kind::Sym: return b->node->op == Op::Const ? 2 : 3;
    case Kind::Add: return 4;
    case Kind::Fn: return 6;
    case Kind::Opaque: return 7;
    default: return 8;
  }
}

bool Algebra::factor_less(const Expr* a, const Expr* b) const {
  int ra = factor_rank(a), rb = factor_rank(b);
  if (ra != rb) return ra < rb;
  const Expr* ba = a->kind == Kind::Pow ? a->args[0] : a;
  const Expr* bb = b->kind == Kind::Pow ? b->args[0] : b;
  if (int c = compare(ba, bb)) return c < 0;
  return compare(a, b) < 0;
}

// The degree of a term in the variables: x^2*y is 3.
double Algebra::degree(const Expr* t) const {
  auto one = [](const Expr* f) {
    const Expr* b = f->kind == Kind::Pow ? f->args[0] : f;
    if (b->kind != Kind::Sym || b->node->op != Op::Var) return 0.0;
    if (f->kind != Kind::Pow) return 1.0;
    return f->args[1]->kind == Kind::Num ? f->args[1]->num.value() : 0.0;
  };
  if (t->kind != Kind::Mul) return one(t);
  double d = 0;
  for (const Expr* f : t->args) d += one(f);
  return d;
}

// Terms print as SymPy orders them: higher degree first, then by their factors; numbers last.
bool Algebra::term_less(const Expr* a, const Expr* b) const {
  if (a->has_var != b->has_var) return a->has_var;
  double da = degree(a), db = degree(b);
  if (da != db) return da > db;
  auto factors = [](const Expr* t) {
    std::vector<const Expr*> fs;
    if (t->kind == Kind::Mul) {
      for (const Expr* f : t->args)
        if (f->kind != Kind::Num) fs.push_back(f);
    } else {
      fs.push_back(t);
    }
    return fs;
  };
  std::vector<const Expr*> fa = factors(a), fb = factors(b);
  for (std::size_t i = 0; i < fa.size() && i < fb.size(); ++i) {
    if (fa[i] == fb[i]) continue;
    if (factor_less(fa[i], fb[i])) return true;
    if (factor_less(fb[i], fa[i])) return false;
  }
  if (fa.size() != fb.size()) return fa.size() < fb.size();
  return compare(a, b) < 0;
}

int Algebra::compare(const Expr* a, const Expr* b, int depth) const {
  if (a == b) return 0;
  auto by_hash = [&] { return a->hash < b->hash ? -1 : a->hash > b->hash ? 1 : 0; };
  if (a->kind != b->kind) return static_cast<int>(a->kind) < static_cast<int>(b->kind) ? -1 : 1;
  if (depth > 3) return by_hash();
  switch (a->kind) {
    case Kind::Num:
      if (int c = algebra::compare(a->num, b->num)) return c;
      return by_hash();
    case Kind::Sym: {
      int ra = var_rank(a), rb = var_rank(b);
      if (ra != rb) return ra < rb ? -1 : 1;
      return a->node->name < b->node->name ? -1 : a->node->name > b->node->name ? 1 : 0;
    }
    case Kind::Opaque:
      return by_hash();
    case Kind::Fn:
      if (a->op != b->op) return a->op < b->op ? -1 : 1;
      [[fallthrough]];
    default:
      for (std::size_t i = 0; i < a->args.size() && i < b->args.size(); ++i)
        if (int c = compare(a->args[i], b->args[i], depth + 1)) return c;
      if (a->args.size() != b->args.size()) return a->args.size() < b->args.size() ? -1 : 1;
      return by_hash();
  }
}

}  // namespace gradc::algebra
