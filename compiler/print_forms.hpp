// How print() chooses what to name: the tree, the shared form, the names worth their line; and
// what each printed line names. Internal to the printers.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "compiler/print.hpp"

namespace gradc::print_forms {

// Above this nesting depth, a subexpression gets a name so that no printed line is deeper.
constexpr int kMaxPrintDepth = 48;

/// Whether `name` is prefix + digits, or prefix_digits: in LaTeX both print as prefix_{digits}.
bool numbered(const std::string& name, const std::string& prefix);

/// The nodes one printed form names, in definition order: those `pick` chooses, and any node
/// whose unnamed subtree would nest deeper than kMaxPrintDepth (roots never for depth: a root is
/// printed as its own line).
std::vector<const Node*> named_nodes(const std::vector<const Node*>& nodes,
                                     const std::unordered_map<const Node*, int>& root_count,
                                     const std::function<bool(const Node*)>& pick);

/// The temporaries n's own text names (indices in `index`), increasing.
std::vector<std::size_t> references(const Node* n, const std::unordered_map<const Node*, std::size_t>& index);

/// The shared nodes worth a name in format f, with temporaries named prefix + k.
std::function<bool(const Node*)> worth_a_name(const std::vector<const Node*>& nodes,
                                              const std::unordered_map<const Node*, int>& root_count, Format f,
                                              const std::string& prefix);

/// Nodes the printed text writes out when `named` are temporaries (each definition once).
std::uint64_t cut_tree_size(const std::vector<const Node*>& named, std::span<const Node* const> roots);

/// Approximate printed length of root's inline form (for the --expr-only size guard).
std::uint64_t inline_length(const Node* root);

/// The variables of roots and the names in `also`: where the printed text is read, these mean
/// variables, so constants of these names print as numbers.
std::unordered_set<std::string> shadowed_names(std::span<const Node* const> roots,
                                               std::span<const std::string> also = {});

/// The nodes of roots in structural order (children first, left to right, from the first root
/// on): temporaries are numbered the same however the graph was built.
std::vector<const Node*> children_first(std::span<const Node* const> roots);

/// The nesting depth of root's tree form (the longest path to a leaf).
int depth(const Node* root);

}  // namespace gradc::print_forms
