// The partial derivatives of one `gradc diff` call printed together: one set of temporaries for
// all of them, so that t1 means the same thing everywhere, then every partial written once.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "compiler/print.hpp"

namespace gradc {

/// One partial derivative: the variables it is taken with respect to (indices into the wrt
/// list, nondecreasing: d2f/dxdy once, never d2f/dydx too) and its expression.
struct PartialExpr {
  std::vector<std::size_t> wrt;
  const Node* node;
};

/// The partials of fn, all of one order, laid out for people and for reading back.
/// - No temporaries: one line per partial, `df/dx = ...` (LaTeX `\frac{\partial f}{\partial x} = ...`).
/// - Text with temporaries: a `.grad` block function per partial (`fn d2f_dxy(params) {...}`)
///   that defines the temporaries it needs; the numbering is shared by all the blocks, and a
///   temporary has the same definition in every block that uses it, so each block parses back
///   on its own.
/// - LaTeX with temporaries: one `aligned` block: the definitions, then for a gradient (order 1)
///   the column vector and for a Hessian (order 2) the full symmetric matrix as a `pmatrix`
///   (a mixed partial, one node, is named once when it is worth a name, and appears at (i, j)
///   and (j, i)); other orders, or one variable, list each partial on its own line.
/// Temporaries avoid `params` and every name in `avoid`.
std::string print_partials(const std::string& fn, std::span<const std::string> params,
                           std::span<const std::string> wrt, std::span<const PartialExpr> partials,
                           Format f, std::span<const std::string> avoid);

/// The Jacobian of fn: entries row-major, rows the result's elements (`rows`: their names,
/// `v[0]`, ...), columns the elements of the variables wrt (`cols`: `x`, `A[1,2]`, ...).
/// - Text: one entry per line, `dv[0]/dx = ...`, or a block function (`fn dv_0_dx(params)`,
///   tensor parameters declared with their shapes in `params`, `x[3]`) as print_partials does.
/// - LaTeX: one `pmatrix`, after the shared definitions in an `aligned` block when there are any.
std::string print_jacobian(const std::string& fn, std::span<const std::string> params,
                           std::span<const std::string> wrt, std::span<const std::string> rows,
                           std::span<const std::string> cols, std::span<const Node* const> entries, Format f,
                           std::span<const std::string> avoid);

}  // namespace gradc
