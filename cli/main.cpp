// gradc: the command-line driver. Subcommands eval, diff, emit and check; argument parsing by
// CLI11. Errors print `file:line:col: error: ...` with the source line and a caret, and exit
// with the documented codes of grammar/source.hpp (1 input error, 2 usage, 3 check failed).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <optional>
#include <cstdio>
#include <iostream>
#include <map>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/explain.hpp"
#include "compiler/graph.hpp"
#include "compiler/interp.hpp"
#include "compiler/lower.hpp"
#include "compiler/print.hpp"
#include "grammar/ast_dump.hpp"
#include "grammar/parser.hpp"
#include "runtime/csv.hpp"
#include "cli/common.hpp"
#include "runtime/jit.hpp"
#include "runtime/params_io.hpp"
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

std::unique_ptr<Module> load(const Options& o) {
  SourceFile src = load_source(o.file);
  // Keep a copy for diagnostics: compile_module moves the source into the module.
  SourceFile diag{src.path, src.text};
  return located_in(diag, [&] { return compile_module(std::move(src), !o.no_simplify); });
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

std::string num(double v) { return std::isnan(v) ? "nan" : fmt::format("{}", v); }
std::string json_num(double v) { return std::isfinite(v) ? fmt::format("{:.17g}", v) : "null"; }

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

// Evaluates one function (at the point, or at every --points row) and prints the result.
void eval_function(Module& mod, const Function& f, const Options& o, Jit& jit,
                   std::span<const Function* const> selected) {
  Module* m = &mod;
  auto outs = derivative_outputs(*m, f, o.hessian, !o.no_simplify);
  Kernel k = jit.compile(KernelSpec{f.name, f.params, outs, /*batch=*/!o.points.empty()});
  std::size_t n = f.params.size();

  if (!o.points.empty()) {
    if (o.hessian) throw UsageError("--points computes values and gradients; --hessian is not available with it");
    CsvTable t = read_csv(o.points);
    std::vector<std::size_t> col;
    for (const Node* p : f.params) {
      std::size_t j = 0;
      while (j < t.columns.size() && t.columns[j] != p->name) ++j;
      if (j == t.columns.size())
        throw Diagnostic(t.source.format(Loc{0}, "error",
                                         fmt::format("no column '{}' (a parameter of '{}')", p->name, f.name)),
                         kExitInputError);
      col.push_back(j);
    }
    std::size_t rows = t.rows(), w = t.columns.size();
    std::vector<double> in(rows * n), out(rows * outs.size());
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t i = 0; i < n; ++i) in[r * n + i] = t.values[r * w + col[i]];
    k.batch(in.data(), out.data(), static_cast<std::int64_t>(rows));
    std::string csv = join(param_names(f), ",") + "," + f.name;
    for (const Node* p : f.params) csv += "," + print_partial(f.name, std::vector<std::string>{p->name}, Format::Text);
    csv += "\n";
    std::size_t bad = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      std::string line;
      for (std::size_t i = 0; i < n; ++i) line += (i ? "," : "") + json_num(in[r * n + i]);
      for (std::size_t j = 0; j < outs.size(); ++j) {
        double v = out[r * outs.size() + j];
        line += "," + (std::isfinite(v) ? fmt::format("{:.17g}", v) : num(v));
      }
      for (std::size_t j = 0; j < outs.size(); ++j)
        if (!std::isfinite(out[r * outs.size() + j])) {
          if (bad++ == 0)
            warn_domain(*m, f, outs, std::span<const double>(&in[r * n], n), fmt::format("row {}: ", r + 1));
          break;
        }
      csv += line + "\n";
    }
    if (bad > 1) std::fprintf(stderr, "warning: %zu rows have nan or inf results\n", bad);
    if (o.out.empty()) {
      std::fwrite(csv.data(), 1, csv.size(), stdout);
    } else {
      write_file_atomic(o.out, csv);
    }
    return;
  }

  std::vector<double> point = resolve_point(*m, f, o.at, selected);
  std::vector<double> out(outs.size());
  k.single(point.data(), out.data());
  bool finite = true;
  for (double v : out) finite = finite && std::isfinite(v);
  if (!finite) warn_domain(*m, f, outs, point);

  if (o.json) {
    std::string s = fmt::format("{{\"function\": \"{}\", \"at\": {{", f.name);
    for (std::size_t i = 0; i < n; ++i) s += fmt::format("{}\"{}\": {}", i ? ", " : "", f.params[i]->name, json_num(point[i]));
    s += fmt::format("}}, \"value\": {}, \"gradient\": {{", json_num(out[0]));
    for (std::size_t i = 0; i < n; ++i) s += fmt::format("{}\"{}\": {}", i ? ", " : "", f.params[i]->name, json_num(out[1 + i]));
    s += "}";
    if (o.hessian) {
      s += ", \"hessian\": [";
      for (std::size_t i = 0; i < n; ++i) {
        s += i ? ", [" : "[";
        for (std::size_t j = 0; j < n; ++j) s += (j ? ", " : "") + json_num(out[1 + n + i * n + j]);
        s += "]";
      }
      s += "]";
    }
    s += "}\n";
    std::fputs(s.c_str(), stdout);
    return;
  }
  std::string s;
  std::vector<std::string> at;
  for (std::size_t i = 0; i < n; ++i) at.push_back(fmt::format("{} = {}", f.params[i]->name, num(point[i])));
  s += fmt::format("at {}\n{} = {}\n", join(at), f.name, num(out[0]));
  for (std::size_t i = 0; i < n; ++i)
    s += fmt::format("{} = {}\n", print_partial(f.name, std::vector<std::string>{f.params[i]->name}, Format::Text),
                     num(out[1 + i]));
  if (o.hessian) {
    s += fmt::format("hessian (rows and columns {}):\n", join(param_names(f)));
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::string> row;
      for (std::size_t j = 0; j < n; ++j) row.push_back(num(out[1 + n + i * n + j]));
      s += fmt::format("  [{}]\n", join(row));
    }
  }
  std::fputs(s.c_str(), stdout);
}

int cmd_eval(const Options& o) {
  auto m = load(o);
  // One JSON object or one CSV: those need a single function.
  if (o.json || !o.points.empty()) choose(*m, o.fn);
  auto fns = choose_all(*m, o.fn);
  auto jit = Jit::create();
  for (std::size_t i = 0; i < fns.size(); ++i) {
    if (i) std::fputs("\n", stdout);
    eval_function(*m, *fns[i], o, *jit, fns);
  }
  return kExitOk;
}

// The backward pass of a training program as named equations: the forward layers (z = x @ W + b,
// h = tanh(z)), then each adjoint in terms of them (dL/dW2 = h1^T @ dL/dz2).
int diff_training(Module& m, const Options& o, Format f) {
  std::vector<DataInput> data;
  const Node* loss = m.lower(*m.training->loss, 0, data);
  std::vector<const Node*> wrt;
  std::vector<std::string> params;
  for (const Param& p : m.params) params.push_back(p.name);
  for (auto& [off, piece] : split_top(o.wrt)) {
    std::string name;
    for (char c : piece)
      if (c != ' ' && c != '\t') name += c;
    auto it = std::find(params.begin(), params.end(), name);
    if (it == params.end())
      throw UsageError(fmt::format("--wrt: '{}' is not a parameter (parameters: {})", name, join(params)));
    wrt.push_back(m.params[static_cast<std::size_t>(it - params.begin())].var);
  }
  Builder b(m.graph, o.no_simplify ? Simplify::None : Simplify::Full);
  std::unordered_map<const Node*, const Node*> adj;
  std::vector<const Node*> grads = gradient(b, loss, wrt, nullptr, &adj);

  auto name_of = [&](const std::string& base) {
    return f == Format::Latex ? print_name(base, f) : base;
  };
  auto adjoint_name = [&](const std::string& base) {
    return f == Format::Latex ? fmt::format("\\frac{{\\partial L}}{{\\partial {}}}", print_name(base, f))
                              : "dL/d" + base;
  };
  std::unordered_map<const Node*, std::string> names, base = layer_names(loss);
  for (auto& [n, b0] : base) names[n] = name_of(b0);
  for (auto& [n, b0] : base)
    if (auto a = adj.find(n); a != adj.end() && a->second->nargs > 0) names.try_emplace(a->second, adjoint_name(b0));
  std::vector<const Node*> roots{loss};
  roots.insert(roots.end(), grads.begin(), grads.end());
  Printed pr = print(roots, f, &names);
  std::string out;
  const char* eq = f == Format::Latex ? " &= " : " = ";
  if (f == Format::Latex) out += "\\begin{aligned}\n";
  auto line = [&](const std::string& l, const std::string& r) {
    out += l + eq + r + (f == Format::Latex ? " \\\\\n" : "\n");
  };
  line(name_of("L"), pr.results[0]);
  for (auto& [t, def] : pr.temps) line(t, def);
  for (std::size_t i = 0; i < wrt.size(); ++i) line(adjoint_name(wrt[i]->name), pr.results[1 + i]);
  if (f == Format::Latex) out += "\\end{aligned}\n";
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int cmd_diff(const Options& o) {
  Format fmt_ = o.format == "latex" ? Format::Latex : Format::Text;
  auto m = load(o);
  if (m->training && o.fn.empty()) return diff_training(*m, o, fmt_);
  const Function& f = choose(*m, o.fn);
  std::vector<const Node*> wrt = resolve_wrt(*m, f, o.wrt);
  if (o.order < 1) throw UsageError("--order must be at least 1");
  if (o.expr_only && (fmt_ != Format::Text || wrt.size() != 1 || o.order != 1))
    throw UsageError("--expr-only needs --format text, a single --wrt variable and --order 1");

  // Every multiset of `order` variables from wrt (nondecreasing indices), by differentiating
  // the lower-order partial again.
  Builder b(m->graph, !o.no_simplify);
  struct Partial {
    std::vector<std::size_t> idx;
    const Node* node;
  };
  std::vector<Partial> level{{{}, f.body}};
  for (int k = 0; k < o.order; ++k) {
    std::vector<Partial> next;
    for (const Partial& p : level) {
      std::size_t from = p.idx.empty() ? 0 : p.idx.back();
      std::vector<const Node*> vars(wrt.begin() + static_cast<std::ptrdiff_t>(from), wrt.end());
      auto g = gradient(b, p.node, vars);
      for (std::size_t i = 0; i < vars.size(); ++i) {
        Partial q{p.idx, g[i]};
        q.idx.push_back(from + i);
        next.push_back(std::move(q));
      }
    }
    level = std::move(next);
  }

  // Canonical forms for the forward parts too (lowering kept the structure as written).
  if (!o.no_simplify) {
    std::vector<const Node*> roots;
    for (const Partial& p : level) roots.push_back(p.node);
    roots = simplify(m->graph, roots);
    for (std::size_t i = 0; i < level.size(); ++i) level[i].node = roots[i];
  }
  if (o.expr_only) {
    std::string s;
    try {
      s = print_inline(level[0].node, Format::Text);
    } catch (const std::length_error& e) {
      throw UsageError(fmt::format("--expr-only: {}; leave out --expr-only to print it with shared "
                                   "subexpressions named", e.what()));
    }
    std::fputs((s + "\n").c_str(), stdout);
    return kExitOk;
  }
  std::string out;
  for (const Partial& p : level) {
    std::vector<std::string> vars;
    for (std::size_t i : p.idx) vars.push_back(wrt[i]->name);
    std::string lhs = print_partial(f.name, vars, fmt_);
    Printed pr = print(std::span<const Node* const>(&p.node, 1), fmt_);
    if (pr.temps.empty()) {
      out += fmt::format("{} = {}\n", lhs, pr.results[0]);
    } else if (fmt_ == Format::Text) {
      // A .grad block function that parses back.
      std::string name = "d" + f.name + "_d" + join(vars, "");
      if (vars.size() > 1) name = fmt::format("d{}{}_d{}", vars.size(), f.name, join(vars, ""));
      out += fmt::format("# {} =\nfn {}({}) {{\n", lhs, name, join(param_names(f)));
      for (auto& [t, def] : pr.temps) out += fmt::format("  {} = {}\n", t, def);
      out += fmt::format("  return {}\n}}\n", pr.results[0]);
    } else {
      out += "\\begin{aligned}\n";
      for (auto& [t, def] : pr.temps) out += fmt::format("{} &= {} \\\\\n", t, def);
      out += fmt::format("{} &= {}\n\\end{{aligned}}\n", lhs, pr.results[0]);
    }
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int cmd_emit(const Options& o) {
  if (o.stage == "ast") {
    SourceFile src = load_source(o.file);
    ast::Program prog = located_in(src, [&] { return parse_program(src); });
    std::fputs(dump_ast(src, prog).c_str(), stdout);
    return kExitOk;
  }
  auto m = load(o);
  // A training program without --fn: the training step (loss over all rows, its gradients).
  if (m->training && o.fn.empty()) {
    std::vector<DataInput> data;
    const Node* loss = m->lower(*m->training->loss, 0, data);
    std::vector<const Node*> inputs, outs{loss};
    std::vector<std::string> labels{"loss"};
    for (const Param& p : m->params) inputs.push_back(p.var);
    if (o.stage != "ir") {
      Builder b(m->graph, o.no_simplify ? Simplify::None : Simplify::Fold);
      outs = value_and_derivatives(b, loss, inputs, false);
      for (const Param& p : m->params) labels.push_back("dloss/d" + p.name);
    }
    for (const DataInput& d : data) inputs.push_back(d.var);
    if (o.stage == "llvm") {
      std::fputs(Jit::create()->llvm_ir(KernelSpec{"step", inputs, outs, /*batch=*/false}).c_str(), stdout);
    } else {
      std::fputs(print_listing(outs, labels).c_str(), stdout);
    }
    return kExitOk;
  }
  if (o.stage == "ir") {
    for (const Function& f : m->functions) {
      if (!o.fn.empty() && f.name != o.fn) continue;
      if (!f.body) {
        std::fputs(fmt::format("fn {}({}): works on tensors; lowered at each call\n", f.name, join(param_names(f))).c_str(),
                   stdout);
        continue;
      }
      std::vector<std::string> labels{f.name};
      std::fputs(fmt::format("fn {}({}):\n{}", f.name, join(param_names(f)),
                             print_listing(std::span<const Node* const>(&f.body, 1), labels, &f.names))
                     .c_str(),
                 stdout);
    }
    if (!o.fn.empty() && !m->find(o.fn)) choose(*m, o.fn);
    return kExitOk;
  }
  const Function& f = choose(*m, o.fn);
  auto outs = derivative_outputs(*m, f, o.hessian, !o.no_simplify);
  std::vector<std::string> labels{f.name};
  for (const Node* p : f.params) labels.push_back(print_partial(f.name, std::vector<std::string>{p->name}, Format::Text));
  if (o.hessian)
    for (const Node* p : f.params)
      for (const Node* q : f.params) labels.push_back(print_partial(f.name, std::vector<std::string>{p->name, q->name}, Format::Text));
  if (o.stage == "grad-ir") {
    std::fputs(fmt::format("fn {}({}):\n{}", f.name, join(param_names(f)), print_listing(outs, labels, &f.names)).c_str(),
               stdout);
    return kExitOk;
  }
  // llvm
  auto jit = Jit::create();
  std::fputs(jit->llvm_ir(KernelSpec{f.name, f.params, outs, /*batch=*/false}).c_str(), stdout);
  return kExitOk;
}

// Compares f's compiled gradient with finite differences; false on disagreement.
bool check_function(Module& mod, const Function& f, const Options& o, Jit& jit,
                    std::span<const Function* const> selected) {
  Module* m = &mod;
  std::vector<double> point = resolve_point(*m, f, o.at, selected);
  auto outs = derivative_outputs(*m, f, false, !o.no_simplify);
  Kernel k = jit.compile(KernelSpec{f.name, f.params, outs, /*batch=*/!o.points.empty()});
  std::size_t n = f.params.size();
  std::vector<double> out(outs.size()), tmp(outs.size()), x = point;
  k.single(point.data(), out.data());
  auto value_at = [&](std::size_t i, double xi) {
    x = point;
    x[i] = xi;
    k.single(x.data(), tmp.data());
    return tmp[0];
  };
  bool ok = true;
  std::string s = fmt::format("{:<10} {:>24} {:>24} {:>10}\n", "variable", "compiled", "finite difference", "rel. error");
  for (std::size_t i = 0; i < n; ++i) {
    // Central differences with Richardson extrapolation: error O(h^4).
    double h = 1e-3 * std::max(1.0, std::fabs(point[i]));
    auto central = [&](double hh) { return (value_at(i, point[i] + hh) - value_at(i, point[i] - hh)) / (2 * hh); };
    double fd = (4 * central(h / 2) - central(h)) / 3;
    double g = out[1 + i];
    double rel = std::fabs(g - fd) / std::max({1.0, std::fabs(g), std::fabs(fd)});
    bool good = rel <= o.tol || (std::isnan(g) && std::isnan(fd));
    ok = ok && good;
    s += fmt::format("{:<10} {:>24} {:>24} {:>10.2e}{}\n", f.params[i]->name, num(g), num(fd), rel, good ? "" : "  MISMATCH");
  }
  std::fputs(s.c_str(), stdout);
  if (!ok) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: the compiled gradient of '%s' disagrees with finite differences (tolerance %g)\n",
                 f.name.c_str(), o.tol);
    return false;
  }
  std::fputs(fmt::format("ok: gradient of '{}' matches finite differences (tolerance {})\n", f.name, o.tol).c_str(),
             stdout);
  return true;
}

int cmd_check(const Options& o) {
  auto m = load(o);
  auto fns = choose_all(*m, o.fn);
  auto jit = Jit::create();
  bool ok = true;
  for (std::size_t i = 0; i < fns.size(); ++i) {
    if (i) std::fputs("\n", stdout);
    std::fputs(fmt::format("{}({}):\n", fns[i]->name, join(param_names(*fns[i]))).c_str(), stdout);
    ok = check_function(*m, *fns[i], o, *jit, fns) && ok;
  }
  return ok ? kExitOk : kExitCheckFailed;
}

int cmd_train(const Options& o) {
  auto m = load(o);
  if (!m->training) throw UsageError(fmt::format("{} has no 'train' block", o.file));
  auto jit = Jit::create();
  TrainOptions opts{o.lr, o.epochs, o.batch, o.seed, {}, o.dtype == "f32" ? DType::F32 : DType::F64};
  if (!o.resume.empty()) opts.start = load_params(o.resume, m->params);
  Trainer trainer(*m, *jit, opts);
  bool bar = !o.quiet && ::isatty(STDOUT_FILENO);
  std::string csv = "epoch,step,loss,metric\n";
  auto t0 = std::chrono::steady_clock::now();
  auto line = [&](const LogLine& l, std::int64_t epochs) {
    csv += fmt::format("{},{},{:.17g},{}\n", l.epoch, l.step, l.loss, std::isnan(l.metric) ? "" : fmt::format("{:.17g}", l.metric));
    if (o.quiet) return;
    std::string metric = std::isnan(l.metric) ? "" : fmt::format("  accuracy {:.4f}", l.metric);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (bar) {
      int done = static_cast<int>(30 * l.epoch / epochs);
      double eta = secs / static_cast<double>(l.epoch) * static_cast<double>(epochs - l.epoch);
      std::fputs(fmt::format("\repoch {}/{} [{}{}] loss {:.6g}{}  {:.0f} steps/s  ETA {:.1f} s   ", l.epoch, epochs,
                             std::string(static_cast<std::size_t>(done), '#'), std::string(static_cast<std::size_t>(30 - done), '.'),
                             l.loss, metric, secs > 0 ? static_cast<double>(l.step) / secs : 0.0, eta)
                     .c_str(),
                 stdout);
      std::fflush(stdout);
      if (l.epoch == epochs) std::fputs("\n", stdout);
    } else {
      std::fputs(fmt::format("epoch {:>6}  step {:>7}  loss {:.6g}{}  lr {:.4g}\n", l.epoch, l.step, l.loss, metric, l.lr).c_str(),
                 stdout);
    }
  };
  TrainResult r = trainer.run(line);
  if (!o.log.empty()) write_file_atomic(o.log, csv);
  if (!o.save.empty()) save_params(o.save, m->params, r.params);
  if (r.diverged) {
    if (bar) std::fputs("\n", stdout);
    std::fflush(stdout);
    std::fputs(fmt::format("{}: error: training diverged at epoch {}, step {} with learning rate {}: the loss is {}{}\n",
                           o.file, r.epoch, r.step, r.lr, num(r.loss),
                           o.save.empty() ? "" : fmt::format("; the last finite parameters are saved in {}", o.save))
                   .c_str(),
               stderr);
    return kExitDiverged;
  }
  if (!o.quiet) {
    const LogLine& last = r.log.back();
    std::fputs(fmt::format("trained {} epochs ({} steps, {:.0f} steps/s): loss {:.6g}{}\n", last.epoch, last.step,
                           r.steps_per_second, last.loss,
                           std::isnan(last.metric) ? "" : fmt::format(", accuracy {:.4f}", last.metric))
                   .c_str(),
               stdout);
  }
  return kExitOk;
}

// Renders DOT to SVG with Graphviz's `dot`; the output file appears only when it is complete.
void write_svg(const std::string& dot, const std::string& path) {
  std::string tmp_dot = path + ".dot.tmp", tmp_svg = path + ".svg.tmp";
  write_file_atomic(tmp_dot, dot);
  std::string cmd = fmt::format("dot -Tsvg '{}' -o '{}' 2>&1", tmp_dot, tmp_svg);
  int rc = std::system(cmd.c_str());
  std::remove(tmp_dot.c_str());
  if (rc != 0) {
    std::remove(tmp_svg.c_str());
    throw UsageError("cannot render SVG: Graphviz's 'dot' failed or is not installed (apt-get install graphviz)");
  }
  if (std::rename(tmp_svg.c_str(), path.c_str()) != 0) {
    std::remove(tmp_svg.c_str());
    throw UsageError(fmt::format("cannot write '{}'", path));
  }
}

int cmd_graph(const Options& o) {
  auto m = load(o);
  std::string dot;
  if (m->training && o.fn.empty()) {  // the network's loss: shapes instead of values
    std::vector<DataInput> data;
    dot = graph_dot_tensor(*m, m->lower(*m->training->loss, 0, data), o.backward);
  } else {
    const Function& f = choose(*m, o.fn);
    dot = graph_dot(*m, f, resolve_point(*m, f, o.at), o.backward);
  }
  if (o.format == "svg") {
    if (o.out.empty()) throw UsageError("--format svg needs an output file: -o OUT.svg");
    write_svg(dot, o.out);
  } else if (o.out.empty()) {
    std::fputs(dot.c_str(), stdout);
  } else {
    write_file_atomic(o.out, dot);
  }
  return kExitOk;
}

int cmd_explain(const Options& o) {
  Format f = o.format == "latex" ? Format::Latex : Format::Text;
  auto m = load(o);
  // A network: the chain rule through its layers is the backward pass, as equations.
  if (m->training && o.fn.empty()) return diff_training(*m, o, f);
  const Function& fn = choose(*m, o.fn);
  std::vector<const Node*> wrt = resolve_wrt(*m, fn, o.wrt);
  std::vector<double> point = resolve_point(*m, fn, o.at);
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    if (i) std::fputs("\n", stdout);
    std::fputs(explain(*m, fn, wrt[i], point, f).text.c_str(), stdout);
  }
  return kExitOk;
}

// Runs a layer (or a one-argument function) on the rows of a CSV file with trained parameters.
int cmd_predict(const Options& o) {
  auto m = load(o);
  std::string name = o.fn;
  if (name.empty()) {
    auto layers = m->layer_names();
    if (layers.size() != 1)
      throw UsageError(fmt::format("{} has {} layers: choose the network with --fn", o.file, layers.size()));
    name = layers[0];
  }
  std::vector<Tensor> params = load_params(o.params, m->params);
  CsvTable t = read_csv(o.data);
  // The feature columns the network was trained on (a CSV data set's), else every column.
  std::vector<std::string> features;
  for (const Data& d : m->data)
    if (!d.features.empty()) {
      features = d.features;
      break;
    }
  if (features.empty()) features = t.columns;
  std::vector<std::size_t> col;
  for (const std::string& f : features) {
    auto it = std::find(t.columns.begin(), t.columns.end(), f);
    if (it == t.columns.end())
      throw Diagnostic(t.source.format(Loc{0}, "error", fmt::format("no column '{}' (the network's inputs: {})", f, join(features))),
                       kExitInputError);
    col.push_back(static_cast<std::size_t>(it - t.columns.begin()));
  }
  std::int64_t rows = static_cast<std::int64_t>(t.rows()), w = static_cast<std::int64_t>(t.columns.size());
  const Node* x = m->graph.var("input", Shape{static_cast<std::int32_t>(rows), static_cast<std::int32_t>(features.size())});
  SourceFile diag{m->source.path, m->source.text};
  const Node* y = located_in(diag, [&] { return m->apply(name, x); });
  if (y->shape.rank != 2 || y->shape[0] != rows)
    throw UsageError(fmt::format("'{}' gives shape {} for {} rows; predict needs one output row per input row", name,
                                 y->shape.str(), rows));
  std::vector<const Node*> inputs;
  for (const Param& p : m->params) inputs.push_back(p.var);
  inputs.push_back(x);
  auto jit = Jit::create();
  Kernel k = jit->compile(KernelSpec{"predict", inputs, std::vector<const Node*>{y}, false});
  std::vector<double> in;
  for (const Tensor& p : params) in.insert(in.end(), p.data.begin(), p.data.end());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::size_t c : col) in.push_back(t.values[static_cast<std::size_t>(r * w) + c]);
  std::vector<double> out(static_cast<std::size_t>(y->shape.size()));
  k.single(in.data(), out.data());
  std::int64_t n = y->shape[1];
  std::string csv = join(features, ",");
  for (std::int64_t j = 0; j < n; ++j) csv += fmt::format(",{}{}", name, n == 1 ? "" : std::to_string(j));
  if (n > 1) csv += ",class";
  csv += "\n";
  for (std::int64_t r = 0; r < rows; ++r) {
    std::string line;
    for (std::size_t c = 0; c < col.size(); ++c) line += (c ? "," : "") + num(t.values[static_cast<std::size_t>(r * w) + col[c]]);
    std::int64_t best = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      double v = out[static_cast<std::size_t>(r * n + j)];
      line += fmt::format(",{:.17g}", v);
      if (v > out[static_cast<std::size_t>(r * n + best)]) best = j;
    }
    if (n > 1) line += fmt::format(",{}", best);
    csv += line + "\n";
  }
  if (o.out.empty()) {
    std::fwrite(csv.data(), 1, csv.size(), stdout);
  } else {
    write_file_atomic(o.out, csv);
  }
  return kExitOk;
}

int run(int argc, char** argv) {
  CLI::App app{"gradc: a symbolic + numeric differentiation compiler"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gradc 0.1");
  Options o;
  auto common = [&](CLI::App* c) {
    c->add_option("file", o.file, ".grad source file")->required();
    c->add_option("--fn", o.fn, "function to use (may be left out when the file has one)");
    c->add_flag("--no-simplify", o.no_simplify, "keep the IR as written and as differentiated");
  };
  CLI::App* eval = app.add_subcommand("eval", "value, gradient (and Hessian) through compiled code");
  common(eval);
  eval->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2 (values may be constant expressions)");
  eval->add_flag("--hessian", o.hessian, "also print the Hessian");
  eval->add_flag("--json", o.json, "print one JSON object");
  eval->add_option("--points", o.points, "CSV of points (header names the variables)");
  eval->add_option("--out", o.out, "write the --points results to this CSV file");
  CLI::App* diff = app.add_subcommand("diff", "print partial derivatives");
  common(diff);
  diff->add_option("--wrt", o.wrt, "variables, comma-separated")->required();
  diff->add_option("--order", o.order, "derivative order")->check(CLI::PositiveNumber);
  diff->add_option("--format", o.format, "text or latex")->check(CLI::IsMember({"text", "latex"}));
  diff->add_flag("--expr-only", o.expr_only, "print just the expression, inline");
  CLI::App* emit = app.add_subcommand("emit", "dump a compiler stage");
  common(emit);
  emit->add_option("--stage", o.stage, "ast, ir, grad-ir or llvm")
      ->required()
      ->check(CLI::IsMember({"ast", "ir", "grad-ir", "llvm"}));
  emit->add_flag("--hessian", o.hessian, "grad-ir/llvm: include the Hessian");
  CLI::App* check = app.add_subcommand("check", "compare the compiled gradient with finite differences");
  common(check);
  check->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  check->add_option("--tol", o.tol, "relative tolerance (default 1e-6)");

  CLI::App* train = app.add_subcommand("train", "train the network of a file's 'train' block");
  train->add_option("file", o.file, ".grad source file")->required();
  train->add_option("--lr", o.lr, "learning rate (overrides the file)");
  train->add_option("--epochs", o.epochs, "epochs (overrides the file)")->check(CLI::PositiveNumber);
  train->add_option("--batch", o.batch, "minibatch size (overrides the file)")->check(CLI::PositiveNumber);
  train->add_option("--seed", o.seed, "seed for initialisation and shuffling (overrides the file)");
  train->add_option("--save", o.save, "write the trained parameters (JSON) to this file, atomically");
  train->add_option("--resume", o.resume, "start from parameters saved by --save");
  train->add_option("--log", o.log, "write the loss log (CSV: epoch,step,loss,metric)");
  train->add_flag("--quiet", o.quiet, "print nothing but errors");
  train->add_option("--dtype", o.dtype, "element type of the compiled step: f64 (default) or f32")
      ->check(CLI::IsMember({"f32", "f64"}));

  CLI::App* graph = app.add_subcommand("graph", "the computational graph as Graphviz DOT or SVG");
  common(graph);
  graph->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  graph->add_flag("--backward", o.backward, "label edges with local partials and nodes with adjoints");
  graph->add_option("--format", o.format, "dot (default) or svg")->check(CLI::IsMember({"dot", "svg", "text"}));
  graph->add_option("-o,--out", o.out, "output file (written atomically)");
  CLI::App* explain_cmd = app.add_subcommand("explain", "the chain rule along each path from the output to a variable");
  common(explain_cmd);
  explain_cmd->add_option("--wrt", o.wrt, "variables, comma-separated")->required();
  explain_cmd->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  explain_cmd->add_option("--format", o.format, "text or latex")->check(CLI::IsMember({"text", "latex"}));
  CLI::App* field = app.add_subcommand("field", "contours of a function of two variables with gradient arrows (SVG)");
  common(field);
  field->add_option("--range", o.range, "LOW:HIGH for both axes (default -3:3)");
  field->add_option("-o,--out", o.out, "the SVG file (written atomically)");
  CLI::App* descent = app.add_subcommand("descent", "the iterates of gradient descent, drawn or as CSV");
  common(descent);
  descent->add_option("--lr", o.lr, "learning rate")->required();
  descent->add_option("--from", o.from, "starting point(s): values in parameter order, e.g. 0.5,-0.5 (repeatable)");
  descent->add_option("--at", o.at, "starting point by name (default: the file's 'at' line)");
  descent->add_option("--steps", o.steps, "number of steps (default 20)")->check(CLI::PositiveNumber);
  descent->add_option("--format", o.format, "svg (default) or csv")->check(CLI::IsMember({"svg", "csv", "text"}));
  descent->add_option("-o,--out", o.out, "output file (written atomically; csv may go to stdout)");
  CLI::App* sweep = app.add_subcommand("sweep", "one run per learning rate, labelled, on one plot");
  common(sweep);
  sweep->add_option("--lr", o.lr_list, "learning rates, comma-separated")->required();
  sweep->add_option("--epochs", o.epochs, "epochs (training program) or steps (function)")->check(CLI::PositiveNumber);
  sweep->add_option("--at", o.at, "starting point of a function (default: the file's 'at' line)");
  sweep->add_option("-o,--out", o.out, "the SVG plot (written atomically)");
  sweep->add_option("--csv", o.csv, "the loss curves as CSV: lr,label,step,loss");
  CLI::App* predict = app.add_subcommand("predict", "run a trained network on the rows of a CSV file");
  predict->add_option("file", o.file, ".grad source file")->required();
  predict->add_option("--params", o.params, "parameters saved by 'gradc train --save'")->required();
  predict->add_option("--data", o.data, "CSV file with the input columns")->required();
  predict->add_option("--fn", o.fn, "the layer or function to run (may be left out when there is one layer)");
  predict->add_option("--out", o.out, "write the predictions to this CSV file, atomically");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gradc: error: %s\nRun 'gradc --help' for more information.\n", e.what());
    return kExitUsage;
  }
  try {
    if (*eval) return cmd_eval(o);
    if (*diff) return cmd_diff(o);
    if (*emit) return cmd_emit(o);
    if (*train) return cmd_train(o);
    if (*predict) return cmd_predict(o);
    if (*graph) return cmd_graph(o);
    if (*explain_cmd) return cmd_explain(o);
    if (*field) return cmd_field(o);
    if (*descent) return cmd_descent(o);
    if (*sweep) return cmd_sweep(o);
    return cmd_check(o);
  } catch (const Diagnostic& d) {
    std::fputs(d.what(), stderr);
    return d.exit_code;
  } catch (const InputError& e) {  // an error without a source file at hand
    std::fprintf(stderr, "%s: error: %s\n", o.file.c_str(), e.what());
    return e.exit_code;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "gradc: error: %s\n", e.what());
    return kExitUsage;
  }
}

}  // namespace gradc::cli

int main(int argc, char** argv) {
  try {
    return gradc::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gradc: internal error: %s\n", e.what());
    return 70;
  }
}
