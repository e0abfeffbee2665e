// The simplifier: rewrite rules applied as nodes are built. Rules only fire on already
// simplified arguments, so one bottom-up pass reaches a fixed point. Canonical forms: a
// constant operand of + and * comes first, constant factors are collected at the left end of
// a product, a division is pulled out of a product (x*(p/q) = x*p/q), and negations are pushed
// into constants or turned into subtraction.
#include "compiler/builder.hpp"

#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace gradc {

const Node* Builder::apply(Op op, std::span<const Node* const> args) {
  const OpInfo& info = op_info(op);
  if (static_cast<int>(args.size()) != info.arity || info.syntax == Syntax::Leaf)
    throw std::logic_error("Builder::apply: bad arity");
  if (level_ == Simplify::None) return g_.make(op, args);
  return rewrite(op, args[0], args.size() > 1 ? args[1] : nullptr);
}

const Node* Builder::rewrite(Op op, const Node* a, const Node* b) {
  auto C = [this](double v) { return g_.constant(v); };
  auto is_c = [](const Node* n) { return n->op == Op::Const; };
  auto make = [&]() {
    const Node* args[2] = {a, b};
    return g_.make(op, std::span<const Node* const>(args, b ? 2 : 1));
  };

  // Constant folding, unless the result is nan or inf: then the op stays, so that evaluation
  // reports the domain error at the operation that caused it.
  if (is_c(a) && (!b || is_c(b))) {
    double vals[2] = {a->value, b ? b->value : 0.0};
    double r = op_info(op).eval(vals);
    if (std::isfinite(r)) return C(r);
  }

  // Identities that drop an operation: they keep the user's structure (Fold level).
  switch (op) {
    case Op::Add:
      if (a->is_const(0)) return b;                                  // 0 + x = x
      if (b->is_const(0)) return a;                                  // x + 0 = x
      break;
    case Op::Sub:
      if (b->is_const(0)) return a;                                  // x - 0 = x
      if (a->is_const(0)) return neg(b);                             // 0 - x = -x
      break;
    case Op::Mul:
      if (a->is_const(1)) return b;                                  // 1*x = x
      if (b->is_const(1)) return a;                                  // x*1 = x
      if (a->is_const(0) && b->everywhere_defined) return a;         // 0*x = 0 where safe
      if (b->is_const(0) && a->everywhere_defined) return b;         // x*0 = 0 where safe
      if (a->is_const(-1)) return neg(b);                            // -1*x = -x
      if (b->is_const(-1)) return neg(a);                            // x*-1 = -x
      break;
    case Op::Div:
      if (b->is_const(1)) return a;                                  // x/1 = x
      if (b->is_const(-1)) return neg(a);                            // x/-1 = -x
      break;
    case Op::Neg:
      if (a->op == Op::Neg) return a->arg(0);                        // --x = x
      break;
    case Op::Pow:
      if (b->is_const(1)) return a;                                  // x^1 = x
      if (b->is_const(0)) return C(1);                               // x^0 = 1 (IEEE: even nan)
      if (a->is_const(1)) return C(1);                               // 1^x = 1 (IEEE: even nan)
      break;
    default:
      break;
  }
  if (level_ != Simplify::Full) return make();

  // Canonical forms (Full level).
  switch (op) {
    case Op::Add:
      if (is_c(b) && !is_c(a)) return add(b, a);                    // x + c = c + x
      if (b->op == Op::Neg) return sub(a, b->arg(0));                // a + -y = a - y
      if (a->op == Op::Neg) return sub(b, a->arg(0));                // -x + b = b - x
      if (is_c(a) && b->op == Op::Add && is_c(b->arg(0)))            // c1 + (c2 + x)
        return add(C(a->value + b->arg(0)->value), b->arg(1));
      if (is_c(a) && b->op == Op::Sub && is_c(b->arg(0)))            // c1 + (c2 - x)
        return sub(C(a->value + b->arg(0)->value), b->arg(1));
      if (is_c(a) && a->value < 0) return sub(b, C(-a->value));      // -c + x = x - c
      if (a == b) return mul(2, a);                                  // x + x = 2*x
      break;
    case Op::Sub:
      if (a == b && a->everywhere_defined) return C(0);              // x - x = 0
      if (b->op == Op::Neg) return add(a, b->arg(0));                // a - -y = a + y
      if (is_c(b) && b->value < 0) return add(C(-b->value), a);      // x - -c = c + x
      if (is_c(a) && b->op == Op::Add && is_c(b->arg(0)))            // c1 - (c2 + x)
        return sub(C(a->value - b->arg(0)->value), b->arg(1));
      break;
    case Op::Mul:
      if (is_c(b) && !is_c(a)) return mul(b, a);                     // x*c = c*x
      if (a->op == Op::Neg) return neg(mul(a->arg(0), b));           // (-x)*y = -(x*y)
      if (b->op == Op::Neg) return neg(mul(a, b->arg(0)));           // x*(-y) = -(x*y)
      if (is_c(a) && b->op == Op::Mul && is_c(b->arg(0)))            // c1*(c2*x) = (c1 c2)*x
        return mul(C(a->value * b->arg(0)->value), b->arg(1));
      if (b->op == Op::Mul && is_c(b->arg(0)))                       // x*(c*y) = (c*x)*y
        return mul(mul(b->arg(0), a), b->arg(1));
      if (is_c(a) && b->op == Op::Mul)                               // c*(x*y) = (c*x)*y
        return mul(mul(a, b->arg(0)), b->arg(1));
      if (b->op == Op::Div) return div(mul(a, b->arg(0)), b->arg(1));  // x*(p/q) = x*p/q
      if (a == b) return pow(a, C(2));                               // x*x = x^2
      break;
    case Op::Div:
      if (a->op == Op::Neg) return neg(div(a->arg(0), b));           // (-x)/y = -(x/y)
      if (b->op == Op::Neg) return neg(div(a, b->arg(0)));           // x/(-y) = -(x/y)
      if (b->op == Op::Div) return div(mul(a, b->arg(1)), b->arg(0));  // x/(p/q) = x*q/p
      break;
    case Op::Neg:
      if (a->op == Op::Sub) return sub(a->arg(1), a->arg(0));        // -(x - y) = y - x
      if (a->op == Op::Mul && is_c(a->arg(0)))                       // -(c*x) = (-c)*x
        return mul(C(-a->arg(0)->value), a->arg(1));
      break;
    default:
      break;
  }
  return make();
}

std::vector<const Node*> simplify(Graph& g, std::span<const Node* const> roots, Simplify level) {
  Builder b(g, level);
  std::unordered_map<const Node*, const Node*> map;
  for (const Node* n : reachable(roots)) {
    if (n->nargs == 0) {
      map[n] = n;
      continue;
    }
    const Node* args[2] = {map.at(n->arg(0)), n->nargs > 1 ? map.at(n->arg(1)) : nullptr};
    map[n] = b.apply(n->op, std::span<const Node* const>(args, n->nargs));
  }
  std::vector<const Node*> out;
  for (const Node* r : roots) out.push_back(map.at(r));
  return out;
}

}  // namespace gradc
