// The IR interpreter: evaluates nodes with the op table's eval functions. It is the reference
// the JIT is tested against, and it finds which operation produced a nan or inf.
#pragma once
#include <optional>
#include <span>
#include <vector>

#include "compiler/ir.hpp"

namespace gradc {

/// Values of `roots` with vars[i] = values[i]. A Var not in `vars` is a std::logic_error.
std::vector<double> evaluate(std::span<const Node* const> roots, std::span<const Node* const> vars,
                             std::span<const double> values);

/// The first node (in evaluation order) whose value is nan or inf although all its arguments
/// are finite: the operation where a domain error (log(-1), 1/0) arose.
struct DomainError {
  const Node* node;
  double args[2];
  double result;
};
std::optional<DomainError> find_domain_error(std::span<const Node* const> roots,
                                             std::span<const Node* const> vars,
                                             std::span<const double> values);

}  // namespace gradc
