// The driver's shared pieces (see cli/common.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include "cli/common.hpp"
#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/explain.hpp"
#include "compiler/graph.hpp"
#include "compiler/interp.hpp"
#include "compiler/print.hpp"
#include "grammar/ast_dump.hpp"
#include "grammar/parser.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "io/process.hpp"
#include "runtime/jit.hpp"
#include "runtime/object_cache.hpp"
#include "io/params_io.hpp"
#include "runtime/train.hpp"

#include <unistd.h>

namespace gradc::cli {

std::string jit_cache_dir(const Options& o) { return o.no_cache ? "" : default_cache_dir(); }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::vector<std::string> param_names(const Function& f) {
  std::vector<std::string> v;
  for (const Node* p : f.params) v.push_back(p->name);
  return v;
}

std::unique_ptr<Module> load(const Options& o, bool fold) {
  SourceFile src = load_source(o.file);
  // Keep a copy for diagnostics: compile_module moves the source into the module.
  SourceFile diag{src.path, src.text};
  return located_in(diag, [&] { return compile_module(std::move(src), fold && !o.no_simplify, read_csv); });
}

// eval, diff and check work on scalar functions of their parameters; a function of a tensor
// program (using params or data, or only meaningful on tensors) is trained instead.
bool vector_function(const Function& f) {
  if (!f.body) return false;
  for (const Node* n : reachable(std::span<const Node* const>(&f.body, 1)))
    if (n->op == Op::Var && std::find(f.params.begin(), f.params.end(), n) == f.params.end()) return false;
  return true;
}

bool scalar_function(const Function& f) {
  if (!vector_function(f) || !f.body->shape.scalar()) return false;
  for (const Node* p : f.params)
    if (!p->shape.scalar()) return false;
  return true;
}

const Function& choose(const Module& m, const std::string& name, bool tensors) {
  auto usable = tensors ? vector_function : scalar_function;
  std::vector<std::string> names;
  for (const Function& f : m.functions)
    if (usable(f)) names.push_back(f.name);
  if (!name.empty()) {
    const Function* f = m.find(name);
    if (!f) throw UsageError(fmt::format("--fn: no function '{}' in {} (functions: {})", name, m.source.path, join(names)));
    if (!usable(*f) && vector_function(*f))
      throw UsageError(fmt::format("--fn: '{}' takes or returns tensors; this command works on functions of "
                                   "scalars to a scalar (eval and diff take tensors)",
                                   name));
    if (!usable(*f))
      throw UsageError(fmt::format("--fn: '{}' works on tensors (parameters, data or matrix products), not on "
                                   "scalars: use it in a 'train' block and run 'gradc train'",
                                   name));
    return *f;
  }
  if (names.size() == 1) return *m.find(names[0]);
  if (names.empty())
    throw UsageError(fmt::format("{} has no scalar functions{}", m.source.path,
                                 m.training ? ": it is a training program, run 'gradc train'" : ""));
  throw UsageError(fmt::format("{} defines {} functions ({}): choose one with --fn", m.source.path,
                               names.size(), join(names)));
}

// The functions a command works on: --fn's, or every usable function of the file.
std::vector<const Function*> choose_all(const Module& m, const std::string& name, bool tensors) {
  if (!name.empty()) return {&choose(m, name, tensors)};
  std::vector<const Function*> all;
  for (const Function& f : m.functions)
    if (tensors ? vector_function(f) : scalar_function(f)) all.push_back(&f);
  if (all.empty()) choose(m, name, tensors);  // throws the explanation
  return all;
}

// Splits "x=0.5, y=max(1, 2)" at top-level commas; returns (offset, piece) pairs.
std::vector<std::pair<std::size_t, std::string>> split_top(const std::string& s) {
  std::vector<std::pair<std::size_t, std::string>> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || (s[i] == ',' && depth == 0)) {
      parts.emplace_back(start, s.substr(start, i - start));
      start = i + 1;
    } else if (s[i] == '(' || s[i] == '[') {
      ++depth;
    } else if (s[i] == ')' || s[i] == ']') {
      --depth;
    }
  }
  return parts;
}

// A value on the command line: a constant expression, or brackets of them nested like NumPy's
// np.array([[1, 2], [3, 4]]) (equal lengths at each level).
Tensor command_value(const SourceFile& src, const ast::Expr& e) {
  const ast::Operand& op = e.first.first.power.base;
  bool bracket = e.steps.empty() && e.first.steps.empty() && e.first.first.signs.empty() &&
                 e.first.first.power.steps.empty() && op.kind == ast::Operand::Tensor && op.postfix.empty();
  if (!bracket) return Tensor::scalar(constant_value(src, e));
  std::vector<Tensor> items;
  for (const ast::Expr& x : op.args) {
    items.push_back(command_value(src, x));
    if (items.back().shape != items[0].shape)
      throw InputError(x.first.first.loc,
                       fmt::format("this element has shape {}, the first one {}: the rows of a value have equal "
                                   "lengths",
                                   items.back().shape.str(), items[0].shape.str()));
  }
  if (items[0].shape.rank == Shape::kMaxRank)
    throw InputError(op.loc, fmt::format("a value has at most {} axes", Shape::kMaxRank));
  std::vector<std::int64_t> dims{static_cast<std::int64_t>(items.size())};
  for (int a = 0; a < items[0].shape.rank; ++a) dims.push_back(items[0].shape[a]);
  Tensor t{Shape::of(dims), {}};
  for (const Tensor& x : items) t.data.insert(t.data.end(), x.data.begin(), x.data.end());
  return t;
}

std::map<std::string, Tensor> named_values(const std::string& flag, const std::string& text,
                                           std::span<const Function* const> selected) {
  const Function& f = *selected[0];
  std::map<std::string, Tensor> given;
  SourceFile cmd{flag, text};
  for (auto& [off, piece] : split_top(text)) {
    auto eq = piece.find('=');
    std::string name = piece.substr(0, eq == std::string::npos ? piece.size() : eq);
    std::size_t lead = name.find_first_not_of(" \t");
    name = lead == std::string::npos ? "" : name.substr(lead, name.find_last_not_of(" \t") - lead + 1);
    Loc loc{static_cast<std::uint32_t>(off + (lead == std::string::npos ? 0 : lead))};
    const Node* param = nullptr;
    located_in(cmd, [&] {
      if (eq == std::string::npos || name.empty())
        throw InputError(loc, "expected NAME=VALUE");
      for (const Function* g : selected)
        for (const Node* p : g->params)
          if (p->name == name && (!param || g == &f)) param = p;
      if (!param && selected.size() == 1)
        throw InputError(loc, fmt::format("'{}' is not a parameter of '{}' (parameters: {})", name, f.name,
                                          join(param_names(f))));
      if (!param) throw InputError(loc, fmt::format("'{}' is not a parameter of any function", name));
      if (given.count(name)) throw InputError(loc, fmt::format("'{}' is given twice", name));
    }, kExitUsage);
    // Parse the value in a copy of the argument with everything before it blanked, so that
    // error columns match the command line.
    SourceFile val{flag, std::string(off + eq + 1, ' ') + piece.substr(eq + 1)};
    Tensor t = located_in(val, [&] { return command_value(val, parse_expression(val)); }, kExitUsage);
    located_in(val, [&] {
      if (t.shape == param->shape) return;
      Loc at{static_cast<std::uint32_t>(val.text.find_first_not_of(' '))};
      if (param->shape.scalar())
        throw InputError(at, fmt::format("'{}' is a scalar; this value has shape {}", name, t.shape.str()));
      throw InputError(at, fmt::format("'{}' has shape {}; this value {}", name, param->shape.str(),
                                       t.shape.scalar() ? std::string("is a scalar")
                                                        : "has shape " + t.shape.str()));
    }, kExitUsage);
    given[name] = std::move(t);
  }
  return given;
}

// The point: --at values, else the file's `at` values, for every parameter of f.
std::vector<Tensor> resolve_values(const Module& m, const Function& f, const std::string& at,
                                   std::span<const Function* const> selected) {
  const Function* only[] = {&f};
  if (selected.empty()) selected = only;
  std::vector<const Function*> order(selected.begin(), selected.end());
  std::swap(*std::find(order.begin(), order.end(), &f), order[0]);  // f's parameters decide shapes
  std::map<std::string, Tensor> given;
  if (!at.empty()) given = named_values("--at", at, order);
  std::vector<Tensor> point;
  for (std::size_t i = 0; i < f.params.size(); ++i) {
    const Node* p = f.params[i];
    auto it = given.find(p->name);
    if (it != given.end() && it->second.shape == p->shape) {
      point.push_back(it->second);
    } else if (const double* v = m.at_value(p->name); v && p->shape.scalar() && it == given.end()) {
      point.push_back(Tensor::scalar(*v));
    } else if (const Tensor* t = m.at_tensor(p->name); t && t->shape == p->shape && it == given.end()) {
      point.push_back(*t);
    } else if (it != given.end()) {
      // Given for another function whose parameter of that name has another shape.
      throw UsageError(fmt::format("--at: '{}' has shape {} in '{}', {} in another function: evaluate them "
                                   "one at a time with --fn",
                                   p->name, p->shape.str(), f.name, it->second.shape.str()));
    } else if (p->shape.scalar()) {
      throw Diagnostic(m.source.format(f.param_locs[i], "error",
                                       fmt::format("no value for parameter '{}': give it with --at {}=VALUE "
                                                   "or on an 'at' line",
                                                   p->name, p->name)),
                       kExitUsage);
    } else {
      throw Diagnostic(m.source.format(f.param_locs[i], "error",
                                       fmt::format("no value for parameter '{}' (shape {}): give it with "
                                                   "--at {}=[...] or on an 'at' line",
                                                   p->name, p->shape.str(), p->name)),
                       kExitUsage);
    }
  }
  return point;
}

std::vector<double> resolve_point(const Module& m, const Function& f, const std::string& at,
                                  std::span<const Function* const> selected) {
  std::vector<double> point;
  for (const Tensor& t : resolve_values(m, f, at, selected)) point.insert(point.end(), t.data.begin(), t.data.end());
  return point;
}

std::vector<std::string> element_names(const std::string& name, const Shape& shape) {
  if (shape.scalar()) return {name};
  std::vector<std::string> out;
  for (std::int64_t k = 0; k < shape.size(); ++k) {
    std::string idx;
    std::int64_t rest = k;
    for (int a = shape.rank; a-- > 0;) {
      idx = std::to_string(rest % shape[a]) + (idx.empty() ? "" : "," + idx);
      rest /= shape[a];
    }
    out.push_back(fmt::format("{}[{}]", name, idx));
  }
  return out;
}

std::vector<std::string> element_names(std::span<const Node* const> vars) {
  std::vector<std::string> out;
  for (const Node* v : vars)
    for (std::string& s : element_names(v->name, v->shape)) out.push_back(std::move(s));
  return out;
}

namespace {
std::string nested(const double* data, const Shape& shape, int axis, std::int64_t stride,
                   std::string (*number)(double)) {
  if (axis == shape.rank) return number(*data);
  std::int64_t inner = stride / shape[axis];
  std::string s = "[";
  for (std::int32_t i = 0; i < shape[axis]; ++i)
    s += (i ? ", " : "") + nested(data + i * inner, shape, axis + 1, inner, number);
  return s + "]";
}
}  // namespace

std::string num(const double* data, const Shape& shape) { return nested(data, shape, 0, shape.size(), num); }
std::string json_num(const double* data, const Shape& shape) {
  return nested(data, shape, 0, shape.size(), json_num);
}

std::vector<const Node*> resolve_wrt(const Module& m, const Function& f, const std::string& wrt) {
  std::vector<const Node*> vars;
  for (auto& [off, piece] : split_top(wrt)) {
    std::string name;
    for (char c : piece)
      if (c != ' ' && c != '\t') name += c;
    const Node* found = nullptr;
    for (const Node* p : f.params)
      if (p->name == name) found = p;
    if (!found)
      throw Diagnostic(m.source.format(f.loc, "error",
                                       fmt::format("--wrt: '{}' is not a parameter of '{}' (parameters: {})",
                                                   name, f.name, join(param_names(f)))),
                       kExitUsage);
    vars.push_back(found);
  }
  if (vars.empty()) throw UsageError("--wrt: expected at least one variable");
  return vars;
}

namespace {
int g_digits = 0;  // --digits; 0: the shortest digits that read back as the same double
}  // namespace

void set_digits(int digits) { g_digits = digits; }
std::string num(double v) {
  if (std::isnan(v)) return "nan";
  return g_digits ? fmt::format("{:.{}g}", v, g_digits) : fmt::format("{}", v);
}
std::string json_num(double v) { return std::isfinite(v) ? num(v) : "null"; }

// Names the operation that produced a nan or inf, with its position when the user wrote it.
void warn_domain(const Module& m, const Function& f, std::span<const Node* const> outputs,
                 std::span<const double> point, const std::string& where) {
  auto err = find_domain_error(outputs, f.params, point);
  if (!err) return;
  const Node* n = err->node;
  const OpInfo& info = n->info();
  std::string what;
  if (info.syntax == Syntax::Infix)
    what = fmt::format("{} {} {}", num(err->args[0]), info.name, num(err->args[1]));
  else if (info.syntax == Syntax::Prefix)
    what = fmt::format("-{}", num(err->args[0]));
  else if (n->nargs == 1)
    what = fmt::format("{}({})", info.name, num(err->args[0]));
  else
    what = fmt::format("{}({}, {})", info.name, num(err->args[0]), num(err->args[1]));
  std::string msg = fmt::format("{}{} gives {}", where, what, num(err->result));
  if (auto loc = f.locs.find(n); loc != f.locs.end()) {
    std::fputs(m.source.format(loc->second, "warning", msg).c_str(), stderr);
    return;
  }
  // A derivative node: point at the operation whose derivative rule produced it (following
  // origins through second derivatives).
  const Node* primal = n;
  for (auto it = m.origins.find(primal); it != m.origins.end(); it = m.origins.find(primal)) {
    primal = it->second;
    if (auto loc = f.locs.find(primal); loc != f.locs.end()) {
      std::fputs(m.source.format(loc->second, "warning",
                                 fmt::format("{}in the derivative of this '{}': {}", where, primal->info().name,
                                             msg.substr(where.size())))
                     .c_str(),
                 stderr);
      return;
    }
  }
  std::fputs(m.source.format(f.loc, "warning", fmt::format("in the derivative of '{}': {}", f.name, msg)).c_str(),
             stderr);
}

// value, gradient and (optionally) the Hessian of f, row-major, as IR roots, for compiling.
std::vector<const Node*> derivative_outputs(Module& m, const Function& f, bool hessian, bool simplify) {
  Builder b(m.graph, simplify ? Simplify::Fold : Simplify::None);
  return value_and_derivatives(b, f.body, f.params, hessian, &m.origins);
}

void route_standard_streams(const Options& o) {
  auto dashes = [](std::vector<std::pair<const char*, const std::string*>> flags) {
    std::vector<std::string> named;
    for (auto& [flag, value] : flags)
      if (*value == "-") named.push_back(flag);
    return named;
  };
  std::vector<std::string> in = dashes({{"FILE", &o.file}, {"--points", &o.points}, {"--data", &o.data},
                                        {"--params", &o.params}, {"--resume", &o.resume}});
  if (in.size() > 1)
    throw UsageError(fmt::format("{} {} read standard input ('-'): only one input can", join(in, " and "),
                                 in.size() == 2 ? "both" : "all"));
  std::vector<std::string> out =
      dashes({{"--out", &o.out}, {"--save", &o.save}, {"--log", &o.log}, {"--csv", &o.csv}});
  if (out.size() > 1)
    throw UsageError(fmt::format("{} {} write standard output ('-'): only one output can", join(out, " and "),
                                 out.size() == 2 ? "both" : "all"));
  if (out.empty()) return;
  // The output keeps the real standard output; descriptor 1 becomes a copy of standard error.
  std::fflush(stdout);
  int data = ::dup(STDOUT_FILENO);
  if (data < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
    throw UsageError(fmt::format("cannot redirect standard output: {}", std::strerror(errno)));
  set_standard_output(data);
}

double richardson(const std::function<double(double)>& f, double h) {
  auto central = [&](double hh) { return (f(hh) - f(-hh)) / (2 * hh); };
  return (4 * central(h / 2) - central(h)) / 3;
}

}  // namespace gradc::cli
