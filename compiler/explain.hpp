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
  double total = 0;     // the sum over paths (equals ∂f/∂x)
  std::size_t paths = 0;
};

/// Explains ∂f/∂wrt at point. At most max_paths paths are written out (all are summed).
Explanation explain(Module& m, const Function& f, const Node* wrt, std::span<const double> point, Format format,
                    std::size_t max_paths = 16);

}  // namespace gradc
