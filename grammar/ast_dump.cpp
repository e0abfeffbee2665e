// The AST dumper. Operator chains print as they are stored: flat, e.g. (add a + b - c).
// Top-level items print in source order.
#include "grammar/ast_dump.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

namespace gradc {
namespace {

struct Dumper {
  const SourceFile& src;
  std::string out;

  std::string at(Loc loc) {
    auto lc = src.line_col(loc);
    return fmt::format("@{}:{}", lc.line, lc.col);
  }
  /// A string as written in a .grad file: quoted, with '"' and '\\' escaped.
  void quoted(const std::string& s) {
    out += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  /// Postfixes wrap the operand, the first innermost: x.a[0, :] is (index (member x a) 0 :).
  void operand(const ast::Operand& o) {
    for (auto it = o.postfix.rbegin(); it != o.postfix.rend(); ++it)
      out += it->kind == ast::Postfix::Index ? "(index " : "(member ";
    primary(o);
    for (const ast::Postfix& p : o.postfix) {
      if (p.kind == ast::Postfix::Member) {
        out += " " + p.member + ")";
        continue;
      }
      for (const ast::Subscript& s : p.subscripts) {
        out += " ";
        if (s.all)
          out += ":";
        else
          expr(s.index.at(0));
      }
      out += ")";
    }
  }
  void primary(const ast::Operand& o) {
    switch (o.kind) {
      case ast::Operand::Number: out += o.text; return;
      case ast::Operand::Name: out += o.text; return;
      case ast::Operand::Paren:
        out += "(paren ";
        expr(o.args.at(0));
        out += ")";
        return;
      case ast::Operand::String: quoted(o.text); return;
      case ast::Operand::Tensor:
        out += "(tensor";
        for (const ast::Expr& a : o.args) {
          out += " ";
          expr(a);
        }
        out += ")";
        return;
      case ast::Operand::Call:
        out += fmt::format("(call {}{}", o.text, at(o.loc));
        for (std::size_t i = 0; i < o.args.size(); ++i) {
          bool named = i < o.arg_names.size() && !o.arg_names[i].empty();
          out += named ? fmt::format(" (named {} ", o.arg_names[i]) : std::string(" ");
          expr(o.args[i]);
          if (named) out += ")";
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
  // Each item's printer, keyed by its position; printed in source order.
  std::vector<std::pair<std::uint32_t, std::function<void()>>> items;
  for (const ast::Function& f : prog.functions)
    items.emplace_back(f.loc.offset, [&d, &f] {
      d.out += fmt::format("(fn {}{} (", f.name.name, d.at(f.name.loc));
      for (std::size_t i = 0; i < f.params.size(); ++i) {
        const ast::FnParam& p = f.params[i];
        d.out += (i ? " " : "") + p.name;
        if (p.dims.empty()) continue;
        d.out += "[";
        for (std::size_t k = 0; k < p.dims.size(); ++k) {
          if (k) d.out += " ";
          d.expr(p.dims[k]);
        }
        d.out += "]";
      }
      d.out += ")\n";
      for (const ast::Assign& s : f.body) {
        d.out += fmt::format("  (let {}{} ", s.target.name, d.at(s.target.loc));
        d.expr(s.value);
        d.out += ")\n";
      }
      d.out += "  (return ";
      d.expr(f.result);
      d.out += "))\n";
    });
  for (const ast::At& a : prog.ats)
    items.emplace_back(a.loc.offset, [&d, &a] {
      d.out += fmt::format("(at{}", d.at(a.loc));
      for (const ast::Assign& s : a.bindings) {
        d.out += fmt::format(" ({} ", s.target.name);
        d.expr(s.value);
        d.out += ")";
      }
      d.out += ")\n";
    });
  for (const ast::Param& p : prog.params)
    items.emplace_back(p.loc.offset, [&d, &p] {
      d.out += fmt::format("(param {}{} (shape", p.name.name, d.at(p.name.loc));
      for (const ast::Expr& dim : p.dims) {
        d.out += " ";
        d.expr(dim);
      }
      d.out += ") ";
      d.expr(p.init);
      d.out += ")\n";
    });
  auto binding = [&d](const char* keyword, const ast::Binding& b) {
    d.out += fmt::format("({} {}{} ", keyword, b.name.name, d.at(b.name.loc));
    d.expr(b.value);
    d.out += ")\n";
  };
  for (const ast::Binding& b : prog.consts) items.emplace_back(b.loc.offset, [&binding, &b] { binding("const", b); });
  for (const ast::Binding& b : prog.datas) items.emplace_back(b.loc.offset, [&binding, &b] { binding("data", b); });
  for (const ast::Binding& b : prog.layers) items.emplace_back(b.loc.offset, [&binding, &b] { binding("layer", b); });
  for (const ast::Train& t : prog.trains)
    items.emplace_back(t.loc.offset, [&d, &t] {
      d.out += fmt::format("(train{}", d.at(t.loc));
      for (const ast::Assign& s : t.settings) {
        d.out += fmt::format("\n  (set {}{} ", s.target.name, d.at(s.target.loc));
        d.expr(s.value);
        d.out += ")";
      }
      d.out += ")\n";
    });
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& item : items) item.second();
  return d.out;
}

}  // namespace gradc
