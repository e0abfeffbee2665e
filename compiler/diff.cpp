// Reverse mode: walk the nodes that depend on a wrt variable in reverse topological order,
// and let each node's rule (ops.cpp) pass adj * local partial to its arguments. Adjoints of a
// node used twice are summed, which is what makes fan-out correct.
#include "compiler/diff.hpp"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace gradc {
namespace {

// Seeds and results that are exactly zero: a zero adjoint or tangent contributes nothing.
bool is_zero(const Node* n) { return n->is_const(0) || (n->op == Op::Broadcast && n->arg(0)->is_const(0)); }

std::vector<const Node*> backward(Builder& b, std::span<const Node* const> outputs,
                                  std::span<const Node* const> seeds, std::span<const Node* const> wrt,
                                  Origins* origins, std::unordered_map<const Node*, const Node*>* adjoints) {
  // Activity: only nodes that depend on a wrt variable carry an adjoint.
  std::vector<const Node*> order = reachable(outputs);
  std::unordered_set<const Node*> active(wrt.begin(), wrt.end());
  for (const Node* n : order)
    for (int i = 0; i < n->nargs; ++i)
      if (active.count(n->arg(i))) active.insert(n);

  std::unordered_map<const Node*, const Node*> adj;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    if (!active.count(outputs[k]) || is_zero(seeds[k])) continue;
    auto [slot, fresh] = adj.try_emplace(outputs[k], seeds[k]);
    if (!fresh) slot->second = b.add(slot->second, seeds[k]);
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node* n = *it;
    auto a = adj.find(n);
    if (a == adj.end() || n->nargs == 0) continue;
    const Node* d[2] = {nullptr, nullptr};
    std::size_t before = b.graph().size();
    n->info().grad(b, n, a->second, d);
    if (origins)
      for (std::size_t id = before; id < b.graph().size(); ++id)
        origins->try_emplace(b.graph().node(static_cast<std::uint32_t>(id)), n);
    for (int i = 0; i < n->nargs; ++i) {
      const Node* arg = n->arg(i);
      if (!d[i] || !active.count(arg)) continue;
      auto [slot, fresh] = adj.try_emplace(arg, d[i]);
      if (!fresh) slot->second = b.add(slot->second, d[i]);  // adjoints accumulate
    }
  }
  if (adjoints) *adjoints = adj;
  std::vector<const Node*> out;
  for (const Node* v : wrt) {
    auto a = adj.find(v);
    // A variable f does not use: a zero of its shape (a runtime reads one value per element).
    out.push_back(a != adj.end() ? a->second : zeros(b, v->shape));
  }
  return out;
}

}  // namespace

const Node* zeros(Builder& b, const Shape& s) {
  return s.scalar() ? b.constant(0) : b.broadcast_to(b.constant(0), s);
}

std::vector<const Node*> gradient(Builder& b, const Node* f, std::span<const Node* const> wrt,
                                  Origins* origins, std::unordered_map<const Node*, const Node*>* adjoints) {
  const Node* one = b.constant(1);
  return backward(b, std::span<const Node* const>(&f, 1), std::span<const Node* const>(&one, 1), wrt, origins,
                  adjoints);
}

std::vector<const Node*> vjp(Builder& b, std::span<const Node* const> outputs,
                             std::span<const Node* const> cotangents, std::span<const Node* const> wrt,
                             Origins* origins) {
  if (outputs.size() != cotangents.size())
    throw std::invalid_argument(
        fmt::format("vjp: {} outputs but {} cotangents", outputs.size(), cotangents.size()));
  for (std::size_t k = 0; k < outputs.size(); ++k)
    if (!(cotangents[k]->shape == outputs[k]->shape))
      throw ShapeError(fmt::format("the cotangent of output {} has shape {}, not the output's shape {}", k + 1,
                                   cotangents[k]->shape.str(), outputs[k]->shape.str()));
  return backward(b, outputs, cotangents, wrt, origins, nullptr);
}

}  // namespace gradc
