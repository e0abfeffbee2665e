// IR -> algebra -> IR: the pass behind canonical() (canon.hpp). Both walks go in id order, so
// deep expressions need no recursion.
#include "compiler/algebra/canon.hpp"

#include <algorithm>
#include <bit>
#include <unordered_map>
#include <unordered_set>

#include "compiler/algebra/expr.hpp"
#include "compiler/builder.hpp"

namespace gradc {
namespace {

using algebra::Algebra;
using algebra::Expr;
using algebra::Kind;
using algebra::Number;

constexpr int kMaxPasses = 16;  // the nested example at depth 80 needs 3

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  return (h ^ (v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2))) * 0x100000001B3ULL;
}

// Algebra -> IR in the printers' shapes: sums as chains of + and - (no `+ -`), products as
// number * symbols * calls / denominator, e^u as exp(u), u^(1/2) as sqrt(u).
class Emitter {
 public:
  Emitter(Graph& g, Algebra& alg) : g_(g), b_(g, Simplify::None), alg_(alg) {}

  const Node* operator()(const Expr* root) {
    // Every expression below root, in creation (topological) order.
    std::vector<const Expr*> todo{root}, all;
    std::unordered_set<const Expr*> seen;
    while (!todo.empty()) {
      const Expr* x = todo.back();
      todo.pop_back();
      if (ir_.count(x) || !seen.insert(x).second) continue;
      all.push_back(x);
      for (const Expr* a : x->args) todo.push_back(a);
    }
    std::sort(all.begin(), all.end(), [](const Expr* a, const Expr* b) { return a->id < b->id; });
    for (const Expr* x : all) ir_[x] = emit(x);
    return ir_.at(root);
  }

 private:
  const Node* number(const Number& n) {
    if (n.prints_decimal() || n.is_integer()) return g_.constant(n.value());
    const Node* q = b_.div(g_.constant(static_cast<double>(n.abs().num())), g_.constant(static_cast<double>(n.den())));
    return n.negative() ? b_.neg(q) : q;
  }

  const Node* emit(const Expr* x) {
    switch (x->kind) {
      case Kind::Num: return number(x->num);
      case Kind::Sym:
        if (x == alg_.e() && alg_.shadowed("e")) return b_.apply(Op::Exp, {g_.constant(1)});  // a variable is called e
        return x->node;
      case Kind::Opaque: return x->node;
      case Kind::Fn: {
        const Node* args[2] = {ir_.at(x->args[0]), x->args.size() > 1 ? ir_.at(x->args[1]) : nullptr};
        return b_.apply(x->op, std::span<const Node* const>(args, x->args.size()));
      }
      case Kind::Pow: {
        if (const Expr* k = x->args[1]; k->kind == Kind::Num && k->num.negative()) return product(Number::integer(1), {x});
        return power(x->args[0], x->args[1]);
      }
      case Kind::Mul: {
        auto [c, rest] = alg_.split_coefficient(x);
        std::vector<const Expr*> fs;
        if (rest->kind == Kind::Mul) {
          fs = rest->args;
        } else {
          fs = {rest};
        }
        return product(c, fs);
      }
      case Kind::Add: {
        // A positive term leads when there is one: 1 - x^2, log(y) - x (not -x^2 + 1).
        std::vector<const Expr*> terms = x->args;
        auto lead = std::find_if(terms.begin(), terms.end(), [](const Expr* t) { return !Algebra::minus(t); });
        if (lead != terms.end()) std::rotate(terms.begin(), lead, lead + 1);
        const Node* sum = nullptr;
        for (const Expr* t : terms) {
          bool minus = Algebra::minus(t);
          const Node* abs = minus ? ir_abs(t) : ir_.at(t);
          sum = !sum ? ir_.at(t) : minus ? b_.sub(sum, abs) : b_.add(sum, abs);
        }
        return sum;
      }
    }
    return nullptr;
  }

  // The IR of -t for a negative-looking term t.
  const Node* ir_abs(const Expr* t) {
    if (t->kind == Kind::Num) return number(t->num.abs());
    auto [c, rest] = alg_.split_coefficient(t);
    std::vector<const Expr*> fs = rest->kind == Kind::Mul ? rest->args : std::vector<const Expr*>{rest};
    return product(-c, fs);
  }

  // b^x with x not a negative number.
  const Node* power(const Expr* base, const Expr* x) {
    const Node* b = ir_.at(base);
    const Node* k = x->kind == Kind::Num ? number(x->num) : ir_.at(x);  // x may be new (a flipped sign)
    if (base == alg_.e()) return b_.apply(Op::Exp, {k});
    if (x->kind == Kind::Num && x->num.exact() && x->num.num() == 1 && x->num.den() == 2) return b_.apply(Op::Sqrt, {b});
    return b_.pow(b, k);
  }

  // c * (factors with positive exponents) / (the others). A negative c puts its sign on the
  // first factor: -2/x^3, -x*sin(x), -x/2 (not -(x*sin(x)), which text keeps for -(a*b)).
  const Node* product(const Number& signed_c, const std::vector<const Expr*>& fs) {
    std::vector<const Node*> num, den;
    Number c = signed_c.abs();
    bool fraction = c.exact() && !c.prints_decimal() && c.den() != 1;
    if (fraction ? c.num() != 1 : !c.is(1)) num.push_back(fraction ? g_.constant(static_cast<double>(c.num())) : number(c));
    if (fraction) den.push_back(g_.constant(static_cast<double>(c.den())));
    for (const Expr* f : fs) {
      if (f->kind == Kind::Pow && f->args[1]->kind == Kind::Num && f->args[1]->num.negative()) {
        Number k = -f->args[1]->num;
        den.push_back(k.is(1) ? ir_.at(f->args[0]) : power(f->args[0], alg_.num(k)));
      } else {
        num.push_back(ir_.at(f));
      }
    }
    auto chain = [this](const std::vector<const Node*>& xs) {
      const Node* p = nullptr;
      for (const Node* x : xs) p = p ? b_.mul(p, x) : x;
      return p ? p : g_.constant(1);
    };
    if (signed_c.negative()) {
      if (num.empty()) {
        num.push_back(g_.constant(-1));
      } else if (num[0]->op == Op::Const && num[0]->name.empty()) {
        num[0] = g_.constant(-num[0]->value);
      } else {
        num[0] = b_.neg(num[0]);
      }
    }
    const Node* top = chain(num);
    return den.empty() ? top : b_.div(top, chain(den));
  }

  Graph& g_;
  Builder b_;
  Algebra& alg_;
  std::unordered_map<const Expr*, const Node*> ir_;
};

// One pass: IR -> algebra -> IR.
std::vector<const Node*> canonical_once(Graph& g, std::span<const Node* const> roots, std::span<const std::string> order) {
  Algebra alg(g, order);
  Builder full(g, Simplify::Full);
  Emitter emit(g, alg);
  std::unordered_map<const Node*, const Expr*> expr;  // scalar nodes
  std::unordered_map<const Node*, const Node*> ir;    // tensor nodes, rebuilt
  std::unordered_map<const Node*, std::uint64_t> hash;
  // A number under a tensor operation is the kernel's constant (the kernel's simplifier folds it).
  auto ir_of = [&](const Node* n) {
    if (!n->shape.scalar() || !expr.count(n)) return ir.at(n);
    const Expr* x = expr.at(n);
    return x->kind == Kind::Num ? g.constant(x->num.value()) : emit(x);
  };
  std::vector<const Node*> nodes = reachable(roots);
  // A constant whose name a variable takes (a parameter called `pi`) is just its value: the
  // printed name would read back as the variable.
  std::unordered_set<std::string> shadowed(order.begin(), order.end());
  for (const Node* n : nodes)
    if (n->op == Op::Var) shadowed.insert(n->name);
  alg.shadow(shadowed);
  for (const Node* n : nodes) {
    std::uint64_t h = mix(static_cast<std::uint64_t>(n->op), std::hash<std::string>{}(n->name));
    h = mix(mix(h, std::bit_cast<std::uint64_t>(n->value)), (std::uint64_t(n->axis) << 32) ^ std::uint32_t(n->index));
    for (int d = 0; d < n->shape.rank; ++d) h = mix(h, static_cast<std::uint64_t>(n->shape[d]));
    for (int i = 0; i < n->nargs; ++i) h = mix(h, hash.at(n->arg(i)));
    hash[n] = h;
    const OpInfo& info = n->info();
    bool scalar = n->shape.scalar() && n->op != Op::Tensor;
    for (int i = 0; i < n->nargs && info.elementwise; ++i) scalar = scalar && n->arg(i)->shape.scalar();
    if (!scalar || (!info.elementwise && n->op != Op::Detach)) {
      // Tensor operations: rebuilt from canonical operands with the kernel's simplifier.
      const Node* r = n;
      if (n->nargs > 0) {
        const Node* args[2] = {ir_of(n->arg(0)), n->nargs > 1 ? ir_of(n->arg(1)) : nullptr};
        r = full.apply(n->op, std::span<const Node* const>(args, n->nargs), n->attrs());
      }
      if (n->shape.scalar()) {
        expr[n] = alg.opaque(r, h);
      } else {
        ir[n] = r;
      }
      continue;
    }
    auto A = [&](int i) { return expr.at(n->arg(i)); };
    switch (n->op) {
      case Op::Const:
        if (n->name.empty() || shadowed.count(n->name)) {
          expr[n] = alg.num(Number::from_double(n->value));
        } else {
          expr[n] = n->name == "e" ? alg.e() : alg.sym(n);
        }
        break;
      case Op::Var: expr[n] = alg.sym(n); break;
      case Op::Add: expr[n] = alg.add({A(0), A(1)}); break;
      case Op::Sub: expr[n] = alg.add({A(0), alg.neg(A(1))}); break;
      case Op::Mul: expr[n] = alg.mul({A(0), A(1)}); break;
      case Op::Div: expr[n] = alg.mul({A(0), alg.pow(A(1), alg.num(-1))}); break;
      case Op::Pow: expr[n] = alg.pow(A(0), A(1)); break;
      case Op::Neg: expr[n] = alg.neg(A(0)); break;
      case Op::Detach: expr[n] = A(0); break;
      default: {
        std::vector<const Expr*> args;
        for (int i = 0; i < n->nargs; ++i) args.push_back(A(i));
        expr[n] = alg.fn(n->op, std::move(args));
      }
    }
  }
  std::vector<const Node*> out;
  for (const Node* r : roots) out.push_back(r->shape.scalar() && expr.count(r) ? emit(expr.at(r)) : ir.at(r));
  return out;
}

}  // namespace

// Passes until nothing changes (a rule may enable another on the rebuilt graph: a factored sum
// meets a like term). At the fixed point, the printed text read back gives the same form again:
// the canonical form is idempotent.
std::vector<const Node*> canonical(Graph& g, std::span<const Node* const> roots, std::span<const std::string> order) {
  std::vector<const Node*> cur(roots.begin(), roots.end());
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    std::vector<const Node*> next = canonical_once(g, cur, order);
    if (next == cur) break;
    cur = std::move(next);
  }
  return cur;
}

}  // namespace gradc
