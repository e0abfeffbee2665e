// where, clip, norm, diag, tril, triu with NumPy's semantics, composed from the op table's ops.
// A branch or element that is not taken is cut out with mask (exactly 0, even where it is inf
// or nan, in value and in every derivative), never multiplied by 0.
#include "compiler/builtins_math.hpp"

#include <fmt/format.h>

#include <limits>

namespace gradc::builtins_math {
namespace {

using N = const Node*;

// 1 where c is nonzero, 0 where c is 0 (or nan); no derivative.
N nonzero(Builder& b, N c) { return b.call(Op::Sign, b.call(Op::Abs, c)); }

// k ? a : b per element (k is 0 or 1), each side masked.
N select(Builder& b, N k, N a, N c) {
  N take_a = b.apply(Op::Mask, {k, a});
  N take_b = b.apply(Op::Mask, {b.sub(1, k), c});
  return b.add(take_a, take_b);
}

// The constant 0/1 matrix of shape [rows, cols] with 1 where keep(i, j).
template <class Keep>
N pattern(Builder& b, std::int32_t rows, std::int32_t cols, Keep keep) {
  std::vector<double> v(static_cast<std::size_t>(rows) * cols);
  for (std::int32_t i = 0; i < rows; ++i)
    for (std::int32_t j = 0; j < cols; ++j) v[static_cast<std::size_t>(i) * cols + j] = keep(i, j) ? 1.0 : 0.0;
  return b.graph().tensor(Shape{rows, cols}, std::move(v));
}

}  // namespace

// where(cond, a, b): a where cond is nonzero, else b, broadcast together (np.where). cond gets
// no derivative; the side not taken contributes exactly 0.
N where(BuiltinCall& c) {
  N cond = c.tensor(0), a = c.tensor(1), other = c.tensor(2);
  return c.shaped([&] { return select(c.b, nonzero(c.b, cond), a, other); });
}

// clip(x, lo, hi) = min(max(x, lo), hi) as np.clip (hi wins when lo > hi; nan stays nan).
// Derivatives as PyTorch's clamp: x's where lo <= x <= hi (bounds included), lo's where
// x < lo <= hi, hi's where x > hi or lo > hi.
N clip(BuiltinCall& c) {
  Builder& b = c.b;
  N x = c.tensor(0), lo = c.tensor(1), hi = c.tensor(2);
  return c.shaped([&] {
    N below = b.call(Op::Step, b.sub(lo, x));  // x < lo (0 for nan)
    N raised = select(b, below, lo, x);
    N above = b.call(Op::Step, b.sub(raised, hi));  // max(x, lo) > hi
    return select(b, above, hi, raised);
  });
}

// norm(x[, axis]): the 2-norm of every element (np.linalg.norm(x), Frobenius for a matrix) or
// along an axis, which goes away. Its derivative x/norm is taken as 0 where the norm is 0, as
// torch.linalg.norm does: sqrt is applied to s + [s = 0] and the result masked by [s > 0].
N norm(BuiltinCall& c) {
  Builder& b = c.b;
  N x = c.tensor(0);
  if (c.given(1) && x->shape.scalar()) c.shape_error(c.a.loc[1], "norm: a scalar has no axis");
  int axis = c.axis(1, x, -1);
  return c.shaped([&] {
    N squares = b.mul(x, x);
    N s = x->shape.scalar() ? squares : b.sum(squares, axis);
    N positive = b.call(Op::Step, s);
    N safe = b.add(s, b.sub(1, positive));
    return b.apply(Op::Mask, {positive, b.call(Op::Sqrt, safe)});
  });
}

// diag(x) as np.diag with k = 0: a vector [n] becomes the [n, n] matrix with x on its diagonal
// (zeros elsewhere); a matrix [m, n] gives its diagonal, min(m, n) elements.
N diag(BuiltinCall& c) {
  Builder& b = c.b;
  N x = c.tensor(0);
  if (x->shape.rank != 1 && x->shape.rank != 2)
    c.shape_error(fmt::format("diag: x must be a vector or a matrix, not shape {}", x->shape.str()));
  return c.shaped([&] {
    if (x->shape.rank == 1) {
      std::int32_t n = x->shape[0];
      N eye = pattern(b, n, n, [](std::int32_t i, std::int32_t j) { return i == j; });
      return b.apply(Op::Mask, {eye, b.broadcast_to(b.reshape(x, Shape{1, n}), Shape{n, n})});
    }
    std::int32_t m = x->shape[0], n = x->shape[1];
    N eye = pattern(b, m, n, [](std::int32_t i, std::int32_t j) { return i == j; });
    // Each row (m <= n) or column (m > n) holds one diagonal element and exact zeros.
    return b.sum(b.apply(Op::Mask, {eye, x}), m <= n ? 1 : 0);
  });
}

// tril(x, k = 0), triu(x, k = 0) as NumPy: x with the elements above (tril) or below (triu)
// the k-th diagonal set to exactly 0, on the last two axes.
N triangle(BuiltinCall& c) {
  Builder& b = c.b;
  bool lower = c.o.text == "tril";
  N x = c.tensor(0);
  if (x->shape.rank < 2)
    c.shape_error(fmt::format("{}: x must have at least 2 axes, not shape {}", c.o.text, x->shape.str()));
  std::int64_t k = c.given(1) ? c.integer(1, "k", std::numeric_limits<std::int64_t>::min()) : 0;
  std::int32_t rows = x->shape[x->shape.rank - 2], cols = x->shape[x->shape.rank - 1];
  N keep = pattern(b, rows, cols, [&](std::int32_t i, std::int32_t j) {
    std::int64_t d = std::int64_t(j) - i;
    return lower ? d <= k : d >= k;
  });
  return c.shaped([&] { return b.apply(Op::Mask, {keep, x}); });
}

}  // namespace gradc::builtins_math
