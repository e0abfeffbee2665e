// What print() names: the shared nodes worth a name, the depth limit, the size of a form; the
// order print() numbers nodes in and the names its text must not turn into constants.
#include "compiler/print_forms.hpp"

#include <algorithm>
#include <limits>
#include <memory>
#include <unordered_set>

namespace gradc {
namespace print_forms {

// Whether `name` is prefix + digits, or prefix_digits: in LaTeX both print as prefix_{digits}.
bool numbered(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return false;
  std::size_t at = prefix.size() + (name.size() > prefix.size() && name[prefix.size()] == '_');
  return at < name.size() && name.find_first_not_of("0123456789", at) == std::string::npos;
}

// The nodes one printed form names, in definition order: those `pick` chooses, and any node
// whose unnamed subtree would nest deeper than kMaxPrintDepth (roots never for depth: a root is
// printed as its own line).
std::vector<const Node*> named_nodes(const std::vector<const Node*>& nodes,
                                     const std::unordered_map<const Node*, int>& root_count,
                                     const std::function<bool(const Node*)>& pick) {
  std::unordered_map<const Node*, int> d;
  std::unordered_set<const Node*> named_set;
  std::vector<const Node*> named;
  for (const Node* n : nodes) {
    int x = 0;
    for (int i = 0; i < n->nargs; ++i) {
      const Node* a = n->arg(i);
      x = std::max(x, named_set.count(a) ? 1 : d[a] + 1);
    }
    d[n] = x;
    if (n->nargs > 0 && (pick(n) || (x >= kMaxPrintDepth && !root_count.count(n)))) {
      named_set.insert(n);
      named.push_back(n);
    }
  }
  return named;
}

// The temporaries n's own text names: a walk below n that stops at every temporary.
std::vector<std::size_t> references(const Node* n, const std::unordered_map<const Node*, std::size_t>& index) {
  std::vector<std::size_t> out;
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> stack;
  for (int i = 0; i < n->nargs; ++i) stack.push_back(n->arg(i));
  while (!stack.empty()) {
    const Node* m = stack.back();
    stack.pop_back();
    if (!seen.insert(m).second) continue;
    if (auto it = index.find(m); it != index.end()) {
      out.push_back(it->second);
      continue;
    }
    for (int i = 0; i < m->nargs; ++i) stack.push_back(m->arg(i));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The shared nodes worth a name: where the name at every use and def once is shorter than def
// at every use (the definition's line itself is not counted: a repeated expression reads
// better named, if it is not shorter). Occurrences in the printed text are counted from the
// roots down (a node under an unnamed parent occurs as often as the parent); lengths are
// estimated from the leaves up, with shared arguments counted at a name's length.
std::function<bool(const Node*)> worth_a_name(const std::vector<const Node*>& nodes,
                                              const std::unordered_map<const Node*, int>& root_count, Format f,
                                              const std::string& prefix) {
  constexpr std::uint64_t kCap = std::uint64_t(1) << 40;
  const std::uint64_t name = print_name(prefix + "10", f).size();
  std::unordered_map<const Node*, std::uint64_t> len, occ;
  std::unordered_map<const Node*, int> parents;
  for (const Node* n : nodes)
    for (int i = 0; i < n->nargs; ++i) ++parents[n->arg(i)];
  for (const Node* n : nodes) {
    std::uint64_t l = n->op == Op::Tensor                ? 4 * n->data->size()
                      : n->op == Op::Var || !n->name.empty() ? n->name.size()
                      : n->op == Op::Const                 ? print_number(n->value, f).size()
                      : n->info().syntax == Syntax::Call   ? std::string(n->info().name).size() + 2 * n->nargs
                      : n->op == Op::Add || n->op == Op::Sub        ? 3
                                                           : 1;
    for (int i = 0; i < n->nargs; ++i) {
      const Node* a = n->arg(i);
      l = std::min(kCap, l + (parents[a] >= 2 ? std::min(len[a], name) : len[a]));
    }
    len[n] = l;
  }
  auto named = std::make_shared<std::unordered_set<const Node*>>();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {  // parents before arguments
    const Node* n = *it;
    auto rc = root_count.find(n);
    std::uint64_t o = std::min(kCap, occ[n] + (rc == root_count.end() ? 0 : rc->second));
    if (n->nargs > 0 && o >= 2 && (o - 1) * len[n] > (o + 1) * name) named->insert(n);
    std::uint64_t each = named->count(n) ? 1 : o;
    for (int i = 0; i < n->nargs; ++i) occ[n->arg(i)] = std::min(kCap, occ[n->arg(i)] + each);
  }
  return [named](const Node* n) { return named->count(n) > 0; };
}

// Nodes the printed text writes out when `named` are temporaries (each definition once).
std::uint64_t cut_tree_size(const std::vector<const Node*>& named, std::span<const Node* const> roots) {
  constexpr std::uint64_t kCap = std::uint64_t(1) << 62;
  std::unordered_set<const Node*> cut(named.begin(), named.end());
  std::unordered_map<const Node*, std::uint64_t> size;
  std::vector<const Node*> tops(named.begin(), named.end());
  tops.insert(tops.end(), roots.begin(), roots.end());
  for (const Node* n : reachable(tops)) {
    std::uint64_t s = 1;
    for (int i = 0; i < n->nargs; ++i)
      if (!cut.count(n->arg(i))) s = std::min(kCap, s + size[n->arg(i)]);
    size[n] = s;
  }
  std::uint64_t total = 0;
  for (const Node* n : tops) total = std::min(kCap, total + size[n]);
  return total;
}

// Approximate printed length of each node's inline form (for the --expr-only size guard).
std::uint64_t inline_length(const Node* root) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max() / 4;
  std::unordered_map<const Node*, std::uint64_t> len;
  for (const Node* n : reachable(std::span<const Node* const>(&root, 1))) {
    std::uint64_t l = n->nargs == 0 ? (n->op == Op::Var ? n->name.size() : 8) : 8;
    for (int i = 0; i < n->nargs; ++i) l = std::min(kMax, l + len[n->arg(i)]);
    len[n] = l;
  }
  return len[root];
}

// The variables of roots and the names in `also`: where the printed text is read, these mean
// variables, so constants of these names print as numbers.
std::unordered_set<std::string> shadowed_names(std::span<const Node* const> roots, std::span<const std::string> also) {
  std::unordered_set<std::string> names(also.begin(), also.end());
  for (const Node* n : reachable(roots))
    if (n->op == Op::Var) names.insert(n->name);
  return names;
}

// Children first, left to right, from the first root on.
std::vector<const Node*> children_first(std::span<const Node* const> roots) {
  std::vector<const Node*> order;
  std::unordered_map<const Node*, bool> seen;
  std::vector<std::pair<const Node*, int>> stack;  // node, next argument to visit
  for (const Node* r : roots) {
    if (seen.count(r)) continue;
    seen[r] = true;
    stack.emplace_back(r, 0);
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->nargs) {
        const Node* a = n->arg(i++);
        if (!seen.count(a)) {
          seen[a] = true;
          stack.emplace_back(a, 0);
        }
        continue;
      }
      order.push_back(n);
      stack.pop_back();
    }
  }
  return order;
}

// The longest path from root to a leaf.
int depth(const Node* root) {
  std::unordered_map<const Node*, int> d;
  int max = 0;
  for (const Node* n : reachable(std::span<const Node* const>(&root, 1))) {
    int x = 0;
    for (int i = 0; i < n->nargs; ++i) x = std::max(x, d[n->arg(i)] + 1);
    d[n] = x;
    max = std::max(max, x);
  }
  return max;
}

}  // namespace print_forms

std::size_t Printed::size() const {
  // The block that holds temporaries (`fn df_dx(x, y) {`, `return`, `}`; LaTeX's aligned
  // environment) and each definition's line (indent, ` = `, line break; ` &= `, ` \\`).
  constexpr std::size_t kBlock = 40, kLine = 8;
  std::size_t s = temps.empty() ? 0 : kBlock;
  for (auto& [t, def] : temps) s += t.size() + def.size() + kLine;
  for (const std::string& r : results) s += r.size() + 1;
  return s;
}

}  // namespace gradc
