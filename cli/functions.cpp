// Commands on scalar functions: diff, emit, check, graph and explain (eval: cli/eval.cpp).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "cli/common.hpp"
#include "cli/output.hpp"
#include "compiler/algebra/canon.hpp"
#include "compiler/builder.hpp"
#include "compiler/codegen/tensor_plan.hpp"
#include "compiler/diff.hpp"
#include "compiler/explain.hpp"
#include "compiler/forward.hpp"
#include "compiler/graph.hpp"
#include "compiler/interp.hpp"
#include "compiler/lint.hpp"
#include "compiler/print.hpp"
#include "compiler/print_layout.hpp"
#include "compiler/scalarize.hpp"
#include "grammar/ast_dump.hpp"
#include "grammar/parser.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "runtime/fd_check.hpp"
#include "runtime/jit.hpp"
#include "runtime/tiered_kernel.hpp"
#include "runtime/jit_pipeline.hpp"
#include "io/params_io.hpp"
#include "runtime/train.hpp"

#include <unistd.h>

namespace gradc::cli {

// Every name the file defines (functions, parameters, local names, tensors): printed
// temporaries take none of them, and the constants pi and e print as numbers where one of them
// is pi or e (it would read back as that name).
std::vector<std::string> names_in_file(const Module& m) {
  std::vector<std::string> out;
  for (const Function& f : m.functions) {
    out.push_back(f.name);
    for (const Node* p : f.params) out.push_back(p->name);
    for (auto& [n, name] : f.names) out.push_back(name);
  }
  for (const Param& p : m.params) out.push_back(p.name);
  for (const Data& d : m.data) out.push_back(d.name);
  return out;
}

// Every operation on constants only (a basis vector times a number, the one-hot seeds of the
// Jacobian's rows) evaluated by the interpreter, so that the printed entries hold numbers.
std::vector<const Node*> fold_literals(Graph& g, std::span<const Node* const> roots) {
  Builder b(g, Simplify::Fold);
  std::unordered_map<const Node*, const Node*> map;
  for (const Node* n : reachable(roots)) {
    if (n->nargs == 0) {
      map[n] = n;
    } else if (n->literal) {
      Tensor t = evaluate_tensors(std::span(&n, 1), {}, {})[0];
      map[n] = t.shape.scalar() ? g.constant(t.data[0]) : g.tensor(t.shape, std::move(t.data));
    } else {
      const Node* args[2] = {map.at(n->arg(0)), n->nargs > 1 ? map.at(n->arg(1)) : nullptr};
      map[n] = b.apply(n->op, std::span<const Node* const>(args, n->nargs), n->attrs());
    }
  }
  std::vector<const Node*> out;
  for (const Node* r : roots) out.push_back(map.at(r));
  return out;
}

// diff --jacobian: every entry of the Jacobian of f with respect to --wrt (default: every
// parameter), in the form diff chose (algebraic, --ieee or --no-simplify).
int diff_jacobian(Module& m, const Options& o, Format format, bool algebraic) {
  if (o.order != 1) throw UsageError("--order: a Jacobian holds first derivatives; leave out --order");
  if (o.expr_only) throw UsageError("--expr-only prints one partial; leave it out with --jacobian");
  const Function& f = choose(m, o.fn, /*tensors=*/true);
  if (f.params.empty())
    throw UsageError(fmt::format("--jacobian: '{}' has no parameters, so nothing to differentiate with respect to",
                                 f.name));
  std::vector<const Node*> wrt = o.wrt.empty() ? f.params : resolve_wrt(m, f, o.wrt);
  std::vector<std::string> order = param_names(f);
  Builder b(m.graph, o.ieee ? Simplify::Full : Simplify::None);
  const Node* body = algebraic ? canonical(m.graph, std::span<const Node* const>(&f.body, 1), order)[0] : f.body;
  Jacobian J = jacobian(b, std::span(&body, 1), wrt, parse_mode(o.mode));
  std::vector<const Node*> entries;
  for (std::int64_t i = 0; i < J.rows; ++i)
    for (std::int64_t j = 0; j < J.cols; ++j) entries.push_back(J.entry(b, i, j));
  if (!o.no_simplify) {
    entries = fold_literals(m.graph, entries);
    Builder fold(m.graph, Simplify::Fold);
    entries = scalarize(fold, entries);  // entries of tensor expressions as expressions of elements
  }
  if (!o.no_simplify) entries = algebraic ? canonical(m.graph, entries, order) : simplify(m.graph, entries);
  // Tensor parameters are declared with their shapes, so that the printed blocks parse back.
  std::vector<std::string> params, wrt_names;
  for (const Node* p : f.params) params.push_back(p->shape.scalar() ? p->name : p->name + p->shape.str());
  for (const Node* v : wrt) wrt_names.push_back(v->name);
  std::fputs(print_jacobian(f.name, params, wrt_names, element_names(f.name, f.body->shape), element_names(wrt),
                            entries, format, names_in_file(m))
                 .c_str(),
             stdout);
  return kExitOk;
}

int cmd_diff(const Options& o) {
  Format fmt_ = o.format == "latex" ? Format::Latex : Format::Text;
  // Three forms: the algebraic canonical form for people (default: lowered and differentiated
  // without folding, then canonical()), the kernel's own (--ieee), or as built (--no-simplify).
  bool algebraic = !o.ieee && !o.no_simplify;
  if (o.ieee && o.no_simplify) throw UsageError("--ieee and --no-simplify are two different forms: give one");
  auto m = load(o, /*fold=*/!algebraic);
  if (m->training && o.fn.empty()) {
    if (o.order != 1)
      throw UsageError(fmt::format("--order {}: the backward pass of a training program is printed to first order "
                                   "only; leave out --order, or choose a scalar function with --fn",
                                   o.order));
    return diff_training(*m, o, fmt_);
  }
  if (o.jacobian) return diff_jacobian(*m, o, fmt_, algebraic);
  if (!o.mode.empty()) throw UsageError("--mode chooses how --jacobian is computed: give --jacobian too");
  std::fputs(diff_partials(*m, o).c_str(), stdout);
  return kExitOk;
}

std::string diff_partials(Module& m, const Options& o) {
  Format fmt_ = o.format == "latex" ? Format::Latex : Format::Text;
  bool algebraic = !o.ieee && !o.no_simplify;
  const Function& f = choose(m, o.fn);
  std::vector<const Node*> wrt = resolve_wrt(m, f, o.wrt);
  if (o.order < 1) throw UsageError("--order must be at least 1");
  if (o.expr_only && (fmt_ != Format::Text || wrt.size() != 1 || o.order != 1))
    throw UsageError("--expr-only needs --format text, a single --wrt variable and --order 1");

  // Every multiset of `order` variables from wrt (nondecreasing indices), by differentiating
  // the lower-order partial again.
  Builder b(m.graph, o.ieee ? Simplify::Full : Simplify::None);
  std::vector<std::string> order = param_names(f);
  struct Partial {
    std::vector<std::size_t> idx;
    const Node* node;
  };
  // The algebraic form differentiates the function's canonical form (|x|^2 is x^2 there).
  const Node* body = algebraic ? canonical(m.graph, std::span<const Node* const>(&f.body, 1), order)[0] : f.body;
  std::vector<Partial> level{{{}, body}};
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
    // Each order in canonical form before the next is taken: the next derivative starts small.
    if (!o.no_simplify) {
      std::vector<const Node*> roots;
      for (const Partial& p : level) roots.push_back(p.node);
      roots = algebraic ? canonical(m.graph, roots, order) : simplify(m.graph, roots);
      for (std::size_t i = 0; i < level.size(); ++i) level[i].node = roots[i];
    }
  }
  if (o.expr_only) {
    std::string s;
    try {
      s = print_inline(level[0].node, Format::Text);
    } catch (const std::length_error& e) {
      throw UsageError(fmt::format("--expr-only: {}; leave out --expr-only to print it with shared "
                                   "subexpressions named", e.what()));
    }
    return s + "\n";
  }
  std::vector<std::string> wrt_names;
  for (const Node* v : wrt) wrt_names.push_back(v->name);
  std::vector<PartialExpr> partials;
  for (const Partial& p : level) partials.push_back({p.idx, p.node});
  return print_partials(f.name, order, wrt_names, partials, fmt_, names_in_file(m));
}

// --stage llvm: the kernel's optimized LLVM IR; plan: its tensor plan for this host (where each
// node's value lives, and the rule that chose it).
void print_kernel_stage(const Options& o, Jit& jit, const KernelSpec& spec, std::span<const std::string> labels) {
  if (o.stage == "plan") {
    TensorPlan plan = plan_tensor_kernel(spec, TileRules::for_target(kernel_target(spec, jit.target()), spec.dtype));
    std::fputs(format_plan(plan, spec, labels).c_str(), stdout);
  } else {
    std::fputs(jit.llvm_ir(spec).c_str(), stdout);
  }
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
    if (o.stage == "tangent-ir")
      throw UsageError("--stage tangent-ir shows a function's forward mode; a training step is computed in reverse "
                       "mode (--stage grad-ir), or choose a function with --fn");
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
    DType dtype = o.dtype == "f32" ? DType::F32 : DType::F64;
    if (dtype != DType::F64) {  // the step as --dtype f32 trains it
      inputs = retype(m->graph, inputs, dtype);
      outs = retype(m->graph, outs, dtype);
    }
    if (o.stage == "llvm" || o.stage == "plan") {
      print_kernel_stage(o, *Jit::create({.threads = o.threads}), KernelSpec{"step", inputs, outs, /*batch=*/false, dtype},
                         labels);
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
  const Function& f = choose(*m, o.fn, /*tensors=*/true);
  if (o.stage == "tangent-ir") {  // forward mode: f's tangent along each input (each element of a tensor)
    Builder b(m->graph, o.no_simplify ? Simplify::None : Simplify::Fold);
    Jacobian J = jacobian(b, std::span<const Node* const>(&f.body, 1), f.params, Mode::Forward, &m->origins);
    std::vector<const Node*> outs{f.body};
    std::vector<std::string> labels{f.name};
    for (const Node* p : f.params)
      for (std::int64_t e = 0; e < p->shape.size(); ++e) {
        outs.push_back(J.columns[outs.size() - 1][0]);
        labels.push_back(print_partial(f.name, std::vector<std::string>{p->name}, Format::Text) +
                         (p->shape.scalar() ? "" : fmt::format("[{}]", e)));
      }
    std::fputs(fmt::format("fn {}({}):\n{}", f.name, join(param_names(f)), print_listing(outs, labels, &f.names)).c_str(),
               stdout);
    return kExitOk;
  }
  if (!scalar_function(f)) {  // tensors: the gradient, or for a tensor result the Jacobian's rows (reverse mode)
    if (o.hessian && !f.body->shape.scalar())
      throw UsageError(fmt::format("--hessian: '{}' returns shape {}; a Hessian is of a scalar function (without "
                                   "--hessian, --stage grad-ir shows the Jacobian's rows)",
                                   f.name, f.body->shape.str()));
    for (const Node* p : f.params)
      if (o.hessian && !p->shape.scalar())
        throw UsageError(fmt::format("--hessian: '{}' takes '{}' of shape {}; --hessian needs scalar parameters",
                                     f.name, p->name, p->shape.str()));
    Builder b(m->graph, o.no_simplify ? Simplify::None : Simplify::Fold);
    std::vector<const Node*> outs{f.body};
    std::vector<std::string> labels{f.name};
    if (f.body->shape.scalar()) {
      outs = value_and_derivatives(b, f.body, f.params, false, &m->origins);
      for (const Node* p : f.params) labels.push_back(print_partial(f.name, std::vector<std::string>{p->name}, Format::Text));
    } else {
      Jacobian J = jacobian(b, std::span<const Node* const>(&f.body, 1), f.params, Mode::Reverse, &m->origins);
      for (std::size_t i = 0; i < J.rows_.size(); ++i)
        for (std::size_t k = 0; k < f.params.size(); ++k) {
          outs.push_back(J.rows_[i][k]);
          labels.push_back(print_partial(fmt::format("{}[{}]", f.name, i), std::vector<std::string>{f.params[k]->name},
                                         Format::Text));
        }
    }
    if (o.stage == "grad-ir") {
      std::fputs(fmt::format("fn {}({}):\n{}", f.name, join(param_names(f)), print_listing(outs, labels, &f.names)).c_str(),
                 stdout);
      return kExitOk;
    }
    print_kernel_stage(o, *Jit::create(), KernelSpec{f.name, f.params, outs, /*batch=*/false}, labels);
    return kExitOk;
  }
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
  print_kernel_stage(o, *Jit::create(), KernelSpec{f.name, f.params, outs, /*batch=*/false}, labels);
  return kExitOk;
}

std::string check_note(const PartialCheck& c) {
  if (!c.good) return "  MISMATCH";
  return c.kink ? fmt::format("  kink: one-sided {} and {}", num(c.left), num(c.right)) : "";
}

const char* const kKinkNote =
    "note: at a kink, the compiled value lies between the one-sided derivatives (a subgradient);\n"
    "      central differences average the two sides\n";

// Compares f's compiled gradient with finite differences; false on disagreement.
bool check_function(Module& mod, const Function& f, const Options& o, Jit& jit,
                    std::span<const Function* const> selected) {
  Module* m = &mod;
  std::vector<double> point = resolve_point(*m, f, o.at, selected);
  auto outs = derivative_outputs(*m, f, false, !o.no_simplify);
  TieredKernel k(jit, KernelSpec{f.name, f.params, outs, /*batch=*/!o.points.empty()});
  std::size_t n = f.params.size();
  std::vector<double> out(outs.size()), tmp(outs.size()), x = point;
  k.single(point.data(), out.data());
  auto value_at = [&](std::size_t i, double xi) {
    x = point;
    x[i] = xi;
    k.single(x.data(), tmp.data());
    return tmp[0];
  };
  bool ok = true, kinks = false;
  std::string s = fmt::format("{:<10} {:>24} {:>24} {:>10}\n", "variable", "compiled", "finite difference", "rel. error");
  for (std::size_t i = 0; i < n; ++i) {
    double h = 1e-3 * std::max(1.0, std::fabs(point[i]));
    double g = out[1 + i];
    PartialCheck c = check_partial([&](double t) { return value_at(i, point[i] + t); }, g, h, o.tol);
    ok = ok && c.good;
    kinks = kinks || c.kink;
    s += fmt::format("{:<10} {:>24} {:>24} {:>10.2e}{}\n", f.params[i]->name, num(g), num(c.fd), c.rel, check_note(c));
  }
  std::fputs(s.c_str(), stdout);
  if (!ok) {
    std::fflush(stdout);
    std::fputs(message("gradc", "error",
                       fmt::format("the compiled gradient of '{}' disagrees with finite differences (tolerance {})",
                                   f.name, o.tol))
                   .c_str(),
               stderr);
    return false;
  }
  std::fputs(fmt::format("ok: gradient of '{}' matches finite differences (tolerance {})\n", f.name, o.tol).c_str(),
             stdout);
  if (kinks) std::fputs(kKinkNote, stdout);
  return true;
}

// check --lint: the places where a gradient can become nan or inf at a finite input (warnings)
// and the kinks with the subgradient used there (notes), for every function of the file that
// has a scalar body. Findings alone do not fail: the exit code is 0.
int lint_functions(Module& m, const Options& o) {
  std::vector<const Function*> fns;
  if (!o.fn.empty()) fns.push_back(&choose(m, o.fn));
  for (const Function& f : m.functions)
    if (o.fn.empty() && scalar_function(f)) fns.push_back(&f);
  // A training program: its loss too, over all rows, as a function of the parameters and data.
  Function loss;
  if (m.training && o.fn.empty()) {
    std::vector<DataInput> data;
    loss.name = "the loss";
    loss.loc = m.training->loc;
    loss.body = m.lower(*m.training->loss, 0, data, &loss);
    fns.push_back(&loss);
  }
  if (fns.empty()) choose(m, o.fn);  // throws the explanation
  std::size_t warnings = 0, notes = 0;
  std::set<std::pair<std::uint32_t, std::string>> seen;  // a function called by another is linted once
  for (const Function* f : fns)
    for (const LintFinding& x : lint(*f)) {
      if (!seen.emplace(x.loc.offset, x.message).second) continue;
      std::fputs(m.source.format(x.loc, x.warning ? "warning" : "note", x.message).c_str(), stderr);
      ++(x.warning ? warnings : notes);
    }
  std::string names;
  for (const Function* f : fns) names += (names.empty() ? "" : ", ") + f->name;
  if (warnings + notes == 0) {
    std::fputs(fmt::format("ok: no gradient of {} can become nan or inf at a finite input, and no kink is reached\n", names).c_str(),
               stdout);
  } else {
    std::fputs(fmt::format("lint of {}: {} warning{}, {} note{}\n", names, warnings, warnings == 1 ? "" : "s", notes,
                           notes == 1 ? "" : "s").c_str(),
               stdout);
  }
  return kExitOk;
}

int cmd_check(const Options& o) {
  auto m = load(o);
  if (o.lint) return lint_functions(*m, o);
  if (m->training && o.fn.empty()) return check_training(*m, o);
  auto fns = choose_all(*m, o.fn);
  auto jit = Jit::create({.cache_dir = jit_cache_dir(o)});
  bool ok = true;
  for (std::size_t i = 0; i < fns.size(); ++i) {
    if (i) std::fputs("\n", stdout);
    std::fputs(fmt::format("{}({}):\n", fns[i]->name, join(param_names(*fns[i]))).c_str(), stdout);
    ok = check_function(*m, *fns[i], o, *jit, fns) && ok;
  }
  return ok ? kExitOk : kExitCheckFailed;
}

int cmd_graph(const Options& o) {
  // Options' default format is "text", which graph does not accept: it means no --format given.
  std::string format = output_format("graph", "-o", o.out, {"dot", "gv", "svg", "png", "pdf"},
                                     o.format == "text" ? "" : o.format, "dot");
  if (format != "dot" && o.out.empty())
    throw UsageError(fmt::format("--format {} needs an output file: -o OUT.{}", format, format));
  auto m = load(o);
  std::string dot;
  if (m->training && o.fn.empty()) {  // the network's loss: shapes instead of values
    if (!o.at.empty())
      throw UsageError("--at: the graph of a training program shows shapes, not values; leave out --at, "
                       "or choose a scalar function with --fn");
    std::vector<DataInput> data;
    dot = graph_dot_tensor(*m, m->lower(*m->training->loss, 0, data), o.backward);
  } else {
    const Function& f = choose(*m, o.fn);
    dot = graph_dot(*m, f, resolve_point(*m, f, o.at), o.backward);
  }
  if (o.out.empty())
    std::fputs(dot.c_str(), stdout);
  else
    write_graph(dot, o.out, format);
  return kExitOk;
}

int cmd_explain(const Options& o) {
  Format f = o.format == "latex" ? Format::Latex : Format::Text;
  auto m = load(o);
  // A network: the chain rule through its layers is the backward pass, as equations.
  if (m->training && o.fn.empty()) {
    if (!o.at.empty())
      throw UsageError("--at: the backward pass of a training program is explained as equations, not at a "
                       "point; leave out --at, or choose a scalar function with --fn");
    return diff_training(*m, o, f);
  }
  const Function& fn = choose(*m, o.fn);
  std::vector<const Node*> wrt = resolve_wrt(*m, fn, o.wrt);
  std::vector<double> point = resolve_point(*m, fn, o.at);
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    Explanation ex = explain(*m, fn, wrt[i], point, f);
    // The intermediates explain named (v1 = 2*x, ...), once, before the first explanation.
    if (i == 0 && !ex.definitions.empty()) std::fputs((ex.definitions + "\n").c_str(), stdout);
    if (i) std::fputs("\n", stdout);
    std::fputs(ex.text.c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace gradc::cli
