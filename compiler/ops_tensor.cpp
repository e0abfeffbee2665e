// The tensor ops' shape rules and evaluations (the reference interpreter's), one pair per op,
// in the order of the op table's rows.
#include "compiler/ops_tensor.hpp"

#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>

namespace gradc::tensor_ops {
namespace {

// A shape padded on the left to rank 3, with its strides, for index arithmetic.
struct Dims {
  std::int64_t d[3], stride[3];
  int pad;  // 3 - rank
  explicit Dims(const Shape& s) : pad(3 - s.rank) {
    for (int i = 0; i < 3; ++i) d[i] = i < pad ? 1 : s.dims[i - pad];
    stride[2] = 1;
    stride[1] = d[2];
    stride[0] = d[1] * d[2];
  }
  std::int64_t at(std::int64_t i, std::int64_t j, std::int64_t k) const { return i * stride[0] + j * stride[1] + k * stride[2]; }
};

ShapeError bad(const char* op, const std::string& why) { return ShapeError(fmt::format("{}: {}", op, why)); }

void check_axis(const char* op, const Shape& x, int axis) {
  if (axis < 0 || axis >= x.rank) throw bad(op, fmt::format("axis {} is out of range for shape {}", axis, x.str()));
}

// Can `from` be broadcast to `to` (NumPy rules, `to` being the result)?
bool broadcastable(const Shape& from, const Shape& to) {
  if (from.rank > to.rank) return false;
  for (int i = 0; i < from.rank; ++i) {
    std::int32_t d = from.dims[i], t = to.dims[i + (to.rank - from.rank)];
    if (d != t && d != 1) return false;
  }
  return true;
}

}  // namespace

// ---- broadcast(x) to at.shape: out[i,j,k] = x[i or 0, j or 0, k or 0] (aligned right)
Shape broadcast_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  if (!broadcastable(x, at.shape)) throw bad("broadcast", fmt::format("cannot broadcast {} to {}", x.str(), at.shape.str()));
  return at.shape;
}
void broadcast_eval(const Node* n, Values a, std::vector<double>& r) {
  const std::vector<double>& x = *a[0];
  Dims O(n->shape), X(n->arg(0)->shape);
  for (std::int64_t i = 0; i < O.d[0]; ++i)
    for (std::int64_t j = 0; j < O.d[1]; ++j)
      for (std::int64_t k = 0; k < O.d[2]; ++k)
        r[O.at(i, j, k)] = x[X.at(X.d[0] == 1 ? 0 : i, X.d[1] == 1 ? 0 : j, X.d[2] == 1 ? 0 : k)];
}

// ---- reshape(x) to at.shape: the same elements in row-major order
Shape reshape_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  if (x.size() != at.shape.size()) throw bad("reshape", fmt::format("cannot reshape {} to {}", x.str(), at.shape.str()));
  return at.shape;
}
void reshape_eval(const Node*, Values a, std::vector<double>& r) { r = *a[0]; }

// ---- sum(x, axis) and max(x, axis); axis -1 reduces every axis. The maximum propagates nan.
namespace {
Shape reduced(const char* op, const Shape& x, const Attrs& at) {
  if (at.axis == -1) return Shape{};
  check_axis(op, x, at.axis);
  return x.without(at.axis);
}
}  // namespace
Shape sum_shape(const Node* const* args, const Attrs& at) { return reduced("sum", args[0]->shape, at); }
Shape reduce_max_shape(const Node* const* args, const Attrs& at) { return reduced("max", args[0]->shape, at); }
void reduce_eval(const Node* n, Values a, std::vector<double>& r) {
  const std::vector<double>& x = *a[0];
  const Shape& xs = n->arg(0)->shape;
  bool max = n->op == Op::ReduceMax;
  if (n->axis == -1) {
    double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (double v : x) acc = max ? (v > acc || std::isnan(v) ? v : acc) : acc + v;
    r[0] = acc;
    return;
  }
  Dims X(xs);
  int ax = n->axis + X.pad;  // reduce axis `ax` of the padded input
  Dims K(xs.with_one(n->axis));
  std::vector<bool> seen(r.size(), false);
  for (std::int64_t i = 0; i < X.d[0]; ++i)
    for (std::int64_t j = 0; j < X.d[1]; ++j)
      for (std::int64_t k = 0; k < X.d[2]; ++k) {
        std::int64_t idx[3] = {i, j, k};
        idx[ax] = 0;
        std::int64_t o = K.at(idx[0], idx[1], idx[2]);
        double v = x[X.at(i, j, k)];
        if (!max) {
          r[o] += v;
        } else if (!seen[o] || v > r[o] || std::isnan(v)) {
          r[o] = std::isnan(r[o]) && seen[o] ? r[o] : v;
          seen[o] = true;
        }
      }
}

// ---- A @ B for matrices, and for stacks of them ([b, n, k] @ [b, k, m] = [b, n, m])
Shape matmul_shape(const Node* const* args, const Attrs&) {
  const Shape &x = args[0]->shape, &y = args[1]->shape;
  bool fits = x.rank == y.rank && (x.rank == 2 || (x.rank == 3 && x[0] == y[0])) && x[x.rank - 1] == y[y.rank - 2];
  if (!fits) throw ShapeError(fmt::format("shapes {} and {} do not fit a matrix product", x.str(), y.str()));
  return x.rank == 2 ? Shape{x[0], y[1]} : Shape{x[0], x[1], y[2]};
}
void matmul_eval(const Node* n, Values a, std::vector<double>& r) {
  const std::vector<double>&x = *a[0], &y = *a[1];
  const Shape &xs = n->arg(0)->shape, &ys = n->arg(1)->shape;
  std::int64_t batch = xs.rank == 3 ? xs[0] : 1;
  std::int64_t m = xs[xs.rank - 2], kk = xs[xs.rank - 1], p = ys[ys.rank - 1];
  for (std::int64_t q = 0; q < batch; ++q) {
    const double* X = x.data() + q * m * kk;
    const double* Y = y.data() + q * kk * p;
    double* R = r.data() + q * m * p;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t k = 0; k < kk; ++k)
        for (std::int64_t j = 0; j < p; ++j) R[i * p + j] += X[i * kk + k] * Y[k * p + j];
  }
}

std::array<int, Shape::kMaxRank> permutation(int code, int rank) {
  std::array<int, Shape::kMaxRank> p{0, 1, 2};
  for (int d = 0; d < rank; ++d) p[d] = code == 0 ? rank - 1 - d : ((code - 1) >> (2 * d)) & 3;
  return p;
}

std::string axes_text(const Node* n) {
  auto p = permutation(n->axis, n->shape.rank);
  std::string s = "[";
  for (int d = 0; d < n->shape.rank; ++d) s += fmt::format("{}{}", d ? ", " : "", p[d]);
  return s + "]";
}

int permutation_code(std::span<const int> perm) {
  bool reversal = true;
  int code = 1;
  for (std::size_t d = 0; d < perm.size(); ++d) {
    reversal = reversal && perm[d] == static_cast<int>(perm.size() - 1 - d);
    code += perm[d] << (2 * d);
  }
  return reversal ? 0 : code;
}

// ---- transpose(x, axes): axis d of the result is axis axes[d] of x (NumPy); by default the
// axes reversed (X^T for a matrix)
Shape transpose_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  if (x.rank < 2) throw bad("transpose", fmt::format("needs a matrix, not shape {}", x.str()));
  if (at.axis < 0 || at.axis > 1 << (2 * x.rank))
    throw bad("transpose", fmt::format("bad permutation code {} for shape {}", at.axis, x.str()));
  auto p = permutation(at.axis, x.rank);
  bool seen[Shape::kMaxRank] = {};
  for (int d = 0; d < x.rank; ++d) {
    if (p[d] >= x.rank || seen[p[d]]) throw bad("transpose", fmt::format("bad permutation code {} for shape {}", at.axis, x.str()));
    seen[p[d]] = true;
  }
  Shape s = x;
  for (int d = 0; d < x.rank; ++d) s.dims[d] = x[p[d]];
  return s;
}
void transpose_eval(const Node* n, Values a, std::vector<double>& r) {
  const std::vector<double>& x = *a[0];
  const Shape &xs = n->arg(0)->shape, &s = n->shape;
  auto p = permutation(n->axis, xs.rank);
  Dims O(s), X(xs);
  for (std::int64_t i = 0; i < O.d[0]; ++i)
    for (std::int64_t j = 0; j < O.d[1]; ++j)
      for (std::int64_t k = 0; k < O.d[2]; ++k) {
        std::int64_t out[3] = {i, j, k}, in[3] = {0, 0, 0};
        for (int d = 0; d < s.rank; ++d) in[X.pad + p[d]] = out[O.pad + d];
        r[O.at(i, j, k)] = x[X.at(in[0], in[1], in[2])];
      }
}

// Index: out = x with `axis` fixed at `index`; Embed: out = zeros, with the slice at `index`
// along `axis` = x. One walk over the larger shape serves both.
namespace {
void place(const Node* n, const std::vector<double>& x, std::vector<double>& r) {
  const Shape& big = n->op == Op::Index ? n->arg(0)->shape : n->shape;
  Dims B(big);
  int ax = n->axis + B.pad;
  std::int64_t small = 0;
  for (std::int64_t i = 0; i < B.d[0]; ++i)
    for (std::int64_t j = 0; j < B.d[1]; ++j)
      for (std::int64_t k = 0; k < B.d[2]; ++k) {
        std::int64_t idx[3] = {i, j, k};
        if (idx[ax] != n->index) continue;
        if (n->op == Op::Index)
          r[small++] = x[B.at(i, j, k)];
        else
          r[B.at(i, j, k)] = x[small++];
      }
}
}  // namespace

// ---- x[index] along axis
Shape index_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  check_axis("index", x, at.axis);
  if (at.index < 0 || at.index >= x[at.axis])
    throw bad("index", fmt::format("index {} is out of range for axis {} of shape {}", at.index, at.axis, x.str()));
  return x.without(at.axis);
}
void index_eval(const Node* n, Values a, std::vector<double>& r) { place(n, *a[0], r); }

// ---- embed(x) at index along axis of at.shape, zeros elsewhere
Shape embed_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  if (at.axis < 0 || at.axis >= at.shape.rank || !(at.shape.without(at.axis) == x) || at.index < 0 ||
      at.index >= at.shape[at.axis])
    throw bad("embed", fmt::format("cannot place {} at index {} of axis {} in {}", x.str(), at.index, at.axis,
                                   at.shape.str()));
  return at.shape;
}
void embed_eval(const Node* n, Values a, std::vector<double>& r) { place(n, *a[0], r); }

// ---- onehot(labels) with `index` classes: a label that is not a class index gives a row of zeros
Shape onehot_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  if (x.rank != 1 || at.index < 1) throw bad("onehot", fmt::format("needs a vector of labels, not shape {}", x.str()));
  return Shape{x[0], at.index};
}
void onehot_eval(const Node* n, Values a, std::vector<double>& r) {
  const std::vector<double>& x = *a[0];
  for (std::int64_t i = 0; i < n->arg(0)->shape[0]; ++i) {
    double c = x[i];
    if (c >= 0 && c < n->index && c == std::floor(c)) r[i * n->index + static_cast<std::int64_t>(c)] = 1;
  }
}

// ---- detach(x) = x
Shape detach_shape(const Node* const* args, const Attrs&) { return args[0]->shape; }
void detach_eval(const Node*, Values a, std::vector<double>& r) { r = *a[0]; }

// Slice: out = x[start : start + len] along axis; Pad: out = zeros, with x at start along axis.
// One walk over the smaller shape serves both.
namespace {
void block(const Node* n, const std::vector<double>& x, std::vector<double>& r) {
  bool slice = n->op == Op::Slice;
  const Shape &small = slice ? n->shape : n->arg(0)->shape, &big = slice ? n->arg(0)->shape : n->shape;
  Dims S(small), B(big);
  int ax = n->axis + S.pad;
  std::int64_t at = 0;
  for (std::int64_t i = 0; i < S.d[0]; ++i)
    for (std::int64_t j = 0; j < S.d[1]; ++j)
      for (std::int64_t k = 0; k < S.d[2]; ++k, ++at) {
        std::int64_t idx[3] = {i, j, k};
        idx[ax] += n->index;
        std::int64_t o = B.at(idx[0], idx[1], idx[2]);
        if (slice)
          r[at] = x[o];
        else
          r[o] = x[at];
      }
}

// Whether `small` is `big` but along `axis`, where it fits at `start`.
bool fits_in(const Shape& small, const Shape& big, int axis, int start) {
  return axis >= 0 && axis < big.rank && small.rank == big.rank && small.with_one(axis) == big.with_one(axis) &&
         start >= 0 && std::int64_t(start) + small[axis] <= big[axis];
}
}  // namespace

// ---- slice(x): at.shape is the result, elements start.. of axis
Shape slice_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  if (!fits_in(at.shape, x, at.axis, at.index))
    throw bad("slice", fmt::format("cannot take {} from {} at index {} of axis {}", at.shape.str(), x.str(), at.index,
                                   at.axis));
  return at.shape;
}
void slice_eval(const Node* n, Values a, std::vector<double>& r) { block(n, *a[0], r); }

// ---- pad(x) with zeros to at.shape, x starting at index `start` of axis
Shape pad_shape(const Node* const* args, const Attrs& at) {
  const Shape& x = args[0]->shape;
  if (!fits_in(x, at.shape, at.axis, at.index))
    throw bad("pad", fmt::format("cannot place {} at index {} of axis {} in {}", x.str(), at.index, at.axis,
                                 at.shape.str()));
  return at.shape;
}
void pad_eval(const Node* n, Values a, std::vector<double>& r) { block(n, *a[0], r); }

}  // namespace gradc::tensor_ops
