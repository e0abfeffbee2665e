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

/// The cotangent of each wrt node, Σ_k cotangents[k] · ∂outputs[k]/∂wrt: reverse mode for
/// outputs of any shape (a cotangent has its output's shape; ShapeError otherwise).
std::vector<const Node*> vjp(Builder& b, std::span<const Node* const> outputs,
                             std::span<const Node* const> cotangents, std::span<const Node* const> wrt,
                             Origins* origins = nullptr);

/// The zero of shape s (a splat of 0 for a tensor).
const Node* zeros(Builder& b, const Shape& s);

// value_and_derivatives and hessian differentiate forward over reverse (forward.cpp).

/// The roots a fused kernel computes: f, then ∂f/∂v for v in wrt, then (with `hessian`) the
/// Hessian row-major (row i: the tangent of the gradient along a tangent of ones in wrt[i];
/// for scalar variables ∂²f/∂vi∂vj). Compiled code wants b at Simplify::Fold: the canonical forms of Full
/// regroup x*(p/q) into (x*p)/q, which reads better but stops reusing the forward quotient.
std::vector<const Node*> value_and_derivatives(Builder& b, const Node* f, std::span<const Node* const> wrt,
                                               bool hessian, Origins* origins = nullptr);

/// The Hessian ∂²f/∂vi∂vj (row i, column j) of scalar variables: column j is the tangent of the
/// gradient along vj (forward over reverse).
std::vector<std::vector<const Node*>> hessian(Builder& b, const Node* f,
                                              std::span<const Node* const> wrt);

}  // namespace gradc
