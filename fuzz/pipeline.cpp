// The compiler pipeline under fuzzing. The invariants checked here are the promises of the
// README: printed derivatives parse back, and they compute what the compiled kernel computes.
#include "fuzz/pipeline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>

#include "compiler/algebra/canon.hpp"
#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/interp.hpp"
#include "compiler/lower.hpp"
#include "compiler/print.hpp"
#include "compiler/print_layout.hpp"
#include "fuzz/fuzz_common.hpp"
#include "runtime/jit.hpp"

namespace gradc::fuzz {
namespace {

// Past these sizes an input is not worth its time (a second-order derivative of a large
// expression, a JIT compile of thousands of instructions): the fuzzer looks for bugs, not
// for slow but correct inputs.
constexpr std::size_t kMaxNodes = 20'000;
constexpr std::size_t kMaxJitNodes = 3'000;
constexpr double kMaxElements = 1e5;  // per tensor interpreted or compiled

// `data d = csv(...)` reads this table, whatever the path: the program is the input, not files.
// Its columns are those the examples and the generated seeds name.
Table fixed_table(const std::string& path) {
  Table t;
  t.source = SourceFile{path, "a,b,c,x,x1,x2,y,z,label\n"};
  t.columns = {"a", "b", "c", "x", "x1", "x2", "y", "z", "label"};
  std::uint32_t off = 0;
  for (const std::string& c : t.columns) {
    t.column_locs.push_back(Loc{off});
    off += std::uint32_t(c.size()) + 1;
  }
  t.values = {0,   1,  2, 0.5,  -0.5, 1,   0.25, 0, 0,  //
              1,   0, -1, -0.25, 1,   0,   -1,   1, 1,  //
              0.5, 2,  1, 1.5,  0.25, -2,  0.5,  1, 1,  //
              -1,  1,  0, -2,   0,    0.5, 2,    0, 0};
  return t;
}

// A scalar function of scalar parameters, at least one (`fn f() = 1` has no derivatives to
// print and read back).
bool scalar_function(const Function& f) {
  if (!f.body || !f.body->shape.scalar() || f.params.empty()) return false;
  for (const Node* p : f.params)
    if (!p->shape.scalar()) return false;
  for (const Node* n : reachable(std::span<const Node* const>(&f.body, 1)))
    if (n->op == Op::Var && std::find(f.params.begin(), f.params.end(), n) == f.params.end()) return false;
  return true;
}

double elements(const Shape& s) {
  double e = 1;
  for (int d = 0; d < s.rank; ++d) e *= double(s[d]);
  return e;
}

// The point every function is evaluated at: the file's `at` values, else fixed values that
// avoid the kinks at 0 and ±1 (where one-sided conventions make printed and compiled forms
// legitimately choose different subgradients nowhere, but are worth avoiding as a default).
std::vector<double> point_for(const Module& m, const Function& f) {
  static const double defaults[] = {0.7, -1.3, 2.1, 0.45, -0.35, 1.6, 3.2, -2.4};
  std::vector<double> p;
  for (std::size_t i = 0; i < f.params.size(); ++i) {
    const double* v = m.at_value(f.params[i]->name);
    p.push_back(v ? *v : defaults[i % std::size(defaults)]);
  }
  return p;
}

// The printed roots as `gradc diff` prints several partials (print_partials: one listing,
// temporaries shared by the block functions), as a .grad program: a partial printed as a line
// (`df/dx = e`) becomes `fn dK(params) = e`, so there is one function per root, in order.
std::string printed_program(const Function& f, std::span<const Node* const> roots) {
  std::string params;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < f.params.size(); ++i) {
    params += (i ? ", " : "") + f.params[i]->name;
    names.push_back(f.params[i]->name);
  }
  // Each root as a "partial" with respect to its own stand-in r0, r1, ...: the roots are of
  // several orders (f, its gradient, its Hessian), and only the layout matters here.
  std::vector<PartialExpr> partials;
  std::vector<std::string> stand_ins;
  for (std::size_t k = 0; k < roots.size(); ++k) {
    partials.push_back({{k}, roots[k]});
    stand_ins.push_back(fmt::format("r{}", k));
  }
  std::string listing = print_partials(f.name, names, stand_ins, partials, Format::Text, {});
  std::string prog;
  std::size_t k = 0, at = 0;
  while (at < listing.size()) {
    std::size_t end = listing.find('\n', at);
    std::string line = listing.substr(at, end - at);
    at = end + 1;
    bool block = line.rfind("# ", 0) == 0 || line.rfind("fn ", 0) == 0 || line.rfind("  ", 0) == 0 || line == "}";
    if (!block) line = fmt::format("fn d{}({}) = {}", k, params, line.substr(line.find(" = ") + 3));
    if (!block || line.rfind("fn ", 0) == 0) ++k;
    prog += line + "\n";
  }
  return prog;
}

// The largest magnitude of any value the interpreter computes for roots: rounding errors
// scale with it (cancellation), so the comparisons allow for it.
double magnitude(std::span<const Node* const> roots, std::span<const Node* const> vars, std::span<const double> at) {
  std::vector<const Node*> all = reachable(roots);
  std::vector<double> v = evaluate(all, vars, at);
  double m = 0;
  for (double x : v)
    if (std::isfinite(x)) m = std::max(m, std::abs(x));
  return m;
}

bool close(double a, double b, double scale) {
  if (!std::isfinite(a) || !std::isfinite(b)) return true;  // compared where both are finite
  return std::abs(a - b) <= 1e-6 * std::max(std::abs(a), std::abs(b)) + 1e-9 * scale + 1e-300;
}

Jit& jit() {
  // Every compile adds a module to the session: start a new session now and then, so that
  // memory stays flat over millions of inputs.
  static std::unique_ptr<Jit> j;
  static int uses = 0;
  if (!j || ++uses > 200) {
    j.reset();
    j = Jit::create();
    uses = 0;
  }
  return *j;
}

// Calls a compiled kernel. Not checked by UBSan's -fsanitize=function, which reads a signature
// in the 8 bytes before the callee: JIT code carries none, and its page may be the first mapped.
__attribute__((no_sanitize("function"))) void run_kernel(void (*fn)(const double*, double*), const double* in,
                                                         double* out) {
  fn(in, out);
}

struct Partial {
  std::string label;  // f, df/dx, d2f/dxdy
  const Node* node;
  std::size_t out;    // index in the compiled kernel's outputs
};

void scalar(Module& m, const Function& f, const PipelineOptions& opts) {
  const std::size_t n = f.params.size();
  std::vector<std::string> names;
  for (const Node* p : f.params) names.push_back(p->name);

  // First and second order through the Full builder, as `gradc diff` does.
  Builder b(m.graph, Simplify::Full);
  std::vector<Partial> parts{{f.name, f.body, 0}};
  std::vector<const Node*> g = gradient(b, f.body, f.params);
  if (m.graph.size() > kMaxNodes) return;
  for (std::size_t i = 0; i < n; ++i) parts.push_back({print_partial(f.name, std::span(&names[i], 1), Format::Text), g[i], 1 + i});
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<const Node*> rest(f.params.begin() + std::ptrdiff_t(i), f.params.end());
    std::vector<const Node*> h = gradient(b, g[i], rest);
    for (std::size_t j = 0; j < h.size(); ++j) {
      std::vector<std::string> wrt{names[i], names[i + j]};
      parts.push_back({print_partial(f.name, wrt, Format::Text), h[j], 1 + n + i * n + i + j});
    }
    if (m.graph.size() > kMaxNodes) return;
  }
  std::vector<const Node*> roots;
  for (const Partial& p : parts) roots.push_back(p.node);
  roots = simplify(m.graph, roots);
  if (m.graph.size() > kMaxNodes) return;
  for (std::size_t k = 0; k < parts.size(); ++k) parts[k].node = roots[k];

  // Both printers, with named temporaries and inline.
  print(roots, Format::Text);
  print(roots, Format::Latex);
  for (const Node* r : roots) {
    for (Format fmt_ : {Format::Text, Format::Latex}) {
      try {
        print_inline(r, fmt_, 100'000);
      } catch (const std::length_error&) {
      }
    }
  }

  // The printed text parses and lowers again (an infinite constant, which has no spelling, is a
  // bug of the simplifier: fuzz/regressions/program/fold_to_inf.grad).
  std::string prog = printed_program(f, roots);
  std::unique_ptr<Module> back;
  try {
    back = compile_module(text_source("printed.grad", prog));
  } catch (const Diagnostic& d) {
    fail("a printed derivative does not parse back", prog + "\n" + d.what());
  } catch (const InputError& e) {
    fail("a printed derivative does not lower", prog + "\n" + SourceFile{"printed.grad", prog}.format(e.loc, "error", e.what()));
  }
  if (back->functions.size() != roots.size())
    fail("the printed program lost functions", prog);

  if (!opts.jit || dag_size(roots) > kMaxJitNodes) return;

  // Compiled value, gradient and Hessian (the kernel `gradc eval --hessian` runs).
  Builder fold(m.graph, Simplify::Fold);
  std::vector<const Node*> outs = value_and_derivatives(fold, f.body, f.params, /*hessian=*/true);
  if (dag_size(outs) > kMaxJitNodes) return;
  Kernel k = jit().compile(KernelSpec{"f", f.params, outs, /*batch=*/false});
  std::vector<double> at = point_for(m, f);
  std::vector<double> compiled(outs.size());
  run_kernel(k.single, at.data(), compiled.data());

  // The reference interpreter on the same graph.
  std::vector<double> interp = evaluate(outs, f.params, at);
  double scale = magnitude(outs, f.params, at);
  for (std::size_t i = 0; i < outs.size(); ++i)
    if (!close(compiled[i], interp[i], scale))
      fail("the compiled kernel disagrees with the interpreter",
           fmt::format("{} at output {}: compiled {:.17g}, interpreter {:.17g}\n{}", f.name, i, compiled[i], interp[i],
                       print_inline(outs[i], Format::Text)));

  // The printed derivatives, read back and interpreted.
  for (std::size_t kk = 0; kk < parts.size(); ++kk) {
    const Function& d = back->functions[kk];
    if (!d.body) fail("a printed derivative lowered to no body", prog);
    std::vector<const Node*> vars;
    std::vector<double> vals;
    for (std::size_t i = 0; i < d.params.size(); ++i) {
      vars.push_back(d.params[i]);
      vals.push_back(at[i]);
    }
    double v = evaluate(std::span(&d.body, 1), vars, vals)[0];
    double s = std::max(scale, magnitude(std::span(&d.body, 1), vars, vals));
    double c = compiled[parts[kk].out];
    if (!close(v, c, s))
      fail("a printed derivative disagrees with the compiled one",
           fmt::format("{} at {}: printed {:.17g}, compiled {:.17g}\n{}", parts[kk].label,
                       fmt::join(at, ", "), v, c, prog));
  }
}

// The printed derivative's algebraic form (`gradc diff`): lowered and differentiated without
// folding, canonical() after each order. It must print, parse back, evaluate to the IEEE
// derivative wherever both are finite, and be idempotent (read back, made canonical and printed
// again, the text is the same).
void algebraic(Module& m, const Function& f) {
  const std::size_t n = f.params.size();
  std::vector<std::string> names;
  for (const Node* p : f.params) names.push_back(p->name);
  Builder b(m.graph, Simplify::None);
  const Node* body = canonical(m.graph, std::span(&f.body, 1), names)[0];
  std::vector<const Node*> g = canonical(m.graph, gradient(b, body, f.params), names);
  if (m.graph.size() > kMaxNodes) return;
  std::vector<const Node*> roots = g;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<const Node*> rest(f.params.begin() + std::ptrdiff_t(i), f.params.end());
    std::vector<const Node*> h = canonical(m.graph, gradient(b, g[i], rest), names);
    roots.insert(roots.end(), h.begin(), h.end());
    if (m.graph.size() > kMaxNodes) return;
  }
  print(roots, Format::Latex);
  std::string prog = printed_program(f, roots);
  std::unique_ptr<Module> back;
  try {
    back = compile_module(text_source("printed.grad", prog), /*simplify=*/false);
  } catch (const Diagnostic& d) {
    fail("a printed derivative (algebraic form) does not parse back", prog + "\n" + d.what());
  } catch (const InputError& e) {
    fail("a printed derivative (algebraic form) does not lower",
         prog + "\n" + SourceFile{"printed.grad", prog}.format(e.loc, "error", e.what()));
  }
  if (back->functions.size() != roots.size()) fail("the printed program lost functions", prog);

  // Idempotent: the text read back prints the same (for scalar expressions: tensor operations
  // keep the kernel's simplifier, which is not a canonical form).
  bool tensors = std::any_of(back->graph.size() ? roots.begin() : roots.end(), roots.end(), [](const Node* r) {
    for (const Node* x : reachable(std::span(&r, 1)))
      if (!x->shape.scalar() || x->op == Op::Tensor) return true;
    return false;
  });
  std::vector<const Node*> again;
  for (const Function& d : back->functions) again.push_back(canonical(back->graph, std::span(&d.body, 1), names)[0]);
  std::string prog2 = printed_program(f, again);
  if (!tensors && prog2 != prog) fail("the canonical form is not idempotent", prog + "\n--- read back and printed again:\n" + prog2);

  // The same values as the IEEE derivative (the raw chain rule, interpreted), where both are finite.
  Builder raw(m.graph, Simplify::None);
  std::vector<const Node*> ref = value_and_derivatives(raw, f.body, f.params, /*hessian=*/true);
  std::vector<double> at = point_for(m, f);
  if (m.graph.size() > kMaxNodes || dag_size(ref) > kMaxNodes / 4) return;
  std::vector<double> want = evaluate(ref, f.params, at);
  double scale = magnitude(ref, f.params, at);
  // Compared only where the function is defined: no operation of the IEEE derivative (which
  // contains the function) meets a point outside its domain. There the algebraic form may
  // differ (max(sqrt(w) - sqrt(w), 1) is 1 at w = -1; IEEE's max drops the nan too, but its
  // derivative does not).
  std::vector<const Node*> every = reachable(ref);
  for (double v : evaluate(every, f.params, at))
    if (!std::isfinite(v)) return;
  std::vector<std::size_t> outs;  // the kernel's output index of each printed root
  for (std::size_t i = 0; i < n; ++i) outs.push_back(1 + i);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i; j < n; ++j) outs.push_back(1 + n + i * n + j);
  for (std::size_t k = 0; k < back->functions.size(); ++k) {
    const Function& d = back->functions[k];
    double v = evaluate(std::span(&d.body, 1), d.params, at)[0];
    double s = std::max(scale, magnitude(std::span(&d.body, 1), d.params, at));
    if (!close(v, want[outs[k]], s))
      fail("a printed derivative (algebraic form) disagrees with the IEEE one",
           fmt::format("root {} at {}: printed {:.17g}, IEEE {:.17g}\n{}", k, fmt::join(at, ", "), v, want[outs[k]], prog));
  }
}

// A training program: the loss lowered with every data set bound, its gradient with respect
// to every parameter, the listing, and the interpreter (and the JIT) on it.
void training(Module& m, const PipelineOptions& opts) {
  for (const Param& p : m.params)
    if (elements(p.shape) > kMaxElements) return;
  for (const Data& d : m.data)
    if (elements(d.x.shape) > kMaxElements) return;
  std::vector<DataInput> inputs;
  const Node* loss = m.lower(*m.training->loss, 0, inputs);
  std::vector<const Node*> wrt;
  for (const Param& p : m.params) wrt.push_back(p.var);
  Builder b(m.graph, Simplify::Fold);
  std::vector<const Node*> roots{loss};
  if (loss->shape.scalar()) {
    std::vector<const Node*> g = gradient(b, loss, wrt);
    roots.insert(roots.end(), g.begin(), g.end());
  }
  if (m.graph.size() > kMaxNodes) return;
  std::vector<std::string> labels(roots.size(), "r");
  print_listing(roots, labels);

  std::vector<const Node*> vars;
  std::vector<Tensor> values;
  for (const Param& p : m.params) {
    vars.push_back(p.var);
    Tensor t{p.shape, std::vector<double>(std::size_t(p.shape.size()))};
    for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = 0.25 * double(i % 7) - 0.6;
    values.push_back(std::move(t));
  }
  for (const DataInput& in : inputs) {
    if (std::find(vars.begin(), vars.end(), in.var) != vars.end()) continue;
    vars.push_back(in.var);
    values.push_back(*in.source);
  }
  for (const Node* n : reachable(roots))
    if (elements(n->shape) > kMaxElements) return;
  std::vector<Tensor> ref = evaluate_tensors(roots, vars, values);

  if (!opts.jit || dag_size(roots) > kMaxJitNodes) return;
  Kernel k = jit().compile(KernelSpec{"step", vars, roots, /*batch=*/false});
  std::vector<double> in, out(k.num_outputs);
  for (const Tensor& t : values) in.insert(in.end(), t.data.begin(), t.data.end());
  if (in.size() != k.num_inputs) fail("kernel input size", fmt::format("{} != {}", in.size(), k.num_inputs));
  run_kernel(k.single, in.data(), out.data());
  double scale = 0;
  for (const Tensor& t : ref)
    for (double x : t.data)
      if (std::isfinite(x)) scale = std::max(scale, std::abs(x));
  std::size_t o = 0;
  for (std::size_t r = 0; r < ref.size(); ++r)
    for (std::size_t i = 0; i < ref[r].data.size(); ++i, ++o)
      if (!close(out[o], ref[r].data[i], scale))
        fail("the compiled training kernel disagrees with the interpreter",
             fmt::format("root {} element {}: compiled {:.17g}, interpreter {:.17g}\n{}", r, i, out[o],
                         ref[r].data[i], print_listing(roots, labels)));
}

}  // namespace

void run_pipeline(std::string_view text, const PipelineOptions& opts) {
  expected_errors([&] {
    SourceFile src = text_source("fuzz.grad", std::string(text));
    SourceFile diag = src;
    std::unique_ptr<Module> m = located_in(diag, [&] { return compile_module(SourceFile(src), true, fixed_table); });
    located_in(diag, [&] {
      for (const Function& f : m->functions)
        if (scalar_function(f)) scalar(*m, f, opts);
      if (m->training) training(*m, opts);
    });
    // The algebraic form of the printed derivatives, from the module lowered as written.
    std::unique_ptr<Module> a = located_in(diag, [&] { return compile_module(std::move(src), false, fixed_table); });
    located_in(diag, [&] {
      for (const Function& f : a->functions)
        if (scalar_function(f)) algebraic(*a, f);
    });
  });
}

}  // namespace gradc::fuzz
