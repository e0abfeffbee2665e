// Reverse mode: walk the nodes that depend on a wrt variable in reverse topological order,
// and let each node's rule (ops.cpp) pass adj * local partial to its arguments. Adjoints of a
// node used twice are summed, which is what makes fan-out correct.
#include "compiler/diff.hpp"

#include <unordered_map>
#include <unordered_set>

namespace gradc {

std::vector<const Node*> gradient(Builder& b, const Node* f, std::span<const Node* const> wrt,
                                  Origins* origins, std::unordered_map<const Node*, const Node*>* adjoints) {
  // Activity: only nodes that depend on a wrt variable carry an adjoint.
  std::vector<const Node*> order = reachable(std::span<const Node* const>(&f, 1));
  std::unordered_set<const Node*> active(wrt.begin(), wrt.end());
  for (const Node* n : order)
    for (int i = 0; i < n->nargs; ++i)
      if (active.count(n->arg(i))) active.insert(n);

  std::unordered_map<const Node*, const Node*> adj;
  if (active.count(f)) adj[f] = b.constant(1);
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
    out.push_back(a != adj.end() ? a->second : v->shape.scalar() ? b.constant(0) : b.broadcast_to(b.constant(0), v->shape));
  }
  return out;
}

std::vector<std::vector<const Node*>> hessian(Builder& b, const Node* f,
                                              std::span<const Node* const> wrt) {
  std::vector<std::vector<const Node*>> h;
  for (const Node* g : gradient(b, f, wrt)) h.push_back(gradient(b, g, wrt));
  return h;
}

}  // namespace gradc

namespace gradc {

std::vector<const Node*> value_and_derivatives(Builder& b, const Node* f, std::span<const Node* const> wrt,
                                               bool hessian, Origins* origins) {
  std::vector<const Node*> outs{f};
  std::vector<const Node*> grad = gradient(b, f, wrt, origins);
  outs.insert(outs.end(), grad.begin(), grad.end());
  if (hessian)
    for (const Node* g : grad) {
      auto row = gradient(b, g, wrt, origins);
      outs.insert(outs.end(), row.begin(), row.end());
    }
  return outs;
}

}  // namespace gradc
