// The kernel outputs `gradc eval` computes (cli/plan.hpp).
#include "cli/plan.hpp"

#include "compiler/builder.hpp"
#include "compiler/codegen.hpp"
#include "compiler/diff.hpp"

namespace gradc::cli {

void Layout::add(std::size_t& at, std::span<const Node* const> nodes) {
  at = total;
  for (const Node* x : nodes) {
    outs.push_back(x);
    total += static_cast<std::size_t>(x->shape.size());
  }
}

Layout plan_derivatives(Module& m, const Function& f, bool hessian, bool jacobian, Mode mode, Simplify simplify) {
  Builder b(m.graph, simplify);
  Layout l;
  l.m = static_cast<std::size_t>(f.body->shape.size());
  l.n = static_cast<std::size_t>(element_count(f.params));
  std::size_t value = 0;
  if (f.body->shape.scalar()) {
    auto vd = value_and_derivatives(b, f.body, f.params, hessian, &m.origins);
    l.add(value, std::span(vd).first(1));
    l.add(l.grad, std::span(vd).subspan(1, f.params.size()));
    if (hessian) l.add(l.hess, std::span(vd).subspan(1 + f.params.size()));
  } else {
    l.add(value, std::span(&f.body, 1));
  }
  if (jacobian) {
    Jacobian J = gradc::jacobian(b, std::span(&f.body, 1), f.params, mode, &m.origins);
    l.mode = J.mode;
    std::vector<const Node*> block;
    for (auto& part : J.mode == Mode::Forward ? J.columns : J.rows_) block.insert(block.end(), part.begin(), part.end());
    l.add(l.jac, block);
  }
  return l;
}

}  // namespace gradc::cli
