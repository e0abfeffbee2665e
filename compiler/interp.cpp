// The IR interpreter.
#include "compiler/interp.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace gradc {
namespace {

// Evaluates every node reachable from roots in id order; calls visit(node, args, result).
template <class Visit>
std::unordered_map<const Node*, std::vector<double>> run(std::span<const Node* const> roots,
                                                         std::span<const Node* const> vars,
                                                         std::span<const Tensor> values, Visit visit) {
  std::unordered_map<const Node*, std::vector<double>> val;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (!(values[i].shape == vars[i]->shape))
      throw std::logic_error("evaluate: value of '" + vars[i]->name + "' has the wrong shape");
    val[vars[i]] = values[i].data;
  }
  for (const Node* n : reachable(roots)) {
    std::vector<double> r;
    const std::vector<double>* args[2] = {nullptr, nullptr};
    for (int i = 0; i < n->nargs; ++i) args[i] = &val.at(n->arg(i));
    if (n->op == Op::Const) {
      r = {n->value};
    } else if (n->op == Op::Tensor) {
      r = *n->data;
    } else if (n->op == Op::Var) {
      auto it = val.find(n);
      if (it == val.end()) throw std::logic_error("evaluate: no value for variable '" + n->name + "'");
      continue;
    } else if (n->info().elementwise) {
      r.resize(static_cast<std::size_t>(n->shape.size()));
      for (std::size_t e = 0; e < r.size(); ++e) {
        double in[2] = {(*args[0])[e], n->nargs > 1 ? (*args[1])[e] : 0.0};
        r[e] = n->info().eval(in);
      }
    } else {
      r.assign(static_cast<std::size_t>(n->shape.size()), 0.0);
      n->info().evaluate(n, args, r);
    }
    if (!visit(n, args, r)) break;
    val[n] = std::move(r);
  }
  return val;
}

}  // namespace

std::vector<Tensor> evaluate_tensors(std::span<const Node* const> roots, std::span<const Node* const> vars,
                                     std::span<const Tensor> values) {
  auto val = run(roots, vars, values, [](const Node*, auto, const std::vector<double>&) { return true; });
  std::vector<Tensor> out;
  for (const Node* r : roots) out.push_back(Tensor{r->shape, val.at(r)});
  return out;
}

namespace {
std::vector<Tensor> scalars(std::span<const double> values) {
  std::vector<Tensor> t;
  for (double v : values) t.push_back(Tensor::scalar(v));
  return t;
}
}  // namespace

std::vector<double> evaluate(std::span<const Node* const> roots, std::span<const Node* const> vars,
                             std::span<const double> values) {
  std::vector<double> out;
  for (const Tensor& t : evaluate_tensors(roots, vars, scalars(values))) out.push_back(t.data.at(0));
  return out;
}

std::optional<DomainError> find_domain_error(std::span<const Node* const> roots,
                                             std::span<const Node* const> vars,
                                             std::span<const double> values) {
  std::optional<DomainError> found;
  run(roots, vars, scalars(values), [&](const Node* n, auto args, const std::vector<double>& r) {
    if (n->nargs == 0 || !n->info().elementwise) return true;
    for (std::size_t e = 0; e < r.size(); ++e) {
      if (std::isfinite(r[e])) continue;
      double in[2] = {(*args[0])[e], n->nargs > 1 ? (*args[1])[e] : 0.0};
      if (!std::isfinite(in[0]) || (n->nargs > 1 && !std::isfinite(in[1]))) continue;
      found = DomainError{n, {in[0], in[1]}, r[e]};
      return false;
    }
    return true;
  });
  return found;
}

}  // namespace gradc
