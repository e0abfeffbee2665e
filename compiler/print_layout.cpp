// One printed listing for several partial derivatives: temporaries shared, each partial once.
#include "compiler/print_layout.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace gradc {
namespace {

std::string joined(std::span<const std::string> items, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? sep : "") + items[i];
  return s;
}

// The temporaries a result needs, directly or through other definitions, in definition order.
std::vector<std::size_t> needed(const Printed& pr, std::size_t result) {
  std::vector<bool> need(pr.temps.size(), false);
  for (std::size_t t : pr.result_refs[result]) need[t] = true;
  for (std::size_t t = pr.temps.size(); t-- > 0;)  // a definition names only earlier ones
    if (need[t])
      for (std::size_t u : pr.temp_refs[t]) need[u] = true;
  std::vector<std::size_t> out;
  for (std::size_t t = 0; t < need.size(); ++t)
    if (need[t]) out.push_back(t);
  return out;
}

// `\nabla f`, `\nabla^{2} f`; over some of the parameters, `\nabla_{x, y} f`.
std::string nabla(const std::string& fn, std::span<const std::string> params, std::span<const std::string> wrt,
                  int order) {
  std::string sub;
  if (!std::equal(params.begin(), params.end(), wrt.begin(), wrt.end())) {
    std::vector<std::string> names;
    for (const std::string& w : wrt) names.push_back(print_name(w, Format::Latex));
    sub = fmt::format("_{{{}}}", joined(names, ", "));
  }
  return fmt::format("\\nabla{}{} {}", order == 2 ? "^{2}" : "", sub, print_name(fn, Format::Latex));
}

// The LaTeX display: one line per partial without temporaries, else one aligned block with the
// definitions, then the partials or their matrix (pr's results are the matrix entries, row by row).
std::string latex_display(const std::string& fn, std::span<const std::string> params, std::span<const std::string> wrt,
                          std::span<const PartialExpr> partials, const Printed& pr, bool matrix, std::size_t order) {
  const std::size_t n = wrt.size();
  auto lhs = [&](const PartialExpr& p) {
    std::vector<std::string> vars;
    for (std::size_t i : p.wrt) vars.push_back(wrt[i]);
    return print_partial(fn, vars, Format::Latex);
  };
  auto result = [&](std::size_t i) {
    return pr.results[matrix && order == 2 ? partials[i].wrt[0] * n + partials[i].wrt[1] : i];
  };
  std::string out;
  if (pr.temps.empty()) {
    for (std::size_t i = 0; i < partials.size(); ++i) out += fmt::format("{} = {}\n", lhs(partials[i]), result(i));
    return out;
  }
  out += "\\begin{aligned}\n";
  for (auto& [t, def] : pr.temps) out += fmt::format("{} &= {} \\\\\n", t, def);
  if (matrix) {
    out += fmt::format("{} &= \\begin{{pmatrix}}\n", nabla(fn, params, wrt, static_cast<int>(order)));
    std::size_t cols = order == 2 ? n : 1;
    for (std::size_t r = 0; r < n; ++r) {
      std::vector<std::string> row(pr.results.begin() + static_cast<std::ptrdiff_t>(r * cols),
                                   pr.results.begin() + static_cast<std::ptrdiff_t>((r + 1) * cols));
      out += joined(row, " & ") + (r + 1 < n ? " \\\\\n" : "\n");
    }
    out += "\\end{pmatrix}\n";
  } else {
    for (std::size_t i = 0; i < partials.size(); ++i)
      out += fmt::format("{} &= {}{}\n", lhs(partials[i]), result(i), i + 1 < partials.size() ? " \\\\" : "");
  }
  return out + "\\end{aligned}\n";
}

}  // namespace

std::string print_partials(const std::string& fn, std::span<const std::string> params,
                           std::span<const std::string> wrt, std::span<const PartialExpr> partials,
                           Format f, std::span<const std::string> avoid) {
  std::vector<std::string> no_clash(params.begin(), params.end());
  no_clash.insert(no_clash.end(), avoid.begin(), avoid.end());
  auto lhs = [&](const PartialExpr& p) {
    std::vector<std::string> vars;
    for (std::size_t i : p.wrt) vars.push_back(wrt[i]);
    return print_partial(fn, vars, f);
  };
  const std::size_t n = wrt.size();
  const std::size_t order = partials.empty() ? 0 : partials[0].wrt.size();
  // LaTeX prints a gradient or a Hessian over several variables as a matrix: the roots are its
  // entries, row by row, a mixed partial at (i, j) and at (j, i).
  const bool matrix = f == Format::Latex && n > 1 && (order == 1 || order == 2);
  std::vector<const Node*> roots;
  if (matrix && order == 2) {
    std::vector<std::vector<const Node*>> h(n, std::vector<const Node*>(n));
    for (const PartialExpr& p : partials) h[p.wrt[0]][p.wrt[1]] = h[p.wrt[1]][p.wrt[0]] = p.node;
    for (auto& row : h) roots.insert(roots.end(), row.begin(), row.end());
  } else {
    for (const PartialExpr& p : partials) roots.push_back(p.node);
  }
  Printed shared = print(roots, f, nullptr, no_clash, PrintForm::Shared);
  Printed tree = print(roots, f, nullptr, no_clash, PrintForm::Tree);
  std::string out;
  if (f == Format::Text) {
    // Per partial, the shorter of its one line and a block function with the temporaries it
    // needs (a block parses back alone: it defines them all). The numbering is the shared
    // form's, so a temporary has one definition in every block.
    for (std::size_t i = 0; i < partials.size(); ++i) {
      std::string line = fmt::format("{} = {}\n", lhs(partials[i]), tree.results[i]);
      std::vector<std::size_t> temps = needed(shared, i);
      if (needed(tree, i).empty() && temps.empty()) {
        out += line;
        continue;
      }
      std::vector<std::string> vars;
      for (std::size_t k : partials[i].wrt) vars.push_back(wrt[k]);
      std::string name = vars.size() == 1 ? fmt::format("d{}_d{}", fn, vars[0])
                                          : fmt::format("d{}{}_d{}", vars.size(), fn, joined(vars, ""));
      std::string block = fmt::format("# {} =\nfn {}({}) {{\n", lhs(partials[i]), name, joined(params, ", "));
      for (std::size_t t : temps) block += fmt::format("  {} = {}\n", shared.temps[t].first, shared.temps[t].second);
      block += fmt::format("  return {}\n}}\n", shared.results[i]);
      // The tree form's line only when it names nothing (its own temporaries would be numbered apart).
      out += needed(tree, i).empty() && line.size() <= block.size() ? line : block;
    }
    return out;
  }
  // LaTeX: the whole display in the shorter form.
  std::string a = latex_display(fn, params, wrt, partials, shared, matrix, order);
  std::string b = latex_display(fn, params, wrt, partials, tree, matrix, order);
  return b.size() <= a.size() ? b : a;
}

}  // namespace gradc
