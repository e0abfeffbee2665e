// Computational graphs as Graphviz DOT, as the lecture draws them: the forward pass (each node
// with the user's name, its operation and its value) and, with `backward`, each edge's local
// partial derivative (symbolic and numeric) and each node's adjoint.
#pragma once
#include <span>
#include <string>

#include "compiler/lower.hpp"
#include "compiler/print.hpp"

namespace gradc {

/// Display names for f's intermediates: the user's (a = 2*x) where given, else v1, v2, ...
std::unordered_map<const Node*, std::string> intermediate_names(const Function& f);

/// The local partial ∂n/∂(n's argument i), built through b (nullptr if the op has none).
const Node* local_partial(Builder& b, const Node* n, int i);

/// The text of n with the nodes of `names` below it (not n itself, nor `except`) written as their
/// names (printed in format f, as variables are), walking only the unnamed part of n's graph.
std::string print_shallow(Graph& g, const Node* n, const std::unordered_map<const Node*, std::string>& names,
                          Format f = Format::Text, const Node* except = nullptr);

/// Names for the layers of a network's loss: z<k> for a matrix product (with its bias, when one
/// is added), h<k> for an activation of a z.
std::unordered_map<const Node*, std::string> layer_names(const Node* loss);

/// DOT text of a training program's loss graph: nodes show shapes (and, with `backward`, each
/// node's adjoint in terms of the layer names).
std::string graph_dot_tensor(Module& m, const Node* loss, bool backward);

/// DOT text of f's graph at point (one value per parameter).
std::string graph_dot(Module& m, const Function& f, std::span<const double> point, bool backward);

}  // namespace gradc
