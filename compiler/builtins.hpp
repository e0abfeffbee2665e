// The registry of tensor built-ins (`softmax`, `mse`, `sum`, `stack`, ...): each is one entry
// {name, parameters, lowering}, written with the Builder's primitive ops so that every pass
// (differentiation, printing, codegen) handles it. Private to the lowerer, like lowerer.hpp.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "compiler/lowerer.hpp"

namespace gradc {

/// Named and positional arguments of a built-in call, matched to its parameter list.
struct CallArgs {
  std::vector<const ast::Expr*> expr;  // by parameter, nullptr when not given
  std::vector<Loc> loc;
};
CallArgs match_args(const ast::Operand& o, std::span<const char* const> names, std::size_t required);
inline CallArgs match_args(const ast::Operand& o, std::initializer_list<const char*> names, std::size_t required) {
  return match_args(o, std::span<const char* const>(names.begin(), names.size()), required);
}
Loc expr_loc(const ast::Expr& e);

/// A built-in call being lowered: its arguments (matched to the entry's parameters) and what
/// a lowering needs of the Lowerer.
class BuiltinCall {
 public:
  BuiltinCall(Lowerer& l, const ast::Operand& o, const Lowerer::Env& env, CallArgs a)
      : b(l.b_), o(o), a(std::move(a)), l_(l), env_(env) {}

  Builder& b;
  const ast::Operand& o;  // the call: o.text is the built-in's name, o.loc its place
  const CallArgs a;

  bool given(std::size_t i) const { return a.expr[i] != nullptr; }
  /// Argument i, lowered.
  const Node* tensor(std::size_t i) { return l_.expr(*a.expr[i], env_); }
  /// Argument i as an axis of x: `dflt` when not given (-2: the last axis), negative counts
  /// from the end; a located error when out of range.
  int axis(std::size_t i, const Node* x, int dflt);
  /// Argument i as a constant integer of at least min.
  std::int64_t integer(std::size_t i, const char* what, std::int64_t min) { return l_.integer(*a.expr[i], what, min); }
  std::int64_t integer(const ast::Expr& e, const char* what, std::int64_t min) { return l_.integer(e, what, min); }
  /// Argument i as a string literal "..", or a located error that `what` must be one.
  std::string string(std::size_t i, const char* what) const;
  /// The elements of argument i when it is written as a list `[e1, e2, ...]`; else nullptr.
  const std::vector<ast::Expr>* list(std::size_t i) const;
  /// The same, or a located error that `what` must be a list.
  std::vector<ast::Expr> elements(std::size_t i, const char* what);
  const Node* lower(const ast::Expr& e) { return l_.expr(e, env_); }
  /// f() at the call: a ShapeError becomes a located error (see Lowerer::shaped).
  template <class F>
  const Node* shaped(F&& f) { return l_.shaped(o.loc, std::forward<F>(f)); }
  [[noreturn]] void shape_error(const std::string& msg) { l_.shape_error(o.loc, msg); }
  [[noreturn]] void shape_error(Loc loc, const std::string& msg) { l_.shape_error(loc, msg); }
  [[noreturn]] void error(const std::string& msg) { l_.error(o.loc, msg); }
  [[noreturn]] void error(Loc loc, const std::string& msg) { l_.error(loc, msg); }
  void check_labels(const Node* labels, std::int64_t classes, Loc loc) { l_.check_labels(labels, classes, loc); }

 private:
  Lowerer& l_;
  const Lowerer::Env& env_;
};

struct Builtin {
  const char* name;
  std::vector<const char*> params;
  std::size_t required;  // the first `required` parameters must be given
  const Node* (*lower)(BuiltinCall& c);
  // Whether a call of this name is this built-in (nullptr: always). `max(x)` and `max(x, axis
  // = 1)` are the reduction; `max(a, b)` is the elementwise op of the op table.
  bool (*applies)(const ast::Operand& o) = nullptr;
};

/// einsum("ij,jk->ik", a, b[, c]) (builtins_einsum.cpp).
const Node* lower_einsum(BuiltinCall& c);

/// The built-in that the call `o` names, or nullptr.
const Builtin* find_builtin(const ast::Operand& o);

/// Every built-in, in the order of the registry (for listings and tests).
std::span<const Builtin> builtins();

}  // namespace gradc
