// AST → IR. Expressions are lowered through a simplifying Builder; function calls are inlined
// by substituting arguments for the callee's parameter variables in its (already lowered) body.
#include "compiler/lower.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <unordered_set>

#include "compiler/builder.hpp"
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

std::string plural(std::size_t n, const char* word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

std::string were(std::size_t n) { return n == 1 ? "1 was" : fmt::format("{} were", n); }

class Lowerer {
 public:
  Lowerer(Module& m, bool simplify) : m_(m), b_(m.graph, simplify ? Simplify::Fold : Simplify::None) {}

  void run(const ast::Program& prog);
  double constant(const ast::Expr& e);

 private:
  using Env = std::unordered_map<std::string, const Node*>;
  const Node* expr(const ast::Expr& e, const Env& env);
  const Node* term(const ast::Term& t, const Env& env);
  const Node* unary(const ast::Unary& u, const Env& env);
  const Node* power(const ast::Power& p, const Env& env);
  const Node* operand(const ast::Operand& o, const Env& env);
  const Node* call(const ast::Operand& o, const Env& env);
  const Node* inline_call(const Function& f, const std::vector<const Node*>& args);
  const Node* located(const Node* n, Loc loc) {
    if (cur_ && n->nargs > 0) cur_->locs.try_emplace(n, loc);
    return n;
  }
  [[noreturn]] void error(Loc loc, const std::string& msg) { throw InputError(loc, msg); }
  std::string line_of(Loc loc) { return std::to_string(m_.source.line_col(loc).line); }

  Module& m_;
  Builder b_;
  std::unordered_map<std::string, const ast::Function*> ast_fns_;
  std::unordered_map<std::string, std::size_t> lowered_;  // name -> index in m_.functions
  Function* cur_ = nullptr;                                // the function being lowered
};

void Lowerer::run(const ast::Program& prog) {
  // Definitions: unique names that do not shadow built-ins.
  for (const ast::Function& f : prog.functions) {
    if (find_function(f.name.name))
      error(f.name.loc, fmt::format("'{}' is a built-in function and cannot be redefined", f.name.name));
    auto [it, fresh] = ast_fns_.emplace(f.name.name, &f);
    if (!fresh)
      error(f.name.loc, fmt::format("redefinition of '{}' (first defined at line {})", f.name.name,
                                    line_of(it->second->name.loc)));
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
    out.name = f->name.name;
    out.loc = f->name.loc;
    Env env;
    for (const ast::Ident& p : f->params) {
      const Node* v = b_.var(p.name);
      if (!env.emplace(p.name, v).second)
        error(p.loc, fmt::format("duplicate parameter '{}'", p.name));
      out.params.push_back(v);
      out.param_locs.push_back(p.loc);
    }
    for (const ast::Assign& s : f->body) {
      const Node* v = expr(s.value, env);
      if (env.count(s.target.name))
        error(s.target.loc, fmt::format("'{}' is already defined in '{}'", s.target.name, out.name));
      env.emplace(s.target.name, v);
      if (v->nargs > 0) out.names.try_emplace(v, s.target.name);
    }
    out.body = expr(f->result, env);
    cur_ = nullptr;
    lowered_[out.name] = m_.functions.size();
    m_.functions.push_back(std::move(out));
  }
  // Keep the functions in source order for listings.
  std::vector<Function> sorted;
  for (const ast::Function& f : prog.functions) sorted.push_back(m_.functions[lowered_.at(f.name.name)]);
  m_.functions = std::move(sorted);

  // The default point.
  std::unordered_set<std::string> params;
  for (const Function& f : m_.functions)
    for (const Node* p : f.params) params.insert(p->name);
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
      m_.at.emplace_back(name, constant(bnd.value));
    }
  }
}

double Lowerer::constant(const ast::Expr& e) {
  const Node* n = expr(e, Env{});
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
    acc = located(s.op == '+' ? b_.add(acc, rhs) : b_.sub(acc, rhs), s.loc);
  }
  return acc;
}

const Node* Lowerer::term(const ast::Term& t, const Env& env) {
  const Node* acc = unary(t.first, env);
  for (const auto& s : t.steps) {
    const Node* rhs = unary(s.operand, env);
    acc = located(s.op == '*' ? b_.mul(acc, rhs) : b_.div(acc, rhs), s.loc);
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
    r = located(b_.pow(base, r), s.loc);
  }
  return r;
}

const Node* Lowerer::operand(const ast::Operand& o, const Env& env) {
  switch (o.kind) {
    case ast::Operand::Number:
      return b_.constant(o.number);
    case ast::Operand::Paren:
      return expr(o.args.at(0), env);
    case ast::Operand::Call:
      return call(o, env);
    case ast::Operand::Name:
      break;
  }
  if (auto it = env.find(o.text); it != env.end()) return it->second;
  if (o.text == "pi") return b_.constant(std::numbers::pi);
  if (o.text == "e") return b_.constant(std::numbers::e);
  if (ast_fns_.count(o.text) || find_function(o.text))
    error(o.loc, fmt::format("'{}' is a function: call it with arguments, as {}(...)", o.text, o.text));
  error(o.loc, fmt::format("unknown name '{}'", o.text));
}

const Node* Lowerer::call(const ast::Operand& o, const Env& env) {
  std::vector<const Node*> args;
  for (const ast::Expr& a : o.args) args.push_back(expr(a, env));
  if (const OpInfo* op = find_function(o.text)) {
    if (static_cast<int>(args.size()) != op->arity)
      error(o.loc, fmt::format("'{}' takes {}, but {} given", o.text, plural(op->arity, "argument"),
                               were(args.size())));
    return located(b_.apply(op->op, args), o.loc);
  }
  auto it = lowered_.find(o.text);
  if (it == lowered_.end()) {
    if (env.count(o.text))
      error(o.loc, fmt::format("'{}' is a variable, not a function", o.text));
    error(o.loc, fmt::format("unknown function '{}'", o.text));
  }
  const Function& f = m_.functions[it->second];
  if (args.size() != f.params.size())
    error(o.loc, fmt::format("'{}' takes {}, but {} given", o.text, plural(f.params.size(), "argument"),
                             were(args.size())));
  return inline_call(f, args);
}

// Substitutes args for f's parameter variables in f's body: a memoizing rebuild in id order,
// carrying names and source locations over to the new nodes.
const Node* Lowerer::inline_call(const Function& f, const std::vector<const Node*>& args) {
  std::unordered_map<const Node*, const Node*> map;
  for (std::size_t i = 0; i < args.size(); ++i) map[f.params[i]] = args[i];
  for (const Node* n : reachable(std::span<const Node* const>(&f.body, 1))) {
    if (map.count(n)) continue;
    if (n->nargs == 0) {
      map[n] = n;
      continue;
    }
    const Node* a[2] = {map.at(n->arg(0)), n->nargs > 1 ? map.at(n->arg(1)) : nullptr};
    const Node* r = b_.apply(n->op, std::span<const Node* const>(a, n->nargs));
    if (auto it = f.names.find(n); it != f.names.end() && r->nargs > 0 && cur_) cur_->names.try_emplace(r, it->second);
    if (auto it = f.locs.find(n); it != f.locs.end()) located(r, it->second);
    map[n] = r;
  }
  return map.at(f.body);
}

}  // namespace

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

std::unique_ptr<Module> compile_module(SourceFile src, bool simplify) {
  auto m = std::make_unique<Module>();
  m->source = std::move(src);
  ast::Program prog = parse_program(m->source);
  Lowerer(*m, simplify).run(prog);
  return m;
}

double constant_value(const SourceFile& src, const ast::Expr& e) {
  Module m;
  m.source = src;
  return Lowerer(m, true).constant(e);
}

}  // namespace gradc
