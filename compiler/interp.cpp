// The IR interpreter.
#include "compiler/interp.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace gradc {
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

// Evaluates a tensor op (not elementwise) on its argument values.
std::vector<double> eval_tensor_op(const Node* n, const std::vector<double>* const* a) {
  const Shape& out = n->shape;
  std::vector<double> r(static_cast<std::size_t>(out.size()), 0.0);
  const Shape& xs = n->arg(0)->shape;
  const std::vector<double>& x = *a[0];
  Dims O(out), X(xs);
  switch (n->op) {
    case Op::Broadcast:  // out[i,j,k] = x[i or 0, j or 0, k or 0] (aligned right)
      for (std::int64_t i = 0; i < O.d[0]; ++i)
        for (std::int64_t j = 0; j < O.d[1]; ++j)
          for (std::int64_t k = 0; k < O.d[2]; ++k)
            r[O.at(i, j, k)] = x[X.at(X.d[0] == 1 ? 0 : i, X.d[1] == 1 ? 0 : j, X.d[2] == 1 ? 0 : k)];
      return r;
    case Op::Reshape:
    case Op::Detach:
      return x;
    case Op::Sum:
    case Op::ReduceMax: {
      bool max = n->op == Op::ReduceMax;
      if (n->axis == -1) {
        double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (double v : x) acc = max ? (v > acc || std::isnan(v) ? v : acc) : acc + v;
        r[0] = acc;
        return r;
      }
      int ax = n->axis + X.pad;  // reduce axis `ax` of the padded input
      Shape keep = xs.with_one(n->axis);
      Dims K(keep);
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
      return r;
    }
    case Op::MatMul: {
      const std::vector<double>& y = *a[1];
      std::int64_t m = xs[0], kk = xs[1], p = n->arg(1)->shape[1];
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t k = 0; k < kk; ++k)
          for (std::int64_t j = 0; j < p; ++j) r[i * p + j] += x[i * kk + k] * y[k * p + j];
      return r;
    }
    case Op::Transpose:
      for (std::int64_t i = 0; i < xs[0]; ++i)
        for (std::int64_t j = 0; j < xs[1]; ++j) r[j * xs[0] + i] = x[i * xs[1] + j];
      return r;
    case Op::Index:  // out = x with axis fixed at index
    case Op::Embed: {  // out = zeros, with the slice at index along axis = x
      const Shape& big = n->op == Op::Index ? xs : out;
      Dims B(big);
      int ax = n->axis + B.pad;
      std::int64_t small = 0;
      for (std::int64_t i = 0; i < B.d[0]; ++i)
        for (std::int64_t j = 0; j < B.d[1]; ++j)
          for (std::int64_t k = 0; k < B.d[2]; ++k) {
            std::int64_t idx[3] = {i, j, k};
            if (idx[ax] != n->index) continue;
            if (n->op == Op::Index) {
              r[small++] = x[B.at(i, j, k)];
            } else {
              r[B.at(i, j, k)] = x[small++];
            }
          }
      return r;
    }
    case Op::OneHot:  // a label that is not a class index gives a row of zeros
      for (std::int64_t i = 0; i < xs[0]; ++i) {
        double c = x[i];
        if (c >= 0 && c < n->index && c == std::floor(c)) r[i * n->index + static_cast<std::int64_t>(c)] = 1;
      }
      return r;
    default:
      throw std::logic_error("interpreter: unhandled op");
  }
}

// Evaluates every node reachable from roots in id order; calls visit(node, args, result).
template <class Visit>
std::unordered_map<const Node*, std::vector<double>> run(std::span<const Node* const> roots,
                                                         std::span<const Node* const> vars,
                                                         std::span<const Tensor> values, Visit visit) {
  std::unordered_map<const Node*, std::vector<double>> val;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (!(values[i].shape == vars[i]->shape))
      throw std::logic_error("evaluate: value of '" + vars[i]->name + "' has the wrong shape");
    val[vars[i]] = values[i].data;
  }
  for (const Node* n : reachable(roots)) {
    std::vector<double> r;
    const std::vector<double>* args[2] = {nullptr, nullptr};
    for (int i = 0; i < n->nargs; ++i) args[i] = &val.at(n->arg(i));
    if (n->op == Op::Const) {
      r = {n->value};
    } else if (n->op == Op::Tensor) {
      r = *n->data;
    } else if (n->op == Op::Var) {
      auto it = val.find(n);
      if (it == val.end()) throw std::logic_error("evaluate: no value for variable '" + n->name + "'");
      continue;
    } else if (n->info().elementwise) {
      r.resize(static_cast<std::size_t>(n->shape.size()));
      for (std::size_t e = 0; e < r.size(); ++e) {
        double in[2] = {(*args[0])[e], n->nargs > 1 ? (*args[1])[e] : 0.0};
        r[e] = n->info().eval(in);
      }
    } else {
      r = eval_tensor_op(n, args);
    }
    if (!visit(n, args, r)) break;
    val[n] = std::move(r);
  }
  return val;
}

}  // namespace

std::vector<Tensor> evaluate_tensors(std::span<const Node* const> roots, std::span<const Node* const> vars,
                                     std::span<const Tensor> values) {
  auto val = run(roots, vars, values, [](const Node*, auto, const std::vector<double>&) { return true; });
  std::vector<Tensor> out;
  for (const Node* r : roots) out.push_back(Tensor{r->shape, val.at(r)});
  return out;
}

namespace {
std::vector<Tensor> scalars(std::span<const double> values) {
  std::vector<Tensor> t;
  for (double v : values) t.push_back(Tensor::scalar(v));
  return t;
}
}  // namespace

std::vector<double> evaluate(std::span<const Node* const> roots, std::span<const Node* const> vars,
                             std::span<const double> values) {
  std::vector<double> out;
  for (const Tensor& t : evaluate_tensors(roots, vars, scalars(values))) out.push_back(t.data.at(0));
  return out;
}

std::optional<DomainError> find_domain_error(std::span<const Node* const> roots,
                                             std::span<const Node* const> vars,
                                             std::span<const double> values) {
  std::optional<DomainError> found;
  run(roots, vars, scalars(values), [&](const Node* n, auto args, const std::vector<double>& r) {
    if (n->nargs == 0 || !n->info().elementwise) return true;
    for (std::size_t e = 0; e < r.size(); ++e) {
      if (std::isfinite(r[e])) continue;
      double in[2] = {(*args[0])[e], n->nargs > 1 ? (*args[1])[e] : 0.0};
      if (!std::isfinite(in[0]) || (n->nargs > 1 && !std::isfinite(in[1]))) continue;
      found = DomainError{n, {in[0], in[1]}, r[e]};
      return false;
    }
    return true;
  });
  return found;
}

}  // namespace gradc
