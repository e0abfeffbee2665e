// The split of a huge scalar kernel's body (see body_split.hpp).
#include "compiler/codegen/body_split.hpp"

#include <algorithm>

namespace gradc {

std::size_t BodySplit::part_of(std::uint32_t i) const {
  return static_cast<std::size_t>(std::upper_bound(begin.begin(), begin.end(), i) - begin.begin()) - 1;
}

std::optional<BodySplit> BodySplit::make(const KernelSpec& spec, std::size_t above, std::size_t part_ops,
                                         std::size_t max_slots) {
  if (part_ops == 0 || spec.outputs.empty()) return std::nullopt;
  for (const Node* v : spec.inputs)
    if (v->shape.rank > 0) return std::nullopt;
  BodySplit s;
  s.order = reachable(spec.outputs);
  std::size_t ops = 0;
  for (const Node* n : s.order) {
    if (n->shape.rank > 0) return std::nullopt;  // a tensor kernel
    ops += n->nargs > 0;
  }
  std::size_t count = (ops + part_ops - 1) / part_ops;
  if (ops <= above || count < 2) return std::nullopt;
  // Equal parts: the last one is not a small remainder.
  std::size_t per_part = (ops + count - 1) / count;
  s.begin.push_back(0);
  std::size_t in_part = 0;
  for (std::uint32_t i = 0; i < s.order.size(); ++i) {
    if (s.order[i]->nargs == 0) continue;
    if (in_part == per_part) {
      s.begin.push_back(i);
      in_part = 0;
    }
    ++in_part;
  }
  s.begin.push_back(static_cast<std::uint32_t>(s.order.size()));

  s.first_id_ = s.order.front()->id;
  s.index_.assign(s.order.back()->id - s.first_id_ + 1, 0);
  for (std::uint32_t i = 0; i < s.order.size(); ++i) s.index_[s.order[i]->id - s.first_id_] = i;

  // An operation needs a slot when a later part reads it, or when it is an output (the entry
  // function stores the outputs after every part has run).
  std::vector<bool> crosses(s.order.size(), false);
  for (std::size_t p = 0; p + 1 < s.begin.size(); ++p)
    for (std::uint32_t i = s.begin[p]; i < s.begin[p + 1]; ++i) {
      const Node* n = s.order[i];
      for (int a = 0; a < n->nargs; ++a) {
        std::uint32_t j = s.position(n->arg(a));
        if (j < s.begin[p] && n->arg(a)->nargs > 0) crosses[j] = true;
      }
    }
  for (const Node* o : spec.outputs)
    if (o->nargs > 0) crosses[s.position(o)] = true;
  s.slot.assign(s.order.size(), kNoSlot);
  for (std::uint32_t i = 0; i < s.order.size(); ++i)
    if (crosses[i]) s.slot[i] = s.slots++;
  if (s.slots > max_slots) return std::nullopt;
  return s;
}

}  // namespace gradc
