// The AST dumper. Operator chains print as they are stored: flat, e.g. (add a + b - c).
#include "grammar/ast_dump.hpp"

#include <fmt/format.h>

namespace gradc {
namespace {

struct Dumper {
  const SourceFile& src;
  std::string out;

  std::string at(Loc loc) {
    auto lc = src.line_col(loc);
    return fmt::format("@{}:{}", lc.line, lc.col);
  }
  void operand(const ast::Operand& o) {
    switch (o.kind) {
      case ast::Operand::Number: out += o.text; return;
      case ast::Operand::Name: out += o.text; return;
      case ast::Operand::Paren:
        out += "(paren ";
        expr(o.args.at(0));
        out += ")";
        return;
      case ast::Operand::Call:
        out += fmt::format("(call {}{}", o.text, at(o.loc));
        for (const ast::Expr& a : o.args) {
          out += " ";
          expr(a);
        }
        out += ")";
        return;
    }
  }
  void power(const ast::Power& p) {
    if (p.steps.empty()) return operand(p.base);
    out += "(pow ";
    operand(p.base);
    for (const auto& s : p.steps) {
      out += " ^ " + s.signs;
      operand(s.operand);
    }
    out += ")";
  }
  void unary(const ast::Unary& u) {
    if (u.signs.empty()) return power(u.power);
    out += fmt::format("(sign {} ", u.signs);
    power(u.power);
    out += ")";
  }
  void term(const ast::Term& t) {
    if (t.steps.empty()) return unary(t.first);
    out += "(mul ";
    unary(t.first);
    for (const auto& s : t.steps) {
      out += fmt::format(" {} ", s.op);
      unary(s.operand);
    }
    out += ")";
  }
  void expr(const ast::Expr& e) {
    if (e.steps.empty()) return term(e.first);
    out += "(add ";
    term(e.first);
    for (const auto& s : e.steps) {
      out += fmt::format(" {} ", s.op);
      term(s.operand);
    }
    out += ")";
  }
};

}  // namespace

std::string dump_ast(const SourceFile& src, const ast::Program& prog) {
  Dumper d{src, {}};
  for (const ast::Function& f : prog.functions) {
    d.out += fmt::format("(fn {}{} (", f.name.name, d.at(f.name.loc));
    for (std::size_t i = 0; i < f.params.size(); ++i)
      d.out += (i ? " " : "") + f.params[i].name;
    d.out += ")\n";
    for (const ast::Assign& s : f.body) {
      d.out += fmt::format("  (let {}{} ", s.target.name, d.at(s.target.loc));
      d.expr(s.value);
      d.out += ")\n";
    }
    d.out += "  (return ";
    d.expr(f.result);
    d.out += "))\n";
  }
  for (const ast::At& a : prog.ats) {
    d.out += fmt::format("(at{}", d.at(a.loc));
    for (const ast::Assign& s : a.bindings) {
      d.out += fmt::format(" ({} ", s.target.name);
      d.expr(s.value);
      d.out += ")";
    }
    d.out += ")\n";
  }
  return d.out;
}

}  // namespace gradc
