// Jacobians, JVPs and VJPs built from reverse mode alone (gradient()), with the API of
// compiler/forward.hpp (see /work/notes: the forward-mode contract). The CLI uses these until
// forward mode lands in the compiler; then this file goes and the CLI includes forward.hpp.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"

namespace gradc::interim {

enum class Mode { Forward, Reverse, Auto };

/// The tangent of each output along the given tangents of the inputs (nullptr: zero).
std::vector<const Node*> jvp(Builder& b, std::span<const Node* const> outputs, std::span<const Node* const> wrt,
                             std::span<const Node* const> tangents, Origins* origins = nullptr);
/// The cotangent of each input given cotangents of the outputs (nullptr: zero).
std::vector<const Node*> vjp(Builder& b, std::span<const Node* const> outputs,
                             std::span<const Node* const> cotangents, std::span<const Node* const> wrt,
                             Origins* origins = nullptr);

struct Jacobian {
  Mode mode;                 // Forward or Reverse (Auto resolved)
  std::int64_t rows, cols;   // outputs flattened, inputs flattened in wrt order
  // Forward: columns[j] is ∂(outputs)/∂(input element j): one node per output, of its shape.
  // Reverse: rows_[i] is ∂(output element i)/∂(inputs): one node per input, of its shape.
  std::vector<std::vector<const Node*>> columns, rows_;
  const Node* entry(Builder& b, std::int64_t i, std::int64_t j) const;  // a scalar node J[i][j]
};

/// Forward columns are assembled here from the reverse rows (each entry placed by Embed), so
/// both modes give the same numbers; only the layout differs.
Jacobian jacobian(Builder& b, std::span<const Node* const> outputs, std::span<const Node* const> wrt,
                  Mode mode = Mode::Auto, Origins* origins = nullptr);

}  // namespace gradc::interim

namespace gradc::cli {
namespace fw = gradc::interim;
/// --mode's words: fwd, rev, auto (or not given).
inline fw::Mode parse_mode(const std::string& mode) {
  return mode == "fwd" ? fw::Mode::Forward : mode == "rev" ? fw::Mode::Reverse : fw::Mode::Auto;
}
}  // namespace gradc::cli
