// Algebra::fn: the rules for calls. Each holds wherever the call is defined, for real arguments.
#include <cmath>

#include "compiler/algebra/expr.hpp"

namespace gradc::algebra {
namespace {

bool odd(Op op) {
  switch (op) {
    case Op::Sin: case Op::Tan: case Op::Asin: case Op::Atan: case Op::Sinh: case Op::Tanh: case Op::Sign:
      return true;
    default:
      return false;
  }
}

}  // namespace

const Expr* Algebra::fn(Op op, std::vector<const Expr*> args) {
  const Expr* a = args[0];
  const Expr* b = args.size() > 1 ? args[1] : nullptr;
  auto is_num = [](const Expr* x, std::int64_t v) { return x->kind == Kind::Num && x->num.is(v); };
  bool exact_arg = a->kind == Kind::Num && a->num.exact();
  switch (op) {
    case Op::Exp:
      return pow(e(), a);                                           // e^u
    case Op::Sqrt:
      return pow(a, num(Number::ratio(1, 2)));                      // u^(1/2)
    case Op::Log:
      if (a == e()) return num(1);
      if (a->kind == Kind::Pow && a->args[0] == e()) return a->args[1];  // log(e^u) = u
      break;
    case Op::Cos: case Op::Cosh:
      if (minus(a)) return fn(op, {neg(a)});                        // cos(-u) = cos(u)
      break;
    case Op::Abs:
      if (a->kind == Kind::Num) return num(a->num.abs());
      if (minus(a)) return fn(op, {neg(a)});                        // |-u| = |u|
      if (a->kind == Kind::Fn && a->op == Op::Abs) return a;        // ||u|| = |u|
      if (a->kind == Kind::Pow && a->args[0] == e()) return a;      // |e^u| = e^u
      break;
    case Op::Sign: case Op::Step:
      if (a->kind == Kind::Num && a->num.exact()) {
        int s = a->num.zero() ? 0 : a->num.negative() ? -1 : 1;
        return num(op == Op::Step ? (s > 0 ? 1 : 0) : s);
      }
      if (a->kind == Kind::Pow && a->args[0] == e()) return num(1);  // e^u > 0
      if (auto [c, rest] = split_coefficient(a); a->kind == Kind::Mul && a->args[0]->kind == Kind::Num && !c.negative() && !c.zero())
        return fn(op, {rest});                                      // sign(2u) = sign(u)
      break;
    case Op::Relu:
      if (exact_arg) return a->num.negative() ? num(0) : a;
      break;
    case Op::Min: case Op::Max:
      if (a == b) return a;
      if (exact_arg && b->kind == Kind::Num && b->num.exact()) {
        bool less = algebra::compare(a->num, b->num) <= 0;
        return (op == Op::Min) == less ? a : b;
      }
      break;
    case Op::Mask:  // mask(c, x) = c*x, but 0 where c = 0 (see ops.cpp)
      if (is_num(a, 0)) return a;
      if (is_num(a, 1)) return b;
      if (is_num(b, 1)) return a;
      if (b->defined) return mul({a, b});                          // x finite: the product
      break;
    default:
      break;
  }
  if (odd(op) && minus(a)) return neg(fn(op, {neg(a)}));            // sin(-u) = -sin(u)
  if (a->kind == Kind::Num && a->num.zero()) {                      // values at 0
    switch (op) {
      case Op::Sin: case Op::Tan: case Op::Asin: case Op::Atan: case Op::Sinh: case Op::Tanh: case Op::Sign:
      case Op::Log1p: case Op::Expm1:
        return num(0);
      case Op::Cos: case Op::Cosh:
        return num(1);
      case Op::Acos:
        if (pi()) return mul({num(Number::ratio(1, 2)), pi()});
        break;
      case Op::Sigmoid:
        return num(Number::ratio(1, 2));
      case Op::Softplus:
        return fn(Op::Log, {num(2)});
      default:
        break;
    }
  }
  if (op == Op::Lgamma && (is_num(a, 1) || is_num(a, 2))) return num(0);  // Γ(1) = Γ(2) = 1
  if (is_num(a, 1)) {                                               // values at 1
    switch (op) {
      case Op::Log: case Op::Acos:
        return num(0);
      case Op::Asin:
        if (pi()) return mul({num(Number::ratio(1, 2)), pi()});
        break;
      case Op::Atan:
        if (pi()) return mul({num(Number::ratio(1, 4)), pi()});
        break;
      default:
        break;
    }
  }
  if (pi() && a == pi()) {
    if (op == Op::Sin || op == Op::Tan) return num(0);
    if (op == Op::Cos) return num(-1);
  }
  // Calls on floats (inexact numbers) evaluate, as SymPy's do; exact arguments stay symbolic.
  bool floats = true;
  for (const Expr* x : args) floats = floats && x->kind == Kind::Num && !x->num.exact();
  if (floats && op_info(op).eval) {
    double v[2] = {a->num.value(), b ? b->num.value() : 0.0};
    double r = op_info(op).eval(v);
    if (std::isfinite(r)) return num(Number::inexact(r));
  }
  Expr f;
  f.kind = Kind::Fn;
  f.op = op;
  f.args = std::move(args);
  return intern(std::move(f));
}

}  // namespace gradc::algebra
