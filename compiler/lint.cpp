// The nan-gradient lint: interval (and sign) arithmetic over the IR, then one look at each
// operation whose derivative rule (ops.cpp) divides by something or takes a log, and at each kink.
#include "compiler/lint.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace gradc {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// An infinite end is never attained.
Range make(double lo, bool lo_in, double hi, bool hi_in) {
  return Range{lo, hi, lo_in && std::isfinite(lo), hi_in && std::isfinite(hi)};
}

Range neg(const Range& a) { return make(-a.hi, a.hi_in, -a.lo, a.lo_in); }

Range add(const Range& a, const Range& b) {
  return make(a.lo + b.lo, a.lo_in && b.lo_in, a.hi + b.hi, a.hi_in && b.hi_in);
}

// The smallest range holding both.
Range hull(const Range& a, const Range& b) {
  double lo = std::min(a.lo, b.lo), hi = std::max(a.hi, b.hi);
  bool lo_in = (a.lo == lo && a.lo_in) || (b.lo == lo && b.lo_in);
  bool hi_in = (a.hi == hi && a.hi_in) || (b.hi == hi && b.hi_in);
  return make(lo, lo_in, hi, hi_in);
}

Range mul(const Range& a, const Range& b) {
  // The extremes are products of ends (0 * inf counts as 0: an unbounded factor times a
  // vanishing one); an end is attained when both factors attain theirs, or 0 is attained.
  struct End {
    double v;
    bool in;
  };
  auto times = [](double x, bool xi, double y, bool yi) {
    if (x == 0 || y == 0) return End{0, (x == 0 && xi) || (y == 0 && yi)};
    return End{x * y, xi && yi};
  };
  End c[4] = {times(a.lo, a.lo_in, b.lo, b.lo_in), times(a.lo, a.lo_in, b.hi, b.hi_in),
              times(a.hi, a.hi_in, b.lo, b.lo_in), times(a.hi, a.hi_in, b.hi, b.hi_in)};
  Range r = make(c[0].v, c[0].in, c[0].v, c[0].in);
  for (const End& e : c) r = hull(r, make(e.v, e.in, e.v, e.in));
  if (a.contains(0) || b.contains(0)) r = hull(r, Range::point(0));
  return r;
}

Range recip(const Range& b) {
  if (b.contains(0) || (b.lo < 0 && b.hi > 0)) return Range::all();
  double lo = b.hi == 0 ? -kInf : 1 / b.hi, hi = b.lo == 0 ? kInf : 1 / b.lo;
  return make(lo, b.hi_in, hi, b.lo_in);
}

// f increasing on the whole range.
template <class F>
Range increasing(const Range& a, F f) {
  return make(f(a.lo), a.lo_in, f(a.hi), a.hi_in);
}

Range abs(const Range& a) {
  if (a.lo >= 0) return a;
  if (a.hi <= 0) return neg(a);
  return hull(Range::point(0), -a.lo > a.hi ? make(0, true, -a.lo, a.lo_in) : make(0, true, a.hi, a.hi_in));
}

Range nonnegative_part(const Range& a) {  // the range clipped to [0, inf)
  if (a.lo >= 0) return a;
  return make(0, true, std::max(a.hi, 0.0), a.hi > 0 ? a.hi_in : true);
}

Range max(const Range& a, const Range& b) {
  double lo = std::max(a.lo, b.lo), hi = std::max(a.hi, b.hi);
  bool lo_in = a.lo > b.lo ? a.lo_in : b.lo > a.lo ? b.lo_in : a.lo_in && b.lo_in;
  bool hi_in = (a.hi == hi && a.hi_in) || (b.hi == hi && b.hi_in);
  return make(lo, lo_in, hi, hi_in);
}

// The range of each node reachable from root.
std::unordered_map<const Node*, Range> ranges(const Node* root) {
  std::unordered_map<const Node*, Range> r;
  for (const Node* n : reachable(std::span<const Node* const>(&root, 1))) {
    const Range a = n->nargs > 0 ? r.at(n->arg(0)) : Range::all();
    const Range b = n->nargs > 1 ? r.at(n->arg(1)) : Range::all();
    Range out = Range::all();
    switch (n->op) {
      case Op::Const: out = Range::point(n->value); break;
      case Op::Tensor: {
        out = Range::point((*n->data)[0]);
        for (double v : *n->data) out = hull(out, Range::point(v));
        break;
      }
      case Op::Var: break;
      case Op::Add: out = add(a, b); break;
      case Op::Sub: out = add(a, neg(b)); break;
      case Op::Mul: out = n->arg(0) == n->arg(1) ? increasing(abs(a), [](double x) { return x * x; }) : mul(a, b); break;
      case Op::Div: out = mul(a, recip(b)); break;
      case Op::Pow: {
        const Node* e = n->arg(1);
        double k = e->is_const() ? e->value : e->op == Op::Broadcast && e->arg(0)->is_const() ? e->arg(0)->value : NAN;
        if (std::isnan(k)) {
          out = a.lo > 0 || (a.lo == 0 && !a.lo_in) ? make(0, false, kInf, false) : Range::all();
        } else if (k == 0) {
          out = Range::point(1);
        } else {
          auto up = [k](double x) { return std::pow(x, std::fabs(k)); };
          bool integer = k == std::floor(k);
          if (!integer && a.hi < 0) break;  // nan everywhere
          Range base = !integer ? nonnegative_part(a) : std::fmod(k, 2) == 0 ? abs(a) : a;
          out = increasing(base, up);
          if (k < 0) out = recip(out);
        }
        break;
      }
      case Op::Neg: out = neg(a); break;
      case Op::Sin: case Op::Cos: out = make(-1, true, 1, true); break;
      case Op::Tan: break;
      case Op::Asin: out = make(-std::numbers::pi / 2, true, std::numbers::pi / 2, true); break;
      case Op::Acos: out = make(0, true, std::numbers::pi, true); break;
      case Op::Atan: out = increasing(a, [](double x) { return std::atan(x); }); break;
      case Op::Sinh: out = increasing(a, [](double x) { return std::sinh(x); }); break;
      case Op::Cosh: out = increasing(abs(a), [](double x) { return std::cosh(x); }); break;
      case Op::Tanh: out = increasing(a, [](double x) { return std::tanh(x); }); break;
      case Op::Exp: out = increasing(a, [](double x) { return std::exp(x); }); break;
      case Op::Log:
        if (a.lo > 0 || (a.lo == 0 && !a.lo_in)) out = increasing(a, [](double x) { return std::log(x); });
        break;
      case Op::Sqrt:
        if (a.hi >= 0) out = increasing(nonnegative_part(a), [](double x) { return std::sqrt(x); });
        break;
      case Op::Abs: out = abs(a); break;
      case Op::Sigmoid: out = increasing(a, [](double x) { return 1 / (1 + std::exp(-x)); }); break;
      case Op::Relu: out = a.lo >= 0 ? a : a.hi <= 0 ? Range::point(0) : make(0, true, a.hi, a.hi_in); break;
      // softplus(x) > max(x, 0)
      case Op::Softplus:
        out = increasing(a, [](double x) { return x == -kInf ? 0 : std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); });
        break;
      case Op::Log1p:
        if (a.lo > -1 || (a.lo == -1 && !a.lo_in)) out = increasing(a, [](double x) { return std::log1p(x); });
        break;
      case Op::Expm1: out = increasing(a, [](double x) { return std::expm1(x); }); break;
      case Op::Lgamma: case Op::Digamma: case Op::Polygamma: break;
      case Op::Max: out = max(a, b); break;
      case Op::Min: out = neg(max(neg(a), neg(b))); break;
      case Op::Step: out = a.lo > 0 ? Range::point(1) : a.hi <= 0 ? Range::point(0) : make(0, true, 1, true); break;
      case Op::Sign: out = a.lo > 0 ? Range::point(1) : a.hi < 0 ? Range::point(-1) : hull(Range::point(0), make(a.lo < 0 ? -1 : 0, true, a.hi > 0 ? 1 : 0, true)); break;
      case Op::Mask: out = a.contains(0) ? hull(mul(a, b), Range::point(0)) : mul(a, b); break;
      case Op::Broadcast: case Op::Reshape: case Op::Transpose: case Op::Index: case Op::Detach: case Op::ReduceMax:
      case Op::Slice:
        out = a;
        break;
      case Op::Sum: {
        double k = static_cast<double>(n->arg(0)->shape.size() / std::max<std::int64_t>(1, n->shape.size()));
        out = mul(a, Range::point(k));
        break;
      }
      case Op::MatMul: {
        const Shape& x = n->arg(0)->shape;
        out = mul(mul(a, b), Range::point(static_cast<double>(x[x.rank - 1])));
        break;
      }
      case Op::Embed: case Op::Pad: out = hull(a, Range::point(0)); break;
      case Op::OneHot: out = make(0, true, 1, true); break;
    }
    if (std::isnan(out.lo) || std::isnan(out.hi)) out = Range::all();
    r.emplace(n, out);
  }
  return r;
}

}  // namespace

Range Range::all() { return Range{-kInf, kInf, false, false}; }
Range Range::point(double v) { return make(v, true, v, true); }
bool Range::contains(double v) const {
  return (lo < v || (lo == v && lo_in)) && (v < hi || (v == hi && hi_in));
}

Range value_range(const Node* n) { return ranges(n).at(n); }

std::vector<LintFinding> lint(const Function& f) {
  std::vector<LintFinding> out;
  if (!f.body) return out;
  auto range = ranges(f.body);
  // A gradient flows through n when n depends on a variable and f depends on n other than
  // through a detach (the maximum that log_softmax subtracts).
  std::vector<const Node*> order = reachable(std::span<const Node* const>(&f.body, 1));
  std::unordered_set<const Node*> active, reached{f.body};
  for (auto it = order.rbegin(); it != order.rend(); ++it)
    if (reached.count(*it) && (*it)->op != Op::Detach)
      for (int i = 0; i < (*it)->nargs; ++i) reached.insert((*it)->arg(i));
  std::set<std::pair<std::uint32_t, std::string>> seen;
  for (const Node* n : order) {
    if (n->op == Op::Var) active.insert(n);
    bool live = false;
    for (int i = 0; i < n->nargs; ++i) live = live || active.count(n->arg(i));
    if (!live) continue;
    active.insert(n);
    if (!reached.count(n)) continue;
    auto loc = f.locs.find(n);
    Loc at = loc != f.locs.end() ? loc->second : f.loc;
    auto report = [&](bool warning, std::string msg) {
      if (seen.emplace(at.offset, msg).second) out.push_back(LintFinding{warning, at, std::move(msg)});
    };
    const Range& a = range.at(n->arg(0));
    switch (n->op) {
      case Op::Log:
        if (a.lo < 0) report(true, "log of an expression that can be 0 or negative: its derivative 1/x is inf at 0, nan below");
        else if (a.contains(0)) report(true, "log of an expression that can reach 0: its derivative 1/x is inf there");
        break;
      case Op::Sqrt:
        if (a.lo < 0) report(true, "sqrt of an expression that can be 0 or negative: its derivative 1/(2 sqrt(x)) is inf at 0, nan below");
        else if (a.contains(0)) report(true, "sqrt of an expression that can reach 0: its derivative 1/(2 sqrt(x)) is inf there");
        break;
      case Op::Div:
        if (range.at(n->arg(1)).contains(0))
          report(true, "division by an expression that can reach 0: the derivatives of a/b are inf there");
        break;
      case Op::Pow: {
        const Node* e = n->arg(1);
        if (e->op == Op::Broadcast) e = e->arg(0);
        if (!e->is_const()) {
          if (a.lo < 0 || a.contains(0))
            report(true, "pow with a variable exponent and a base that can reach 0 or below: log(base) in its derivative is inf or nan there");
        } else if (e->value != std::floor(e->value) && a.lo < 0) {
          report(true, "pow with a base that can be negative and a non-integer exponent: nan there");
        } else if (e->value < 1 && a.contains(0)) {
          report(true, fmt::format("pow with a base that can reach 0 and the exponent {} (below 1): its derivative is inf there",
                                   e->value));
        }
        break;
      }
      case Op::Asin: case Op::Acos:
        if (a.lo < -1 || a.contains(-1) || a.contains(1) || a.hi > 1)
          report(true, fmt::format("{} of an expression that can reach -1 or 1 (or beyond): its derivative 1/sqrt(1 - x^2) "
                                   "is inf there, nan beyond", n->info().name));
        break;
      case Op::Tan:
        if (!(a.lo > -std::numbers::pi / 2 && a.hi < std::numbers::pi / 2))
          report(true, "tan of an expression that can reach pi/2 + k pi: its derivative 1 + tan(x)^2 is inf there");
        break;
      case Op::Relu:
        if (a.contains(0)) report(false, "relu at 0 uses the subgradient 0 (relu'(0) = 0)");
        break;
      case Op::Abs:
        if (a.contains(0)) report(false, "abs at 0 uses the subgradient 0 (abs'(0) = 0)");
        break;
      case Op::Max: case Op::Min: {
        const Range& b = range.at(n->arg(1));
        bool tie = a.lo <= b.hi && b.lo <= a.hi;
        if (tie)
          report(false, fmt::format("at a tie, {}(a, b) passes the whole gradient to its first argument", n->info().name));
        break;
      }
      case Op::Step: case Op::Sign:
        if (a.contains(0))
          report(false, fmt::format("{} jumps at 0: its derivative is taken as 0 everywhere, the jump included",
                                    n->info().name));
        break;
      case Op::ReduceMax:
        report(false, "at a tie, max(x) shares the gradient equally among the tied elements (1/k each)");
        break;
      default:
        break;
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const LintFinding& x, const LintFinding& y) { return x.loc.offset < y.loc.offset; });
  return out;
}

}  // namespace gradc
