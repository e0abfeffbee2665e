// The DOT writer for computational graphs.
#include "compiler/graph.hpp"

#include <fmt/format.h>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/interp.hpp"
#include "compiler/print.hpp"

namespace gradc {
namespace {

// A DOT string: quotes and backslashes escaped, line breaks as \n.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string value_text(double v) { return std::isnan(v) ? "nan" : fmt::format("{:.6g}", v); }


}  // namespace

std::unordered_map<const Node*, std::string> intermediate_names(const Function& f) {
  std::unordered_map<const Node*, std::string> names;
  // v1, v2, ... unless a parameter or a local name is v1 (or v_1, which LaTeX prints alike): vv1, ...
  std::string prefix = "v";
  auto numbered = [&](const std::string& name) {
    if (name.rfind(prefix, 0) != 0) return false;
    std::size_t at = prefix.size() + (name.size() > prefix.size() && name[prefix.size()] == '_');
    return at < name.size() && name.find_first_not_of("0123456789", at) == std::string::npos;
  };
  for (bool clash = true; clash;) {
    clash = false;
    for (const Node* p : f.params) clash = clash || numbered(p->name);
    for (auto& [n, name] : f.names) clash = clash || numbered(name);
    if (clash) prefix += "v";
  }
  int k = 0;
  for (const Node* n : reachable(std::span<const Node* const>(&f.body, 1))) {
    if (n->nargs == 0) continue;
    auto it = f.names.find(n);
    names[n] = it != f.names.end() ? it->second : fmt::format("{}{}", prefix, ++k);
  }
  if (!f.names.count(f.body)) names[f.body] = f.name;
  return names;
}

const Node* local_partial(Builder& b, const Node* n, int i) {
  const Node* d[2] = {nullptr, nullptr};
  n->info().grad(b, n, b.constant(1), d);
  return d[i];
}

// n is rebuilt over stand-in variables (printed as the names are) so that printing walks n's own
// unnamed part only: printing n itself walks everything below it, and did so for every label
// (quadratic in the graph).
std::string print_shallow(Graph& g, const Node* n, const std::unordered_map<const Node*, std::string>& names,
                          Format f, const Node* except) {
  std::unordered_map<const Node*, const Node*> copy;
  std::vector<std::pair<const Node*, bool>> stack{{n, false}};
  while (!stack.empty()) {
    auto [m, expanded] = stack.back();
    if (copy.count(m)) {
      stack.pop_back();
      continue;
    }
    auto named = names.find(m);
    if (m != n && m != except && named != names.end()) {
      copy[m] = g.var(named->second, m->shape, m->dtype);
    } else if (m->nargs == 0) {
      copy[m] = m;
    } else if (!expanded) {
      stack.back().second = true;
      for (int i = 0; i < m->nargs; ++i) stack.push_back({m->arg(i), false});
      continue;
    } else {
      const Node* args[2] = {copy.at(m->arg(0)), m->nargs > 1 ? copy.at(m->arg(1)) : nullptr};
      bool same = args[0] == m->arg(0) && (m->nargs < 2 || args[1] == m->arg(1));
      copy[m] = same ? m : g.make(m->op, std::span<const Node* const>(args, m->nargs), m->attrs());
    }
    stack.pop_back();
  }
  const Node* root = copy.at(n);
  static const std::unordered_map<const Node*, std::string> kNoNames;  // no t1, t2, ... either
  return print(std::span<const Node* const>(&root, 1), f, &kNoNames).results[0];
}

std::string graph_dot(Module& m, const Function& f, std::span<const double> point, bool backward) {
  std::vector<const Node*> nodes = reachable(std::span<const Node* const>(&f.body, 1));
  auto names = intermediate_names(f);
  Builder b(m.graph, Simplify::Full);
  std::unordered_map<const Node*, const Node*> adj;
  if (backward) gradient(b, f.body, f.params, nullptr, &adj);

  // Values of every node (and of every adjoint and local partial) at the point.
  std::vector<const Node*> want(nodes.begin(), nodes.end());
  struct Edge {
    const Node *from, *to, *partial;
  };
  std::vector<Edge> edges;
  for (const Node* n : nodes)
    for (int i = 0; i < n->nargs; ++i) {
      if (n->arg(i)->op == Op::Const) continue;  // constants are written into the operation
      const Node* p = backward ? local_partial(b, n, i) : nullptr;
      edges.push_back({n->arg(i), n, p});
      if (p) want.push_back(p);
    }
  for (auto& [n, a] : adj) want.push_back(a);
  std::vector<double> val = evaluate(want, f.params, point);
  std::unordered_map<const Node*, double> value;
  for (std::size_t i = 0; i < want.size(); ++i) value[want[i]] = val[i];

  // Symbolic partials in terms of the intermediates' names.
  auto symbolic = [&](const Node* p) {
    if (auto it = names.find(p); it != names.end()) return it->second;
    if (p->op == Op::Var) return p->name;
    return print_shallow(m.graph, p, names);
  };

  std::string out = fmt::format("digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, style=rounded, "
                                "fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
                                escape(f.name));
  for (const Node* n : nodes) {
    if (n->op == Op::Const) continue;
    std::string label;
    if (n->op == Op::Var) {
      label = fmt::format("{}\n= {}", n->name, value_text(value[n]));
    } else {
      // "a = 2 × x" style: the operation on its arguments' names.
      label = fmt::format("{} = {}\n= {}", names[n], print_shallow(m.graph, n, names), value_text(value[n]));
    }
    if (backward) {
      auto a = adj.find(n);
      double g = a == adj.end() ? 0.0 : value[a->second];
      label += fmt::format("\ngrad {}", value_text(n == f.body ? 1.0 : g));
    }
    out += fmt::format("  n{} [label=\"{}\"{}];\n", n->id, escape(label),
                       n->op == Op::Var ? ", shape=ellipse" : n == f.body ? ", penwidth=2" : "");
  }
  for (const Edge& e : edges) {
    std::string attrs;
    if (e.partial) {
      std::string head = names[e.to], tail = e.from->op == Op::Var ? e.from->name : names[e.from];
      attrs = fmt::format(" [label=\"{}\"]", escape(fmt::format("∂{}/∂{} = {}\n= {}", head, tail, symbolic(e.partial),
                                                                 value_text(value[e.partial]))));
    }
    out += fmt::format("  n{} -> n{}{};\n", e.from->id, e.to->id, attrs);
  }
  out += "}\n";
  return out;
}

}  // namespace gradc

namespace gradc {

std::unordered_map<const Node*, std::string> layer_names(const Node* loss) {
  auto is_activation = [](const Node* n) {
    return n->info().elementwise && n->info().syntax == Syntax::Call && n->nargs == 1;
  };
  std::unordered_map<const Node*, std::string> base;
  std::unordered_map<const Node*, int> uses;
  auto forward = reachable(std::span<const Node* const>(&loss, 1));
  for (const Node* n : forward)
    for (int i = 0; i < n->nargs; ++i) ++uses[n->arg(i)];
  int layer = 0;
  for (const Node* n : forward) {
    if (n->op == Op::MatMul) {
      const Node* z = n;
      for (const Node* u : forward)  // the bias add that consumes it, if any
        if (u->op == Op::Add && (u->arg(0) == n || u->arg(1) == n) && uses[n] == 1) z = u;
      base[z] = fmt::format("z{}", ++layer);
    } else if (is_activation(n) && base.count(n->arg(0)) && base[n->arg(0)][0] == 'z') {
      base[n] = "h" + base[n->arg(0)].substr(1);
    }
  }
  return base;
}

std::string graph_dot_tensor(Module& m, const Node* loss, bool backward) {
  // Broadcasts, reshapes and detaches are notation, not nodes of the picture.
  auto skip = [](const Node* n) {
    while (n->op == Op::Broadcast || n->op == Op::Reshape || n->op == Op::Detach) n = n->arg(0);
    return n;
  };
  std::vector<const Node*> nodes = reachable(std::span<const Node* const>(&loss, 1));
  std::unordered_map<const Node*, std::string> names = layer_names(loss);
  names[loss] = "L";
  int k = 0;
  for (const Node* n : nodes)
    if (n->nargs > 0 && skip(n) == n && !names.count(n)) names[n] = fmt::format("v{}", ++k);
  std::unordered_map<const Node*, const Node*> adj;
  std::vector<const Node*> wrt;
  for (const Param& p : m.params) wrt.push_back(p.var);
  Builder b(m.graph, Simplify::Full);
  if (backward) gradient(b, loss, wrt, nullptr, &adj);
  // An adjoint shared by several nodes (z = v + b has dL/dz = dL/dv) takes the layer's name.
  std::unordered_map<const Node*, std::string> adj_names;
  for (bool layers : {false, true})
    for (auto& [n, a] : adj)
      if (names.count(n) && a->nargs > 0 && (names[n][0] != 'v') == layers) adj_names[a] = "dL/d" + names[n];

  // "dL/dz1 = ..." in terms of the forward names and the other adjoints' names.
  std::unordered_map<const Node*, std::string> display = names;
  display.insert(adj_names.begin(), adj_names.end());
  auto adjoint_line = [&](const std::string& name, const Node* a) {
    return fmt::format("\ndL/d{} = {}", name, print_shallow(m.graph, a, display));
  };
  std::string out = "digraph \"loss\" {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
                    "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (const Node* n : nodes) {
    if (n->op == Op::Const || skip(n) != n) continue;
    std::string label;
    if (n->op == Op::Var || n->op == Op::Tensor) {
      label = fmt::format("{}\n{}", n->op == Op::Var ? n->name : "constant", n->shape.str());
    } else {
      label = fmt::format("{} = {}\n{}", names[n], print_shallow(m.graph, n, names),
                          n->shape.scalar() ? "scalar" : n->shape.str());
      if (backward)
        if (auto a = adj.find(n); a != adj.end() && n != loss) label += adjoint_line(names[n], a->second);
    }
    if (backward && n->op == Op::Var)
      if (auto a = adj.find(n); a != adj.end()) label += adjoint_line(n->name, a->second);
    out += fmt::format("  n{} [label=\"{}\"{}];\n", n->id, escape(label),
                       n->op == Op::Var ? ", shape=ellipse" : n == loss ? ", penwidth=2" : "");
  }
  for (const Node* n : nodes) {
    if (skip(n) != n || n->op == Op::Const) continue;
    for (int i = 0; i < n->nargs; ++i) {
      const Node* a = skip(n->arg(i));
      if (a->op == Op::Const) continue;
      out += fmt::format("  n{} -> n{};\n", a->id, n->id);
    }
  }
  return out + "}\n";
}

}  // namespace gradc
