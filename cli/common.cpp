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
#include "io/params_io.hpp"
#include "runtime/train.hpp"

#include <unistd.h>

namespace gradc::cli {

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
bool scalar_function(const Function& f) {
  if (!f.body || !f.body->shape.scalar()) return false;
  for (const Node* n : reachable(std::span<const Node* const>(&f.body, 1)))
    if (n->op == Op::Var && std::find(f.params.begin(), f.params.end(), n) == f.params.end()) return false;
  return true;
}

const Function& choose(const Module& m, const std::string& name) {
  std::vector<std::string> names;
  for (const Function& f : m.functions)
    if (scalar_function(f)) names.push_back(f.name);
  if (!name.empty()) {
    const Function* f = m.find(name);
    if (!f) throw UsageError(fmt::format("--fn: no function '{}' in {} (functions: {})", name, m.source.path, join(names)));
    if (!scalar_function(*f))
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

// The functions a command works on: --fn's, or every scalar function of the file.
std::vector<const Function*> choose_all(const Module& m, const std::string& name) {
  if (!name.empty()) return {&choose(m, name)};
  std::vector<const Function*> all;
  for (const Function& f : m.functions)
    if (scalar_function(f)) all.push_back(&f);
  if (all.empty()) choose(m, name);  // throws the explanation
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
    } else if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')') {
      --depth;
    }
  }
  return parts;
}

// The point: --at values, else the file's `at` values, for every parameter of f.
std::vector<double> resolve_point(const Module& m, const Function& f, const std::string& at,
                                  std::span<const Function* const> selected) {
  const Function* only[] = {&f};
  if (selected.empty()) selected = only;
  std::map<std::string, double> given;
  if (!at.empty()) {
    SourceFile cmd{"--at", at};
    for (auto& [off, piece] : split_top(at)) {
      auto eq = piece.find('=');
      std::string name = piece.substr(0, eq == std::string::npos ? piece.size() : eq);
      std::size_t lead = name.find_first_not_of(" \t");
      name = lead == std::string::npos ? "" : name.substr(lead, name.find_last_not_of(" \t") - lead + 1);
      Loc loc{static_cast<std::uint32_t>(off + (lead == std::string::npos ? 0 : lead))};
      located_in(cmd, [&] {
        if (eq == std::string::npos || name.empty())
          throw InputError(loc, "expected NAME=VALUE");
        bool known = false;
        for (const Function* g : selected)
          for (const Node* p : g->params) known = known || p->name == name;
        if (!known && selected.size() == 1)
          throw InputError(loc, fmt::format("'{}' is not a parameter of '{}' (parameters: {})", name, f.name,
                                            join(param_names(f))));
        if (!known) throw InputError(loc, fmt::format("'{}' is not a parameter of any function", name));
        if (given.count(name)) throw InputError(loc, fmt::format("'{}' is given twice", name));
      }, kExitUsage);
      // Parse the value in a copy of the argument with everything before it blanked, so that
      // error columns match the command line.
      SourceFile val{"--at", std::string(off + eq + 1, ' ') + piece.substr(eq + 1)};
      given[name] = located_in(val, [&] { return constant_value(val, parse_expression(val)); }, kExitUsage);
    }
  }
  std::vector<double> point;
  for (std::size_t i = 0; i < f.params.size(); ++i) {
    const std::string& p = f.params[i]->name;
    if (auto it = given.find(p); it != given.end()) {
      point.push_back(it->second);
    } else if (const double* v = m.at_value(p)) {
      point.push_back(*v);
    } else {
      throw Diagnostic(m.source.format(f.param_locs[i], "error",
                                       fmt::format("no value for parameter '{}': give it with --at {}=VALUE "
                                                   "or on an 'at' line",
                                                   p, p)),
                       kExitUsage);
    }
  }
  return point;
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
