// The simplifier: rewrite rules applied as nodes are built. Rules only fire on already
// simplified arguments, so one bottom-up pass reaches a fixed point. Canonical forms: a
// constant operand of + and * comes first, constant factors are collected at the left end of
// a product, a division is pulled out of a product (x*(p/q) = x*p/q), and negations are pushed
// into constants or turned into subtraction.
#include "compiler/builder.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include "compiler/ops_tensor.hpp"

namespace gradc {

const Node* Builder::apply(Op op, std::span<const Node* const> args, const Attrs& attrs) {
  const OpInfo& info = op_info(op);
  if (static_cast<int>(args.size()) != info.arity || info.syntax == Syntax::Leaf)
    throw std::logic_error("Builder::apply: bad arity");
  if (!info.elementwise) return structural(op, args, attrs);
  const Node* a = args[0];
  const Node* b = args.size() > 1 ? args[1] : nullptr;
  if (b && !(a->shape == b->shape)) {  // NumPy broadcasting, made explicit
    Shape s = broadcast_shapes(a->shape, b->shape);
    a = broadcast_to(a, s);
    b = broadcast_to(b, s);
  }
  if (level_ == Simplify::None) {
    const Node* ab[2] = {a, b};
    return g_.make(op, std::span<const Node* const>(ab, b ? 2 : 1));
  }
  return rewrite(op, a, b);
}

const Node* Builder::rewrite(Op op, const Node* a, const Node* b) {
  // A scalar constant, possibly broadcast to a tensor shape; C(v) makes one of the result's shape.
  const Shape shape = a->shape;
  auto C = [this, &shape](double v) { return splat(v, shape); };
  auto is_c = [](const Node* n) {
    return n->op == Op::Const || (n->op == Op::Broadcast && n->arg(0)->op == Op::Const);
  };
  auto cv = [](const Node* n) { return n->op == Op::Const ? n->value : n->arg(0)->value; };
  auto isv = [&](const Node* n, double v) { return is_c(n) && cv(n) == v; };
  auto make = [&]() {
    const Node* args[2] = {a, b};
    return g_.make(op, std::span<const Node* const>(args, b ? 2 : 1));
  };

  // Constant folding, unless the result is nan or inf: then the op stays, so that evaluation
  // reports the domain error at the operation that caused it.
  if (is_c(a) && (!b || is_c(b))) {
    double vals[2] = {cv(a), b ? cv(b) : 0.0};
    double r = op_info(op).eval(vals);
    if (std::isfinite(r)) return C(r);
  }

  // Identities that drop an operation: they keep the user's structure (Fold level).
  switch (op) {
    case Op::Add:
      if (isv(a, 0)) return b;                                  // 0 + x = x
      if (isv(b, 0)) return a;                                  // x + 0 = x
      break;
    case Op::Sub:
      if (isv(b, 0)) return a;                                  // x - 0 = x
      if (isv(a, 0)) return neg(b);                             // 0 - x = -x
      break;
    case Op::Mul:
      if (isv(a, 1)) return b;                                  // 1*x = x
      if (isv(b, 1)) return a;                                  // x*1 = x
      if (isv(a, 0) && b->everywhere_defined) return a;         // 0*x = 0 where safe
      if (isv(b, 0) && a->everywhere_defined) return b;         // x*0 = 0 where safe
      if (isv(a, -1)) return neg(b);                            // -1*x = -x
      if (isv(b, -1)) return neg(a);                            // x*-1 = -x
      break;
    case Op::Div:
      if (isv(b, 1)) return a;                                  // x/1 = x
      if (isv(b, -1)) return neg(a);                            // x/-1 = -x
      break;
    case Op::Neg:
      if (a->op == Op::Neg) return a->arg(0);                        // --x = x
      break;
    case Op::Mask:  // mask(c, x) = c*x, but 0 where c = 0 (see ops.cpp)
      if (isv(a, 0)) return a;                                  // mask(0, x) = 0, even for x = inf
      if (isv(a, 1)) return b;                                  // mask(1, x) = x
      if (isv(b, 1)) return a;                                  // mask(c, 1) = c
      if (b->everywhere_defined) return mul(a, b);              // x finite: a plain product
      break;
    case Op::Pow:
      if (isv(b, 1)) return a;                                  // x^1 = x
      if (isv(b, 0)) return C(1);                               // x^0 = 1 (IEEE: even nan)
      if (isv(a, 1)) return C(1);                               // 1^x = 1 (IEEE: even nan)
      break;
    default:
      break;
  }
  if (level_ != Simplify::Full) return make();

  // Canonical forms (Full level). Constants are combined only where the result is finite, as
  // in folding above: 1e308 + (1e308 + x) stays as written (it is inf + x only in value).
  auto finite = [](double v) { return std::isfinite(v); };
  switch (op) {
    case Op::Add:
      if (is_c(b) && !is_c(a)) return add(b, a);                    // x + c = c + x
      if (b->op == Op::Neg) return sub(a, b->arg(0));                // a + -y = a - y
      if (a->op == Op::Neg) return sub(b, a->arg(0));                // -x + b = b - x
      if (is_c(a) && (b->op == Op::Add || b->op == Op::Sub) && is_c(b->arg(0))) {
        double c = cv(a) + cv(b->arg(0));
        if (!finite(c)) return make();
        return b->op == Op::Add ? add(C(c), b->arg(1))              // c1 + (c2 + x)
                                : sub(C(c), b->arg(1));             // c1 + (c2 - x)
      }
      if (is_c(a) && cv(a) < 0) return sub(b, C(-cv(a)));      // -c + x = x - c
      if (a == b) return mul(2, a);                                  // x + x = 2*x
      break;
    case Op::Sub:
      if (a == b && a->everywhere_defined) return C(0);              // x - x = 0
      if (b->op == Op::Neg) return add(a, b->arg(0));                // a - -y = a + y
      if (is_c(b) && cv(b) < 0) return add(C(-cv(b)), a);      // x - -c = c + x
      if (is_c(a) && b->op == Op::Add && is_c(b->arg(0))) {         // c1 - (c2 + x)
        double c = cv(a) - cv(b->arg(0));
        if (!finite(c)) return make();
        return sub(C(c), b->arg(1));
      }
      break;
    case Op::Mul:
      if (is_c(b) && !is_c(a)) return mul(b, a);                     // x*c = c*x
      if (a->op == Op::Neg) return neg(mul(a->arg(0), b));           // (-x)*y = -(x*y)
      if (b->op == Op::Neg) return neg(mul(a, b->arg(0)));           // x*(-y) = -(x*y)
      if (is_c(a) && b->op == Op::Mul && is_c(b->arg(0))) {         // c1*(c2*x) = (c1 c2)*x
        double c = cv(a) * cv(b->arg(0));
        if (!finite(c)) return make();  // as written: regrouping would only move the overflow
        return mul(C(c), b->arg(1));
      }
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
        return mul(C(-cv(a->arg(0))), a->arg(1));
      break;
    default:
      break;
  }
  return make();
}

const Node* Builder::splat(double v, const Shape& s) {
  return broadcast_to(g_.constant(v), s);
}

// Tensor ops: checked by Graph::make; the few identities that remove them are applied here.
const Node* Builder::structural(Op op, std::span<const Node* const> args, const Attrs& at) {
  const Node* x = args[0];
  if (level_ != Simplify::None) {
    switch (op) {
      case Op::Broadcast:
      case Op::Reshape:
        if (x->shape == at.shape) return x;                                      // no-op
        if (x->op == op) return apply(op, {x->arg(0)}, at);                     // collapse chains
        if (x->op == Op::Broadcast && x->arg(0)->op == Op::Const)                 // a splat stays one
          return broadcast_to(x->arg(0), at.shape);
        if (op == Op::Reshape && x->op == Op::Slice && x->shape[x->axis] == 1 &&  // a slice of one: an index
            at.shape == x->shape.without(x->axis))
          return index(x->arg(0), x->axis, x->index);
        break;
      case Op::Pad:  // a pad of x with an axis of 1 inserted there: an embed
        if (x->op == Op::Reshape && x->shape.rank == x->arg(0)->shape.rank + 1 && x->shape[at.axis] == 1 &&
            x->shape.without(at.axis) == x->arg(0)->shape)
          return embed(x->arg(0), at.axis, at.index, at.shape);
        if (x->op == Op::Tensor) return literal(op, x, at);
        break;
      case Op::Transpose:
        if (x->op == Op::Transpose) {  // transposes compose: (X^T)^T = X
          int rank = x->shape.rank;
          auto outer = tensor_ops::permutation(at.axis, rank), inner = tensor_ops::permutation(x->axis, rank);
          int p[Shape::kMaxRank];
          bool identity = true;
          for (int d = 0; d < rank; ++d) {
            p[d] = inner[outer[d]];
            identity = identity && p[d] == d;
          }
          if (identity) return x->arg(0);
          const Node* inner_arg[] = {x->arg(0)};
          return g_.make(Op::Transpose, inner_arg, Attrs{{}, tensor_ops::permutation_code(std::span<const int>(p, rank)), 0});
        }
        break;
      case Op::Slice:  // slice(pad(x)) where x went is x
        if (x->op == Op::Pad && x->axis == at.axis && x->index == at.index && x->arg(0)->shape == at.shape)
          return x->arg(0);
        if (x->op == Op::Tensor) return literal(op, x, at);
        break;
      case Op::Sum:
        if (x->op == Op::Broadcast && x->arg(0)->op == Op::Const && at.axis == -1)  // sum of a splat
          return mul(g_.constant(static_cast<double>(x->shape.size())), x->arg(0));
        break;
      case Op::Index:
        if (int budget = 256; const Node* e = index_through(x, at.axis, at.index, budget)) return e;
        break;
      default:
        break;
    }
  }
  return g_.make(op, args, at);
}

// op(x) of tensor data, as tensor data (so that a slice of a literal prints as a literal).
const Node* Builder::literal(Op op, const Node* x, const Attrs& at) {
  const Node* args[] = {x};
  const Node* n = g_.make(op, args, at);
  std::vector<double> r(static_cast<std::size_t>(n->shape.size()), 0.0);
  const std::vector<double>* values[] = {x->data.get()};
  n->info().evaluate(n, values, r);
  return g_.tensor(n->shape, std::move(r));
}

// x[i] along axis, when taking it reduces to the element: the row i of a stacked value
// (a sum of Embeds, as [a, b] is built) is the element placed there, of a splat or of constant
// data is a constant, and indexing passes through elementwise ops whose operands all reduce so.
// Otherwise nullptr, so that indexing never copies a computation. This is what makes an entry
// of a Jacobian of [x*y, x + y] the expression for that entry.
const Node* Builder::index_through(const Node* x, int axis, int i, int& budget) {
  if (--budget < 0) return nullptr;  // a rewrite, not a pass: large expressions are left as they are
  Shape out = x->shape.without(axis);
  switch (x->op) {
    case Op::Embed:
      if (x->axis != axis) return nullptr;
      return x->index == i ? x->arg(0) : splat(0, out);
    case Op::Broadcast:
      if (x->arg(0)->op == Op::Const) return splat(x->arg(0)->value, out);
      if (axis < x->shape.rank - x->arg(0)->shape.rank) return broadcast_to(x->arg(0), out);  // a new leading axis
      return nullptr;
    case Op::Tensor: {
      std::int64_t outer = 1, inner = 1;
      for (int d = 0; d < axis; ++d) outer *= x->shape[d];
      for (int d = axis + 1; d < x->shape.rank; ++d) inner *= x->shape[d];
      std::vector<double> v;
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t k = 0; k < inner; ++k) v.push_back((*x->data)[(o * x->shape[axis] + i) * inner + k]);
      return out.scalar() ? g_.constant(v[0]) : g_.tensor(out, std::move(v));
    }
    default:
      break;
  }
  if (!x->info().elementwise || x->nargs == 0) return nullptr;
  const Node* parts[2] = {nullptr, nullptr};
  for (int k = 0; k < x->nargs; ++k)
    if (!(parts[k] = index_through(x->arg(k), axis, i, budget))) return nullptr;
  return apply(x->op, std::span<const Node* const>(parts, x->nargs));
}

const Node* Builder::broadcast_to(const Node* x, const Shape& s) {
  if (x->shape == s) return x;
  return apply(Op::Broadcast, {x}, Attrs{s});
}

const Node* Builder::reshape(const Node* x, const Shape& s) {
  if (x->shape == s) return x;
  return apply(Op::Reshape, {x}, Attrs{s});
}

const Node* Builder::sum_to(const Node* g, const Shape& s) {
  // Sum away the leading axes broadcasting added, then the axes that were 1.
  while (g->shape.rank > s.rank) g = sum(g, 0);
  for (int i = 0; i < s.rank; ++i)
    if (s[i] == 1 && g->shape[i] != 1) g = reshape(sum(g, i), g->shape.with_one(i));
  return reshape(g, s);
}

const Node* Builder::sum(const Node* x, int axis) { return apply(Op::Sum, {x}, Attrs{{}, axis, 0}); }
const Node* Builder::reduce_max(const Node* x, int axis) { return apply(Op::ReduceMax, {x}, Attrs{{}, axis, 0}); }

const Node* Builder::unreduce(const Node* g, const Shape& shape, int axis) {
  if (axis == -1) return broadcast_to(g, shape);
  return broadcast_to(reshape(g, shape.with_one(axis)), shape);
}

const Node* Builder::matmul(const Node* a, const Node* b) { return apply(Op::MatMul, {a, b}); }
const Node* Builder::transpose(const Node* x) {
  if (x->shape.rank == 3) {
    const int swap[] = {0, 2, 1};
    return permute(x, swap);
  }
  return apply(Op::Transpose, {x});
}

const Node* Builder::permute(const Node* x, std::span<const int> perm) {
  const int rank = x->shape.rank;
  std::string axes;
  for (int p : perm) axes += fmt::format("{}{}", axes.empty() ? "" : ", ", p);
  bool valid = static_cast<int>(perm.size()) == rank, identity = true;
  bool seen[Shape::kMaxRank] = {};
  for (std::size_t d = 0; valid && d < perm.size(); ++d) {
    valid = perm[d] >= 0 && perm[d] < rank && !seen[perm[d]];
    if (valid) seen[perm[d]] = true;
    identity = identity && perm[d] == static_cast<int>(d);
  }
  if (!valid)
    throw ShapeError(fmt::format("transpose: axes [{}] are not a permutation of the axes of shape {}", axes,
                                 x->shape.str()));
  if (identity) return x;
  return apply(Op::Transpose, {x}, Attrs{{}, tensor_ops::permutation_code(perm), 0});
}
const Node* Builder::index(const Node* x, int axis, int i) { return apply(Op::Index, {x}, Attrs{{}, axis, i}); }
const Node* Builder::embed(const Node* x, int axis, int i, const Shape& shape) {
  return apply(Op::Embed, {x}, Attrs{shape, axis, i});
}

const Node* Builder::slice(const Node* x, int axis, int start, int len) {
  Shape s = x->shape;
  if (axis >= 0 && axis < s.rank) {
    if (start == 0 && len == s[axis]) return x;
    s.dims[axis] = len;
  }
  return apply(Op::Slice, {x}, Attrs{s, axis, start});
}

const Node* Builder::pad(const Node* x, int axis, int start, const Shape& shape) {
  if (x->shape == shape && start == 0) return x;
  return apply(Op::Pad, {x}, Attrs{shape, axis, start});
}

const Node* Builder::concatenate(std::span<const Node* const> xs, int axis) {
  if (xs.empty()) throw std::logic_error("Builder::concatenate: no operands");
  const Shape& s0 = xs[0]->shape;
  if (s0.rank == 0) throw ShapeError("concatenate: scalars cannot be concatenated (stack them)");
  if (axis < 0 || axis >= s0.rank)
    throw ShapeError(fmt::format("concatenate: axis {} is out of range for shape {}", axis, s0.str()));
  std::int64_t total = 0;
  for (const Node* x : xs) {
    if (x->shape.rank != s0.rank || !(x->shape.with_one(axis) == s0.with_one(axis)))
      throw ShapeError(fmt::format("concatenate: shapes {} and {} differ off axis {}", s0.str(), x->shape.str(), axis));
    total += x->shape[axis];
  }
  if (xs.size() == 1) return xs[0];
  if (total > (1 << 30)) throw ShapeError(fmt::format("dimension {} is out of range", total));
  Shape out = s0;
  out.dims[axis] = static_cast<std::int32_t>(total);
  out.size();
  const Node* r = nullptr;
  int at = 0;
  for (const Node* x : xs) {
    const Node* p = pad(x, axis, at, out);
    r = r ? add(r, p) : p;
    at += x->shape[axis];
  }
  return r;
}

const Node* Builder::stack(std::span<const Node* const> xs, int axis) {
  if (xs.empty()) throw std::logic_error("Builder::stack: no operands");
  const Shape& s0 = xs[0]->shape;
  if (axis < 0 || axis > s0.rank)
    throw ShapeError(fmt::format("stack: axis {} is out of range for operands of shape {}", axis, s0.str()));
  for (const Node* x : xs)
    if (!(x->shape == s0))
      throw ShapeError(fmt::format("stack: shapes {} and {} differ (stack needs equal shapes)", s0.str(), x->shape.str()));
  if (s0.rank == Shape::kMaxRank)
    throw ShapeError(fmt::format("stack: operands of shape {} would make a rank-{} result; the maximum is {}", s0.str(),
                                 Shape::kMaxRank + 1, Shape::kMaxRank));
  Shape one;
  one.rank = static_cast<std::uint8_t>(s0.rank + 1);
  for (int d = 0, e = 0; d < one.rank; ++d) one.dims[d] = d == axis ? 1 : s0[e++];
  std::vector<const Node*> parts;
  for (const Node* x : xs) parts.push_back(reshape(x, one));
  return concatenate(parts, axis);
}

// Each element placed at its row of zeros, and the rows added: made of ops every pass already
// knows (the derivative of Embed is Index).
const Node* Builder::stack_new_axis(std::span<const Node* const> xs) {
  const Shape& s = xs[0]->shape;
  if (s.rank >= Shape::kMaxRank)
    throw ShapeError(fmt::format("stacking elements of shape {} needs more than {} dimensions", s.str(), Shape::kMaxRank));
  std::vector<std::int64_t> dims{static_cast<std::int64_t>(xs.size())};
  for (int i = 0; i < s.rank; ++i) dims.push_back(s[i]);
  Shape out = Shape::of(dims);
  const Node* acc = nullptr;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!(xs[i]->shape == s))
      throw ShapeError(fmt::format("cannot stack shapes {} and {}", s.str(), xs[i]->shape.str()));
    const Node* row = embed(xs[i], 0, static_cast<int>(i), out);
    acc = acc ? add(acc, row) : row;
  }
  return acc;
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
    map[n] = b.apply(n->op, std::span<const Node* const>(args, n->nargs), n->attrs());
  }
  std::vector<const Node*> out;
  for (const Node* r : roots) out.push_back(map.at(r));
  return out;
}

}  // namespace gradc
