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
  // Activity: only nodes that depend on a wrt variable carry an adjoint. Per-node data lives in
  // vectors by position in `order` (hash maps keyed by node were a tenth of a 120,000-term
  // compile).
  std::vector<const Node*> order = reachable(outputs);
  OrderIndex pos(order);
  std::vector<char> active(order.size(), 0);
  for (const Node* v : wrt)
    if (std::uint32_t i = pos(v); i != OrderIndex::kNone) active[i] = 1;
  for (std::size_t k = 0; k < order.size(); ++k)
    for (int i = 0; i < order[k]->nargs && !active[k]; ++i) active[k] = active[pos(order[k]->arg(i))];

  std::vector<const Node*> adj(order.size(), nullptr);
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    std::uint32_t at = pos(outputs[k]);
    if (!active[at] || is_zero(seeds[k])) continue;
    adj[at] = adj[at] ? b.add(adj[at], seeds[k]) : seeds[k];
  }
  for (std::size_t k = order.size(); k-- > 0;) {
    const Node* n = order[k];
    if (!adj[k] || n->nargs == 0) continue;
    const Node* d[2] = {nullptr, nullptr};
    std::size_t before = b.graph().size();
    n->info().grad(b, n, adj[k], d);
    if (origins)
      for (std::size_t id = before; id < b.graph().size(); ++id)
        origins->try_emplace(b.graph().node(static_cast<std::uint32_t>(id)), n);
    for (int i = 0; i < n->nargs; ++i) {
      std::uint32_t at = pos(n->arg(i));
      if (!d[i] || !active[at]) continue;
      adj[at] = adj[at] ? b.add(adj[at], d[i]) : d[i];  // adjoints accumulate
    }
  }
  if (adjoints) {
    adjoints->clear();
    for (std::size_t k = 0; k < order.size(); ++k)
      if (adj[k]) adjoints->emplace(order[k], adj[k]);
  }
  std::vector<const Node*> out;
  for (const Node* v : wrt) {
    std::uint32_t at = pos(v);
    // A variable f does not use: a zero of its shape (a runtime reads one value per element).
    out.push_back(at != OrderIndex::kNone && adj[at] ? adj[at] : zeros(b, v->shape));
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
