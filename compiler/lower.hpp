// Lowering: from the AST of a .grad file to IR. Names are resolved, built-in calls are checked
// for arity, user functions are inlined (recursion is an error), and the `at` lines become the
// default point.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <optional>

#include "compiler/interp.hpp"
#include "compiler/ir.hpp"
#include "compiler/table.hpp"
#include "grammar/ast.hpp"

namespace gradc {

struct Function {
  std::string name;
  Loc loc;                           // the function's name in the source
  // Var nodes, in declaration order; a tensor parameter `x[3]` is a Var of its shape (its
  // elements are flattened row-major after those of the parameters before it).
  std::vector<const Node*> params;
  std::vector<Loc> param_locs;
  // nullptr: a function of scalar parameters that only works on tensor arguments (x @ W);
  // always set when a parameter has a declared shape.
  const Node* body = nullptr;
  const ast::Function* ast = nullptr;  // in Module::program
  // Per function, because hash-consing makes identical expressions in two functions one node:
  std::unordered_map<const Node*, std::string> names;  // user names of intermediates (a = 2*x)
  NodeMap<Loc> locs;                                   // where each operation was written
};

/// How a parameter's initial values are drawn (see runtime/init.hpp).
struct Init {
  enum Kind { Zeros, Ones, Constant, Normal, Uniform, He, Xavier } kind = Zeros;
  double a = 0, b = 0;  // constant(a); normal(mean a, std b); uniform(a, b)
};

/// `param NAME[dims] = init`, or a parameter a layer declared (`net.0.W`).
struct Param {
  std::string name;
  Loc loc;
  Shape shape;
  Init init;
  const Node* var = nullptr;  // Var node named `name`
};

/// A data set: `data X = [[...]]` (x only) or `data d = csv(...)` (d.x features, d.y target).
struct Data {
  std::string name;
  Loc loc;
  Tensor x;
  std::optional<Tensor> y;  // [N] class labels when `classes` is given, else [N, 1]
  int classes = 0;
  std::vector<std::string> features;  // CSV: the feature columns of x, in order
  std::vector<Loc> rows_at;            // a literal: where each row (each label of [N]) is written
  std::int64_t rows() const { return x.shape.rank ? x.shape[0] : 1; }
};

/// A data tensor bound to a Var while lowering: the runtime fills the Var with rows of `source`.
struct DataInput {
  const Node* var;
  const Tensor* source;
  std::string name;  // "X" or "d.x"
};

struct Optimizer {
  enum Kind { Sgd, Adam } kind = Sgd;
  double lr = 0.01, momentum = 0, weight_decay = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool nesterov = false;
};

struct Schedule {
  enum Kind { Constant, Step, Exponential, Cosine } kind = Constant;
  std::int64_t every = 1;  // step: epochs between decays
  double gamma = 1;        // step, exponential: factor per decay
  double min_lr = 0;       // cosine: final learning rate
};

/// The `train { ... }` block.
struct Training {
  Loc loc;
  const ast::Expr* loss = nullptr;
  Optimizer optimizer;
  std::int64_t epochs = 100;
  std::int64_t batch = 0;  // 0: the whole data set
  bool shuffle = true;
  std::uint64_t seed = 0;
  Schedule schedule;
  std::int64_t log_every = 0;                 // 0: about 10 lines per run
  const ast::Expr* accuracy_pred = nullptr;   // metric = accuracy(pred, target)
  const ast::Expr* accuracy_target = nullptr;
  // Where each setting and optimizer argument is written (by its name: lr, momentum, epochs, ...),
  // so that the runtime's range checks (runtime/train.hpp validate) point at it.
  std::unordered_map<std::string, Loc> where;
};

/// A compiled .grad file: its functions as IR in one graph.
struct Module {
  Module();
  explicit Module(std::size_t max_nodes);
  SourceFile source;
  Graph graph;
  std::vector<Function> functions;
  std::vector<std::pair<std::string, double>> at;         // default point, in source order
  // For derivative nodes: the operation whose derivative rule made them (see gradient()).
  std::unordered_map<const Node*, const Node*> origins;

  // Tensor values of the `at` lines (`at v = [1, 2, 3]`), each of the shape of a tensor
  // parameter of that name (checked), in source order.
  std::vector<std::pair<std::string, Tensor>> at_tensors;

  const Function* find(std::string_view name) const;
  const double* at_value(std::string_view name) const;
  const Tensor* at_tensor(std::string_view name) const;

  // Tensor programs.
  std::vector<Param> params;
  std::vector<Data> data;
  std::optional<Training> training;
  ast::Program program;  // kept: training graphs are lowered again for each batch size
  TableLoader tables;    // reads csv() data files

  /// Lowers e (an expression of the program, e.g. the training loss) with every data tensor it
  /// names bound to a Var of `rows` rows (0: all rows), appending those to `inputs`. Throws
  /// InputError (shape errors name both shapes). `located`, when given, receives in its `locs`
  /// where each operation was written.
  const Node* lower(const ast::Expr& e, std::int64_t rows, std::vector<DataInput>& inputs,
                    Function* located = nullptr);

  /// `name(x)` for a layer or a function of one argument (for `gradc predict`). Throws
  /// UsageError when there is no such layer or function, InputError for shape errors.
  const Node* apply(const std::string& name, const Node* x);
  std::vector<std::string> layer_names() const;

  ~Module();
  struct LowererState;
  std::unique_ptr<LowererState> state;  // the lowerer, kept for lower()
};

/// Parses and lowers a file. Throws InputError. The IR keeps the structure written (constant
/// folding and identities only: Simplify::Fold); `simplify` = false keeps it exactly as written
/// (still hash-consed). `tables` reads the files of `data d = csv(...)` (io/csv.hpp's read_csv
/// in the CLI); without one, such a declaration is an input error.
/// `max_nodes` bounds the IR graph (Graph::kMaxNodes; smaller in tests): past it, compiling is
/// an input error located at the call or expression that needed more.
std::unique_ptr<Module> compile_module(SourceFile src, bool simplify = true, TableLoader tables = {},
                                       std::size_t max_nodes = Graph::kMaxNodes);

/// Lowers an expression with no free variables (an `at` value, a --at value) to a number.
/// Throws InputError if it names a variable or is not finite.
double constant_value(const SourceFile& src, const ast::Expr& e);

}  // namespace gradc
