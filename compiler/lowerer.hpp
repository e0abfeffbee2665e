// The lowerer's internals, shared by lower.cpp (functions and expressions) and model.cpp
// (parameters, data, layers, training, tensor built-ins). Not a public header.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/lower.hpp"

namespace gradc {

/// The largest tensor a program may declare or compute: 2^27 elements, 1 GiB of f64.
constexpr std::int64_t kMaxElements = std::int64_t(1) << 27;
// The largest order of polygamma(n, x) in source (README, "Limits"): ψ⁽ⁿ⁾ costs O(n) per element.
constexpr int kMaxPolygammaOrder = 100;

/// An InputError that comes from an operand's shape (see Lowerer::shape_error).
struct ShapeInputError : InputError {
  using InputError::InputError;
};

/// A layer: `linear(in, out)` (x @ W + b) or an activation, or a sequence of them.
struct Layer {
  struct Stage {
    const Node* W = nullptr;  // linear
    const Node* b = nullptr;
    Op activation = Op::Const;  // an elementwise op when not linear
  };
  std::vector<Stage> stages;
};

/// A `const`: its value (a Const, tensor data, or any expression of them); a CSV table with a
/// target has the features in x and the target in y (c.x, c.y), as a data set.
struct Constant {
  const Node* x = nullptr;
  const Node* y = nullptr;
};

class Lowerer {
  friend class BuiltinCall;  // the built-ins' lowerings (builtins.cpp)

 public:
  Lowerer(Module& m, bool simplify) : m_(m), b_(m.graph, simplify ? Simplify::Fold : Simplify::None) {}

  void run(const ast::Program& prog);
  double constant(const ast::Expr& e);

  /// The state of a Module::lower() call: data bound to batch-sized Vars.
  struct Binding {
    std::int64_t rows = 0;
    std::vector<DataInput>* inputs = nullptr;
    Function* located = nullptr;  // receives where each operation was written (for check --lint)
  };
  const Node* lower_bound(const ast::Expr& e, const Binding& bind);
  const Node* apply_named(const std::string& name, const Node* x);
  std::vector<std::string> layer_names() const;

  using Env = std::unordered_map<std::string, const Node*>;

 private:
  // lower.cpp: functions and expressions.
  void functions(const ast::Program& prog);
  void default_point(const ast::Program& prog);
  const Node* expr(const ast::Expr& e, const Env& env);
  const Node* term(const ast::Term& t, const Env& env);
  const Node* unary(const ast::Unary& u, const Env& env);
  const Node* power(const ast::Power& p, const Env& env);
  const Node* operand(const ast::Operand& o, const Env& env);
  const Node* name(const ast::Operand& o, const Env& env, std::size_t& postfix_used);
  const Node* layer_param(const ast::Operand& o, const Layer& l, std::size_t& used);
  const Node* postfix(const Node* v, const ast::Operand& o, std::size_t from, const Env& env);
  const Node* bracket(const ast::Operand& o, const Env& env);
  const Node* shape_member(const Node* v, const ast::Operand& o, std::size_t& p);
  const Node* call(const ast::Operand& o, const Env& env);
  const Node* call_here(const ast::Operand& o, const Env& env);
  const Node* call_user(const ast::Function& f, const std::vector<const Node*>& args);
  const Node* inline_call(const Function& f, const std::vector<const Node*>& args);
  const Node* matmul(const Node* a, const Node* b, Loc loc);
  const Node* polygamma_order(const Node* n, Loc loc);

  // model.cpp: the tensor program.
  void globals(const ast::Program& prog);
  void param(const ast::Param& p);
  void add_param(Param p);
  void data(const ast::Binding& d);
  void constant_item(const ast::Binding& c);
  void read_csv(const ast::Operand& c, Data& out, bool target_required);
  Shape declared_shape(const std::vector<ast::Expr>& dims, const std::string& name, Loc loc);
  double constant_in(const ast::Expr& e, const Env& env);
  void layer(const ast::Binding& l);
  void training(const ast::Train& t);
  const Node* tensor_literal(const ast::Operand& o, const Env& env);
  const Node* data_var(const Data& d, bool target, Loc loc);
  void check_labels(const Node* labels, std::int64_t classes, Loc loc, const std::vector<DataInput>* inputs = nullptr);
  const Node* builtin(const ast::Operand& o, const Env& env, bool& handled);
  const Node* apply_layer(const Layer& l, const Node* x, Loc loc);
  Init initializer(const ast::Expr& e);
  std::int64_t integer(const ast::Expr& e, const char* what, std::int64_t min);

  // Helpers.
  const Node* located(const Node* n, Loc loc) {
    if (cur_ && n->nargs > 0) cur_->locs.try_emplace(n, loc);
    return n;
  }
  /// Runs a Builder call; a ShapeError becomes an InputError at loc, and so does a result of
  /// more than kMaxElements elements.
  template <class F>
  const Node* shaped(Loc loc, F&& f) {
    const Node* n = nullptr;
    try {
      n = located(f(), loc);
    } catch (const ShapeError& e) {
      shape_error(loc, e.what());
    }
    if (n->shape.size() > kMaxElements) too_large(loc, n->shape);
    return n;
  }
  [[noreturn]] void too_large(Loc loc, const Shape& s);
  [[noreturn]] void error(Loc loc, const std::string& msg) { throw InputError(loc, msg); }
  /// An error caused by an operand's shape: lowering a function's body for scalar parameters
  /// tolerates these (the function then works on tensors only), and reports every other error.
  [[noreturn]] void shape_error(Loc loc, const std::string& msg) { throw ShapeInputError(loc, msg); }
  std::string line_of(Loc loc) { return std::to_string(m_.source.line_col(loc).line); }
  void check_new_global(const ast::Ident& name);

  Module& m_;
  Builder b_;
  std::unordered_map<std::string, const ast::Function*> ast_fns_;
  std::unordered_map<std::string, std::size_t> lowered_;  // name -> index in m_.functions
  std::unordered_map<std::string, std::size_t> params_;   // name -> index in m_.params
  std::unordered_map<std::string, std::size_t> data_;     // name -> index in m_.data
  std::unordered_map<std::string, Constant> consts_;
  std::unordered_map<std::string, Layer> layers_;
  std::unordered_map<std::string, Loc> global_locs_;      // every global name, for duplicates
  Function* cur_ = nullptr;                                // the function being lowered
  Binding bind_;                                           // data binding of lower_bound()
  std::unordered_map<const Tensor*, const Node*> data_consts_;  // data as constants
  // Calls lowered so far, by function and argument nodes: a call is lowered once per distinct
  // argument (`f(x) + f(x)` nested 25 deep is 25 lowerings, not 2^25). Cleared when the data
  // binding or the function being lowered changes (results depend on both).
  struct CallKey {
    const ast::Function* fn;
    std::vector<const Node*> args;
    bool operator==(const CallKey&) const = default;
  };
  struct CallKeyHash {
    std::size_t operator()(const CallKey& k) const {
      std::size_t h = std::hash<const void*>()(k.fn);
      for (const Node* a : k.args) h = h * 1000003u ^ std::hash<const void*>()(a);
      return h;
    }
  };
  std::unordered_map<CallKey, const Node*, CallKeyHash> calls_;
  // Calls with tensor arguments re-lower their callee's body, nesting one C++ call per level:
  // past this depth a located error, not a stack overflow (a chain of calls in a 1 MB file).
  static constexpr int kMaxCallDepth = 256;  // as brackets (ast::kMaxNesting)
  int call_depth_ = 0;
  // Why a tensor-only function failed for scalar parameters: a call with scalar arguments
  // fails the same way (shape errors depend on shapes only), without lowering it again.
  std::unordered_map<const ast::Function*, ShapeInputError> scalar_failure_;
};

std::string plural(std::size_t n, const char* word);
std::string were(std::size_t n);

}  // namespace gradc
