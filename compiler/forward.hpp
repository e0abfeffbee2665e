// Forward mode and what both modes build together: tangent IR (JVPs), VJPs with given
// cotangents, Jacobians column by column or row by row, Hessian-vector products.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "compiler/diff.hpp"

namespace gradc {

enum class Mode { Forward, Reverse, Auto };

/// The tangent of each output along the given tangents of the wrt nodes (a tangent has its wrt
/// node's shape; ShapeError otherwise): Σ_i ∂outputs/∂wrt[i] · tangents[i]. Tangent IR is
/// ordinary IR in b's graph, built through b, so it can be simplified, printed, differentiated
/// again and compiled.
std::vector<const Node*> jvp(Builder& b, std::span<const Node* const> outputs,
                             std::span<const Node* const> wrt, std::span<const Node* const> tangents,
                             Origins* origins = nullptr);

// vjp (reverse mode with given cotangents) is declared in diff.hpp.

/// The Jacobian of outputs (flattened row-major, in order) with respect to wrt (flattened, in
/// order).
struct Jacobian {
  Mode mode;             // Forward or Reverse (Auto resolved)
  std::int64_t rows, cols;
  // Forward: columns[j] is ∂(outputs)/∂(input element j): one node per output, of its shape.
  // Reverse: rows_[i] is ∂(output element i)/∂(inputs): one node per input, of its shape.
  std::vector<std::vector<const Node*>> columns, rows_;
  std::vector<std::int64_t> output_sizes, input_sizes;
  /// J[i][j] as a scalar node (an element of a column or row node when that is a tensor).
  const Node* entry(Builder& b, std::int64_t i, std::int64_t j) const;
};

/// Forward mode builds one column per input element (a one-hot tangent), reverse mode one row
/// per output element (a one-hot cotangent); Auto takes forward when there are no more inputs
/// than outputs (flattened), as JAX advises.
Jacobian jacobian(Builder& b, std::span<const Node* const> outputs, std::span<const Node* const> wrt,
                  Mode mode = Mode::Auto, Origins* origins = nullptr);

/// H·v for the Hessian H of the scalar f with respect to wrt, by forward over reverse: the
/// tangent of the gradient along v (one tangent per wrt node, of its shape).
std::vector<const Node*> hvp(Builder& b, const Node* f, std::span<const Node* const> wrt,
                             std::span<const Node* const> v);

/// The element e (row-major) of x, as a scalar node.
const Node* element(Builder& b, const Node* x, std::int64_t e);

}  // namespace gradc
