// Paths through the named intermediates of a function, with their edge partials.
#include "compiler/explain.hpp"

#include <fmt/format.h>

#include <functional>

#include "compiler/builder.hpp"
#include "compiler/graph.hpp"
#include "compiler/interp.hpp"

namespace gradc {
namespace {

struct Step {
  const Node* to;       // a named node or a variable
  const Node* partial;  // ∂(from)/∂(to) through unnamed nodes in between
};

}  // namespace

Explanation explain(Module& m, const Function& f, const Node* wrt, std::span<const double> point, Format format,
                    std::size_t max_paths) {
  Builder b(m.graph, Simplify::Full);
  // The nodes a path stops at: the user's names (all intermediates when there are none).
  std::unordered_map<const Node*, std::string> names = f.names.empty() ? intermediate_names(f) : f.names;
  names[f.body] = f.name;
  auto named = [&](const Node* n) { return n->op == Op::Var || names.count(n); };

  // For each named node, its steps to the named nodes it depends on directly (through unnamed
  // nodes, whose partials multiply; several routes to one node add).
  std::unordered_map<const Node*, std::vector<Step>> steps;
  std::function<std::vector<Step>(const Node*)> through = [&](const Node* n) {
    std::vector<Step> out;
    for (int i = 0; i < n->nargs; ++i) {
      const Node* a = n->arg(i);
      if (a->op == Op::Const || a->op == Op::Tensor) continue;
      const Node* local = local_partial(b, n, i);
      if (!local) continue;
      std::vector<Step> tail = named(a) ? std::vector<Step>{{a, b.constant(1)}} : through(a);
      for (const Step& t : tail) {
        const Node* p = b.mul(local, t.partial);
        auto same = std::find_if(out.begin(), out.end(), [&](const Step& s) { return s.to == t.to; });
        if (same == out.end()) {
          out.push_back({t.to, p});
        } else {
          same->partial = b.add(same->partial, p);
        }
      }
    }
    return out;
  };

  // Every path from the output to wrt.
  std::vector<std::vector<Step>> paths;
  std::vector<Step> path;
  std::function<void(const Node*)> walk = [&](const Node* n) {
    if (n == wrt) {
      paths.push_back(path);
      return;
    }
    if (n->op == Op::Var) return;
    if (!steps.count(n)) steps[n] = through(n);
    for (const Step& s : steps[n]) {
      path.push_back(s);
      walk(s.to);
      path.pop_back();
    }
  };
  walk(f.body);

  // Values of every factor.
  std::vector<const Node*> factors;
  for (auto& p : paths)
    for (const Step& s : p) factors.push_back(s.partial);
  std::vector<double> values = evaluate(factors, f.params, point);

  bool tex = format == Format::Latex;
  auto name_of = [&](const Node* n) {
    std::string raw = n->op == Op::Var ? n->name : names.at(n);
    return tex ? print_name(raw, format) : raw;
  };
  auto partial_symbol = [&](const Node* head, const Node* tail) {
    return tex ? fmt::format("\\frac{{\\partial {}}}{{\\partial {}}}", name_of(head), name_of(tail))
               : fmt::format("∂{}/∂{}", name_of(head), name_of(tail));
  };
  // A factor in terms of the other names (not its own head, which it defines).
  std::unordered_map<const Node*, std::string> display;
  for (auto& [n, s] : names) display[n] = tex ? print_name(s, format) : s;
  // A factor in terms of the other names. It is written as a name only when it is one of its
  // head's own arguments (∂d/∂z = c); a factor that merely equals some other named node (2*u
  // and a = 2*x after inlining) is written out.
  auto factor_text = [&](const Node* head, const Node* p, bool first) {
    bool own_arg = p->op == Op::Var;
    for (int i = 0; i < head->nargs; ++i) own_arg = own_arg || head->arg(i) == p;
    std::unordered_map<const Node*, std::string> shown = display;
    shown.erase(head);
    if (!own_arg) shown.erase(p);
    std::string t;
    if (auto it = shown.find(p); it != shown.end()) {
      t = it->second;
    } else {
      t = print(std::span<const Node* const>(&p, 1), format, &shown).results[0];
      bool sum = p->op == Op::Add || p->op == Op::Sub;
      bool negative = !first && !t.empty() && t[0] == '-';  // "a · -1" reads badly
      if (sum || negative) t = tex ? "\\left(" + t + "\\right)" : "(" + t + ")";
    }
    return t;
  };
  const char* dot = tex ? " \\cdot " : " · ";
  const char* eq = tex ? " &= " : " = ";
  std::string lhs = partial_symbol(f.body, wrt);
  // Align the '=' of the continuation lines under the first one (counting characters, not bytes).
  std::size_t width = 0;
  for (unsigned char c : lhs) width += (c & 0xc0) != 0x80;
  std::string indent(tex ? 0 : width, ' ');

  Explanation ex;
  ex.paths = paths.size();
  std::string& out = ex.text;
  if (tex) out += "\\begin{aligned}\n";
  std::size_t k = 0;
  for (std::size_t pi = 0; pi < paths.size(); ++pi) {
    const auto& p = paths[pi];
    std::string symbols, forms, numbers;
    double product = 1;
    const Node* head = f.body;
    for (std::size_t i = 0; i < p.size(); ++i, ++k) {
      std::string sep = i ? dot : "";
      symbols += sep + partial_symbol(head, p[i].to);
      forms += sep + factor_text(head, p[i].partial, i == 0);
      std::string v = fmt::format("{:.6g}", values[k]);
      numbers += sep + (i && values[k] < 0 ? (tex ? "\\left(" + v + "\\right)" : "(" + v + ")") : v);
      product *= values[k];
      head = p[i].to;
    }
    ex.total += product;
    if (pi >= max_paths) continue;
    if (paths.size() > 1) out += tex ? fmt::format("&\\text{{path {}}} \\\\\n", pi + 1) : fmt::format("path {}:\n", pi + 1);
    if (tex) {
      out += fmt::format("{}{}{} \\\\\n&= {} \\\\\n&= {} \\\\\n&= {} \\\\\n", lhs, eq, symbols, forms, numbers,
                         fmt::format("{:.6g}", product));
    } else {
      out += fmt::format("{}{}{}\n{}{}{}\n{}{}{}\n{}{}{:.6g}\n", lhs, eq, symbols, indent, eq, forms, indent, eq,
                         numbers, indent, eq, product);
    }
  }
  if (paths.size() > max_paths)
    out += tex ? fmt::format("&\\text{{... {} more paths}} \\\\\n", paths.size() - max_paths)
               : fmt::format("... {} more paths\n", paths.size() - max_paths);
  if (paths.size() != 1) {
    out += tex ? fmt::format("{}{}\\text{{sum over {} paths}} = {:.6g}\n", lhs, eq, paths.size(), ex.total)
               : fmt::format("{} = sum over {} paths = {:.6g}\n", lhs, paths.size(), ex.total);
  }
  if (tex) out += "\\end{aligned}\n";
  return ex;
}

}  // namespace gradc
