// Paths through the named intermediates of a function, with their edge partials. Every walk is
// iterative (a 1 MB expression is 120,000 nodes deep) and no walk enumerates every path (30
// diamonds make 2^30): paths are counted, the first few written out, and the rest summed edge
// by edge, as reverse mode does.
#include "compiler/explain.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>

#include "compiler/builder.hpp"
#include "compiler/graph.hpp"
#include "compiler/interp.hpp"

namespace gradc {
namespace {

struct Step {
  const Node* to;       // a named node or a variable
  const Node* partial;  // ∂(from)/∂(to) through unnamed nodes in between
};

constexpr std::uint64_t kMany = std::numeric_limits<std::uint64_t>::max();  // a saturated count

std::uint64_t add_counts(std::uint64_t a, std::uint64_t b) { return a > kMany - b ? kMany : a + b; }

std::string count_text(std::uint64_t n) {
  return n == kMany ? fmt::format("more than {}", kMany - 1) : fmt::format("{}", n);
}

// The named graph: each named node's steps to the named nodes it depends on directly (through
// unnamed nodes, whose partials multiply; several routes to one node add).
class NamedGraph {
 public:
  NamedGraph(Builder& b, const std::function<bool(const Node*)>& named) : b_(b), named_(named) {}

  // The steps of n, computed children first with an explicit stack and kept for every node
  // (named or not), so that shared unnamed subexpressions are walked once.
  const std::vector<Step>& steps(const Node* n) {
    if (auto it = memo_.find(n); it != memo_.end()) return it->second;
    std::vector<std::pair<const Node*, bool>> stack{{n, false}};
    while (!stack.empty()) {
      auto [m, expanded] = stack.back();
      if (memo_.count(m)) {
        stack.pop_back();
        continue;
      }
      if (!expanded) {
        stack.back().second = true;
        for (int i = m->nargs - 1; i >= 0; --i) {
          const Node* a = m->arg(i);
          if (!skipped(a) && !named_(a) && !memo_.count(a)) stack.push_back({a, false});
        }
        continue;
      }
      stack.pop_back();
      memo_.emplace(m, combine(m));
    }
    return memo_.at(n);
  }

 private:
  static bool skipped(const Node* a) { return a->op == Op::Const || a->op == Op::Tensor; }

  // n's steps from its arguments' (a named argument is a step of partial 1 to itself).
  std::vector<Step> combine(const Node* n) {
    std::vector<Step> out;
    std::unordered_map<const Node*, std::size_t> index;  // out's position of each target
    for (int i = 0; i < n->nargs; ++i) {
      const Node* a = n->arg(i);
      if (skipped(a)) continue;
      const Node* local = local_partial(b_, n, i);
      if (!local) continue;
      std::vector<Step> unit;
      if (named_(a)) unit.push_back({a, b_.constant(1)});
      for (const Step& t : named_(a) ? unit : memo_.at(a)) {
        const Node* p = b_.mul(local, t.partial);
        auto [it, added] = index.emplace(t.to, out.size());
        if (added) {
          out.push_back({t.to, p});
        } else {
          out[it->second].partial = b_.add(out[it->second].partial, p);
        }
      }
    }
    return out;
  }

  Builder& b_;
  const std::function<bool(const Node*)>& named_;
  std::unordered_map<const Node*, std::vector<Step>> memo_;
};

}  // namespace

Explanation explain(Module& m, const Function& f, const Node* wrt, std::span<const double> point, Format format,
                    std::size_t max_paths, std::size_t max_factors) {
  Builder b(m.graph, Simplify::Full);
  // The nodes a path stops at: the user's names (all intermediates when there are none).
  std::unordered_map<const Node*, std::string> names = f.names.empty() ? intermediate_names(f) : f.names;
  names[f.body] = f.name;
  std::function<bool(const Node*)> named = [&](const Node* n) { return n->op == Op::Var || names.count(n); };
  NamedGraph graph(b, named);

  // The named nodes below the output, children before parents (ids grow from arguments to users),
  // and the number of paths from each down to wrt.
  std::vector<const Node*> order;
  {
    std::unordered_map<const Node*, bool> seen{{f.body, true}};
    std::vector<const Node*> stack{f.body};
    while (!stack.empty()) {
      const Node* n = stack.back();
      stack.pop_back();
      order.push_back(n);
      if (n->op == Op::Var) continue;
      for (const Step& s : graph.steps(n))
        if (seen.emplace(s.to, true).second) stack.push_back(s.to);
    }
    std::sort(order.begin(), order.end(), [](const Node* a, const Node* c) { return a->id < c->id; });
  }
  std::unordered_map<const Node*, std::uint64_t> count;
  for (const Node* n : order) {
    std::uint64_t c = n == wrt ? 1 : 0;
    if (n != wrt && n->op != Op::Var)
      for (const Step& s : graph.steps(n)) c = add_counts(c, count[s.to]);
    count[n] = c;
  }
  const std::uint64_t total_paths = count[f.body];

  // The first paths in order (argument order at each node), while they stay within the limits.
  std::vector<std::vector<Step>> paths;
  {
    std::size_t factors = 0;
    std::vector<Step> path;
    std::vector<std::pair<const Node*, std::size_t>> stack{{f.body, 0}};  // node, next step
    while (!stack.empty() && paths.size() < max_paths) {
      auto& [n, next] = stack.back();
      if (n == wrt) {
        if (factors + path.size() > max_factors) break;
        factors += path.size();
        paths.push_back(path);
      }
      static const std::vector<Step> kNone;
      const std::vector<Step>& steps = n == wrt || n->op == Op::Var ? kNone : graph.steps(n);
      while (next < steps.size() && count[steps[next].to] == 0) ++next;
      if (next == steps.size()) {
        stack.pop_back();
        if (!path.empty()) path.pop_back();
        continue;
      }
      const Step s = steps[next++];
      path.push_back(s);
      stack.push_back({s.to, 0});
    }
  }
  const bool all = paths.size() == total_paths;

  // Values of every factor written out and, when some paths are not, of every edge.
  std::vector<const Node*> factors;
  for (auto& p : paths)
    for (const Step& s : p) factors.push_back(s.partial);
  std::size_t path_factors = factors.size();
  if (!all)  // in the order the edge-by-edge sum reads them: from the output down
    for (auto it = order.rbegin(); it != order.rend(); ++it)
      if (const Node* n = *it; n->op != Op::Var && count[n])
        for (const Step& s : graph.steps(n))
          if (count[s.to]) factors.push_back(s.partial);
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
  // Names as printed, for factors written in terms of the other names.
  std::unordered_map<const Node*, std::string> display;
  for (auto& [n, s] : names) display[n] = tex ? print_name(s, format) : s;
  // A factor in terms of the other names (not its own head, which it defines). It is written as
  // a name only when it is one of its head's own arguments (∂d/∂z = c); a factor that merely
  // equals some other named node (2*u and a = 2*x after inlining) is written out. Printing walks
  // only the factor's own unnamed part (print_shallow), not the graph below the names.
  auto factor_text = [&](const Node* head, const Node* p, bool first) {
    bool own_arg = p->op == Op::Var;
    for (int i = 0; i < head->nargs; ++i) own_arg = own_arg || head->arg(i) == p;
    if (p != head && own_arg && display.count(p)) return display.at(p);
    std::string t = print_shallow(m.graph, p, names, format, head);
    bool sum = p->op == Op::Add || p->op == Op::Sub;
    bool negative = !first && !t.empty() && t[0] == '-';  // "a · -1" reads badly
    if (sum || negative) t = tex ? "\\left(" + t + "\\right)" : "(" + t + ")";
    return t;
  };
  auto number = [&](double v, bool parens) {
    std::string t = fmt::format("{:.6g}", v);
    return parens && v < 0 ? (tex ? "\\left(" + t + "\\right)" : "(" + t + ")") : t;
  };
  const char* dot = tex ? " \\cdot " : " · ";
  const char* eq = tex ? " &= " : " = ";
  std::string lhs = partial_symbol(f.body, wrt);
  // Align the '=' of the continuation lines under the first one (counting characters, not bytes).
  std::size_t width = 0;
  for (unsigned char c : lhs) width += (c & 0xc0) != 0x80;
  std::string indent(tex ? 0 : width, ' ');

  Explanation ex;
  ex.paths = total_paths;
  if (f.names.empty()) {  // the names are explain's own: say what each one is
    std::string& defs = ex.definitions;
    for (const Node* n : order)
      if (n->op != Op::Var)
        defs += fmt::format("{}{}{}{}\n", name_of(n), eq, print_shallow(m.graph, n, names, format, n), tex ? " \\\\" : "");
    if (tex) defs = "\\begin{aligned}\n" + defs.substr(0, defs.size() - 4) + "\n\\end{aligned}\n";
  }
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
      numbers += sep + number(values[k], i > 0);
      product *= values[k];
      head = p[i].to;
    }
    if (all) ex.total += product;
    if (total_paths > 1) out += tex ? fmt::format("&\\text{{path {}}} \\\\\n", pi + 1) : fmt::format("path {}:\n", pi + 1);
    if (tex) {
      out += fmt::format("{}{}{} \\\\\n&= {} \\\\\n&= {} \\\\\n&= {} \\\\\n", lhs, eq, symbols, forms, numbers,
                         fmt::format("{:.6g}", product));
    } else {
      out += fmt::format("{}{}{}\n{}{}{}\n{}{}{}\n{}{}{:.6g}\n", lhs, eq, symbols, indent, eq, forms, indent, eq,
                         numbers, indent, eq, product);
    }
  }
  if (!all) {
    // The chain rule edge by edge: each name's total derivative from those of the names that use
    // it, from the output down (the adjoints of reverse mode). Their sum over paths is df/dwrt.
    std::string rest = count_text(total_paths == kMany ? kMany : total_paths - paths.size());
    rest = paths.empty() ? rest + " paths (too long to write out)" : "... " + rest + " more paths";
    std::string d_out = tex ? fmt::format("\\frac{{d {}}}{{d ", name_of(f.body)) : "d" + name_of(f.body) + "/d";
    auto total_symbol = [&](const Node* n) { return d_out + name_of(n) + (tex ? "}" : ""); };
    // (the name is math: f_{2} inside \text{} does not render)
    out += tex ? fmt::format("&\\text{{{}, summed edge by edge from }}{}\\text{{ down:}} \\\\\n", rest, name_of(f.body))
               : fmt::format("{}, summed edge by edge from {} down ({} = sum over the names "
                             "n that use v of {} · ∂n/∂v):\n",
                             rest, name_of(f.body), d_out + "v", d_out + "n");
    std::unordered_map<const Node*, double> adjoint{{f.body, 1.0}};
    std::unordered_map<const Node*, std::vector<std::pair<const Node*, double>>> users;  // (user, edge value)
    std::size_t e = path_factors;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const Node* n = *it;
      if (n != f.body) {
        std::string symbols, numbers;
        double sum = 0;
        for (auto& [user, edge] : users[n]) {
          std::string sep = symbols.empty() ? "" : " + ";
          if (user == f.body) {
            symbols += sep + partial_symbol(user, n);
            numbers += sep + number(edge, !numbers.empty());
          } else {
            symbols += sep + total_symbol(user) + dot + partial_symbol(user, n);
            numbers += sep + number(adjoint[user], !numbers.empty()) + dot + number(edge, true);
          }
          sum += adjoint[user] * edge;
        }
        adjoint[n] = sum;
        users.erase(n);
        if (count[n] && tex)
          out += fmt::format("{}{}{} \\\\\n&= {} \\\\\n&= {:.6g} \\\\\n", total_symbol(n), eq, symbols, numbers, sum);
        else if (count[n])
          out += fmt::format("{}{}{}{}{}{}{:.6g}\n", total_symbol(n), eq, symbols, eq, numbers, eq, sum);
      }
      if (n->op == Op::Var || !count[n]) continue;
      for (const Step& s : graph.steps(n))
        if (count[s.to]) users[s.to].emplace_back(n, values[e++]);
    }
    ex.total = adjoint[wrt];
  }
  if (total_paths != 1) {
    out += tex ? fmt::format("{}{}\\text{{sum over {} paths}} = {:.6g}\n", lhs, eq, count_text(total_paths), ex.total)
               : fmt::format("{} = sum over {} paths = {:.6g}\n", lhs, count_text(total_paths), ex.total);
  }
  if (tex) out += "\\end{aligned}\n";
  return ex;
}

}  // namespace gradc
