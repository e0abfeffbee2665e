// Hash-consed node storage and whole-graph queries.
#include "compiler/ir.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

namespace gradc {

std::size_t Graph::KeyHash::operator()(const Key& k) const {
  std::size_t h = static_cast<std::size_t>(k.op);
  auto mix = [&h](std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  mix(std::hash<const void*>()(k.a));
  mix(std::hash<const void*>()(k.b));
  mix(std::hash<std::uint64_t>()(k.bits));
  mix(std::hash<std::string_view>()(k.name));
  return h;
}

const Node* Graph::intern(Node node) {
  Key key{node.op, node.args[0], node.args[1], std::bit_cast<std::uint64_t>(node.value), node.name};
  if (auto it = table_.find(key); it != table_.end()) return it->second;
  node.id = static_cast<std::uint32_t>(nodes_.size());
  Node& stored = nodes_.emplace_back(std::move(node));
  key.name = stored.name;  // the key must view the stored string, not the temporary
  table_.emplace(key, &stored);
  return &stored;
}

const Node* Graph::make(Op op, std::span<const Node* const> args) {
  const OpInfo& info = op_info(op);
  if (op == Op::Const || op == Op::Var || static_cast<int>(args.size()) != info.arity)
    throw std::logic_error("Graph::make: bad arity for op '" + std::string(info.name) + "'");
  Node n;
  n.op = op;
  n.nargs = static_cast<std::uint8_t>(args.size());
  n.everywhere_defined = info.everywhere_defined;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == nullptr) throw std::logic_error("Graph::make: null argument");
    n.args[i] = args[i];
    n.everywhere_defined = n.everywhere_defined && args[i]->everywhere_defined;
  }
  return intern(std::move(n));
}

const Node* Graph::constant(double v) {
  Node n;
  n.op = Op::Const;
  n.value = v;
  n.everywhere_defined = std::isfinite(v);
  return intern(std::move(n));
}

const Node* Graph::var(std::string_view name) {
  Node n;
  n.op = Op::Var;
  n.name = std::string(name);
  return intern(std::move(n));
}

std::vector<const Node*> reachable(std::span<const Node* const> roots) {
  std::vector<const Node*> out;
  std::unordered_map<const Node*, bool> seen;
  std::vector<const Node*> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (!seen.emplace(n, true).second) continue;
    out.push_back(n);
    for (int i = 0; i < n->nargs; ++i) stack.push_back(n->arg(i));
  }
  std::sort(out.begin(), out.end(), [](const Node* a, const Node* b) { return a->id < b->id; });
  return out;
}

std::size_t dag_size(std::span<const Node* const> roots) { return reachable(roots).size(); }

std::uint64_t tree_size(std::span<const Node* const> roots) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  auto sat_add = [](std::uint64_t a, std::uint64_t b) { return a > kMax - b ? kMax : a + b; };
  std::unordered_map<const Node*, std::uint64_t> size;
  for (const Node* n : reachable(roots)) {
    std::uint64_t s = 1;
    for (int i = 0; i < n->nargs; ++i) s = sat_add(s, size[n->arg(i)]);
    size[n] = s;
  }
  std::uint64_t total = 0;
  for (const Node* r : roots) total = sat_add(total, size[r]);
  return total;
}

}  // namespace gradc
