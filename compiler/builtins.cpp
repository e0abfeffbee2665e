// The tensor built-ins: one registry entry each, lowered to the Builder's primitive ops.
#include "compiler/builtins.hpp"
#include "compiler/builtins_math.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace gradc {

int BuiltinCall::axis(std::size_t i, const Node* x, int dflt) {
  if (!a.expr[i]) return dflt == -2 ? static_cast<int>(x->shape.rank) - 1 : dflt;
  std::int64_t ax = integer(i, "an axis", std::numeric_limits<std::int64_t>::min());
  if (ax < -x->shape.rank || ax >= x->shape.rank)
    shape_error(a.loc[i], fmt::format("axis {} is out of range for shape {}", ax, x->shape.str()));
  return static_cast<int>(ax < 0 ? ax + x->shape.rank : ax);
}

std::vector<ast::Expr> BuiltinCall::elements(std::size_t i, const char* what) {
  if (const std::vector<ast::Expr>* l = list(i)) return *l;
  error(a.loc[i], fmt::format("'{}' needs a list [..] as {}", o.text, what));
}

const std::vector<ast::Expr>* BuiltinCall::list(std::size_t i) const {
  const ast::Expr& e = *a.expr[i];
  if (!e.steps.empty() || !e.first.steps.empty() || !e.first.first.signs.empty() ||
      !e.first.first.power.steps.empty())
    return nullptr;
  const ast::Operand& op = e.first.first.power.base;
  return op.kind == ast::Operand::Tensor && op.postfix.empty() ? &op.args : nullptr;
}

std::string BuiltinCall::string(std::size_t i, const char* what) const {
  const ast::Expr& e = *a.expr[i];
  if (e.steps.empty() && e.first.steps.empty() && e.first.first.signs.empty() &&
      e.first.first.power.steps.empty() && e.first.first.power.base.kind == ast::Operand::String &&
      e.first.first.power.base.postfix.empty())
    return e.first.first.power.base.text;
  l_.error(a.loc[i], fmt::format("'{}' needs a string \"..\" as {}", o.text, what));
}

namespace {

using N = const Node*;

double count(N x, int axis) { return static_cast<double>(axis < 0 ? x->shape.size() : x->shape[axis]); }

// log_softmax(x) along axis = z - log(sum(exp(z))), z = x - max(x): the maximum is detached,
// which changes nothing in value or derivative but keeps exp from overflowing.
N log_softmax(BuiltinCall& c, N x, int axis) {
  Builder& b = c.b;
  return c.shaped([&] {
    N m = b.unreduce(b.apply(Op::Detach, {b.reduce_max(x, axis)}), x->shape, axis);
    N z = b.sub(x, m);
    return b.sub(z, b.unreduce(b.call(Op::Log, b.sum(b.call(Op::Exp, z), axis)), x->shape, axis));
  });
}

// sum, mean, max, min (x[, axis]): over every element by default.
N reduction(BuiltinCall& c) {
  Builder& b = c.b;
  const std::string& f = c.o.text;
  N x = c.tensor(0);
  int axis = c.axis(1, x, -1);
  if (x->shape.scalar()) return x;
  if (f == "max") return c.shaped([&] { return b.reduce_max(x, axis); });
  if (f == "min") return c.shaped([&] { return b.neg(b.reduce_max(b.neg(x), axis)); });  // min = -max(-x)
  N s = c.shaped([&] { return b.sum(x, axis); });
  return f == "sum" ? s : c.shaped([&] { return b.div(s, b.constant(count(x, axis))); });
}

// max(x) and max(x, axis = ...) reduce; max(a, b) is the elementwise op.
bool reduces(const ast::Operand& o) {
  return o.args.size() == 1 || (o.args.size() == 2 && !o.arg_names[1].empty());
}

// softmax, log_softmax (along the last axis by default) and logsumexp (over every element).
N softmax_family(BuiltinCall& c) {
  Builder& b = c.b;
  const std::string& f = c.o.text;
  N x = c.tensor(0);
  if (x->shape.scalar()) c.shape_error(fmt::format("'{}' needs a tensor, not a scalar", f));
  int axis = c.axis(1, x, f == "logsumexp" ? -1 : -2);
  if (f == "log_softmax") return log_softmax(c, x, axis);
  return c.shaped([&] {
    N md = b.apply(Op::Detach, {b.reduce_max(x, axis)});
    N e = b.call(Op::Exp, b.sub(x, b.unreduce(md, x->shape, axis)));
    N s = b.sum(e, axis);
    if (f == "softmax") return b.div(e, b.unreduce(s, x->shape, axis));
    return b.add(md, b.call(Op::Log, s));  // logsumexp
  });
}

N onehot(BuiltinCall& c) {
  N x = c.tensor(0);
  std::int64_t k = c.integer(1, "classes", 1);
  std::int64_t rows = x->shape.rank ? x->shape[0] : 1;
  if (k > kMaxElements / rows)
    c.error(fmt::format("onehot: {} labels of {} classes make {} elements; at most {} (1 GiB of f64) are supported",
                        rows, k, rows * k, kMaxElements));
  c.check_labels(x, k, expr_loc(*c.a.expr[0]));
  return c.shaped([&] { return c.b.apply(Op::OneHot, {c.b.apply(Op::Detach, {x})}, Attrs{{}, 0, static_cast<int>(k)}); });
}

// transpose(x[, axes]): NumPy's; without axes the axes reversed (X^T of a matrix).
N transpose(BuiltinCall& c) {
  N x = c.tensor(0);
  if (!c.given(1)) return c.shaped([&] { return c.b.apply(Op::Transpose, {x}); });
  std::vector<int> axes;
  for (const ast::Expr& e : c.elements(1, "axes")) {
    std::int64_t ax = c.integer(e, "an axis", std::numeric_limits<std::int64_t>::min());
    if (ax < -x->shape.rank || ax >= x->shape.rank)
      c.shape_error(expr_loc(e), fmt::format("axis {} is out of range for shape {}", ax, x->shape.str()));
    axes.push_back(static_cast<int>(ax < 0 ? ax + x->shape.rank : ax));
  }
  return c.shaped([&] { return c.b.permute(x, axes); });
}

// The operands of stack / concatenate: the elements of a list `[a, b, ...]`, or the rows of a
// tensor (NumPy iterates over its first axis).
std::vector<N> operands(BuiltinCall& c) {
  std::vector<N> xs;
  if (const std::vector<ast::Expr>* l = c.list(0)) {
    for (const ast::Expr& e : *l) xs.push_back(c.lower(e));
    return xs;
  }
  N x = c.tensor(0);
  if (x->shape.scalar()) c.shape_error(fmt::format("'{}' needs a list of tensors, not a scalar", c.o.text));
  for (int i = 0; i < x->shape[0]; ++i) xs.push_back(c.shaped([&] { return c.b.index(x, 0, i); }));
  return xs;
}

// stack(arrays[, axis]) and concatenate(arrays[, axis]): NumPy's, axis 0 by default.
N join(BuiltinCall& c) {
  bool stack = c.o.text == "stack";
  std::vector<N> xs = operands(c);
  int rank = xs[0]->shape.rank + (stack ? 1 : 0);
  int axis = 0;
  if (c.given(1)) {
    std::int64_t ax = c.integer(1, "an axis", std::numeric_limits<std::int64_t>::min());
    if (ax < -rank || ax >= rank || rank == 0)
      c.shape_error(c.a.loc[1], fmt::format("axis {} is out of range for {} shape {}", ax,
                                            stack ? "stacking operands of" : "concatenating operands of",
                                            xs[0]->shape.str()));
    axis = static_cast<int>(ax < 0 ? ax + rank : ax);
  }
  return c.shaped([&] { return stack ? c.b.stack(xs, axis) : c.b.concatenate(xs, axis); });
}

// reshape(x, shape): NumPy's, row-major; one dimension may be -1 (whatever fits).
N reshape(BuiltinCall& c) {
  N x = c.tensor(0);
  std::vector<std::int64_t> dims;
  std::string written;
  int unknown = -1;
  auto add = [&](const ast::Expr& e) {
    std::int64_t d = c.integer(e, "a dimension", -1);
    if (d == 0) c.error(expr_loc(e), "a dimension must be an integer of at least 1, not 0");
    if (d == -1) {
      if (unknown >= 0) c.error(expr_loc(e), "reshape: only one dimension can be -1");
      unknown = static_cast<int>(dims.size());
    }
    written += fmt::format("{}{}", written.empty() ? "" : ", ", d);
    dims.push_back(d);
  };
  if (const std::vector<ast::Expr>* l = c.list(1))
    for (const ast::Expr& e : *l) add(e);
  else
    add(*c.a.expr[1]);
  if (unknown >= 0) {
    std::int64_t known = 1;
    for (std::int64_t d : dims) known *= d == -1 ? 1 : d;
    if (x->shape.size() % known != 0)
      c.shape_error(fmt::format("reshape: cannot reshape {} to [{}]", x->shape.str(), written));
    dims[unknown] = x->shape.size() / known;
  }
  return c.shaped([&] {
    Shape s = Shape::of(dims);
    if (s.size() != x->shape.size())
      throw ShapeError(fmt::format("reshape: cannot reshape {} to [{}]", x->shape.str(), written));
    return c.b.reshape(x, s);
  });
}

// expand_dims(x, axis): an axis of size 1 inserted at `axis` (NumPy's).
N expand_dims(BuiltinCall& c) {
  N x = c.tensor(0);
  int rank = x->shape.rank + 1;
  std::int64_t ax = c.integer(1, "an axis", std::numeric_limits<std::int64_t>::min());
  if (ax < -rank || ax >= rank)
    c.shape_error(c.a.loc[1], fmt::format("axis {} is out of range for expanding shape {}", ax, x->shape.str()));
  int axis = static_cast<int>(ax < 0 ? ax + rank : ax);
  return c.shaped([&] {
    std::vector<std::int64_t> dims;
    for (int d = 0, e = 0; d < rank; ++d) dims.push_back(d == axis ? 1 : x->shape[e++]);
    return c.b.reshape(x, Shape::of(dims));
  });
}

N mse(BuiltinCall& c) {
  Builder& b = c.b;
  N p = c.tensor(0);
  N t = c.tensor(1);
  if (!(p->shape == t->shape))
    c.shape_error(fmt::format("mse: the prediction has shape {} but the target has shape {}", p->shape.str(),
                              t->shape.str()));
  return c.shaped([&] {
    N d = b.sub(p, t);
    // Named locals: C++ leaves the order of function arguments unspecified, and the order in
    // which nodes are made is their id in the listings (the same with every compiler).
    N n = b.constant(static_cast<double>(p->shape.size()));
    N total = b.sum(b.mul(d, d), -1);
    return b.div(total, n);
  });
}

// -mean over rows of sum(target * log_softmax(logits)); integer labels become one-hot rows.
N cross_entropy(BuiltinCall& c) {
  Builder& b = c.b;
  N z = c.tensor(0);
  N t = c.tensor(1);
  if (z->shape.rank != 2)
    c.shape_error(fmt::format("cross_entropy: logits must be [rows, classes], not {}", z->shape.str()));
  if (t->shape.rank == 1 && t->shape[0] == z->shape[0]) {
    c.check_labels(t, z->shape[1], expr_loc(*c.a.expr[1]));
    t = c.shaped([&] { return b.apply(Op::OneHot, {b.apply(Op::Detach, {t})}, Attrs{{}, 0, z->shape[1]}); });
  } else if (!(t->shape == z->shape)) {
    c.shape_error(fmt::format("cross_entropy: logits {} need class labels [{}] or probabilities {}, not {}",
                              z->shape.str(), z->shape[0], z->shape.str(), t->shape.str()));
  }
  N ls = log_softmax(c, z, 1);
  return c.shaped([&] {
    N rows = b.constant(static_cast<double>(z->shape[0]));
    N total = b.sum(b.mul(t, ls), -1);
    return b.neg(b.div(total, rows));
  });
}

// mean(softplus(z) - y z): log(1 + e^z) - y z, stable for large |z|.
N binary_cross_entropy(BuiltinCall& c) {
  Builder& b = c.b;
  N z = c.tensor(0);
  N t = c.tensor(1);
  if (!(z->shape == t->shape))
    c.shape_error(fmt::format("binary_cross_entropy: the logits have shape {} but the target has shape {}",
                              z->shape.str(), t->shape.str()));
  return c.shaped([&] {
    N yz = b.mul(t, z);
    N l = b.sub(b.call(Op::Softplus, z), yz);
    N n = b.constant(static_cast<double>(z->shape.size()));
    N total = b.sum(l, -1);
    return b.div(total, n);
  });
}

const std::vector<Builtin> kBuiltins = {
    {"sum", {"x", "axis"}, 1, reduction},
    {"mean", {"x", "axis"}, 1, reduction},
    {"max", {"x", "axis"}, 1, reduction, reduces},
    {"min", {"x", "axis"}, 1, reduction, reduces},
    {"where", {"cond", "a", "b"}, 3, builtins_math::where},
    {"clip", {"x", "lo", "hi"}, 3, builtins_math::clip},
    {"norm", {"x", "axis"}, 1, builtins_math::norm},
    {"diag", {"x"}, 1, builtins_math::diag},
    {"tril", {"x", "k"}, 1, builtins_math::triangle},
    {"triu", {"x", "k"}, 1, builtins_math::triangle},
    {"softmax", {"x", "axis"}, 1, softmax_family},
    {"log_softmax", {"x", "axis"}, 1, softmax_family},
    {"logsumexp", {"x", "axis"}, 1, softmax_family},
    {"onehot", {"labels", "classes"}, 2, onehot},
    {"transpose", {"x", "axes"}, 1, transpose},
    {"stack", {"arrays", "axis"}, 1, join},
    {"concatenate", {"arrays", "axis"}, 1, join},
    {"reshape", {"x", "shape"}, 2, reshape},
    {"expand_dims", {"x", "axis"}, 2, expand_dims},
    {"einsum", {"subscripts", "a", "b", "c"}, 2, lower_einsum},
    {"mse", {"prediction", "target"}, 2, mse},
    {"cross_entropy", {"logits", "target"}, 2, cross_entropy},
    {"binary_cross_entropy", {"logits", "target"}, 2, binary_cross_entropy},
};

}  // namespace

const Builtin* find_builtin(const ast::Operand& o) {
  for (const Builtin& f : kBuiltins)
    if (o.text == f.name && (!f.applies || f.applies(o))) return &f;
  return nullptr;
}

std::span<const Builtin> builtins() { return kBuiltins; }

}  // namespace gradc
