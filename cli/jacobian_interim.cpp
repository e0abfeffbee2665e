// Jacobians from reverse mode (see cli/jacobian_interim.hpp).
#include "cli/jacobian_interim.hpp"

namespace gradc::interim {
namespace {

// Element k (row-major) of x as a scalar node.
const Node* element(Builder& b, const Node* x, std::int64_t k) {
  if (x->shape.scalar()) return x;
  const Node* flat = b.reshape(x, Shape{static_cast<std::int32_t>(x->shape.size())});
  return b.index(flat, 0, static_cast<int>(k));
}

// The scalars e (one per element of `shape`, row-major) as one node of that shape.
const Node* assemble(Builder& b, std::span<const Node* const> e, const Shape& shape) {
  if (shape.scalar()) return e[0];
  Shape flat{static_cast<std::int32_t>(e.size())};
  const Node* sum = nullptr;
  for (std::size_t k = 0; k < e.size(); ++k) {
    const Node* placed = b.embed(e[k], 0, static_cast<int>(k), flat);
    sum = sum ? b.add(sum, placed) : placed;
  }
  return b.reshape(sum, shape);
}

// Σ_k <a_k, c_k> over the pairs with c_k given.
const Node* inner(Builder& b, std::span<const Node* const> a, std::span<const Node* const> c) {
  const Node* s = nullptr;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (!c[k]) continue;
    const Node* p = b.mul(a[k], c[k]);
    if (!p->shape.scalar()) p = b.sum(p, -1);
    s = s ? b.add(s, p) : p;
  }
  return s ? s : b.constant(0);
}

std::int64_t total(std::span<const Node* const> nodes) {
  std::int64_t n = 0;
  for (const Node* x : nodes) n += x->shape.size();
  return n;
}

}  // namespace

std::vector<const Node*> vjp(Builder& b, std::span<const Node* const> outputs,
                             std::span<const Node* const> cotangents, std::span<const Node* const> wrt,
                             Origins* origins) {
  // uᵀJ is the gradient of the scalar <outputs, u>.
  return gradient(b, inner(b, outputs, cotangents), wrt, origins);
}

std::vector<const Node*> jvp(Builder& b, std::span<const Node* const> outputs, std::span<const Node* const> wrt,
                             std::span<const Node* const> tangents, Origins* origins) {
  // (Jv)_i = <∇ output_i, v>: one reverse pass per output element.
  std::vector<const Node*> out;
  for (const Node* y : outputs) {
    std::vector<const Node*> e;
    for (std::int64_t i = 0; i < y->shape.size(); ++i)
      e.push_back(inner(b, gradient(b, element(b, y, i), wrt, origins), tangents));
    out.push_back(assemble(b, e, y->shape));
  }
  return out;
}

Jacobian jacobian(Builder& b, std::span<const Node* const> outputs, std::span<const Node* const> wrt, Mode mode,
                  Origins* origins) {
  Jacobian J{mode, total(outputs), total(wrt), {}, {}};
  if (mode == Mode::Auto) J.mode = J.cols <= J.rows ? Mode::Forward : Mode::Reverse;
  std::vector<std::vector<const Node*>> rows;
  for (const Node* y : outputs)
    for (std::int64_t i = 0; i < y->shape.size(); ++i) rows.push_back(gradient(b, element(b, y, i), wrt, origins));
  J.rows_ = rows;  // kept in forward mode too: entry() reads single entries from them
  if (J.mode == Mode::Reverse) return J;
  std::int64_t j = 0;
  for (std::size_t w = 0; w < wrt.size(); ++w)
    for (std::int64_t k = 0; k < wrt[w]->shape.size(); ++k, ++j) {
      std::vector<const Node*> col;
      std::int64_t i = 0;
      for (const Node* y : outputs) {
        std::vector<const Node*> e;
        for (std::int64_t r = 0; r < y->shape.size(); ++r, ++i) e.push_back(element(b, rows[i][w], k));
        col.push_back(assemble(b, e, y->shape));
      }
      J.columns.push_back(std::move(col));
    }
  return J;
}

const Node* Jacobian::entry(Builder& b, std::int64_t i, std::int64_t j) const {
  // Find the block holding flat index k among nodes, and the index within it.
  auto pick = [&](const std::vector<const Node*>& nodes, std::int64_t k) {
    for (const Node* x : nodes) {
      if (k < x->shape.size()) return element(b, x, k);
      k -= x->shape.size();
    }
    return static_cast<const Node*>(nullptr);
  };
  return !rows_.empty() ? pick(rows_[static_cast<std::size_t>(i)], j) : pick(columns[static_cast<std::size_t>(j)], i);
}

}  // namespace gradc::interim
