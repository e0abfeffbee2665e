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

// `\begin{pmatrix} ... \end{pmatrix}` of rows x cols entries given row by row.
std::string pmatrix(std::span<const std::string> entries, std::size_t rows, std::size_t cols) {
  std::string out = "\\begin{pmatrix}\n";
  for (std::size_t r = 0; r < rows; ++r)
    out += joined(entries.subspan(r * cols, cols), " & ") + (r + 1 < rows ? " \\\\\n" : "\n");
  return out + "\\end{pmatrix}";
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
    out += fmt::format("{} &= {}\n", nabla(fn, params, wrt, static_cast<int>(order)),
                       pmatrix(pr.results, n, order == 2 ? n : 1));
  } else {
    for (std::size_t i = 0; i < partials.size(); ++i)
      out += fmt::format("{} &= {}{}\n", lhs(partials[i]), result(i), i + 1 < partials.size() ? " \\\\" : "");
  }
  return out + "\\end{aligned}\n";
}

// One printed partial: its left-hand side and the name of its block function.
struct Entry {
  std::string lhs, block;
};

// Per entry, the shorter of its one line and a block function with the temporaries it needs (a
// block parses back alone: it defines them all). The numbering is the shared form's, so a
// temporary has one definition in every block.
std::string text_entries(std::span<const Entry> entries, std::span<const std::string> params, const Printed& shared,
                         const Printed& tree) {
  std::string out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::string line = fmt::format("{} = {}\n", entries[i].lhs, tree.results[i]);
    std::vector<std::size_t> temps = needed(shared, i);
    if (needed(tree, i).empty() && temps.empty()) {
      out += line;
      continue;
    }
    std::string block = fmt::format("# {} =\nfn {}({}) {{\n", entries[i].lhs, entries[i].block, joined(params, ", "));
    for (std::size_t t : temps) block += fmt::format("  {} = {}\n", shared.temps[t].first, shared.temps[t].second);
    block += fmt::format("  return {}\n}}\n", shared.results[i]);
    // The tree form's line only when it names nothing (its own temporaries would be numbered apart).
    out += needed(tree, i).empty() && line.size() <= block.size() ? line : block;
  }
  return out;
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
    std::vector<Entry> entries;
    for (std::size_t i = 0; i < partials.size(); ++i) {
      std::vector<std::string> vars;
      for (std::size_t k : partials[i].wrt) vars.push_back(wrt[k]);
      std::string name = vars.size() == 1 ? fmt::format("d{}_d{}", fn, vars[0])
                                          : fmt::format("d{}{}_d{}", vars.size(), fn, joined(vars, ""));
      entries.push_back({lhs(partials[i]), name});
    }
    return text_entries(entries, params, shared, tree);
  }
  // LaTeX: the whole display in the shorter form.
  std::string a = latex_display(fn, params, wrt, partials, shared, matrix, order);
  std::string b = latex_display(fn, params, wrt, partials, tree, matrix, order);
  return b.size() <= a.size() ? b : a;
}

namespace {

// `v[0]` -> `v_0`, `A[1,2]` -> `A_1_2`: an element's name as part of an identifier.
std::string identifier(const std::string& element) {
  std::string s;
  for (char c : element) {
    if (c == '[' || c == ',') s += '_';
    else if (c != ']' && c != ' ') s += c;
  }
  return s;
}

// `\frac{\partial v}{\partial \left(x, y\right)}`: the Jacobian of fn with respect to wrt.
std::string jacobian_lhs(const std::string& fn, std::span<const std::string> wrt) {
  std::vector<std::string> names;
  for (const std::string& w : wrt) names.push_back(print_name(w, Format::Latex));
  std::string den = names.size() == 1 ? names[0] : fmt::format("\\left({}\\right)", joined(names, ", "));
  return fmt::format("\\frac{{\\partial {}}}{{\\partial {}}}", print_name(fn, Format::Latex), den);
}

std::string latex_jacobian(const std::string& fn, std::span<const std::string> wrt, std::size_t rows,
                           std::size_t cols, const Printed& pr) {
  std::string matrix = pmatrix(pr.results, rows, cols);
  if (pr.temps.empty()) return fmt::format("{} = {}\n", jacobian_lhs(fn, wrt), matrix);
  std::string out = "\\begin{aligned}\n";
  for (auto& [t, def] : pr.temps) out += fmt::format("{} &= {} \\\\\n", t, def);
  return out + fmt::format("{} &= {}\n\\end{{aligned}}\n", jacobian_lhs(fn, wrt), matrix);
}

}  // namespace

std::string print_jacobian(const std::string& fn, std::span<const std::string> params,
                           std::span<const std::string> wrt, std::span<const std::string> rows,
                           std::span<const std::string> cols, std::span<const Node* const> entries, Format f,
                           std::span<const std::string> avoid) {
  std::vector<std::string> no_clash;
  for (const std::string& p : params) no_clash.push_back(p.substr(0, p.find('[')));
  no_clash.insert(no_clash.end(), avoid.begin(), avoid.end());
  Printed shared = print(entries, f, nullptr, no_clash, PrintForm::Shared);
  Printed tree = print(entries, f, nullptr, no_clash, PrintForm::Tree);
  if (f == Format::Latex) {
    std::string a = latex_jacobian(fn, wrt, rows.size(), cols.size(), shared);
    std::string b = latex_jacobian(fn, wrt, rows.size(), cols.size(), tree);
    return b.size() <= a.size() ? b : a;
  }
  std::vector<Entry> labelled;
  for (const std::string& r : rows)
    for (const std::string& c : cols)
      labelled.push_back({print_partial(r, std::vector<std::string>{c}, Format::Text),
                          fmt::format("d{}_d{}", identifier(r), identifier(c))});
  return text_entries(labelled, params, shared, tree);
}

}  // namespace gradc
