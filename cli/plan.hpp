// The outputs of a function's kernel as `gradc eval` computes them (the value, the gradient,
// the Hessian, the Jacobian in either mode) and where each part lies in the output buffer:
// shared by eval and the Python module, so that both compile the same IR and get the same bits.
#pragma once
#include <cstddef>
#include <span>
#include <vector>

#include "compiler/forward.hpp"
#include "compiler/lower.hpp"

namespace gradc::cli {

struct Layout {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::vector<const Node*> outs;
  std::size_t m = 0, n = 0;  // elements of the result, of all the parameters
  // Each part's offset (in elements) in the output buffer, or npos when not asked for.
  std::size_t grad = npos, hess = npos, jac = npos, jvp = npos, vjp = npos, total = 0;
  Mode mode = Mode::Reverse;  // of the Jacobian's block

  void add(std::size_t& at, std::span<const Node* const> nodes);
  // J[i][j] from the block (forward: columns of m; reverse: rows of n).
  double jacobian(const double* out, std::size_t i, std::size_t j) const {
    return mode == Mode::Forward ? out[jac + j * m + i] : out[jac + i * n + j];
  }
};

/// The value, and for a scalar result the gradient (and with `hessian` the Hessian's upper
/// triangle); with `jacobian` the Jacobian's columns (forward) or rows (reverse) in `mode`.
Layout plan_derivatives(Module& m, const Function& f, bool hessian, bool jacobian, Mode mode, Simplify simplify);

}  // namespace gradc::cli
