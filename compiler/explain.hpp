// The chain rule spelled out, as the lecture does: ∂f/∂x as the product of the edge partials
// along each path from the output to x (through the named intermediates), symbolically and in
// numbers, summed over the paths.
#pragma once
#include <span>
#include <string>

#include "compiler/lower.hpp"
#include "compiler/print.hpp"

namespace gradc {

struct Explanation {
  std::string text;     // the whole explanation, ready to print
  // When the function names no intermediates, explain names them v1, v2, ...: their definitions,
  // children first, then the function's (`v1 = 2*x`, ..., `f = tanh(v6)`; LaTeX: an aligned
  // block). Empty when the user's names are used. The same for every wrt: print it once.
  std::string definitions;
  double total = 0;     // the sum over paths (equals ∂f/∂x)
  std::size_t paths = 0;  // all of them (saturating at the largest std::size_t)
};

/// Explains ∂f/∂wrt at point. The first paths are written out while there are at most max_paths
/// of them and max_factors factors in all; when that leaves some out, the chain rule follows edge
/// by edge (each name's total derivative df/dv from those of the names that use it, as reverse
/// mode accumulates it), so the total is always ∂f/∂wrt. Paths are counted, never enumerated.
Explanation explain(Module& m, const Function& f, const Node* wrt, std::span<const double> point, Format format,
                    std::size_t max_paths = 16, std::size_t max_factors = 1024);

}  // namespace gradc
