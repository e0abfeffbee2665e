// Single elements of tensor expressions as scalar expressions: Index, Reshape, Embed,
// Broadcast, Transpose, sums, matrix products and elementwise ops pushed down to the elements of
// the variables (x[1], A[0][2]) and of constant data, so that a Jacobian entry prints as
// `-1.5*sin(q[0])` rather than as an element of a tensor expression.
#pragma once
#include <span>
#include <vector>

#include "compiler/builder.hpp"

namespace gradc {

/// The same scalar values as `roots` (each a scalar node), rebuilt through b with every element
/// taken of a tensor expression rewritten as an expression of elements. An op it does not know
/// keeps its element taken (`element` of the op's result). Sums and products over more than
/// kMaxTerms elements stay tensors too (the expression would grow with their length).
std::vector<const Node*> scalarize(Builder& b, std::span<const Node* const> roots);

inline constexpr std::int64_t kMaxScalarizedTerms = 64;

}  // namespace gradc
