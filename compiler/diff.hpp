// Reverse-mode differentiation on the IR: emits backward IR (ordinary nodes in the same graph),
// so derivatives can be simplified, printed, compiled and differentiated again.
#pragma once
#include <span>
#include <unordered_map>
#include <vector>

#include "compiler/builder.hpp"

namespace gradc {

/// For each node the pass created, the primal node whose derivative rule created it (so that a
/// nan in a derivative can be traced to the operation the user wrote).
using Origins = std::unordered_map<const Node*, const Node*>;

/// ∂f/∂v for every v in wrt (Var nodes), built through b.
/// `adjoints`, when given, receives ∂f/∂n for every node n the pass reached (for printing the
/// backward pass as equations).
std::vector<const Node*> gradient(Builder& b, const Node* f, std::span<const Node* const> wrt,
                                  Origins* origins = nullptr,
                                  std::unordered_map<const Node*, const Node*>* adjoints = nullptr);

/// The roots a fused kernel computes: f, then ∂f/∂v for v in wrt, then (with `hessian`) the
/// Hessian row-major. Compiled code wants b at Simplify::Fold: the canonical forms of Full
/// regroup x*(p/q) into (x*p)/q, which reads better but stops reusing the forward quotient.
std::vector<const Node*> value_and_derivatives(Builder& b, const Node* f, std::span<const Node* const> wrt,
                                               bool hessian, Origins* origins = nullptr);

/// The Hessian ∂²f/∂vi∂vj (row i, column j), by differentiating each gradient entry again.
std::vector<std::vector<const Node*>> hessian(Builder& b, const Node* f,
                                              std::span<const Node* const> wrt);

}  // namespace gradc
