// Printers: IR as `.grad` text (minimal parentheses; parses back to the same tree) and as LaTeX.
// When naming shared subexpressions (t1 = ...) prints shorter than the tree form (or the tree is
// too deep to read), they get names, so output size stays linear in the DAG.
#pragma once
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ir.hpp"

namespace gradc {

enum class Format { Text, Latex };

/// A printed set of expressions: named temporaries (in definition order), then one string per
/// root, written in terms of the temporaries.
struct Printed {
  std::vector<std::pair<std::string, std::string>> temps;  // (name as printed, definition)
  std::vector<std::string> results;
  // The temporaries each definition and each result names directly (indices into temps,
  // increasing; a definition names only earlier ones).
  std::vector<std::vector<std::size_t>> temp_refs, result_refs;
  /// Characters as `gradc diff` prints it, about: the block that holds the temporaries, a line
  /// per definition, the results.
  std::size_t size() const;
};

/// Which form print() prints: the shorter, the tree, or the shared-subexpression form.
enum class PrintForm { Shorter, Tree, Shared };

/// Prints roots in the shorter of two forms: the tree (every root written out) and the one with
/// shared subexpressions named (the shorter of: every non-leaf used twice, counting a root listed
/// twice; only those whose name saves characters). A form is not printed when its text would
/// be more than 20 times the DAG (so printing stays linear; PrintForm::Tree then gives the
/// shared form too). Either way a subexpression nested deeper than the printer allows gets a name. With `names`, exactly
/// those nodes (and any nested too deeply) become temporaries, printed with the given names.
/// Automatic temporary names avoid every variable of the roots and the names in `avoid` (the
/// parameters of the function the result is printed as, and any other name of the file), also
/// as LaTeX prints them (`t_1` and `t1` are both t_{1}).
Printed print(std::span<const Node* const> roots, Format f,
              const std::unordered_map<const Node*, std::string>* names = nullptr,
              std::span<const std::string> avoid = {}, PrintForm form = PrintForm::Shorter);

/// One expression, inline (no temporaries). Throws std::length_error when the inline form
/// would exceed max_chars characters.
std::string print_inline(const Node* n, Format f, std::uint64_t max_chars = 10'000'000);

/// A variable or temporary name in the format (`x_1` → `x_{1}`, `alpha` → `\alpha` in LaTeX).
std::string print_name(const std::string& name, Format f);

/// A number as text (shortest form that reads back exactly) or LaTeX.
std::string print_number(double v, Format f);

/// `df/dx`, `d2f/dxdy`, or `\frac{\partial f}{\partial x}` for a partial derivative of `fn`
/// with respect to the variables in wrt (repeated for higher orders).
std::string print_partial(const std::string& fn, std::span<const std::string> wrt, Format f);

}  // namespace gradc

namespace gradc {

/// The IR as an SSA-style listing (`%3 = mul %1, %2    # a`), one line per node reachable from
/// the roots, then `out LABEL = %n` per root. `names` gives user names of intermediates.
std::string print_listing(std::span<const Node* const> roots, std::span<const std::string> labels,
                          const std::unordered_map<const Node*, std::string>* names = nullptr);

}  // namespace gradc
