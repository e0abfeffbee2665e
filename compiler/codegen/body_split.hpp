// The split of a huge scalar kernel's straight-line body into parts, each its own function
// (LLVM-free). FastISel and the fast register allocator work per function, and parts in
// separate modules compile on separate threads (runtime/jit.cpp); a value one part computes and
// a later part uses passes through a scratch buffer on the entry function's stack.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "compiler/codegen.hpp"

namespace gradc {

struct BodySplit {
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t(0);
  /// Every node the kernel reaches, in id (topological) order.
  std::vector<const Node*> order;
  /// Part p computes the operations (nodes with arguments) of order[begin[p], begin[p + 1]);
  /// constants and inputs are loaded again in each part that uses them.
  std::vector<std::uint32_t> begin;
  /// Per position in order: where the value waits in the scratch buffer (an operation used by a
  /// later part, or an output), or kNoSlot.
  std::vector<std::uint32_t> slot;
  std::uint32_t slots = 0;

  std::size_t parts() const { return begin.size() - 1; }
  /// The position of n in order (n reachable from the kernel's outputs).
  std::uint32_t position(const Node* n) const { return index_[n->id - first_id_]; }
  /// The part that computes the operation at position i.
  std::size_t part_of(std::uint32_t i) const;

  /// The split of spec's body into parts of about `part_ops` operations when it has more than
  /// `above` operations; nullopt when it has fewer, when spec is a tensor kernel, or when more
  /// than `max_slots` values would cross from one part to another (the scratch buffer lives on
  /// the stack).
  static std::optional<BodySplit> make(const KernelSpec& spec, std::size_t above, std::size_t part_ops,
                                       std::size_t max_slots);

 private:
  std::uint32_t first_id_ = 0;
  std::vector<std::uint32_t> index_;  // position by id - first_id_
};

}  // namespace gradc
