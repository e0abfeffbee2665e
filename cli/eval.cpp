// gradc eval: values and derivatives of a function through one compiled kernel, at a point or
// at every row of a CSV file: the gradient (scalar results), the Hessian, the Jacobian in
// either mode, and products of the Jacobian with given vectors.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <cmath>
#include <cstdio>

#include "cli/common.hpp"
#include "cli/plan.hpp"
#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/forward.hpp"
#include "grammar/parser.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "runtime/jit.hpp"
#include "runtime/tiered_kernel.hpp"

namespace gradc::cli {

namespace {

// A constant node holding t (scalar or tensor data).
const Node* constant_of(Graph& g, const Tensor& t) {
  return t.shape.scalar() ? g.constant(t.data[0]) : g.tensor(t.shape, t.data);
}

// --vjp's cotangent: one value of the result's shape, written alone or as `f=VALUE`.
Tensor cotangent(const Function& f, const std::string& text) {
  std::size_t eq = text.find('=');
  std::size_t lead = text.find_first_not_of(" \t");
  std::size_t value_at = 0;
  if (eq != std::string::npos && text.find('[') > eq && text.find('(') > eq) {
    std::string name = text.substr(lead, eq - lead);
    name.erase(name.find_last_not_of(" \t") + 1);
    SourceFile cmd{"--vjp", text};
    if (name != f.name)
      located_in(cmd, [&]() -> void {
        throw InputError(Loc{static_cast<std::uint32_t>(lead)},
                         fmt::format("expected the cotangent of the result of '{}': a value, or {}=VALUE", f.name, f.name));
      }, kExitUsage);
    value_at = eq + 1;
  }
  SourceFile val{"--vjp", std::string(value_at, ' ') + text.substr(value_at)};
  Tensor t = located_in(val, [&] { return command_value(val, parse_expression(val)); }, kExitUsage);
  located_in(val, [&] {
    if (t.shape == f.body->shape) return;
    Loc at{static_cast<std::uint32_t>(val.text.find_first_not_of(' '))};
    throw InputError(at, fmt::format("'{}' returns {}; this value {}", f.name,
                                     f.body->shape.scalar() ? std::string("a scalar") : "shape " + f.body->shape.str(),
                                     t.shape.scalar() ? std::string("is a scalar") : "has shape " + t.shape.str()));
  }, kExitUsage);
  return t;
}

Layout plan(Module& m, const Function& f, const Options& o) {
  Simplify simplify = o.no_simplify ? Simplify::None : Simplify::Fold;
  Layout l = plan_derivatives(m, f, o.hessian, o.jacobian, o.jacobian ? parse_mode(o.mode) : Mode::Auto, simplify);
  Builder b(m.graph, simplify);
  if (!o.jvp.empty()) {
    const Function* only[] = {&f};
    auto given = named_values("--jvp", o.jvp, only);
    std::vector<const Node*> tangents;
    for (const Node* p : f.params) {
      auto it = given.find(p->name);
      // A parameter left out has tangent zero.
      tangents.push_back(constant_of(m.graph, it == given.end() ? Tensor{p->shape, std::vector<double>(
                                                                               static_cast<std::size_t>(p->shape.size()))}
                                                                  : it->second));
    }
    l.add(l.jvp, jvp(b, std::span(&f.body, 1), f.params, tangents, &m.origins));
  }
  if (!o.vjp.empty()) {
    const Node* u = constant_of(m.graph, cotangent(f, o.vjp));
    l.add(l.vjp, vjp(b, std::span(&f.body, 1), std::span(&u, 1), f.params, &m.origins));
  }
  return l;
}

// Flags that need a scalar result or scalar parameters, refused with the reason.
void check_flags(const Function& f, const Options& o) {
  if (f.params.empty() && (o.jacobian || !o.jvp.empty() || !o.vjp.empty()))
    throw UsageError(fmt::format("{}: '{}' has no parameters, so nothing to differentiate with respect to",
                                 o.jacobian ? "--jacobian" : !o.jvp.empty() ? "--jvp" : "--vjp", f.name));
  if (!o.hessian) return;
  if (!f.body->shape.scalar())
    throw UsageError(fmt::format("--hessian: '{}' returns shape {}; a Hessian is of a scalar function "
                                 "(--jacobian gives the first derivatives)",
                                 f.name, f.body->shape.str()));
  for (const Node* p : f.params)
    if (!p->shape.scalar())
      throw UsageError(fmt::format("--hessian: '{}' takes '{}' of shape {}; --hessian needs scalar parameters",
                                   f.name, p->name, p->shape.str()));
}

bool all_scalar(std::span<const Node* const> params) {
  return std::all_of(params.begin(), params.end(), [](const Node* p) { return p->shape.scalar(); });
}

void warn_results(Module& m, const Function& f, const Layout& l, std::span<const double> point,
                  const std::string& where) {
  if (all_scalar(f.params)) {
    warn_domain(m, f, l.outs, point, where);
    return;
  }
  std::fputs(message("gradc", "warning", fmt::format("{}the results of '{}' hold nan or inf", where, f.name)).c_str(),
             stderr);
}

void eval_points(Module& m, const Function& f, const Options& o, const Layout& l, TieredKernel& k) {
  if (o.hessian) throw UsageError("--points computes values and gradients; --hessian is not available with it");
  Table t = read_csv(o.points);
  std::vector<std::string> inputs = element_names(f.params);
  std::vector<std::size_t> col;
  for (const std::string& name : inputs) {
    std::size_t j = 0;
    while (j < t.columns.size() && t.columns[j] != name) ++j;
    if (j == t.columns.size())
      throw Diagnostic(t.source.format(Loc{0}, "error",
                                       fmt::format("no column '{}' (a parameter of '{}')", name, f.name)),
                       kExitInputError);
    col.push_back(j);
  }
  const std::size_t rows = t.rows(), w = t.columns.size(), n = l.n;
  std::vector<double> in(rows * n), out(rows * l.total);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < n; ++i) in[r * n + i] = t.values[r * w + col[i]];
  k.batch(in.data(), out.data(), static_cast<std::int64_t>(rows));
  // df_dx, not df/dx: a name numpy's genfromtxt(names=True) and pandas keep as it is.
  std::vector<std::string> results = element_names(f.name, f.body->shape), header = inputs;
  header.insert(header.end(), results.begin(), results.end());
  if (l.grad != Layout::npos)
    for (const std::string& x : inputs) header.push_back(fmt::format("d{}_d{}", f.name, x));
  if (l.jac != Layout::npos && l.grad == Layout::npos)  // a scalar's Jacobian is its gradient
    for (const std::string& y : results)
      for (const std::string& x : inputs) header.push_back(fmt::format("d{}_d{}", y, x));
  std::string csv = join(header, ",") + "\n";
  std::size_t bad = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const double* o_ = &out[r * l.total];
    std::vector<std::string> line;
    for (std::size_t i = 0; i < n; ++i) line.push_back(num(in[r * n + i]));
    std::size_t plain = l.grad != Layout::npos ? l.grad + n : l.m;
    for (std::size_t j = 0; j < plain; ++j) line.push_back(num(o_[j]));
    if (l.jac != Layout::npos && l.grad == Layout::npos)
      for (std::size_t i = 0; i < l.m; ++i)
        for (std::size_t j = 0; j < n; ++j) line.push_back(num(l.jacobian(o_, i, j)));
    if (!std::all_of(o_, o_ + l.total, [](double v) { return std::isfinite(v); }) && bad++ == 0)
      warn_results(m, f, l, std::span<const double>(&in[r * n], n), fmt::format("row {}: ", r + 1));
    csv += join(line, ",") + "\n";
  }
  if (bad > 1) std::fputs(message("gradc", "warning", fmt::format("{} rows have nan or inf results", bad)).c_str(), stderr);
  if (o.out.empty()) {
    std::fwrite(csv.data(), 1, csv.size(), stdout);
  } else {
    write_file_atomic(o.out, csv);
  }
}

}  // namespace

// Evaluates one function (at the point, or at every --points row) and prints the result.
void eval_function(Module& m, const Function& f, const Options& o, Jit& jit,
                   std::span<const Function* const> selected) {
  check_flags(f, o);
  Layout l = plan(m, f, o);
  // auto: the fast tier; a large --points batch is recompiled optimized first (TierPolicy).
  constexpr auto kNever = std::numeric_limits<std::int64_t>::max();
  TierPolicy policy = o.tier == "fast"        ? TierPolicy{.calls = std::numeric_limits<std::uint64_t>::max(), .rows = kNever}
                      : o.tier == "optimized" ? TierPolicy{.calls = 0, .rows = 0}
                                              : TierPolicy{};
  TieredKernel k(jit, KernelSpec{f.name, f.params, l.outs, /*batch=*/!o.points.empty()}, policy);
  if (!o.points.empty()) return eval_points(m, f, o, l, k);

  std::vector<Tensor> values = resolve_values(m, f, o.at, selected);
  std::vector<double> point, out(l.total);
  for (const Tensor& t : values) point.insert(point.end(), t.data.begin(), t.data.end());
  k.single(point.data(), out.data());
  if (!std::all_of(out.begin(), out.end(), [](double v) { return std::isfinite(v); })) warn_results(m, f, l, point, "");
  const std::size_t n = f.params.size();
  // The upper triangle, mirrored: the two orders of differentiation are separate roots whose
  // rounding may differ in the last bit, and a Hessian is symmetric.
  auto hessian = [&](std::size_t i, std::size_t j) { return out[l.hess + std::min(i, j) * n + std::max(i, j)]; };
  // Each parameter's block of a per-parameter part (gradient, vjp).
  auto per_param = [&](std::size_t at, auto number) {
    std::vector<std::pair<std::string, std::string>> v;
    for (const Node* p : f.params) {
      v.emplace_back(p->name, number(&out[at], p->shape));
      at += static_cast<std::size_t>(p->shape.size());
    }
    return v;
  };
  auto text = [](const double* d, const Shape& s) { return num(d, s); };
  auto json = [](const double* d, const Shape& s) { return json_num(d, s); };
  auto jacobian_rows = [&](auto number) {
    std::vector<std::string> rows;
    for (std::size_t i = 0; i < l.m; ++i) {
      std::vector<std::string> row;
      for (std::size_t j = 0; j < l.n; ++j) row.push_back(number(l.jacobian(out.data(), i, j)));
      rows.push_back("[" + join(row) + "]");
    }
    return rows;
  };

  if (o.json) {
    auto object = [](const std::vector<std::pair<std::string, std::string>>& v) {
      std::vector<std::string> items;
      for (auto& [k_, x] : v) items.push_back(fmt::format("\"{}\": {}", k_, x));
      return "{" + join(items) + "}";
    };
    std::vector<std::pair<std::string, std::string>> at;
    for (std::size_t i = 0; i < n; ++i)
      at.emplace_back(f.params[i]->name, json_num(values[i].data.data(), values[i].shape));
    std::string s = fmt::format("{{\"function\": \"{}\", \"at\": {}, \"value\": {}", f.name, object(at),
                                json_num(out.data(), f.body->shape));
    if (l.grad != Layout::npos) s += ", \"gradient\": " + object(per_param(l.grad, json));
    if (l.hess != Layout::npos) {
      std::vector<std::string> rows;
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::string> row;
        for (std::size_t j = 0; j < n; ++j) row.push_back(json_num(hessian(i, j)));
        rows.push_back("[" + join(row) + "]");
      }
      s += ", \"hessian\": [" + join(rows) + "]";
    }
    if (l.jac != Layout::npos) s += ", \"jacobian\": [" + join(jacobian_rows([](double v) { return json_num(v); })) + "]";
    if (l.jvp != Layout::npos) s += ", \"jvp\": " + json_num(&out[l.jvp], f.body->shape);
    if (l.vjp != Layout::npos) s += ", \"vjp\": " + object(per_param(l.vjp, json));
    s += "}\n";
    std::fputs(s.c_str(), stdout);
    return;
  }
  std::vector<std::string> at;
  for (std::size_t i = 0; i < n; ++i) at.push_back(fmt::format("{} = {}", f.params[i]->name, num(values[i].data.data(), values[i].shape)));
  std::string s;
  if (!at.empty()) s += fmt::format("at {}\n", join(at));  // none for a function of no parameters
  s += fmt::format("{} = {}\n", f.name, num(out.data(), f.body->shape));
  if (l.grad != Layout::npos)
    for (auto& [p, v] : per_param(l.grad, text))
      s += fmt::format("{} = {}\n", print_partial(f.name, std::vector<std::string>{p}, Format::Text), v);
  if (l.hess != Layout::npos) {
    s += fmt::format("hessian (rows and columns {}):\n", join(param_names(f)));
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::string> row;
      for (std::size_t j = 0; j < n; ++j) row.push_back(num(hessian(i, j)));
      s += fmt::format("  [{}]\n", join(row));
    }
  }
  if (l.jac != Layout::npos) {
    s += fmt::format("jacobian (rows {}; columns {}):\n", join(element_names(f.name, f.body->shape)),
                     join(element_names(f.params)));
    for (const std::string& row : jacobian_rows([](double v) { return num(v); })) s += "  " + row + "\n";
  }
  if (l.jvp != Layout::npos) s += fmt::format("jvp = {}\n", num(&out[l.jvp], f.body->shape));
  if (l.vjp != Layout::npos)
    for (auto& [p, v] : per_param(l.vjp, text)) s += fmt::format("vjp {} = {}\n", p, v);
  std::fputs(s.c_str(), stdout);
}

int cmd_eval(const Options& o) {
  if (!o.mode.empty() && !o.jacobian)
    throw UsageError("--mode chooses how --jacobian is computed: give --jacobian too");
  if (!o.points.empty() && (!o.jvp.empty() || !o.vjp.empty()))
    throw UsageError(fmt::format("{}: the product is taken at one point (--at); leave it out with --points",
                                 o.jvp.empty() ? "--vjp" : "--jvp"));
  auto m = load(o);
  // One JSON object, one CSV, or vectors for one function's parameters: those need one function.
  if (o.json || !o.points.empty() || !o.jvp.empty() || !o.vjp.empty()) choose(*m, o.fn, /*tensors=*/true);
  auto fns = choose_all(*m, o.fn, /*tensors=*/true);
  auto jit = Jit::create({.contract = !o.no_fma, .cache_dir = jit_cache_dir(o)});
  for (std::size_t i = 0; i < fns.size(); ++i) {
    if (i) std::fputs("\n", stdout);
    eval_function(*m, *fns[i], o, *jit, fns);
  }
  return kExitOk;
}

}  // namespace gradc::cli
