// Lowering of the tensor program: parameters, data (inline and CSV), layers, the training
// block, and calls of layers and of the tensor built-ins (builtins.cpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "compiler/builtins.hpp"
#include "compiler/lowerer.hpp"

namespace gradc {
namespace {

// The single name an expression consists of ("zeros", "true"), or "".
std::string bare_name(const ast::Expr& e) {
  if (!e.steps.empty() || !e.first.steps.empty() || !e.first.first.signs.empty() ||
      !e.first.first.power.steps.empty())
    return "";
  const ast::Operand& o = e.first.first.power.base;
  return o.kind == ast::Operand::Name && o.postfix.empty() ? o.text : "";
}

// The call an expression consists of (sgd(...)), or nullptr.
const ast::Operand* bare_call(const ast::Expr& e) {
  if (!e.steps.empty() || !e.first.steps.empty() || !e.first.first.signs.empty() ||
      !e.first.first.power.steps.empty())
    return nullptr;
  const ast::Operand& o = e.first.first.power.base;
  return o.kind == ast::Operand::Call && o.postfix.empty() ? &o : nullptr;
}

}  // namespace

Loc expr_loc(const ast::Expr& e) { return e.first.first.loc; }

CallArgs match_args(const ast::Operand& o, std::span<const char* const> names, std::size_t required) {
  std::vector<std::string> params(names.begin(), names.end());
  CallArgs a{std::vector<const ast::Expr*>(params.size(), nullptr), std::vector<Loc>(params.size(), o.loc)};
  std::size_t positional = 0;
  for (std::size_t i = 0; i < o.args.size(); ++i) {
    std::size_t slot;
    if (o.arg_names[i].empty()) {
      slot = positional++;
      if (slot >= params.size())
        throw InputError(o.arg_locs[i], fmt::format("'{}' takes at most {}", o.text, plural(params.size(), "argument")));
    } else {
      auto it = std::find(params.begin(), params.end(), o.arg_names[i]);
      if (it == params.end()) {
        std::string list;
        for (const std::string& p : params) list += (list.empty() ? "" : ", ") + p;
        throw InputError(o.arg_locs[i], fmt::format("'{}' has no argument '{}' (arguments: {})", o.text,
                                                    o.arg_names[i], list));
      }
      slot = static_cast<std::size_t>(it - params.begin());
    }
    if (a.expr[slot])
      throw InputError(o.arg_locs[i], fmt::format("argument '{}' of '{}' is given twice", params[slot], o.text));
    a.expr[slot] = &o.args[i];
    a.loc[slot] = o.arg_locs[i];
  }
  for (std::size_t i = 0; i < required; ++i)
    if (!a.expr[i]) throw InputError(o.loc, fmt::format("'{}' needs the argument '{}'", o.text, params[i]));
  return a;
}

void Lowerer::check_new_global(const ast::Ident& name) {
  if (find_function(name.name))
    error(name.loc, fmt::format("'{}' is a built-in function and cannot be redefined", name.name));
  auto [it, fresh] = global_locs_.emplace(name.name, name.loc);
  if (!fresh)
    error(name.loc, fmt::format("redefinition of '{}' (first defined at line {})", name.name, line_of(it->second)));
}

std::int64_t Lowerer::integer(const ast::Expr& e, const char* what, std::int64_t min) {
  double v = constant(e);
  if (v != std::floor(v) || v < static_cast<double>(min) || std::fabs(v) > 1e15)
    error(expr_loc(e), fmt::format("{} must be an integer{}, not {}", what,
                                   min > 0 ? fmt::format(" of at least {}", min) : "", v));
  return static_cast<std::int64_t>(v);
}

void Lowerer::globals(const ast::Program& prog) {
  // Constants and data in source order (each may use the ones before: `const n = X.shape[0]`),
  // then parameters and layers, whose shapes may name them.
  std::vector<std::pair<const ast::Binding*, bool>> items;  // (item, is a const)
  for (const ast::Binding& c : prog.consts) items.emplace_back(&c, true);
  for (const ast::Binding& d : prog.datas) items.emplace_back(&d, false);
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& a, const auto& b) { return a.first->loc.offset < b.first->loc.offset; });
  for (const auto& [item, is_const] : items) is_const ? constant_item(*item) : data(*item);
  for (const ast::Param& p : prog.params) param(p);
  for (const ast::Binding& l : prog.layers) layer(l);
}

// zeros | ones | he | xavier | constant(c) | normal(mean, std) | uniform(a, b)
Init Lowerer::initializer(const ast::Expr& e) {
  std::string n = bare_name(e);
  if (n == "zeros") return Init{Init::Zeros};
  if (n == "ones") return Init{Init::Ones};
  if (n == "he") return Init{Init::He};
  if (n == "xavier") return Init{Init::Xavier};
  if (const ast::Operand* c = bare_call(e)) {
    if (c->text == "constant") {
      CallArgs a = match_args(*c, {"value"}, 1);
      return Init{Init::Constant, constant(*a.expr[0])};
    }
    if (c->text == "normal") {
      CallArgs a = match_args(*c, {"mean", "std"}, 2);
      Init i{Init::Normal, constant(*a.expr[0]), constant(*a.expr[1])};
      if (i.b < 0) error(a.loc[1], "the standard deviation must not be negative");
      return i;
    }
    if (c->text == "uniform") {
      CallArgs a = match_args(*c, {"low", "high"}, 2);
      Init i{Init::Uniform, constant(*a.expr[0]), constant(*a.expr[1])};
      if (i.b < i.a) error(a.loc[1], "uniform(low, high) needs low <= high");
      return i;
    }
  }
  error(expr_loc(e), "unknown initialiser (zeros, ones, constant(c), normal(mean, std), uniform(low, high), "
                     "he, xavier)");
}

// The shape of `param W[dims]` or of a function's parameter `x[dims]` (none: a scalar).
Shape Lowerer::declared_shape(const std::vector<ast::Expr>& exprs, const std::string& name, Loc loc) {
  std::vector<std::int64_t> dims;
  for (const ast::Expr& d : exprs) dims.push_back(integer(d, "a dimension", 1));
  if (dims.size() > Shape::kMaxRank)
    error(loc, fmt::format("'{}' has {} dimensions; at most {} are supported", name, dims.size(), Shape::kMaxRank));
  Shape shape;
  try {
    shape = Shape::of(dims);
  } catch (const ShapeError& e) {
    error(loc, fmt::format("'{}': {}; at most {} elements (1 GiB of f64) are supported", name, e.what(), kMaxElements));
  }
  if (shape.size() > kMaxElements)
    error(loc, fmt::format("'{}' has {} elements; at most {} (1 GiB of f64) are supported", name, shape.size(),
                           kMaxElements));
  return shape;
}

void Lowerer::param(const ast::Param& p) {
  check_new_global(p.name);
  Shape shape = declared_shape(p.dims, p.name.name, p.name.loc);
  add_param(Param{p.name.name, p.name.loc, shape, initializer(p.init), nullptr});
}

void Lowerer::too_large(Loc loc, const Shape& s) {
  error(loc, fmt::format("this result has shape {}, {} elements; at most {} (1 GiB of f64) are supported", s.str(),
                         s.size(), kMaxElements));
}

// Registers a parameter (declared, or made by a layer) with its Var.
void Lowerer::add_param(Param p) {
  if (p.shape.size() > kMaxElements)
    error(p.loc, fmt::format("'{}' has {} elements; at most {} (1 GiB of f64) are supported", p.name, p.shape.size(),
                             kMaxElements));
  p.var = b_.var(p.name, p.shape);
  params_[p.name] = m_.params.size();
  m_.params.push_back(std::move(p));
}

void Lowerer::data(const ast::Binding& d) {
  check_new_global(d.name);
  Data out;
  out.name = d.name.name;
  out.loc = d.name.loc;
  const ast::Operand* c = bare_call(d.value);
  if (c && c->text == "csv") {
    read_csv(*c, out, true);
  } else {
    const ast::Operand& lit = d.value.first.first.power.base;
    if (lit.kind != ast::Operand::Tensor)
      error(expr_loc(d.value), "data is a tensor literal ([[...], ...]) or csv(\"file.csv\", features = [...], target = ...)");
    const Node* t = tensor_literal(lit, Env{});
    out.x = Tensor{t->shape, *t->data};
    for (const ast::Expr& e : lit.args) out.rows_at.push_back(expr_loc(e));
  }
  data_[out.name] = m_.data.size();
  m_.data.push_back(std::move(out));
}

// const NAME = expr: any expression of numbers, tensor literals, data and other constants, or
// csv(...) (target optional: with one, NAME.x and NAME.y). Never a minibatch: constants keep
// all their rows in training graphs.
void Lowerer::constant_item(const ast::Binding& c) {
  check_new_global(c.name);
  Constant out;
  const ast::Operand* call = bare_call(c.value);
  if (call && call->text == "csv") {
    Data table;
    read_csv(*call, table, false);
    out.x = m_.graph.tensor(table.x.shape, std::move(table.x.data));
    if (table.y) out.y = m_.graph.tensor(table.y->shape, std::move(table.y->data));
  } else {
    // Computed once, here: a constant is data (global names defined so far are constants and
    // data, so nothing here is a variable).
    const Node* e = expr(c.value, Env{});
    Tensor v = evaluate_tensors(std::span<const Node* const>(&e, 1), {}, {})[0];
    for (std::size_t i = 0; i < v.data.size(); ++i)
      if (!std::isfinite(v.data[i]))
        error(expr_loc(c.value), v.shape.scalar() ? fmt::format("the constant '{}' is not a finite number", c.name.name)
                                                  : fmt::format("element {} of the constant '{}' is {}", i,
                                                                c.name.name, v.data[i]));
    out.x = v.shape.scalar() ? b_.constant(v.data[0]) : m_.graph.tensor(v.shape, std::move(v.data));
  }
  consts_[c.name.name] = out;
}

// csv("file", features = [a, b] | name | all, target = name, classes = k): the feature columns
// in out.x, the target in out.y (required for data, optional for constants).
void Lowerer::read_csv(const ast::Operand& c, Data& out, bool target_required) {
  CallArgs a = match_args(c, {"file", "features", "target", "classes"}, target_required ? 3 : 2);
  const ast::Operand& file = a.expr[0]->first.first.power.base;
  if (file.kind != ast::Operand::String) error(a.loc[0], "csv() needs a file name in quotes");
  // Relative paths resolve against the .grad file's folder.
  std::filesystem::path path(file.text);
  if (path.is_relative()) path = std::filesystem::path(m_.source.path).parent_path() / path;
  if (!m_.tables) error(file.loc, "csv() data cannot be read here (no table loader was given)");
  Table t;
  try {
    t = m_.tables(path.string());
  } catch (const UsageError& e) {
    error(file.loc, e.what());
  }
  auto column = [&](const ast::Expr& e) {
    std::string name = bare_name(e);
    if (name.empty()) error(expr_loc(e), "expected a column name");
    for (std::size_t j = 0; j < t.columns.size(); ++j)
      if (t.columns[j] == name) return j;
    std::string list;
    for (const std::string& col : t.columns) list += (list.empty() ? "" : ", ") + col;
    error(expr_loc(e), fmt::format("no column '{}' in {} (columns: {})", name, file.text, list));
  };
  std::optional<std::size_t> target;
  if (a.expr[2]) target = column(*a.expr[2]);
  if (a.expr[3] && !target) error(a.loc[3], "classes = ... needs a target column");
  std::vector<std::size_t> features;
  const ast::Operand& fl = a.expr[1]->first.first.power.base;
  if (bare_name(*a.expr[1]) == "all") {
    // Every column but the target, in file order.
    for (std::size_t j = 0; j < t.columns.size(); ++j)
      if (j != target) features.push_back(j);
    if (features.empty())
      error(expr_loc(*a.expr[1]), fmt::format("features = all: {} has no column besides the target '{}'", file.text,
                                              t.columns[*target]));
  } else if (fl.kind == ast::Operand::Tensor) {
    for (const ast::Expr& f : fl.args) features.push_back(column(f));
  } else {
    features.push_back(column(*a.expr[1]));
  }
  for (std::size_t f : features) out.features.push_back(t.columns[f]);
  if (a.expr[3]) out.classes = static_cast<int>(integer(*a.expr[3], "classes", 2));
  std::int64_t n = static_cast<std::int64_t>(t.rows()), w = static_cast<std::int64_t>(t.columns.size());
  if (n == 0) error(file.loc, fmt::format("{} has no data rows", file.text));
  Shape xs;
  try {
    xs = Shape::of(std::vector<std::int64_t>{n, static_cast<std::int64_t>(features.size())});
  } catch (const ShapeError& e) {
    error(file.loc, fmt::format("{}: {}", file.text, e.what()));
  }
  if (xs.size() > kMaxElements) too_large(file.loc, xs);
  out.x = Tensor{xs, {}};
  out.x.data.reserve(static_cast<std::size_t>(xs.size()));
  for (std::int64_t r = 0; r < n; ++r)
    for (std::size_t f : features) out.x.data.push_back(t.values[r * w + f]);
  if (!target) return;
  Tensor y{out.classes ? Shape::of(std::vector<std::int64_t>{n}) : Shape::of(std::vector<std::int64_t>{n, 1}), {}};
  for (std::int64_t r = 0; r < n; ++r) {
    double v = t.values[r * w + *target];
    if (out.classes && (v != std::floor(v) || v < 0 || v >= out.classes))
      error(expr_loc(*a.expr[2]), fmt::format("{}: row {}, column '{}': {} is not a class index in [0, {})", file.text,
                                              r + 1, t.columns[*target], v, out.classes));
    y.data.push_back(v);
  }
  out.y = std::move(y);
}

// [[1, 2], [3, 4]]: nested literals of constant expressions, rectangular. The first element at
// each depth fixes that dimension and whether the depth holds rows or numbers; every other
// element must agree.
const Node* Lowerer::tensor_literal(const ast::Operand& o, const Env& env) {
  // The row an element consists of ([...] alone), or nullptr for a number.
  auto row = [](const ast::Expr& e) -> const ast::Operand* {
    const ast::Operand& inner = e.first.first.power.base;
    bool alone = e.steps.empty() && e.first.steps.empty() && e.first.first.signs.empty() &&
                 e.first.first.power.steps.empty() && inner.postfix.empty();
    return alone && inner.kind == ast::Operand::Tensor ? &inner : nullptr;
  };
  std::vector<std::int64_t> dims;
  for (const ast::Operand* t = &o; t; t = t->args.empty() ? nullptr : row(t->args.front())) {
    if (dims.size() == Shape::kMaxRank)
      error(t->loc, fmt::format("tensors have at most {} dimensions", Shape::kMaxRank));
    dims.push_back(static_cast<std::int64_t>(t->args.size()));
  }
  std::vector<double> values;
  auto walk = [&](auto& self, const ast::Operand& t, std::size_t depth) -> void {
    std::int64_t n = static_cast<std::int64_t>(t.args.size());
    if (n != dims[depth])
      error(t.loc, fmt::format("ragged tensor literal: {} here, {} in the first row at this depth",
                               plural(static_cast<std::size_t>(n), "element"), dims[depth]));
    for (const ast::Expr& e : t.args) {
      const ast::Operand* inner = row(e);
      if (depth + 1 < dims.size()) {
        if (!inner) error(expr_loc(e), "ragged tensor literal: a number where a row was expected");
        self(self, *inner, depth + 1);
      } else {
        if (inner) error(inner->loc, "ragged tensor literal: a row where a number was expected");
        values.push_back(constant_in(e, env));
      }
    }
  };
  walk(walk, o, 0);
  return m_.graph.tensor(Shape::of(dims), std::move(values));
}

// A data tensor inside lower_bound() (a training graph): a Var of `rows` rows (0: all), which the
// runtime fills with minibatches. Elsewhere (a function evaluated at a point) the data is
// constant.
const Node* Lowerer::data_var(const Data& d, bool target, Loc loc) {
  const Tensor& t = target ? *d.y : d.x;
  if (!bind_.inputs) {
    if (!data_consts_.count(&t)) data_consts_[&t] = m_.graph.tensor(t.shape, t.data);
    return data_consts_[&t];
  }
  std::string name = d.y ? d.name + (target ? ".y" : ".x") : d.name;
  Shape s = t.shape;
  if (bind_.rows > 0 && s.rank > 0) s.dims[0] = static_cast<std::int32_t>(std::min<std::int64_t>(bind_.rows, s[0]));
  const Node* v = b_.var(name, s);
  if (bind_.inputs) {
    bool seen = false;
    for (const DataInput& in : *bind_.inputs) seen = seen || in.var == v;
    if (!seen) bind_.inputs->push_back(DataInput{v, &t, name});
  }
  (void)loc;
  return v;
}

// Class labels that come straight from a data set must be class indices, as PyTorch's
// cross_entropy and one_hot require: an error at the label (inline data) or at `loc` (a CSV
// file's column). Labels computed by an expression are the user's to keep in range (an
// out-of-range label gives a row of zeros).
void Lowerer::check_labels(const Node* labels, std::int64_t classes, Loc loc, const std::vector<DataInput>* inputs) {
  if (!inputs) inputs = bind_.inputs;
  for (const Data& d : m_.data)
    for (bool target : {false, true}) {
      if (target && !d.y) continue;
      const Tensor& t = target ? *d.y : d.x;
      auto c = data_consts_.find(&t);
      bool bound = false;
      if (inputs)
        for (const DataInput& in : *inputs) bound = bound || (in.var == labels && in.source == &t);
      if (!bound && !(c != data_consts_.end() && c->second == labels)) continue;
      for (std::size_t r = 0; r < t.data.size(); ++r) {
        double v = t.data[r];
        if (v == std::floor(v) && v >= 0 && v < static_cast<double>(classes)) continue;
        std::string name = d.y ? d.name + (target ? ".y" : ".x") : d.name;
        error(!target && r < d.rows_at.size() ? d.rows_at[r] : loc,
              fmt::format("{}: row {}: the label {} is not a class index in [0, {})", name, r + 1, v, classes));
      }
    }
}

const Node* Lowerer::lower_bound(const ast::Expr& e, const Binding& bind) {
  Binding saved = bind_;
  Function* saved_cur = cur_;
  bind_ = bind;
  if (bind.located) cur_ = bind.located;
  calls_.clear();
  try {
    const Node* r = expr(e, Env{});
    bind_ = saved;
    cur_ = saved_cur;
    calls_.clear();
    return r;
  } catch (const NodeLimitError& err) {
    bind_ = saved;
    cur_ = saved_cur;
    calls_.clear();
    error(expr_loc(e), err.what());
  } catch (...) {
    bind_ = saved;
    cur_ = saved_cur;
    calls_.clear();
    throw;
  }
}

// layer NAME = linear(in, out[, init = ...]) | sequential(stage, ...) | an activation name
void Lowerer::layer(const ast::Binding& l) {
  check_new_global(l.name);
  Layer out;
  auto linear = [&](const ast::Operand& c, const std::string& prefix) {
    CallArgs a = match_args(c, {"in", "out", "init"}, 2);
    std::int64_t in = integer(*a.expr[0], "the input size", 1), n = integer(*a.expr[1], "the output size", 1);
    // PyTorch's default: W and b uniform in ±1/sqrt(in); with init given, W uses it and b is 0.
    double bound = 1 / std::sqrt(static_cast<double>(in));
    Init w = a.expr[2] ? initializer(*a.expr[2]) : Init{Init::Uniform, -bound, bound};
    Init bias = a.expr[2] ? Init{Init::Zeros} : Init{Init::Uniform, -bound, bound};
    add_param(Param{prefix + "W", c.loc, Shape::of(std::vector<std::int64_t>{in, n}), w, nullptr});
    const Node* W = m_.params.back().var;
    add_param(Param{prefix + "b", c.loc, Shape::of(std::vector<std::int64_t>{n}), bias, nullptr});
    out.stages.push_back(Layer::Stage{W, m_.params.back().var, Op::Const});
  };
  auto activation = [&](const ast::Expr& e) {
    std::string n = bare_name(e);
    const OpInfo* op = n.empty() ? nullptr : find_function(n);
    if (!op || op->arity != 1) error(expr_loc(e), "expected linear(in, out), an activation (relu, tanh, sigmoid, softplus, ...) or a layer");
    out.stages.push_back(Layer::Stage{nullptr, nullptr, op->op});
  };
  const ast::Operand* c = bare_call(l.value);
  if (c && c->text == "sequential") {
    for (std::size_t i = 0; i < c->args.size(); ++i) {
      if (!c->arg_names[i].empty()) error(c->arg_locs[i], "sequential() takes no named arguments");
      const ast::Operand* inner = bare_call(c->args[i]);
      if (inner && inner->text == "linear") {
        linear(*inner, fmt::format("{}.{}.", l.name.name, i));
      } else if (auto it = layers_.find(bare_name(c->args[i])); it != layers_.end()) {
        out.stages.insert(out.stages.end(), it->second.stages.begin(), it->second.stages.end());
      } else {
        activation(c->args[i]);
      }
    }
  } else if (c && c->text == "linear") {
    linear(*c, l.name.name + ".");
  } else {
    activation(l.value);
  }
  layers_[l.name.name] = std::move(out);
}

const Node* Lowerer::apply_named(const std::string& name, const Node* x) {
  if (auto it = layers_.find(name); it != layers_.end()) return apply_layer(it->second, x, Loc{});
  if (auto it = ast_fns_.find(name); it != ast_fns_.end()) {
    if (it->second->params.size() != 1)
      throw UsageError(fmt::format("'{}' takes {}; predict needs a function of one argument", name,
                                   plural(it->second->params.size(), "argument")));
    return call_user(*it->second, {x});
  }
  throw UsageError(fmt::format("no layer or function '{}'", name));
}

std::vector<std::string> Lowerer::layer_names() const {
  std::vector<std::string> names;
  for (const ast::Binding& l : m_.program.layers) names.push_back(l.name.name);
  return names;
}

const Node* Lowerer::apply_layer(const Layer& l, const Node* x, Loc loc) {
  for (const Layer::Stage& s : l.stages) {
    if (s.W) {
      x = matmul(x, s.W, loc);
      x = shaped(loc, [&] { return b_.add(x, s.b); });
    } else {
      x = shaped(loc, [&] { return b_.call(s.activation, x); });
    }
  }
  return x;
}

// Layer calls and the tensor built-ins of the registry (builtins.cpp). `handled` is false for
// everything else.
const Node* Lowerer::builtin(const ast::Operand& o, const Env& env, bool& handled) {
  handled = true;
  if (auto it = layers_.find(o.text); it != layers_.end()) {
    CallArgs a = match_args(o, {"x"}, 1);
    return apply_layer(it->second, expr(*a.expr[0], env), o.loc);
  }
  if (const Builtin* f = find_builtin(o)) {
    BuiltinCall c(*this, o, env, match_args(o, f->params, f->required));
    return f->lower(c);
  }
  handled = false;
  return nullptr;
}

// train { loss = ..., optimizer = sgd(...) | adam(...), epochs, batch, shuffle, seed, schedule,
//         metric = accuracy(prediction, target), log_every }
void Lowerer::training(const ast::Train& t) {
  if (m_.training) error(t.loc, "only one 'train' block is allowed");
  Training tr;
  tr.loc = t.loc;
  std::unordered_map<std::string, Loc> seen;
  for (const ast::Assign& s : t.settings) {
    const std::string& k = s.target.name;
    if (!seen.emplace(k, s.target.loc).second) error(s.target.loc, fmt::format("'{}' is set twice", k));
    const ast::Operand* c = bare_call(s.value);
    std::string n = bare_name(s.value);
    auto flag = [&](const ast::Expr& e, Loc loc) {
      std::string v = bare_name(e);
      if (v != "true" && v != "false") error(loc, "expected true or false");
      return v == "true";
    };
    if (k == "loss") {
      tr.loss = &s.value;
    } else if (k == "optimizer") {
      if (c && c->text == "sgd") {
        CallArgs a = match_args(*c, {"lr", "momentum", "nesterov", "weight_decay"}, 1);
        tr.optimizer.kind = Optimizer::Sgd;
        tr.optimizer.lr = constant(*a.expr[0]);
        if (a.expr[1]) tr.optimizer.momentum = constant(*a.expr[1]);
        if (a.expr[2]) tr.optimizer.nesterov = flag(*a.expr[2], a.loc[2]);
        if (a.expr[3]) tr.optimizer.weight_decay = constant(*a.expr[3]);
        for (std::size_t i = 0; const char* name : {"lr", "momentum", "nesterov", "weight_decay"}) tr.where[name] = a.loc[i++];
      } else if (c && c->text == "adam") {
        CallArgs a = match_args(*c, {"lr", "beta1", "beta2", "eps", "weight_decay"}, 0);
        tr.optimizer.kind = Optimizer::Adam;
        tr.optimizer.lr = a.expr[0] ? constant(*a.expr[0]) : 0.001;
        if (a.expr[1]) tr.optimizer.beta1 = constant(*a.expr[1]);
        if (a.expr[2]) tr.optimizer.beta2 = constant(*a.expr[2]);
        if (a.expr[3]) tr.optimizer.eps = constant(*a.expr[3]);
        if (a.expr[4]) tr.optimizer.weight_decay = constant(*a.expr[4]);
        for (std::size_t i = 0; const char* name : {"lr", "beta1", "beta2", "eps", "weight_decay"}) tr.where[name] = a.loc[i++];
      } else {
        error(expr_loc(s.value), fmt::format("unknown optimizer '{}' (sgd, adam)", c ? c->text : n));
      }
      // The values' ranges are checked by the runtime (runtime/train.hpp validate), with tr.where.
    } else if (k == "epochs") {
      tr.epochs = integer(s.value, "epochs", 1);
      tr.where[k] = expr_loc(s.value);
    } else if (k == "batch") {
      tr.batch = integer(s.value, "the batch size", 1);
      tr.where[k] = expr_loc(s.value);
    } else if (k == "shuffle") {
      tr.shuffle = flag(s.value, expr_loc(s.value));
    } else if (k == "seed") {
      tr.seed = static_cast<std::uint64_t>(integer(s.value, "the seed", 0));
    } else if (k == "log_every") {
      tr.log_every = integer(s.value, "log_every", 1);
    } else if (k == "schedule") {
      if (n == "constant") {
        tr.schedule.kind = Schedule::Constant;
      } else if (c && c->text == "step") {
        CallArgs a = match_args(*c, {"every", "gamma"}, 2);
        tr.schedule = Schedule{Schedule::Step, integer(*a.expr[0], "every", 1), constant(*a.expr[1]), 0};
      } else if (c && c->text == "exponential") {
        CallArgs a = match_args(*c, {"gamma"}, 1);
        tr.schedule = Schedule{Schedule::Exponential, 1, constant(*a.expr[0]), 0};
      } else if (n == "cosine" || (c && c->text == "cosine")) {
        tr.schedule = Schedule{Schedule::Cosine, 1, 1, 0};
        if (c) {
          CallArgs a = match_args(*c, {"min_lr"}, 0);
          if (a.expr[0]) tr.schedule.min_lr = constant(*a.expr[0]);
        }
      } else {
        error(expr_loc(s.value), "unknown schedule (constant, step(every, gamma), exponential(gamma), cosine)");
      }
    } else if (k == "metric") {
      if (!c || c->text != "accuracy") error(expr_loc(s.value), "unknown metric (accuracy(prediction, target))");
      CallArgs a = match_args(*c, {"prediction", "target"}, 2);
      tr.accuracy_pred = a.expr[0];
      tr.accuracy_target = a.expr[1];
    } else {
      error(s.target.loc, fmt::format("unknown setting '{}' (loss, optimizer, epochs, batch, shuffle, seed, "
                                      "schedule, metric, log_every)", k));
    }
  }
  if (!tr.loss) error(t.loc, "the 'train' block needs a loss: loss = ...");
  // Lower once over all rows: reports shape errors now, and checks that the loss is a scalar.
  std::vector<DataInput> inputs;
  const Node* loss = lower_bound(*tr.loss, Binding{0, &inputs});
  if (!loss->shape.scalar())
    error(expr_loc(*tr.loss), fmt::format("the loss must be a scalar, not shape {}", loss->shape.str()));
  std::int64_t rows = -1;
  for (const DataInput& in : inputs) {
    std::int64_t r = in.source->shape.rank ? in.source->shape[0] : 1;
    if (rows >= 0 && r != rows)
      error(expr_loc(*tr.loss), fmt::format("the loss uses data with {} and {} rows: minibatches need one row count",
                                            rows, r));
    rows = r;
  }
  if (tr.accuracy_pred) {
    std::vector<DataInput> metric_inputs;
    const Node* p = lower_bound(*tr.accuracy_pred, Binding{0, &metric_inputs});
    const Node* y = lower_bound(*tr.accuracy_target, Binding{0, &metric_inputs});
    if (p->shape.rank != 2 || y->shape.rank < 1 || y->shape[0] != p->shape[0])
      error(expr_loc(*tr.accuracy_pred),
            fmt::format("accuracy needs predictions [rows, classes] and targets with as many rows, not {} and {}",
                        p->shape.str(), y->shape.str()));
    if (y->shape.rank == 1 && p->shape[1] > 1) check_labels(y, p->shape[1], expr_loc(*tr.accuracy_target), &metric_inputs);
  }
  m_.training = std::move(tr);
}

}  // namespace gradc
