// Forward mode: walk the nodes in topological order and let each node's JVP rule (ops.cpp)
// combine its arguments' tangents. A missing tangent is an exact zero, so only nodes that
// depend on a seeded input get one. Jacobians, Hessians and HVPs are built from the two modes.
#include "compiler/forward.hpp"

#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

namespace gradc {
namespace {

bool is_zero(const Node* n) { return n->is_const(0) || (n->op == Op::Broadcast && n->arg(0)->is_const(0)); }

// The one-hot tangent: 1 at element e of shape s, 0 elsewhere (constant data for a tensor).
const Node* unit(Builder& b, const Shape& s, std::int64_t e) {
  if (s.scalar()) return b.constant(1);
  std::vector<double> data(static_cast<std::size_t>(s.size()), 0.0);
  data[static_cast<std::size_t>(e)] = 1;
  return b.graph().tensor(s, std::move(data));
}

// Which part holds flattened element i, and i's offset within it.
std::pair<std::size_t, std::int64_t> locate(const std::vector<std::int64_t>& sizes, std::int64_t i) {
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (i < sizes[k]) return {k, i};
    i -= sizes[k];
  }
  throw std::out_of_range("Jacobian::entry: index out of range");
}

std::vector<std::int64_t> sizes_of(std::span<const Node* const> nodes) {
  std::vector<std::int64_t> s;
  for (const Node* n : nodes) s.push_back(n->shape.size());
  return s;
}

}  // namespace

std::vector<const Node*> jvp(Builder& b, std::span<const Node* const> outputs, std::span<const Node* const> wrt,
                             std::span<const Node* const> tangents, Origins* origins) {
  if (wrt.size() != tangents.size())
    throw std::invalid_argument(fmt::format("jvp: {} inputs but {} tangents", wrt.size(), tangents.size()));
  std::unordered_map<const Node*, const Node*> tan;
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    if (!(tangents[i]->shape == wrt[i]->shape))
      throw ShapeError(fmt::format("the tangent of input {} has shape {}, not the input's shape {}", i + 1,
                                   tangents[i]->shape.str(), wrt[i]->shape.str()));
    if (is_zero(tangents[i])) continue;
    auto [slot, fresh] = tan.try_emplace(wrt[i], tangents[i]);
    if (!fresh) slot->second = b.add(slot->second, tangents[i]);  // an input listed twice
  }
  for (const Node* n : reachable(outputs)) {
    if (n->nargs == 0 || tan.count(n)) continue;  // a seeded node keeps its seed
    const Node* t[2] = {nullptr, nullptr};
    bool any = false;
    for (int i = 0; i < n->nargs; ++i)
      if (auto it = tan.find(n->arg(i)); it != tan.end()) t[i] = it->second, any = true;
    if (!any) continue;
    // An op row without a rule is a bug of the table (test_forward checks every row), not of the input.
    if (!n->info().jvp) throw std::logic_error(fmt::format("no forward-mode rule for op '{}'", op_id(n->op)));
    std::size_t before = b.graph().size();
    const Node* r = n->info().jvp(b, n, t);
    if (origins)
      for (std::size_t id = before; id < b.graph().size(); ++id)
        origins->try_emplace(b.graph().node(static_cast<std::uint32_t>(id)), n);
    if (r && !is_zero(r)) tan[n] = r;
  }
  std::vector<const Node*> out;
  for (const Node* o : outputs) {
    auto it = tan.find(o);
    out.push_back(it != tan.end() ? it->second : zeros(b, o->shape));
  }
  return out;
}

Jacobian jacobian(Builder& b, std::span<const Node* const> outputs, std::span<const Node* const> wrt, Mode mode,
                  Origins* origins) {
  Jacobian J;
  J.output_sizes = sizes_of(outputs);
  J.input_sizes = sizes_of(wrt);
  J.rows = J.cols = 0;
  for (std::int64_t s : J.output_sizes) J.rows += s;
  for (std::int64_t s : J.input_sizes) J.cols += s;
  J.mode = mode != Mode::Auto ? mode : J.cols <= J.rows ? Mode::Forward : Mode::Reverse;
  if (J.mode == Mode::Forward) {
    std::vector<const Node*> tangents;
    for (const Node* v : wrt) tangents.push_back(zeros(b, v->shape));
    for (std::size_t k = 0; k < wrt.size(); ++k)
      for (std::int64_t e = 0; e < J.input_sizes[k]; ++e) {
        const Node* zero = tangents[k];
        tangents[k] = unit(b, wrt[k]->shape, e);
        J.columns.push_back(jvp(b, outputs, wrt, tangents, origins));
        tangents[k] = zero;
      }
  } else {
    std::vector<const Node*> cotangents;
    for (const Node* o : outputs) cotangents.push_back(zeros(b, o->shape));
    for (std::size_t k = 0; k < outputs.size(); ++k)
      for (std::int64_t e = 0; e < J.output_sizes[k]; ++e) {
        const Node* zero = cotangents[k];
        cotangents[k] = unit(b, outputs[k]->shape, e);
        J.rows_.push_back(vjp(b, outputs, cotangents, wrt, origins));
        cotangents[k] = zero;
      }
  }
  return J;
}

const Node* Jacobian::entry(Builder& b, std::int64_t i, std::int64_t j) const {
  if (i < 0 || i >= rows || j < 0 || j >= cols) throw std::out_of_range("Jacobian::entry: index out of range");
  if (mode == Mode::Forward) {
    auto [k, e] = locate(output_sizes, i);
    return element(b, columns[static_cast<std::size_t>(j)][k], e);
  }
  auto [k, e] = locate(input_sizes, j);
  return element(b, rows_[static_cast<std::size_t>(i)][k], e);
}

const Node* element(Builder& b, const Node* x, std::int64_t e) {
  // Unravel e row-major, then index axis 0 once per dimension: x[i0][i1]...
  const Shape s = x->shape;
  std::int64_t stride = s.size();
  for (int d = 0; d < s.rank; ++d) {
    stride /= s[d];
    x = b.index(x, 0, static_cast<int>(e / stride));
    e %= stride;
  }
  return x;
}

std::vector<const Node*> hvp(Builder& b, const Node* f, std::span<const Node* const> wrt,
                             std::span<const Node* const> v) {
  std::vector<const Node*> grad = gradient(b, f, wrt);
  return jvp(b, grad, wrt, v);
}

// Forward over reverse: one tangent pass over the gradient per variable, instead of one
// backward pass per gradient entry. Row i is the tangent of the gradient along ones in wrt[i]:
// for a tensor variable the row sums of its Hessian block, as reverse over reverse gave.
std::vector<std::vector<const Node*>> hessian(Builder& b, const Node* f, std::span<const Node* const> wrt) {
  std::vector<const Node*> grad = gradient(b, f, wrt);
  std::vector<std::vector<const Node*>> h;
  std::vector<const Node*> tangents;
  for (const Node* v : wrt) tangents.push_back(zeros(b, v->shape));
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const Node* zero = tangents[i];
    tangents[i] = b.broadcast_to(b.constant(1), wrt[i]->shape);
    h.push_back(jvp(b, grad, wrt, tangents));
    tangents[i] = zero;
  }
  return h;
}

std::vector<const Node*> value_and_derivatives(Builder& b, const Node* f, std::span<const Node* const> wrt,
                                               bool hessian, Origins* origins) {
  std::vector<const Node*> outs{f};
  std::vector<const Node*> grad = gradient(b, f, wrt, origins);
  outs.insert(outs.end(), grad.begin(), grad.end());
  if (!hessian) return outs;
  std::vector<const Node*> tangents;
  for (const Node* v : wrt) tangents.push_back(zeros(b, v->shape));
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const Node* zero = tangents[i];
    tangents[i] = b.broadcast_to(b.constant(1), wrt[i]->shape);
    auto row = jvp(b, grad, wrt, tangents, origins);
    outs.insert(outs.end(), row.begin(), row.end());
    tangents[i] = zero;
  }
  return outs;
}

}  // namespace gradc
