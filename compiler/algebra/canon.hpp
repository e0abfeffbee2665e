// The printed derivative's canonical form: IR in, IR out, for people (see README, "Two
// semantics"). Scalar expressions go through the algebra (exact numbers, collected terms, merged
// powers, cancellation); tensor operations keep the kernel's simplification.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "compiler/ir.hpp"

namespace gradc {

/// The roots rewritten into canonical form, in the same graph. The input should keep the
/// mathematics symbolic (lowered and differentiated without folding: Simplify::None), so that
/// constants stay exact. `order` ranks variables (the signature's order) for printing.
std::vector<const Node*> canonical(Graph& g, std::span<const Node* const> roots,
                                   std::span<const std::string> order = {});

}  // namespace gradc
