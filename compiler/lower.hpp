// Lowering: from the AST of a .grad file to IR. Names are resolved, built-in calls are checked
// for arity, user functions are inlined (recursion is an error), and the `at` lines become the
// default point.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/ir.hpp"
#include "grammar/ast.hpp"

namespace gradc {

struct Function {
  std::string name;
  Loc loc;                           // the function's name in the source
  std::vector<const Node*> params;   // Var nodes, in declaration order
  std::vector<Loc> param_locs;
  const Node* body = nullptr;
  // Per function, because hash-consing makes identical expressions in two functions one node:
  std::unordered_map<const Node*, std::string> names;  // user names of intermediates (a = 2*x)
  std::unordered_map<const Node*, Loc> locs;           // where each operation was written
};

/// A compiled .grad file: its functions as IR in one graph.
struct Module {
  SourceFile source;
  Graph graph;
  std::vector<Function> functions;
  std::vector<std::pair<std::string, double>> at;         // default point, in source order
  // For derivative nodes: the operation whose derivative rule made them (see gradient()).
  std::unordered_map<const Node*, const Node*> origins;

  const Function* find(std::string_view name) const;
  const double* at_value(std::string_view name) const;
};

/// Parses and lowers a file. Throws InputError. The IR keeps the structure written (constant
/// folding and identities only: Simplify::Fold); `simplify` = false keeps it exactly as written
/// (still hash-consed).
std::unique_ptr<Module> compile_module(SourceFile src, bool simplify = true);

/// Lowers an expression with no free variables (an `at` value, a --at value) to a number.
/// Throws InputError if it names a variable or is not finite.
double constant_value(const SourceFile& src, const ast::Expr& e);

}  // namespace gradc
