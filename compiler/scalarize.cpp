// Single elements of tensor expressions as scalar expressions (see compiler/scalarize.hpp).
#include "compiler/scalarize.hpp"

#include <array>
#include <map>
#include <unordered_set>

namespace gradc {
namespace {

using Coords = std::array<std::int64_t, Shape::kMaxRank>;

Coords coords(const Shape& s, std::int64_t k) {
  Coords c{0, 0, 0};
  for (int a = s.rank; a-- > 0;) {
    c[a] = k % s[a];
    k /= s[a];
  }
  return c;
}

std::int64_t flat(const Shape& s, const Coords& c) {
  std::int64_t k = 0;
  for (int a = 0; a < s.rank; ++a) k = k * s[a] + c[a];
  return k;
}

// The element of `from` that NumPy broadcasting reads for element k of `to`.
std::int64_t broadcast_source(const Shape& from, const Shape& to, std::int64_t k) {
  Coords c = coords(to, k), d{0, 0, 0};
  for (int a = 0; a < from.rank; ++a) {
    int b = a + to.rank - from.rank;
    d[a] = from[a] == 1 ? 0 : c[b];
  }
  return flat(from, d);
}

class Scalarizer {
 public:
  explicit Scalarizer(Builder& b, std::span<const Node* const> roots) : b_(b) {
    for (const Node* n : reachable(roots)) {
      bool t = !n->shape.scalar();
      for (int i = 0; i < n->nargs; ++i) t = t || tensors_.count(n->arg(i));
      if (t) tensors_.insert(n);
    }
  }

  // Element k (row-major) of n as a scalar node.
  const Node* at(const Node* n, std::int64_t k) {
    if (!tensors_.count(n)) return n;  // a scalar computed from scalars only: as it is
    auto key = std::make_pair(n, k);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    const Node* r = build(n, k);
    memo_[key] = r;
    return r;
  }

 private:
  const Node* element(const Node* n, std::int64_t k) {
    if (n->shape.scalar()) return n;
    if (n->shape.rank == 1) return b_.index(n, 0, static_cast<int>(k));
    return b_.index(b_.reshape(n, Shape{static_cast<std::int32_t>(n->shape.size())}), 0, static_cast<int>(k));
  }

  const Node* build(const Node* n, std::int64_t k) {
    const Shape& s = n->shape;
    switch (n->op) {
      case Op::Tensor:
        return b_.constant((*n->data)[static_cast<std::size_t>(k)]);
      case Op::Var: {  // x[i][j]: one index per axis, as the language writes it
        Coords c = coords(s, k);
        const Node* e = n;
        for (int a = 0; a < s.rank; ++a) e = b_.index(e, 0, static_cast<int>(c[a]));
        return e;
      }
      case Op::Reshape:
        return at(n->arg(0), k);
      case Op::Broadcast:
        return at(n->arg(0), broadcast_source(n->arg(0)->shape, s, k));
      case Op::Transpose: {
        Coords c = coords(s, k);
        return at(n->arg(0), flat(n->arg(0)->shape, Coords{c[1], c[0], 0}));
      }
      case Op::Index: {
        Coords c = coords(s, k), d{0, 0, 0};
        for (int a = 0, src = 0; a < n->arg(0)->shape.rank; ++a) d[a] = a == n->axis ? n->index : c[src++];
        return at(n->arg(0), flat(n->arg(0)->shape, d));
      }
      case Op::Embed: {
        Coords c = coords(s, k), d{0, 0, 0};
        if (c[n->axis] != n->index) return b_.constant(0);
        for (int a = 0, dst = 0; a < s.rank; ++a)
          if (a != n->axis) d[dst++] = c[a];
        return at(n->arg(0), flat(n->arg(0)->shape, d));
      }
      case Op::Sum: {
        const Node* x = n->arg(0);
        const Shape& xs = x->shape;
        if (n->axis == -1) {
          if (xs.size() > kMaxScalarizedTerms) break;
          const Node* sum = nullptr;
          for (std::int64_t e = 0; e < xs.size(); ++e) sum = sum ? b_.add(sum, at(x, e)) : at(x, e);
          return sum;
        }
        if (xs[n->axis] > kMaxScalarizedTerms) break;
        Coords c = coords(s, k), d{0, 0, 0};
        const Node* sum = nullptr;
        for (std::int32_t t = 0; t < xs[n->axis]; ++t) {
          for (int a = 0, src = 0; a < xs.rank; ++a) d[a] = a == n->axis ? t : c[src++];
          const Node* e = at(x, flat(xs, d));
          sum = sum ? b_.add(sum, e) : e;
        }
        return sum;
      }
      case Op::MatMul: {
        const Node *x = n->arg(0), *y = n->arg(1);
        std::int32_t inner = x->shape[1];
        if (inner > kMaxScalarizedTerms) break;
        Coords c = coords(s, k);
        const Node* sum = nullptr;
        for (std::int32_t t = 0; t < inner; ++t) {
          const Node* e = b_.mul(at(x, c[0] * inner + t), at(y, t * y->shape[1] + c[1]));
          sum = sum ? b_.add(sum, e) : e;
        }
        return sum;
      }
      default:
        if (n->info().elementwise && n->nargs > 0) {
          const Node* args[2] = {nullptr, nullptr};
          for (int i = 0; i < n->nargs; ++i) args[i] = at(n->arg(i), broadcast_source(n->arg(i)->shape, s, k));
          return b_.apply(n->op, std::span<const Node* const>(args, n->nargs));
        }
        break;
    }
    return element(n, k);
  }

  Builder& b_;
  std::unordered_set<const Node*> tensors_;  // nodes with a tensor at or below them
  std::map<std::pair<const Node*, std::int64_t>, const Node*> memo_;
};

}  // namespace

std::vector<const Node*> scalarize(Builder& b, std::span<const Node* const> roots) {
  Scalarizer s(b, roots);
  std::vector<const Node*> out;
  for (const Node* r : roots) out.push_back(s.at(r, 0));
  return out;
}

}  // namespace gradc
