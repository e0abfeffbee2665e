// The IR interpreter: evaluates nodes with the op table's eval functions (elementwise) and the
// tensor ops' evaluations in their rows (ops_tensor.cpp). It is the reference the JIT is tested
// against, and it finds which operation produced a nan or inf.
#pragma once
#include <optional>
#include <span>
#include <vector>

#include "compiler/ir.hpp"

namespace gradc {

/// A tensor value: shape and row-major data (one element for a scalar).
struct Tensor {
  Shape shape;
  std::vector<double> data;
  static Tensor scalar(double v) { return Tensor{Shape{}, {v}}; }
};

/// Values of `roots` with vars[i] = values[i] (shapes must match). A Var not in `vars` is a
/// std::logic_error.
std::vector<Tensor> evaluate_tensors(std::span<const Node* const> roots, std::span<const Node* const> vars,
                                     std::span<const Tensor> values);

/// Scalar convenience: every var and root is a scalar.
std::vector<double> evaluate(std::span<const Node* const> roots, std::span<const Node* const> vars,
                             std::span<const double> values);

/// The first node (in evaluation order) that produced a nan or inf from finite arguments (for
/// a tensor, at the first such element): where a domain error (log(-1), 1/0) arose.
struct DomainError {
  const Node* node;
  double args[2];
  double result;
};
std::optional<DomainError> find_domain_error(std::span<const Node* const> roots,
                                             std::span<const Node* const> vars,
                                             std::span<const double> values);

}  // namespace gradc
