// AST → IR. Expressions are lowered through a simplifying Builder; function calls are inlined
// by substituting arguments for the callee's parameter variables in its (already lowered) body.
#include "compiler/lower.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <unordered_set>

#include "compiler/lowerer.hpp"
#include "grammar/parser.hpp"

namespace gradc {
namespace {

// Calls every Operand in e (including those nested in calls and parentheses).
template <class F>
void for_each_operand(const ast::Expr& e, F&& f);

template <class F>
void for_each_operand(const ast::Operand& o, F&& f) {
  f(o);
  for (const ast::Expr& arg : o.args) for_each_operand(arg, f);
}
template <class F>
void for_each_operand(const ast::Unary& u, F&& f) {
  for_each_operand(u.power.base, f);
  for (const auto& s : u.power.steps) for_each_operand(s.operand, f);
}
template <class F>
void for_each_operand(const ast::Term& t, F&& f) {
  for_each_operand(t.first, f);
  for (const auto& s : t.steps) for_each_operand(s.operand, f);
}
template <class F>
void for_each_operand(const ast::Expr& e, F&& f) {
  for_each_operand(e.first, f);
  for (const auto& s : e.steps) for_each_operand(s.operand, f);
}

Loc expr_loc(const ast::Expr& e) { return e.first.first.loc; }

}  // namespace

std::string plural(std::size_t n, const char* word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

std::string were(std::size_t n) { return n == 1 ? "1 was" : fmt::format("{} were", n); }

void Lowerer::run(const ast::Program& prog) {
  globals(prog);
  functions(prog);
  default_point(prog);
  for (const ast::Train& t : prog.trains) training(t);
}

void Lowerer::functions(const ast::Program& prog) {
  // Definitions: unique names that do not shadow built-ins.
  for (const ast::Function& f : prog.functions) {
    if (find_function(f.name.name))
      error(f.name.loc, fmt::format("'{}' is a built-in function and cannot be redefined", f.name.name));
    check_new_global(f.name);
    ast_fns_.emplace(f.name.name, &f);
  }

  // Lower in call order: callees first. An iterative depth-first search finds the order and
  // reports recursion with the cycle it found.
  enum Mark { White, Grey, Black };
  std::unordered_map<std::string, Mark> mark;
  std::vector<const ast::Function*> order;
  for (const ast::Function& root : prog.functions) {
    if (mark[root.name.name] != White) continue;
    struct Frame {
      const ast::Function* fn;
      std::vector<const ast::Operand*> calls;
      std::size_t next = 0;
    };
    std::vector<Frame> stack;
    auto push = [&](const ast::Function* fn) {
      Frame fr{fn, {}, 0};
      auto collect = [&](const ast::Operand& o) {
        if (o.kind == ast::Operand::Call && ast_fns_.count(o.text)) fr.calls.push_back(&o);
      };
      for (const ast::Assign& s : fn->body) for_each_operand(s.value, collect);
      for_each_operand(fn->result, collect);
      mark[fn->name.name] = Grey;
      stack.push_back(std::move(fr));
    };
    push(&root);
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next == top.calls.size()) {
        mark[top.fn->name.name] = Black;
        order.push_back(top.fn);
        stack.pop_back();
        continue;
      }
      const ast::Operand* c = top.calls[top.next++];
      Mark& mk = mark[c->text];
      if (mk == Black) continue;
      if (mk == Grey) {
        std::string cycle = c->text;
        bool in = false;
        for (const Frame& fr : stack) {
          if (fr.fn->name.name == c->text) in = true;
          if (in && fr.fn->name.name != c->text) cycle += " -> " + fr.fn->name.name;
        }
        cycle += " -> " + c->text;
        error(c->loc, fmt::format("recursive call to '{}' ({}): recursion is not supported", c->text, cycle));
      }
      push(ast_fns_.at(c->text));
    }
  }

  for (const ast::Function* f : order) {
    Function out;
    cur_ = &out;
    calls_.clear();
    out.name = f->name.name;
    out.loc = f->name.loc;
    out.ast = f;
    Env env;
    bool declared = false;  // a parameter has a shape: the body is lowered for it, or fails
    for (const ast::FnParam& p : f->params) {
      declared = declared || !p.dims.empty();
      const Node* v = b_.var(p.name, declared_shape(p.dims, p.name, p.loc));
      if (!env.emplace(p.name, v).second)
        error(p.loc, fmt::format("duplicate parameter '{}'", p.name));
      out.params.push_back(v);
      out.param_locs.push_back(p.loc);
    }
    try {
      for (const ast::Assign& s : f->body) {
        const Node* v = expr(s.value, env);
        if (env.count(s.target.name))
          error(s.target.loc, fmt::format("'{}' is already defined in '{}'", s.target.name, out.name));
        env.emplace(s.target.name, v);
        if (v->nargs > 0) out.names.try_emplace(v, s.target.name);
      }
      out.body = expr(f->result, env);
    } catch (const NodeLimitError& e) {
      error(f->result.first.first.loc, e.what());
    } catch (const ShapeInputError& e) {
      scalar_failure_.emplace(f, e);
      // A function of a tensor program may only make sense for tensor arguments
      // (`x @ W1`): it has no scalar body, and is lowered again at each call. Any other
      // error (a ragged literal, an unknown name) is an error whatever the arguments.
      bool tensor_program = !m_.params.empty() || !m_.data.empty();
      if (!tensor_program || declared) throw;
      out.body = nullptr;
      out.names.clear();
      out.locs.clear();
    }
    cur_ = nullptr;
    calls_.clear();
    lowered_[out.name] = m_.functions.size();
    m_.functions.push_back(std::move(out));
  }
  // Keep the functions in source order for listings.
  std::vector<Function> sorted;
  for (const ast::Function& f : prog.functions) sorted.push_back(std::move(m_.functions[lowered_.at(f.name.name)]));
  m_.functions = std::move(sorted);
  lowered_.clear();
  for (std::size_t i = 0; i < m_.functions.size(); ++i) lowered_[m_.functions[i].name] = i;
}

void Lowerer::default_point(const ast::Program& prog) {
  std::unordered_set<std::string> params;
  for (const Function& f : m_.functions)
    for (const Node* p : f.params) params.insert(p->name);
  for (const Param& p : m_.params) params.insert(p.name);
  std::unordered_map<std::string, Loc> given;
  for (const ast::At& at : prog.ats) {
    for (const ast::Assign& bnd : at.bindings) {
      const std::string& name = bnd.target.name;
      if (!params.count(name))
        error(bnd.target.loc, fmt::format("'{}' in 'at' is not a parameter of any function", name));
      auto [it, fresh] = given.emplace(name, bnd.target.loc);
      if (!fresh)
        error(bnd.target.loc, fmt::format("duplicate value for '{}' (first given at line {})", name,
                                          line_of(it->second)));
      // A tensor value is for a tensor parameter of that shape (`at v = [1, 2, 3]`).
      const Node* v = expr(bnd.value, Env{});
      if (v->shape.scalar()) {
        m_.at.emplace_back(name, constant(bnd.value));
        continue;
      }
      const Node* declared = nullptr;
      for (const Function& f : m_.functions)
        for (const Node* p : f.params)
          if (p->name == name && !p->shape.scalar()) declared = p->shape == v->shape || !declared ? p : declared;
      if (!declared)
        error(expr_loc(bnd.value), fmt::format("'{}' is a scalar parameter: its value cannot have shape {}", name,
                                               v->shape.str()));
      if (!(declared->shape == v->shape))
        error(expr_loc(bnd.value), fmt::format("'{}' has shape {}: its value cannot have shape {}", name,
                                               declared->shape.str(), v->shape.str()));
      Tensor t = evaluate_tensors(std::span<const Node* const>(&v, 1), {}, {})[0];
      for (double x : t.data)
        if (!std::isfinite(x)) error(expr_loc(bnd.value), "value is not a finite number");
      m_.at_tensors.emplace_back(name, std::move(t));
    }
  }
}

double Lowerer::constant(const ast::Expr& e) { return constant_in(e, Env{}); }

double Lowerer::constant_in(const ast::Expr& e, const Env& env) {
  const Node* n = expr(e, env);
  // Folded even when the module keeps the IR as written (-0.5 is Neg(0.5) there).
  n = simplify(m_.graph, std::span<const Node* const>(&n, 1), Simplify::Fold)[0];
  Loc loc = e.first.first.loc;
  if (!n->is_const() || !std::isfinite(n->value)) {
    // No variables can occur here (they would be unknown names), so the value is a number
    // unless an operation failed: say which.
    error(loc, "value is not a finite number");
  }
  return n->value;
}

const Node* Lowerer::expr(const ast::Expr& e, const Env& env) {
  const Node* acc = term(e.first, env);
  for (const auto& s : e.steps) {
    const Node* rhs = term(s.operand, env);
    acc = shaped(s.loc, [&] { return s.op == '+' ? b_.add(acc, rhs) : b_.sub(acc, rhs); });
  }
  return acc;
}

const Node* Lowerer::term(const ast::Term& t, const Env& env) {
  const Node* acc = unary(t.first, env);
  for (const auto& s : t.steps) {
    const Node* rhs = unary(s.operand, env);
    if (s.op == '@') {
      acc = matmul(acc, rhs, s.loc);
    } else {
      acc = shaped(s.loc, [&] { return s.op == '*' ? b_.mul(acc, rhs) : b_.div(acc, rhs); });
    }
  }
  return acc;
}

const Node* Lowerer::unary(const ast::Unary& u, const Env& env) {
  const Node* v = power(u.power, env);
  for (auto it = u.signs.rbegin(); it != u.signs.rend(); ++it)
    if (*it == '-') v = located(b_.neg(v), u.loc);
  return v;
}

// a ^ s1 b ^ s2 c  =  a ^ (s1 (b ^ (s2 c))): fold from the right.
const Node* Lowerer::power(const ast::Power& p, const Env& env) {
  if (p.steps.empty()) return operand(p.base, env);
  const Node* r = operand(p.steps.back().operand, env);
  for (std::size_t i = p.steps.size(); i-- > 0;) {
    const auto& s = p.steps[i];
    for (auto it = s.signs.rbegin(); it != s.signs.rend(); ++it)
      if (*it == '-') r = b_.neg(r);
    const Node* base = i == 0 ? operand(p.base, env) : operand(p.steps[i - 1].operand, env);
    r = shaped(s.loc, [&] { return b_.pow(base, r); });
  }
  return r;
}

const Node* Lowerer::operand(const ast::Operand& o, const Env& env) {
  std::size_t used = 0;  // postfixes consumed by the operand itself (d.x)
  const Node* v = nullptr;
  switch (o.kind) {
    case ast::Operand::Number:
      v = b_.constant(o.number);
      break;
    case ast::Operand::Paren:
      v = expr(o.args.at(0), env);
      break;
    case ast::Operand::Call:
      v = call(o, env);
      break;
    case ast::Operand::Tensor:
      v = bracket(o, env);
      break;
    case ast::Operand::String:
      error(o.loc, "a string can only be a file name, as in csv(\"data.csv\")");
    case ast::Operand::Name:
      v = name(o, env, used);
      break;
  }
  return postfix(v, o, used, env);
}

const Node* Lowerer::name(const ast::Operand& o, const Env& env, std::size_t& used) {
  if (auto it = env.find(o.text); it != env.end()) return it->second;
  if (auto it = params_.find(o.text); it != params_.end()) return m_.params[it->second].var;
  if (auto it = data_.find(o.text); it != data_.end()) {
    const Data& d = m_.data[it->second];
    if (!d.y) return data_var(d, false, o.loc);
    bool member = !o.postfix.empty() && o.postfix[0].kind == ast::Postfix::Member;
    if (!member || (o.postfix[0].member != "x" && o.postfix[0].member != "y"))
      error(member ? o.postfix[0].loc : o.loc,
            fmt::format("'{}' is a CSV data set: use {}.x (features) or {}.y (target)", o.text, o.text, o.text));
    used = 1;
    return data_var(d, o.postfix[0].member == "y", o.loc);
  }
  if (auto it = consts_.find(o.text); it != consts_.end()) {
    if (!it->second.y) return it->second.x;
    bool member = !o.postfix.empty() && o.postfix[0].kind == ast::Postfix::Member;
    if (!member || (o.postfix[0].member != "x" && o.postfix[0].member != "y"))
      error(member ? o.postfix[0].loc : o.loc,
            fmt::format("'{}' is a CSV table with a target: use {}.x (features) or {}.y (target)", o.text, o.text,
                        o.text));
    used = 1;
    return o.postfix[0].member == "y" ? it->second.y : it->second.x;
  }
  if (auto it = layers_.find(o.text); it != layers_.end() && !o.postfix.empty() &&
                                      o.postfix[0].kind == ast::Postfix::Member)
    return layer_param(o, it->second, used);
  if (o.text == "pi") return b_.graph().constant(std::numbers::pi, "pi");
  if (o.text == "e") return b_.graph().constant(std::numbers::e, "e");
  if (ast_fns_.count(o.text) || find_function(o.text) || layers_.count(o.text))
    error(o.loc, fmt::format("'{}' is a function: call it with arguments, as {}(...)", o.text, o.text));
  error(o.loc, fmt::format("unknown name '{}'", o.text));
}

// A layer's parameter named by its members: `lin.W`, `net.0.b` (the stage index in a
// sequential). The members are read while they name a parameter or the start of one's name.
const Node* Lowerer::layer_param(const ast::Operand& o, const Layer& l, std::size_t& used) {
  std::vector<std::string> names;
  for (const Layer::Stage& s : l.stages)
    if (s.W) names.insert(names.end(), {s.W->name, s.b->name});
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  std::string written = o.text;  // every member, for the message
  for (std::size_t p = 0; p < o.postfix.size() && o.postfix[p].kind == ast::Postfix::Member; ++p)
    written += "." + o.postfix[p].member;
  std::string path = o.text;
  for (std::size_t p = 0; p < o.postfix.size() && o.postfix[p].kind == ast::Postfix::Member; ++p) {
    const ast::Postfix& fx = o.postfix[p];
    path += "." + fx.member;
    if (names.empty()) error(fx.loc, fmt::format("layer '{}' has no parameters", o.text));
    if (std::find(names.begin(), names.end(), path) != names.end()) {
      used = p + 1;
      return m_.params[params_.at(path)].var;
    }
    bool prefix = false;
    for (const std::string& n : names) prefix = prefix || n.starts_with(path + ".");
    if (!prefix) error(fx.loc, fmt::format("layer '{}' has no parameter '{}' (its parameters: {})", o.text, written, list));
  }
  error(o.loc, fmt::format("'{}' is part of layer '{}', not a parameter (its parameters: {})", path, o.text, list));
}

// x[i], x[:, j], x[i, j]: each index removes its axis; ':' keeps one.
const Node* Lowerer::postfix(const Node* v, const ast::Operand& o, std::size_t from, const Env& env) {
  for (std::size_t p = from; p < o.postfix.size(); ++p) {
    const ast::Postfix& fx = o.postfix[p];
    if (fx.kind == ast::Postfix::Member && fx.member == "shape") {
      v = shape_member(v, o, p);
      continue;
    }
    if (fx.kind == ast::Postfix::Member)
      error(fx.loc, fmt::format("'.{}': only tensors (.shape), CSV data sets (.x, .y) and layers (.W, .b) have members",
                                fx.member));
    int axis = 0;
    for (const ast::Subscript& sub : fx.subscripts) {
      if (axis >= v->shape.rank)
        shape_error(sub.loc, fmt::format("too many indices for shape {}", v->shape.str()));
      if (sub.all) {
        ++axis;
        continue;
      }
      std::int64_t i = integer(sub.index.at(0), "an index", std::numeric_limits<std::int64_t>::min());
      std::int64_t n = v->shape[axis];
      if (i < -n || i >= n)
        shape_error(sub.loc, fmt::format("index {} is out of range for axis {} of shape {}", i, axis, v->shape.str()));
      v = shaped(sub.loc, [&] { return b_.index(v, axis, static_cast<int>(i < 0 ? i + n : i)); });
    }
  }
  (void)env;
  return v;
}

// x.shape: the dims of x as a vector constant; x.shape[i] is the number x->shape[i] (a constant
// even where x is not: shapes are static), which may size parameters and other constants.
const Node* Lowerer::shape_member(const Node* v, const ast::Operand& o, std::size_t& p) {
  const ast::Postfix& fx = o.postfix[p];
  if (v->shape.scalar()) shape_error(fx.loc, "'.shape' of a scalar: it has no axes");
  bool one_index = p + 1 < o.postfix.size() && o.postfix[p + 1].kind == ast::Postfix::Index &&
                   o.postfix[p + 1].subscripts.size() == 1 && !o.postfix[p + 1].subscripts[0].all;
  if (!one_index) {
    std::vector<double> dims;
    for (int i = 0; i < v->shape.rank; ++i) dims.push_back(v->shape[i]);
    return m_.graph.tensor(Shape{static_cast<std::int32_t>(dims.size())}, std::move(dims));
  }
  const ast::Subscript& sub = o.postfix[++p].subscripts[0];
  std::int64_t i = integer(sub.index.at(0), "an index", std::numeric_limits<std::int64_t>::min());
  std::int64_t rank = v->shape.rank;
  if (i < -rank || i >= rank)
    shape_error(sub.loc, fmt::format("index {} is out of range for the {} axes of shape {}", i, rank, v->shape.str()));
  return b_.constant(v->shape[static_cast<int>(i < 0 ? i + rank : i)]);
}

// [e1, e2, ...]: constant elements make tensor data (a literal); any other elements are stacked
// along a new first axis, as np.stack, and must have one shape.
const Node* Lowerer::bracket(const ast::Operand& o, const Env& env) {
  std::vector<const Node*> xs;
  for (const ast::Expr& e : o.args) xs.push_back(expr(e, env));
  bool literal = std::all_of(xs.begin(), xs.end(), [](const Node* x) { return x->literal; });
  if (literal) {
    // Folded even when the module keeps the IR as written, as constant() does.
    xs = simplify(m_.graph, xs, Simplify::Fold);
    literal = std::all_of(xs.begin(), xs.end(), [](const Node* x) { return x->is_const() || x->op == Op::Tensor; });
  }
  for (std::size_t i = 1; i < xs.size(); ++i) {
    if (xs[i]->shape == xs[0]->shape) continue;
    // Numbers and rows written out: the literal's own message (where it is ragged).
    if (literal) return tensor_literal(o, env);
    shape_error(expr_loc(o.args[i]), fmt::format("the elements of [...] must have one shape to be stacked: element 1 "
                                                 "has shape {}, element {} has shape {}",
                                                 xs[0]->shape.str(), i + 1, xs[i]->shape.str()));
  }
  if (xs[0]->shape.rank == Shape::kMaxRank) {
    if (literal) return tensor_literal(o, env);
    shape_error(o.loc, fmt::format("tensors have at most {} dimensions", Shape::kMaxRank));
  }
  if (literal) {
    std::vector<std::int64_t> dims{static_cast<std::int64_t>(xs.size())};
    for (int i = 0; i < xs[0]->shape.rank; ++i) dims.push_back(xs[0]->shape[i]);
    std::vector<double> values;
    for (const Node* x : xs) {
      if (x->is_const()) values.push_back(x->value);
      else values.insert(values.end(), x->data->begin(), x->data->end());
    }
    Shape s = Shape::of(dims);
    if (s.size() > kMaxElements) too_large(o.loc, s);
    return m_.graph.tensor(s, std::move(values));
  }
  return shaped(o.loc, [&] { return b_.stack_new_axis(xs); });
}

// a @ b as NumPy's matmul: matrices, and stacks of them ([b, n, k] @ [b, k, m]; a matrix
// operand, or a stack of one, is broadcast along the stack). A vector operand is a 1-row
// (left) or 1-column (right) matrix, and that axis is dropped from the result.
const Node* Lowerer::matmul(const Node* a, const Node* b, Loc loc) {
  return shaped(loc, [&] {
    auto unfit = [&] {
      return ShapeError(fmt::format("shapes {} and {} do not fit a matrix product", a->shape.str(), b->shape.str()));
    };
    if (a->shape.rank == 0 || b->shape.rank == 0) throw unfit();
    bool va = a->shape.rank == 1, vb = b->shape.rank == 1;
    const Node* A = va ? b_.reshape(a, Shape{1, a->shape[0]}) : a;
    const Node* B = vb ? b_.reshape(b, Shape{b->shape[0], 1}) : b;
    const Shape &as = A->shape, &bs = B->shape;
    if (as[as.rank - 1] != bs[bs.rank - 2]) throw unfit();
    if (as.rank == 2 && bs.rank == 2) {
      const Node* r = b_.matmul(A, B);
      if (va && vb) return b_.reshape(r, Shape{});
      if (va) return b_.reshape(r, Shape{r->shape[1]});
      if (vb) return b_.reshape(r, Shape{r->shape[0]});
      return r;
    }
    std::int32_t na = as.rank == 3 ? as[0] : 1, nb = bs.rank == 3 ? bs[0] : 1;
    if (na != nb && na != 1 && nb != 1) throw unfit();
    std::int32_t batch = std::max(na, nb);
    A = b_.broadcast_to(A, Shape{batch, as[as.rank - 2], as[as.rank - 1]});
    B = b_.broadcast_to(B, Shape{batch, bs[bs.rank - 2], bs[bs.rank - 1]});
    const Node* r = b_.matmul(A, B);
    if (va) return b_.reshape(r, Shape{batch, r->shape[2]});
    if (vb) return b_.reshape(r, Shape{batch, r->shape[1]});
    return r;
  });
}

const Node* Lowerer::call(const ast::Operand& o, const Env& env) {
  try {
    return call_here(o, env);
  } catch (const NodeLimitError& e) {
    error(o.loc, e.what());
  }
}

const Node* Lowerer::call_here(const ast::Operand& o, const Env& env) {
  bool handled = false;
  const Node* r = builtin(o, env, handled);  // tensor built-ins, losses, layers (model.cpp)
  if (handled) return r;
  for (std::size_t i = 0; i < o.arg_names.size(); ++i)
    if (!o.arg_names[i].empty())
      error(o.arg_locs[i], fmt::format("'{}' takes no named arguments", o.text));
  std::vector<const Node*> args;
  for (const ast::Expr& a : o.args) args.push_back(expr(a, env));
  if (const OpInfo* op = find_function(o.text)) {
    if (static_cast<int>(args.size()) != op->arity)
      error(o.loc, fmt::format("'{}' takes {}, but {} given", o.text, plural(op->arity, "argument"),
                               were(args.size())));
    if (op->op == Op::Polygamma) args[0] = polygamma_order(args[0], o.arg_locs[0]);
    return shaped(o.loc, [&] { return b_.apply(op->op, args); });
  }
  auto it = lowered_.find(o.text);
  if (it == lowered_.end()) {
    if (env.count(o.text) || params_.count(o.text) || data_.count(o.text))
      error(o.loc, fmt::format("'{}' is a variable, not a function", o.text));
    error(o.loc, fmt::format("unknown function '{}'", o.text));
  }
  const Function& f = m_.functions[it->second];
  if (args.size() != f.params.size())
    error(o.loc, fmt::format("'{}' takes {}, but {} given", o.text, plural(f.params.size(), "argument"),
                             were(args.size())));
  // A tensor parameter takes arguments of its shape only; arguments of the parameters' shapes
  // substitute into the body, others (tensors for scalar parameters) lower it again.
  bool same_shapes = true, scalar_args = true;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const ast::FnParam& p = f.ast->params[i];
    if (!p.dims.empty() && !(args[i]->shape == f.params[i]->shape))
      shape_error(o.arg_locs[i], fmt::format("'{}' takes '{}' of shape {}, but this argument has shape {}", o.text,
                                             p.name, f.params[i]->shape.str(), args[i]->shape.str()));
    same_shapes = same_shapes && args[i]->shape == f.params[i]->shape;
    scalar_args = scalar_args && args[i]->shape.scalar();
  }
  if (f.body && same_shapes) return inline_call(f, args);
  if (scalar_args)
    if (auto it = scalar_failure_.find(f.ast); it != scalar_failure_.end()) throw it->second;
  if (call_depth_ == kMaxCallDepth)
    error(o.loc, fmt::format("calls on tensors nested more than {} deep (README, \"Limits\")", kMaxCallDepth));
  struct Nest {
    int& depth;
    explicit Nest(int& d) : depth(++d) {}
    ~Nest() { --depth; }
  } nest(call_depth_);
  return call_user(*f.ast, args);
}

// polygamma(n, x): the order n is a constant integer (ψ⁽ⁿ⁾ has no derivative in n), folded so
// that the IR holds it as a number. Past 100 the evaluation cost grows (README, "Limits").
const Node* Lowerer::polygamma_order(const Node* n, Loc loc) {
  n = simplify(m_.graph, std::span<const Node* const>(&n, 1), Simplify::Fold)[0];
  if (!n->is_const())
    error(loc, fmt::format("the order n of polygamma(n, x) must be a constant integer from 0 to {} "
                           "(polygamma has no derivative in n)", kMaxPolygammaOrder));
  if (!(n->value >= 0 && n->value <= kMaxPolygammaOrder) || n->value != std::floor(n->value))
    error(loc, fmt::format("the order n of polygamma(n, x) must be an integer from 0 to {}, not {}", kMaxPolygammaOrder,
                           n->value));
  return n;
}

// A call with tensor arguments: the callee's body is lowered again with its parameters bound
// to the arguments (shapes differ per call). Hash-consing makes a repeated call the same node.
const Node* Lowerer::call_user(const ast::Function& f, const std::vector<const Node*>& args) {
  CallKey key{&f, args};
  if (auto it = calls_.find(key); it != calls_.end()) return it->second;
  Env env;
  for (std::size_t i = 0; i < args.size(); ++i) env[f.params[i].name] = args[i];
  for (const ast::Assign& s : f.body) {
    const Node* v = expr(s.value, env);
    env[s.target.name] = v;
    if (cur_ && v->nargs > 0) cur_->names.try_emplace(v, s.target.name);
  }
  const Node* r = expr(f.result, env);
  calls_.emplace(std::move(key), r);
  return r;
}

// Substitutes args for f's parameter variables in f's body: a memoizing rebuild in id order,
// carrying names and source locations over to the new nodes.
const Node* Lowerer::inline_call(const Function& f, const std::vector<const Node*>& args) {
  // Called with its own parameters (g(x) = f(x) + 1): the body itself (hash-consing would
  // rebuild exactly it), with its names and locations.
  if (std::equal(args.begin(), args.end(), f.params.begin(), f.params.end())) {
    if (cur_) {
      for (const auto& [n, name] : f.names) cur_->names.try_emplace(n, name);
      for (const auto& [n, loc] : f.locs) cur_->locs.try_emplace(n, loc);
    }
    return f.body;
  }
  std::unordered_map<const Node*, const Node*> map;
  for (std::size_t i = 0; i < args.size(); ++i) map[f.params[i]] = args[i];
  for (const Node* n : reachable(std::span<const Node* const>(&f.body, 1))) {
    if (map.count(n)) continue;
    if (n->nargs == 0) {
      map[n] = n;
      continue;
    }
    const Node* a[2] = {map.at(n->arg(0)), n->nargs > 1 ? map.at(n->arg(1)) : nullptr};
    const Node* r = b_.apply(n->op, std::span<const Node* const>(a, n->nargs), n->attrs());
    if (auto it = f.names.find(n); it != f.names.end() && r->nargs > 0 && cur_) cur_->names.try_emplace(r, it->second);
    if (auto it = f.locs.find(n); it != f.locs.end()) located(r, it->second);
    map[n] = r;
  }
  return map.at(f.body);
}

const Function* Module::find(std::string_view name) const {
  for (const Function& f : functions)
    if (f.name == name) return &f;
  return nullptr;
}

const double* Module::at_value(std::string_view name) const {
  for (const auto& [n, v] : at)
    if (n == name) return &v;
  return nullptr;
}

const Tensor* Module::at_tensor(std::string_view name) const {
  for (const auto& [n, v] : at_tensors)
    if (n == name) return &v;
  return nullptr;
}

struct Module::LowererState {
  Lowerer lowerer;
};

Module::Module() = default;
Module::Module(std::size_t max_nodes) : graph(max_nodes) {}
Module::~Module() = default;

const Node* Module::lower(const ast::Expr& e, std::int64_t rows, std::vector<DataInput>& inputs, Function* located) {
  return state->lowerer.lower_bound(e, Lowerer::Binding{rows, &inputs, located});
}

const Node* Module::apply(const std::string& name, const Node* x) { return state->lowerer.apply_named(name, x); }
std::vector<std::string> Module::layer_names() const { return state->lowerer.layer_names(); }

std::unique_ptr<Module> compile_module(SourceFile src, bool simplify, TableLoader tables, std::size_t max_nodes) {
  auto m = std::make_unique<Module>(max_nodes);
  m->source = std::move(src);
  m->tables = std::move(tables);
  m->program = parse_program(m->source);
  m->state = std::make_unique<Module::LowererState>(Module::LowererState{Lowerer(*m, simplify)});
  m->state->lowerer.run(m->program);
  return m;
}

double constant_value(const SourceFile& src, const ast::Expr& e) {
  Module m;
  m.source = src;
  return Lowerer(m, true).constant(e);
}

}  // namespace gradc
