// The IR interpreter.
#include "compiler/interp.hpp"

#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace gradc {
namespace {

// Evaluates every node reachable from roots in id order; calls visit(node, args, result).
template <class Visit>
std::unordered_map<const Node*, double> run(std::span<const Node* const> roots,
                                            std::span<const Node* const> vars,
                                            std::span<const double> values, Visit visit) {
  std::unordered_map<const Node*, double> val;
  for (std::size_t i = 0; i < vars.size(); ++i) val[vars[i]] = values[i];
  for (const Node* n : reachable(roots)) {
    double args[2] = {0, 0};
    double r;
    if (n->op == Op::Const) {
      r = n->value;
    } else if (n->op == Op::Var) {
      auto it = val.find(n);
      if (it == val.end()) throw std::logic_error("evaluate: no value for variable '" + n->name + "'");
      r = it->second;
    } else {
      for (int i = 0; i < n->nargs; ++i) args[i] = val.at(n->arg(i));
      r = n->info().eval(args);
    }
    val[n] = r;
    if (!visit(n, args, r)) break;
  }
  return val;
}

}  // namespace

std::vector<double> evaluate(std::span<const Node* const> roots, std::span<const Node* const> vars,
                             std::span<const double> values) {
  auto val = run(roots, vars, values, [](const Node*, const double*, double) { return true; });
  std::vector<double> out;
  for (const Node* r : roots) out.push_back(val.at(r));
  return out;
}

std::optional<DomainError> find_domain_error(std::span<const Node* const> roots,
                                             std::span<const Node* const> vars,
                                             std::span<const double> values) {
  std::optional<DomainError> found;
  run(roots, vars, values, [&](const Node* n, const double* args, double r) {
    if (n->nargs == 0 || std::isfinite(r)) return true;
    for (int i = 0; i < n->nargs; ++i)
      if (!std::isfinite(args[i])) return true;
    found = DomainError{n, {args[0], args[1]}, r};
    return false;
  });
  return found;
}

}  // namespace gradc
