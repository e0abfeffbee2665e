// Unit tests of the .grad parser's grammar: AST shape and positions, precedence, statements;
// the network items (data, param, layer, train), tensors, strings, named arguments and
// postfixes; the AST dumper on them. Error messages and robustness: test_parser_errors.cpp.
#include <gtest/gtest.h>

#include <string>

#include "grammar/ast_dump.hpp"
#include "grammar/parser.hpp"
#include "support/parser_helpers.hpp"

namespace gradc::test {
namespace {

using ast::Operand;

//===--- An S-expression printer that makes the AST's meaning explicit --------------------===//
// Binary operators print as (op a b), signs as (- a), calls as (f a b) with named arguments as
// name=a, parentheses vanish, tensors print as [a b], strings as "text", an index as
// (index x 0 :) and a member access as (. x name).

std::string show(const ast::Expr& e);

std::string show_primary(const Operand& o) {
  switch (o.kind) {
    case Operand::Number:
    case Operand::Name:
      return o.text;
    case Operand::String:
      return '"' + o.text + '"';
    case Operand::Paren:
      return show(o.args.at(0));
    case Operand::Tensor: {
      std::string s = "[";
      for (const auto& a : o.args) {
        if (s.size() > 1) s += ' ';
        s += show(a);
      }
      return s + "]";
    }
    case Operand::Call: {
      std::string s = "(";
      s += o.text;
      for (std::size_t i = 0; i < o.args.size(); ++i) {
        s += ' ';
        if (!o.arg_names.at(i).empty()) s += o.arg_names[i] + "=";
        s += show(o.args[i]);
      }
      return s + ")";
    }
  }
  return "?";
}

std::string show(const Operand& o) {
  std::string s = show_primary(o);
  for (const ast::Postfix& p : o.postfix) {
    if (p.kind == ast::Postfix::Member) {
      s = std::string("(. ") + s + " " + p.member + ")";
      continue;
    }
    s = std::string("(index ") + s;
    for (const ast::Subscript& sub : p.subscripts) {
      s += ' ';
      s += sub.all ? std::string(":") : show(sub.index.at(0));
    }
    s += ")";
  }
  return s;
}

std::string with_signs(const std::string& signs, std::string x) {
  for (auto it = signs.rbegin(); it != signs.rend(); ++it) x = std::string("(") + *it + " " + x + ")";
  return x;
}

/// a ^ s1 b ^ s2 c  is  a ^ (s1 (b ^ (s2 c))): fold from the right.
std::string show(const ast::Power& p) {
  std::string tail;
  for (auto it = p.steps.rbegin(); it != p.steps.rend(); ++it) {
    std::string x = show(it->operand);
    if (!tail.empty()) x = "(^ " + x + " " + tail + ")";
    tail = with_signs(it->signs, x);
  }
  return tail.empty() ? show(p.base) : "(^ " + show(p.base) + " " + tail + ")";
}

std::string show(const ast::Unary& u) { return with_signs(u.signs, show(u.power)); }

std::string show(const ast::Term& t) {
  std::string s = show(t.first);
  for (const auto& step : t.steps) s = std::string("(") + step.op + " " + s + " " + show(step.operand) + ")";
  return s;
}

std::string show(const ast::Expr& e) {
  std::string s = show(e.first);
  for (const auto& step : e.steps) s = std::string("(") + step.op + " " + s + " " + show(step.operand) + ")";
  return s;
}

std::string parsed(const std::string& text) {
  SourceFile src = source(text);
  return show(parse_expression(src));
}

//===--- The lecture example ------------------------------------------------------------===//

const char* const kLecture =
    "# the lecture's computational graph\n"
    "fn f(x, y, z) = tanh(log(1 + z * (2*x / sin(y))))\n"
    "\n"
    "fn g(x, y, z) {\n"
    "  a = 2 * x\n"
    "  b = sin(y)\n"
    "  c = a / b;  d = z * c          # statements separated by newlines or optional ';'\n"
    "  e = log(1 + d)\n"
    "  return tanh(e)\n"
    "}\n"
    "fn h(u, v) = g(u, v, 3) + u^2      # calls\n"
    "at x = 0.5, y = 1.2, z = 3, u = 1, v = -pi/2   # bindings: name = expression\n";

TEST(ParserExample, FunctionsAndParameters) {
  SourceFile src = source(kLecture);
  ast::Program p = parse_program(src);
  ASSERT_EQ(p.functions.size(), 3u);
  ASSERT_EQ(p.ats.size(), 1u);

  const ast::Function& f = p.functions[0];
  EXPECT_EQ(f.name.name, "f");
  EXPECT_EQ(where(src, f.loc), "2:1");
  EXPECT_EQ(where(src, f.name.loc), "2:4");
  ASSERT_EQ(f.params.size(), 3u);
  EXPECT_EQ(f.params[0].name, "x");
  EXPECT_EQ(f.params[1].name, "y");
  EXPECT_EQ(f.params[2].name, "z");
  EXPECT_EQ(where(src, f.params[2].loc), "2:12");
  EXPECT_TRUE(f.body.empty());
  EXPECT_EQ(where(src, f.result_loc), "2:17");
  EXPECT_EQ(show(f.result), "(tanh (log (+ 1 (* z (/ (* 2 x) (sin y))))))");

  const ast::Function& h = p.functions[2];
  EXPECT_EQ(h.name.name, "h");
  ASSERT_EQ(h.params.size(), 2u);
  EXPECT_EQ(h.params[1].name, "v");
  EXPECT_EQ(show(h.result), "(+ (g u v 3) (^ u 2))");
  EXPECT_EQ(where(src, h.loc), "11:1");
}

TEST(ParserExample, BlockBody) {
  SourceFile src = source(kLecture);
  ast::Program p = parse_program(src);
  const ast::Function& g = p.functions.at(1);
  EXPECT_EQ(g.name.name, "g");
  EXPECT_EQ(where(src, g.loc), "4:1");
  ASSERT_EQ(g.body.size(), 5u);
  const char* targets[] = {"a", "b", "c", "d", "e"};
  const char* values[] = {"(* 2 x)", "(sin y)", "(/ a b)", "(* z c)", "(log (+ 1 d))"};
  const char* locs[] = {"5:3", "6:3", "7:3", "7:15", "8:3"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(g.body[i].target.name, targets[i]);
    EXPECT_EQ(show(g.body[i].value), values[i]);
    EXPECT_EQ(where(src, g.body[i].target.loc), locs[i]);
  }
  EXPECT_EQ(show(g.result), "(tanh e)");
  EXPECT_EQ(where(src, g.result_loc), "9:10");
}

TEST(ParserExample, AtBindings) {
  SourceFile src = source(kLecture);
  ast::Program p = parse_program(src);
  const ast::At& at = p.ats.at(0);
  EXPECT_EQ(where(src, at.loc), "12:1");
  ASSERT_EQ(at.bindings.size(), 5u);
  const char* names[] = {"x", "y", "z", "u", "v"};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(at.bindings[i].target.name, names[i]);
  EXPECT_EQ(where(src, at.bindings[1].target.loc), "12:13");

  // Numbers keep their value and their text.
  const Operand& half = at.bindings[0].value.first.first.power.base;
  EXPECT_EQ(half.kind, Operand::Number);
  EXPECT_EQ(half.number, 0.5);
  EXPECT_EQ(half.text, "0.5");
  EXPECT_EQ(where(src, half.loc), "12:8");
  EXPECT_EQ(at.bindings[1].value.first.first.power.base.number, 1.2);
  EXPECT_EQ(at.bindings[2].value.first.first.power.base.number, 3.0);

  // v = -pi/2: a term whose first unary is "-" pi, divided by 2.
  const ast::Expr& v = at.bindings[4].value;
  EXPECT_EQ(show(v), "(/ (- pi) 2)");
  EXPECT_TRUE(v.steps.empty());
  EXPECT_EQ(v.first.first.signs, "-");
  EXPECT_EQ(where(src, v.first.first.loc), "12:40");
  EXPECT_EQ(v.first.first.power.base.kind, Operand::Name);
  EXPECT_EQ(where(src, v.first.first.power.base.loc), "12:41");
  ASSERT_EQ(v.first.steps.size(), 1u);
  EXPECT_EQ(v.first.steps[0].op, '/');
  EXPECT_EQ(where(src, v.first.steps[0].loc), "12:43");
}

TEST(ParserExample, ItemsInAnyOrder) {
  SourceFile src = source("at x = 1\nfn f(x) = x\nat x = 2\nat y = 3, z = 4\nfn g(y) = y");
  ast::Program p = parse_program(src);
  EXPECT_EQ(p.functions.size(), 2u);
  ASSERT_EQ(p.ats.size(), 3u);
  EXPECT_EQ(p.ats[2].bindings.size(), 2u);
}

//===--- Expressions --------------------------------------------------------------------===//

TEST(ParserPrecedence, Shapes) {
  EXPECT_EQ(parsed("-x^2"), "(- (^ x 2))");
  EXPECT_EQ(parsed("2^3^2"), "(^ 2 (^ 3 2))");
  EXPECT_EQ(parsed("a - -b"), "(- a (- b))");
  EXPECT_EQ(parsed("2^-3"), "(^ 2 (- 3))");
  EXPECT_EQ(parsed("a^-b^c"), "(^ a (- (^ b c)))");
  EXPECT_EQ(parsed("1+2*3"), "(+ 1 (* 2 3))");
  EXPECT_EQ(parsed("1-2-3"), "(- (- 1 2) 3)");
  EXPECT_EQ(parsed("8/4/2"), "(/ (/ 8 4) 2)");
  EXPECT_EQ(parsed("(1+2)*3"), "(* (+ 1 2) 3)");
  EXPECT_EQ(parsed("--x"), "(- (- x))");
  EXPECT_EQ(parsed("+-x"), "(+ (- x))");
  EXPECT_EQ(parsed("-2*x"), "(* (- 2) x)");
  EXPECT_EQ(parsed("(x)^2"), "(^ x 2)");
  EXPECT_EQ(parsed("f(x, g(y))^2"), "(^ (f x (g y)) 2)");
}

TEST(ParserPrecedence, FlatStructure) {
  SourceFile src = source("a^-b^c");
  ast::Expr e = parse_expression(src);
  const ast::Power& p = e.first.first.power;
  EXPECT_EQ(p.base.text, "a");
  ASSERT_EQ(p.steps.size(), 2u);
  EXPECT_EQ(p.steps[0].signs, "-");
  EXPECT_EQ(p.steps[0].operand.text, "b");
  EXPECT_EQ(where(src, p.steps[0].loc), "1:2");
  EXPECT_EQ(p.steps[1].signs, "");
  EXPECT_EQ(p.steps[1].operand.text, "c");

  SourceFile src2 = source("a - - b");
  ast::Expr e2 = parse_expression(src2);
  ASSERT_EQ(e2.steps.size(), 1u);
  EXPECT_EQ(e2.steps[0].op, '-');
  EXPECT_EQ(where(src2, e2.steps[0].loc), "1:3");
  EXPECT_EQ(e2.steps[0].operand.first.signs, "-");
  EXPECT_EQ(where(src2, e2.steps[0].operand.first.loc), "1:5");
}

TEST(ParserExpressions, Operands) {
  SourceFile src = source("sin (x) + (y) + 3");
  ast::Expr e = parse_expression(src);
  const Operand& call = e.first.first.power.base;
  EXPECT_EQ(call.kind, Operand::Call);
  EXPECT_EQ(call.text, "sin");
  ASSERT_EQ(call.args.size(), 1u);
  const Operand& paren = e.steps.at(0).operand.first.power.base;
  EXPECT_EQ(paren.kind, Operand::Paren);
  ASSERT_EQ(paren.args.size(), 1u);
  EXPECT_EQ(where(src, paren.loc), "1:11");
  EXPECT_EQ(e.steps.at(1).operand.first.power.base.kind, Operand::Number);
}

TEST(ParserExpressions, NanAndInfAreNames) {
  SourceFile src = source("nan + inf * infinity - Inf - NaN");
  ast::Expr e = parse_expression(src);
  EXPECT_EQ(show(e), "(- (- (+ nan (* inf infinity)) Inf) NaN)");
  EXPECT_EQ(e.first.first.power.base.kind, Operand::Name);
  EXPECT_EQ(e.steps.at(0).operand.steps.at(0).operand.power.base.kind, Operand::Name);
}

TEST(ParserExpressions, Numbers) {
  struct Case {
    const char* text;
    double value;
  } cases[] = {{"3", 3}, {"0.5", 0.5}, {".5", 0.5}, {"1e-3", 1e-3}, {"2.5E+2", 250}, {"1.", 1}, {"007", 7},
               {"1e-400", 0}};
  for (const auto& c : cases) {
    SourceFile src = source(c.text);
    ast::Expr e = parse_expression(src);
    const Operand& o = e.first.first.power.base;
    EXPECT_EQ(o.kind, Operand::Number) << c.text;
    EXPECT_EQ(o.number, c.value) << c.text;
    EXPECT_EQ(o.text, c.text);
  }
}

TEST(ParserExpressions, LocsSkipBlanksAndComments) {
  SourceFile src = source("fn f(x) = # the result:\n   x");
  ast::Program p = parse_program(src);
  EXPECT_EQ(where(src, p.functions.at(0).result_loc), "2:4");
  EXPECT_EQ(where(src, p.functions.at(0).result.first.first.loc), "2:4");
  EXPECT_EQ(where(src, p.functions.at(0).result.first.first.power.base.loc), "2:4");
}

TEST(ParserExpressions, Keywords) {
  EXPECT_TRUE(is_keyword("fn"));
  EXPECT_TRUE(is_keyword("at"));
  EXPECT_TRUE(is_keyword("return"));
  EXPECT_FALSE(is_keyword("fnx"));
  EXPECT_FALSE(is_keyword("x"));
  EXPECT_FALSE(is_keyword("nan"));
  // Names that merely start with a keyword are names.
  EXPECT_EQ(parsed("fnx + at2 + returned"), "(+ (+ fnx at2) returned)");
}

TEST(ParserStatements, SemicolonsAndNewlines) {
  SourceFile src = source("fn f(x) { ; a = x; b = a ;; return a + b; }");
  ast::Program p = parse_program(src);
  const ast::Function& f = p.functions.at(0);
  ASSERT_EQ(f.body.size(), 2u);
  EXPECT_EQ(f.body[1].target.name, "b");
  EXPECT_EQ(show(f.result), "(+ a b)");

  // A statement may continue on the next line: `x\n+ 1` is one expression.
  SourceFile src2 = source("fn f(x) {\n  a = x\n    + 1\n  return a\n}");
  ast::Program p2 = parse_program(src2);
  ASSERT_EQ(p2.functions.at(0).body.size(), 1u);
  EXPECT_EQ(show(p2.functions[0].body[0].value), "(+ x 1)");
}

TEST(ParserStatements, WindowsLineEndingsAndTabs) {
  SourceFile src = source("fn f(x) {\r\n\ta = x # c\r\n\treturn a\r\n}\r\n");
  ast::Program p = parse_program(src);
  ASSERT_EQ(p.functions.at(0).body.size(), 1u);
  EXPECT_EQ(where(src, p.functions[0].body[0].target.loc), "2:2");
  EXPECT_EQ(where(src, p.functions[0].result_loc), "3:9");
}

//===--- Network items: data, param, layer, train -----------------------------------------===//

const char* const kNetwork =
    "# data: tensor literals (nested), or a call such as csv(...) with a string and named arguments\n"
    "data X = [[0, 0], [0, 1], [1, 0], [1, 1]]\n"
    "data Y = [0, 1, 1, 0]\n"
    "data spiral = csv(\"spiral.csv\", features = [x1, x2], target = label, classes = 2)\n"
    "\n"
    "# trainable tensors: shape (constant expressions) then initialiser expression\n"
    "param W1[2, 8] = xavier\n"
    "param b1[8] = zeros\n"
    "param W2[8, 1] = normal(0, 0.5)\n"
    "param s[1] = constant(0.1)\n"
    "\n"
    "# layers\n"
    "layer net = sequential(linear(2, 8), tanh, linear(8, 1, init = he))\n"
    "\n"
    "fn mlp(x) = tanh(x @ W1 + b1) @ W2 + b2     # '@' matrix product: same precedence as * and /, left-assoc\n"
    "fn pick(x) = x[0] + x[:, 1] + x[2, 3] + spiral.x[0]   # index postfix and member access, chainable\n"
    "\n"
    "train {\n"
    "  loss = cross_entropy(net(spiral.x), spiral.y)\n"
    "  optimizer = sgd(lr = 0.1, momentum = 0.9, nesterov = true)\n"
    "  epochs = 200\n"
    "  batch = 64\n"
    "  seed = 42\n"
    "}\n";

/// The operand of an expression that is a single operand.
const Operand& only_operand(const ast::Expr& e) {
  EXPECT_TRUE(e.steps.empty() && e.first.steps.empty() && e.first.first.signs.empty() &&
              e.first.first.power.steps.empty());
  return e.first.first.power.base;
}

TEST(ParserNetwork, ItemCounts) {
  SourceFile src = source(kNetwork);
  ast::Program p = parse_program(src);
  EXPECT_EQ(p.datas.size(), 3u);
  EXPECT_EQ(p.params.size(), 4u);
  EXPECT_EQ(p.layers.size(), 1u);
  EXPECT_EQ(p.functions.size(), 2u);
  EXPECT_EQ(p.trains.size(), 1u);
  EXPECT_TRUE(p.ats.empty());
}

TEST(ParserNetwork, TensorData) {
  SourceFile src = source(kNetwork);
  ast::Program p = parse_program(src);
  const ast::Binding& x = p.datas.at(0);
  EXPECT_EQ(x.name.name, "X");
  EXPECT_EQ(where(src, x.loc), "2:1");
  EXPECT_EQ(where(src, x.name.loc), "2:6");
  EXPECT_EQ(show(x.value), "[[0 0] [0 1] [1 0] [1 1]]");
  const Operand& rows = only_operand(x.value);
  EXPECT_EQ(rows.kind, Operand::Tensor);
  EXPECT_EQ(where(src, rows.loc), "2:10");
  ASSERT_EQ(rows.args.size(), 4u);
  EXPECT_TRUE(rows.arg_names.empty());
  const Operand& row = only_operand(rows.args[1]);
  EXPECT_EQ(row.kind, Operand::Tensor);
  EXPECT_EQ(where(src, row.loc), "2:19");
  ASSERT_EQ(row.args.size(), 2u);
  EXPECT_EQ(only_operand(row.args[1]).number, 1.0);

  EXPECT_EQ(p.datas.at(1).name.name, "Y");
  EXPECT_EQ(show(p.datas[1].value), "[0 1 1 0]");
}

TEST(ParserNetwork, CsvDataWithStringAndNamedArguments) {
  SourceFile src = source(kNetwork);
  ast::Program p = parse_program(src);
  const ast::Binding& d = p.datas.at(2);
  EXPECT_EQ(d.name.name, "spiral");
  EXPECT_EQ(where(src, d.name.loc), "4:6");
  EXPECT_EQ(show(d.value), "(csv \"spiral.csv\" features=[x1 x2] target=label classes=2)");
  const Operand& csv = only_operand(d.value);
  EXPECT_EQ(csv.kind, Operand::Call);
  EXPECT_EQ(csv.text, "csv");
  EXPECT_EQ(where(src, csv.loc), "4:15");
  ASSERT_EQ(csv.args.size(), 4u);
  ASSERT_EQ(csv.arg_names.size(), 4u);
  ASSERT_EQ(csv.arg_locs.size(), 4u);
  const char* names[] = {"", "features", "target", "classes"};
  const char* locs[] = {"4:19", "4:33", "4:54", "4:70"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(csv.arg_names[i], names[i]);
    EXPECT_EQ(where(src, csv.arg_locs[i]), locs[i]);
  }
  const Operand& file = only_operand(csv.args[0]);
  EXPECT_EQ(file.kind, Operand::String);
  EXPECT_EQ(file.text, "spiral.csv");
  EXPECT_EQ(where(src, file.loc), "4:19");
  EXPECT_EQ(only_operand(csv.args[1]).kind, Operand::Tensor);
  EXPECT_EQ(where(src, only_operand(csv.args[1]).loc), "4:44");
  EXPECT_EQ(only_operand(csv.args[2]).kind, Operand::Name);
}

TEST(ParserNetwork, Params) {
  SourceFile src = source(kNetwork);
  ast::Program p = parse_program(src);
  ASSERT_EQ(p.params.size(), 4u);
  const ast::Param& w1 = p.params[0];
  EXPECT_EQ(w1.name.name, "W1");
  EXPECT_EQ(where(src, w1.loc), "7:1");
  EXPECT_EQ(where(src, w1.name.loc), "7:7");
  ASSERT_EQ(w1.dims.size(), 2u);
  EXPECT_EQ(show(w1.dims[0]), "2");
  EXPECT_EQ(show(w1.dims[1]), "8");
  EXPECT_EQ(where(src, w1.dims[1].first.first.loc), "7:13");
  EXPECT_EQ(show(w1.init), "xavier");
  EXPECT_EQ(where(src, w1.init.first.first.loc), "7:18");

  EXPECT_EQ(p.params[1].name.name, "b1");
  ASSERT_EQ(p.params[1].dims.size(), 1u);
  EXPECT_EQ(show(p.params[1].init), "zeros");
  EXPECT_EQ(show(p.params[2].init), "(normal 0 0.5)");
  EXPECT_EQ(p.params[3].name.name, "s");
  EXPECT_EQ(where(src, p.params[3].name.loc), "10:7");
  EXPECT_EQ(show(p.params[3].init), "(constant 0.1)");

  // Shapes are expressions (the compiler folds them to constants).
  SourceFile src2 = source("param W [2 * n, n + 1] = normal(0, 1 / n)");
  ast::Program p2 = parse_program(src2);
  ASSERT_EQ(p2.params.at(0).dims.size(), 2u);
  EXPECT_EQ(show(p2.params[0].dims[0]), "(* 2 n)");
  EXPECT_EQ(show(p2.params[0].dims[1]), "(+ n 1)");
}

TEST(ParserNetwork, Layer) {
  SourceFile src = source(kNetwork);
  ast::Program p = parse_program(src);
  const ast::Binding& net = p.layers.at(0);
  EXPECT_EQ(net.name.name, "net");
  EXPECT_EQ(where(src, net.loc), "13:1");
  EXPECT_EQ(where(src, net.name.loc), "13:7");
  EXPECT_EQ(show(net.value), "(sequential (linear 2 8) tanh (linear 8 1 init=he))");
  const Operand& seq = only_operand(net.value);
  ASSERT_EQ(seq.args.size(), 3u);
  EXPECT_EQ(seq.arg_names, (std::vector<std::string>{"", "", ""}));
  const Operand& last = only_operand(seq.args[2]);
  EXPECT_EQ(where(src, last.loc), "13:44");
  EXPECT_EQ(last.arg_names, (std::vector<std::string>{"", "", "init"}));
  EXPECT_EQ(where(src, last.arg_locs.at(2)), "13:57");
}

TEST(ParserNetwork, MatrixProductAndPostfixes) {
  SourceFile src = source(kNetwork);
  ast::Program p = parse_program(src);
  const ast::Function& mlp = p.functions.at(0);
  EXPECT_EQ(mlp.name.name, "mlp");
  EXPECT_EQ(show(mlp.result), "(+ (@ (tanh (+ (@ x W1) b1)) W2) b2)");
  ASSERT_EQ(mlp.result.first.steps.size(), 1u);
  EXPECT_EQ(mlp.result.first.steps[0].op, '@');
  EXPECT_EQ(where(src, mlp.result.first.steps[0].loc), "15:31");

  const ast::Function& pick = p.functions.at(1);
  EXPECT_EQ(show(pick.result), "(+ (+ (+ (index x 0) (index x : 1)) (index x 2 3)) (index (. spiral x) 0))");
  const Operand& x0 = pick.result.first.first.power.base;
  EXPECT_EQ(x0.kind, Operand::Name);
  EXPECT_EQ(where(src, x0.loc), "16:14");
  ASSERT_EQ(x0.postfix.size(), 1u);
  EXPECT_EQ(x0.postfix[0].kind, ast::Postfix::Index);
  EXPECT_EQ(where(src, x0.postfix[0].loc), "16:15");
  ASSERT_EQ(x0.postfix[0].subscripts.size(), 1u);
  EXPECT_FALSE(x0.postfix[0].subscripts[0].all);
  EXPECT_EQ(x0.postfix[0].subscripts[0].index.size(), 1u);

  const Operand& x_all = pick.result.steps.at(0).operand.first.power.base;
  ASSERT_EQ(x_all.postfix.size(), 1u);
  const auto& subs = x_all.postfix[0].subscripts;
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_TRUE(subs[0].all);
  EXPECT_TRUE(subs[0].index.empty());
  EXPECT_EQ(where(src, subs[0].loc), "16:23");
  EXPECT_FALSE(subs[1].all);
  EXPECT_EQ(where(src, subs[1].loc), "16:26");

  const Operand& sx = pick.result.steps.at(2).operand.first.power.base;
  EXPECT_EQ(sx.text, "spiral");
  EXPECT_EQ(where(src, sx.loc), "16:41");
  ASSERT_EQ(sx.postfix.size(), 2u);
  EXPECT_EQ(sx.postfix[0].kind, ast::Postfix::Member);
  EXPECT_EQ(sx.postfix[0].member, "x");
  EXPECT_EQ(where(src, sx.postfix[0].loc), "16:47");
  EXPECT_EQ(sx.postfix[1].kind, ast::Postfix::Index);
  EXPECT_EQ(where(src, sx.postfix[1].loc), "16:49");
}

TEST(ParserNetwork, TrainBlock) {
  SourceFile src = source(kNetwork);
  ast::Program p = parse_program(src);
  const ast::Train& t = p.trains.at(0);
  EXPECT_EQ(where(src, t.loc), "18:1");
  ASSERT_EQ(t.settings.size(), 5u);
  const char* names[] = {"loss", "optimizer", "epochs", "batch", "seed"};
  const char* locs[] = {"19:3", "20:3", "21:3", "22:3", "23:3"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.settings[i].target.name, names[i]);
    EXPECT_EQ(where(src, t.settings[i].target.loc), locs[i]);
  }
  EXPECT_EQ(show(t.settings[0].value), "(cross_entropy (net (. spiral x)) (. spiral y))");
  EXPECT_EQ(show(t.settings[1].value), "(sgd lr=0.1 momentum=0.9 nesterov=true)");
  const Operand& sgd = only_operand(t.settings[1].value);
  EXPECT_EQ(where(src, sgd.arg_locs.at(0)), "20:19");
  EXPECT_EQ(where(src, sgd.arg_locs.at(1)), "20:29");
  EXPECT_EQ(where(src, sgd.arg_locs.at(2)), "20:45");
  EXPECT_EQ(show(t.settings[4].value), "42");

  // ';' separates settings too; an empty block is accepted (the compiler decides).
  SourceFile src2 = source("train { epochs = 2; batch = 8;; }\ntrain {}");
  ast::Program p2 = parse_program(src2);
  ASSERT_EQ(p2.trains.size(), 2u);
  EXPECT_EQ(p2.trains[0].settings.size(), 2u);
  EXPECT_TRUE(p2.trains[1].settings.empty());
}

TEST(ParserNetwork, ItemsInAnyOrderAndNoFunctionNeeded) {
  SourceFile src = source("train { epochs = 1 }\nparam w[1] = zeros\nfn f(x) = x @ w\ndata d = [1]\nat x = 1\n"
                          "layer l = tanh\nparam v[2] = ones");
  ast::Program p = parse_program(src);
  EXPECT_EQ(p.trains.size(), 1u);
  EXPECT_EQ(p.params.size(), 2u);
  EXPECT_EQ(p.functions.size(), 1u);
  EXPECT_EQ(p.datas.size(), 1u);
  EXPECT_EQ(p.ats.size(), 1u);
  EXPECT_EQ(p.layers.size(), 1u);
  EXPECT_EQ(p.params[1].name.name, "v");

  // Only data and param items: the parser accepts the file (an empty one is still an error).
  EXPECT_EQ(program_error("data d = [1, 2]\nparam w[2] = zeros\n"), "no error");
  EXPECT_EQ(program_error("# nothing but a comment\n"),
            "1:1: empty file: expected at least one item (fn, at, const, param, data, layer or train)");
}

TEST(ParserNetwork, DumpAst) {
  SourceFile src = source(kNetwork);
  std::string dump = dump_ast(src, parse_program(src));
  auto has_line = [&](const std::string& line) {
    return ("\n" + dump).find("\n" + line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has_line("(data X@2:6 (tensor (tensor 0 0) (tensor 0 1) (tensor 1 0) (tensor 1 1)))")) << dump;
  EXPECT_TRUE(has_line("(data spiral@4:6 (call csv@4:15 \"spiral.csv\" (named features (tensor x1 x2)) "
                       "(named target label) (named classes 2)))"))
      << dump;
  EXPECT_TRUE(has_line("(param W1@7:7 (shape 2 8) xavier)")) << dump;
  EXPECT_TRUE(has_line("(param W2@9:7 (shape 8 1) (call normal@9:18 0 0.5))")) << dump;
  EXPECT_TRUE(has_line("(layer net@13:7 (call sequential@13:13 (call linear@13:24 2 8) tanh "
                       "(call linear@13:44 8 1 (named init he))))"))
      << dump;
  EXPECT_TRUE(has_line("  (return (add (mul (call tanh@15:13 (add (mul x @ W1) + b1)) @ W2) + b2)))")) << dump;
  EXPECT_TRUE(has_line("  (return (add (index x 0) + (index x : 1) + (index x 2 3) + (index (member spiral x) 0))))"))
      << dump;
  EXPECT_TRUE(has_line("(train@18:1")) << dump;
  EXPECT_TRUE(has_line("  (set optimizer@20:3 (call sgd@20:15 (named lr 0.1) (named momentum 0.9) (named nesterov true)))"))
      << dump;
  EXPECT_TRUE(has_line("  (set seed@23:3 42))")) << dump;
  // Items print in source order: the data before the params, the functions before train.
  EXPECT_LT(dump.find("(data X"), dump.find("(param W1"));
  EXPECT_LT(dump.find("(param s@"), dump.find("(layer net"));
  EXPECT_LT(dump.find("(fn pick"), dump.find("(train"));

  // Strings print with their escapes.
  SourceFile src2 = source("data d = f(\"a\\\"b\\\\c\")");
  EXPECT_EQ(dump_ast(src2, parse_program(src2)), "(data d@1:6 (call f@1:10 \"a\\\"b\\\\c\"))\n");
}

TEST(ParserPrecedence, MatrixProduct) {
  EXPECT_EQ(parsed("a @ b * c"), "(* (@ a b) c)");
  EXPECT_EQ(parsed("a * b @ c"), "(@ (* a b) c)");
  EXPECT_EQ(parsed("a + b @ c"), "(+ a (@ b c))");
  EXPECT_EQ(parsed("a @ b + c"), "(+ (@ a b) c)");
  EXPECT_EQ(parsed("-x @ y"), "(@ (- x) y)");
  EXPECT_EQ(parsed("a @ b @ c"), "(@ (@ a b) c)");
  EXPECT_EQ(parsed("a / b @ c"), "(@ (/ a b) c)");
  EXPECT_EQ(parsed("x @ y ^ 2"), "(@ x (^ y 2))");
  EXPECT_EQ(parsed("x @ -y"), "(@ x (- y))");
}

TEST(ParserPrecedence, PostfixBindsTightest) {
  EXPECT_EQ(parsed("-x[0]"), "(- (index x 0))");
  EXPECT_EQ(parsed("x[0]^2"), "(^ (index x 0) 2)");
  EXPECT_EQ(parsed("2^x.a"), "(^ 2 (. x a))");
  EXPECT_EQ(parsed("a.b.c[1][2, :].d"), "(. (index (index (. (. a b) c) 1) 2 :) d)");
  EXPECT_EQ(parsed("f(x)[0] + (a + b)[1]"), "(+ (index (f x) 0) (index (+ a b) 1))");
  EXPECT_EQ(parsed("[1, 2][0]"), "(index [1 2] 0)");
  EXPECT_EQ(parsed("x[i + 1, -j]"), "(index x (+ i 1) (- j))");
  EXPECT_EQ(parsed("x[y[0]]"), "(index x (index y 0))");
  // Blanks may precede '[' and follow '.', but not precede the member '.'.
  EXPECT_EQ(parsed("x [0]"), "(index x 0)");
  EXPECT_EQ(parsed("x.\n  a"), "(. x a)");
  EXPECT_EQ(expression_error("x .a"), "1:3: unexpected character '.'");
  EXPECT_EQ(expression_error("x .5"), "1:3: expected end of expression");
}

TEST(ParserExpressions, TensorsStringsAndNamedArguments) {
  EXPECT_EQ(parsed("[[1, 2], [3, 4]] @ [x, -y]"), "(@ [[1 2] [3 4]] [x (- y)])");
  EXPECT_EQ(parsed("[[[1]]]"), "[[[1]]]");
  EXPECT_EQ(parsed("[\n  1,\n  2\n]"), "[1 2]");
  EXPECT_EQ(parsed("f(a = 1, 2, b = g(c = 3))"), "(f a=1 2 b=(g c=3))");
  // Positional arguments after named ones are syntactically fine (the compiler decides).
  SourceFile src = source("f(x, k = 2, y)");
  ast::Expr call = parse_expression(src);
  const Operand& f = only_operand(call);
  EXPECT_EQ(f.arg_names, (std::vector<std::string>{"", "k", ""}));
  ASSERT_EQ(f.arg_locs.size(), 3u);
  EXPECT_EQ(where(src, f.arg_locs[0]), "1:3");
  EXPECT_EQ(where(src, f.arg_locs[1]), "1:6");
  EXPECT_EQ(where(src, f.arg_locs[2]), "1:13");
  // A named argument's name is a name, not an expression: `a + b = 1` is not one.
  EXPECT_EQ(expression_error("f(a + b = 1)"), "1:9: expected ',' or ')'");
  EXPECT_EQ(expression_error("f(a = )"), "1:7: expected expression");
  EXPECT_EQ(expression_error("f(a = 1 = 2)"), "1:9: expected ',' or ')'");
  EXPECT_EQ(expression_error("f(1 = 2)"), "1:5: expected ',' or ')'");
}

TEST(ParserExpressions, Strings) {
  struct Case {
    const char* text;
    const char* contents;
  } cases[] = {{"\"spiral.csv\"", "spiral.csv"},
               {"\"\"", ""},
               {"\"a \\\"quoted\\\" word\"", "a \"quoted\" word"},
               {"\"C:\\\\data\\\\x.csv\"", "C:\\data\\x.csv"},
               {"\"# not a comment ((( [[[\"", "# not a comment ((( [[["},
               {"\"tab\there, caf\xc3\xa9\"", "tab\there, caf\xc3\xa9"}};
  for (const auto& c : cases) {
    SourceFile src = source(c.text);
    ast::Expr e = parse_expression(src);
    const Operand& o = only_operand(e);
    EXPECT_EQ(o.kind, Operand::String) << c.text;
    EXPECT_EQ(o.text, c.contents) << c.text;
    EXPECT_EQ(where(src, o.loc), "1:1");
  }
  EXPECT_EQ(parsed("  \"a\"[0]"), "(index \"a\" 0)");
}

TEST(ParserExpressions, NewKeywords) {
  for (const char* k : {"param", "data", "layer", "train"}) EXPECT_TRUE(is_keyword(k)) << k;
  EXPECT_EQ(parsed("dataset + params + trainer + layers + datum"), "(+ (+ (+ (+ dataset params) trainer) layers) datum)");
}


}  // namespace
}  // namespace gradc::test
