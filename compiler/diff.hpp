// Reverse-mode differentiation on the IR: emits backward IR (ordinary nodes in the same graph),
// so derivatives can be simplified, printed, compiled and differentiated again.
#pragma once
#include <span>
#include <vector>

#include "compiler/builder.hpp"

namespace gradc {

/// ∂f/∂v for every v in wrt (Var nodes), built through b.
std::vector<const Node*> gradient(Builder& b, const Node* f, std::span<const Node* const> wrt);

/// The Hessian ∂²f/∂vi∂vj (row i, column j), by differentiating each gradient entry again.
std::vector<std::vector<const Node*>> hessian(Builder& b, const Node* f,
                                              std::span<const Node* const> wrt);

}  // namespace gradc
