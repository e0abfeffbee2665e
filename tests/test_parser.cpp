// Unit tests of the .grad parser: AST shape and positions, precedence, error messages with
// their line:col, and robustness on deep nesting and megabyte-long flat chains.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include "grammar/parser.hpp"

namespace gradc {
namespace {

using ast::Operand;

SourceFile source(std::string text) { return SourceFile{"test.grad", std::move(text)}; }

/// "line:col" of a Loc in src.
std::string where(const SourceFile& src, Loc loc) {
  auto [line, col] = src.line_col(loc);
  return std::to_string(line) + ":" + std::to_string(col);
}

//===--- An S-expression printer that makes the AST's meaning explicit --------------------===//
// Binary operators print as (op a b), signs as (- a), calls as (f a b), parentheses vanish.

std::string show(const ast::Expr& e);

std::string show(const Operand& o) {
  switch (o.kind) {
    case Operand::Number:
    case Operand::Name:
      return o.text;
    case Operand::Paren:
      return show(o.args.at(0));
    case Operand::Call: {
      std::string s = "(";
      s += o.text;
      for (const auto& a : o.args) {
        s += ' ';
        s += show(a);
      }
      return s + ")";
    }
  }
  return "?";
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

//===--- Error helpers ----------------------------------------------------------------------===//

/// "line:col: message" of the InputError that parsing `text` as a program throws.
std::string program_error(const std::string& text) {
  SourceFile src = source(text);
  try {
    parse_program(src);
  } catch (const InputError& e) {
    return where(src, e.loc) + ": " + e.what();
  }
  return "no error";
}

std::string expression_error(const std::string& text) {
  SourceFile src = source(text);
  try {
    parse_expression(src);
  } catch (const InputError& e) {
    return where(src, e.loc) + ": " + e.what();
  }
  return "no error";
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

//===--- Errors: message and line:col ---------------------------------------------------===//

TEST(ParserErrors, ExpectedSomething) {
  EXPECT_EQ(program_error("fn f(x) = 1 + * 2"), "1:15: expected expression");
  EXPECT_EQ(program_error("fn f(x) = sin()"), "1:15: expected expression");
  EXPECT_EQ(program_error("fn f(x) = (x 1)"), "1:14: expected ')'");
  EXPECT_EQ(program_error("fn f(x) = sin(x 1)"), "1:17: expected ',' or ')'");
  EXPECT_EQ(program_error("at x 1"), "1:6: expected '='");
  EXPECT_EQ(program_error("fn f(x) {\n  a + 1\n  return a\n}"), "2:5: expected '='");
  EXPECT_EQ(program_error("fn f() = 1"), "1:6: expected parameter name");
  EXPECT_EQ(program_error("fn f(x,) = 1"), "1:8: expected parameter name");
  EXPECT_EQ(program_error("fn f(x y) = 1"), "1:8: expected ',' or ')'");
  EXPECT_EQ(program_error("fn (x) = 1"), "1:4: expected function name");
  EXPECT_EQ(program_error("fn f x = 1"), "1:6: expected '('");
  EXPECT_EQ(program_error("fn f(x) x"), "1:9: expected '=' or '{' after the parameter list");
  EXPECT_EQ(program_error("fn f(x) {\n  a = x\n}"), "3:1: expected 'return' or an assignment");
  EXPECT_EQ(program_error("fn f(x) {\n  return x\n  a = 1\n}"), "3:3: expected '}'");
  EXPECT_EQ(program_error("fn f(x) = x\nx = 1"), "2:1: expected 'fn' or 'at'");
  EXPECT_EQ(program_error("fn f(x) = x;"), "1:12: expected 'fn' or 'at'");
  EXPECT_EQ(program_error("at x = 1, 2"), "1:11: expected binding name");
  EXPECT_EQ(program_error("at = 1"), "1:4: expected binding name");
}

TEST(ParserErrors, UnexpectedCharacter) {
  EXPECT_EQ(program_error("fn f(x) = x $ 2"), "1:13: unexpected character '$'");
  EXPECT_EQ(program_error("fn f(x) = 2 * $"), "1:15: unexpected character '$'");
  EXPECT_EQ(program_error("fn f(x) =\n  x . y"), "2:5: unexpected character '.'");
  EXPECT_EQ(program_error("fn f(x) = x @"), "1:13: unexpected character '@'");
  EXPECT_EQ(program_error("fn f(x) = \xc3\xa9"), "1:11: unexpected character '\xc3\xa9'");
  EXPECT_EQ(expression_error("x + \x01"), "1:5: unexpected character '\\x01'");
}

TEST(ParserErrors, EndOfFile) {
  EXPECT_EQ(program_error("fn f(x) = 1 +"), "1:14: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) = 1 + # more later\n"), "2:1: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) = (x + 1"), "1:17: expected ')', found end of file");
  EXPECT_EQ(program_error("fn f(x) {\n  return x\n"), "3:1: expected '}', found end of file");
  EXPECT_EQ(program_error("fn f"), "1:5: expected '(', found end of file");
  EXPECT_EQ(program_error("fn"), "1:3: expected function name, found end of file");
  EXPECT_EQ(expression_error(""), "1:1: expected expression, found end of file");
  EXPECT_EQ(expression_error("  # nothing\n"), "2:1: expected expression, found end of file");
  EXPECT_EQ(expression_error(")"), "1:1: expected expression");
}

TEST(ParserErrors, KeywordAsName) {
  EXPECT_EQ(program_error("fn fn(x) = x"), "1:4: 'fn' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) {\n  a = return\n  return a\n}"),
            "2:7: 'return' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(at) = at"), "1:6: 'at' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x, return) = x"), "1:9: 'return' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) = x\nat fn = 1"), "2:4: 'fn' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) = at + 1"), "1:11: 'at' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) {\n  fn = x\n  return fn\n}"),
            "2:3: 'fn' is a keyword and cannot be used as a name");
  // A keyword that is not followed by '=' is not taken for an assignment target.
  EXPECT_EQ(program_error("fn f(x) {\n  a = x\nfn g(y) = y"), "3:1: expected 'return' or an assignment");
}

TEST(ParserErrors, Numbers) {
  EXPECT_EQ(program_error("fn f(x) = 1e999"), "1:11: number '1e999' is out of range");
  EXPECT_EQ(program_error("fn f(x) = x + 1.2.3 * 2"), "1:15: malformed number '1.2.3'");
  EXPECT_EQ(program_error("fn f(x) = 1e"), "1:11: malformed number '1e'");
  EXPECT_EQ(program_error("fn f(x) = 1e+ 2"), "1:11: malformed number '1e+'");
  EXPECT_EQ(program_error("fn f(x) = 2x"), "1:11: malformed number '2x'");
  EXPECT_EQ(program_error("fn f(x) = 3abc+1"), "1:11: malformed number '3abc'");
  EXPECT_EQ(program_error("at x = .5.5"), "1:8: malformed number '.5.5'");
  EXPECT_EQ(program_error("at x = 2e-3x"), "1:8: malformed number '2e-3x'");
  EXPECT_EQ(expression_error("1_000"), "1:1: malformed number '1_000'");
}

TEST(ParserErrors, EmptyFile) {
  const std::string message = "1:1: empty file: expected at least one function definition ('fn')";
  EXPECT_EQ(program_error(""), message);
  EXPECT_EQ(program_error("  \n\t# only a comment\n\n"), message);
}

TEST(ParserErrors, ParseExpressionTrailingGarbage) {
  EXPECT_EQ(expression_error("1 + 2 )"), "1:7: expected end of expression");
  EXPECT_EQ(expression_error("x y"), "1:3: expected end of expression");
  EXPECT_EQ(expression_error("x $"), "1:3: unexpected character '$'");
  EXPECT_EQ(expression_error("fn"), "1:1: 'fn' is a keyword and cannot be used as a name");
  EXPECT_EQ(expression_error("  x + 1  # fine\n"), "no error");
}

TEST(ParserErrors, FormattedDiagnostic) {
  SourceFile src = source("fn f(x) =\n  1 + * 2\n");
  try {
    parse_program(src);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(src.format(e.loc, "error", e.what()),
              "test.grad:2:7: error: expected expression\n  1 + * 2\n      ^\n");
  }
}

//===--- Robustness ---------------------------------------------------------------------===//

std::string nested_parens(int depth) {
  return "fn f(x) = " + std::string(depth, '(') + "x" + std::string(depth, ')');
}

std::string nested_calls(int depth) {
  std::string s = "fn f(x) = ";
  for (int i = 0; i < depth; ++i) s += "sin(";
  return s + "x" + std::string(depth, ')');
}

TEST(ParserRobustness, DeepParenthesesAreAnError) {
  const std::string message = "expression nested too deeply (more than 256 levels)";
  // "fn f(x) = " is 10 columns; the 257th '(' is at column 10 + 257.
  EXPECT_EQ(program_error(nested_parens(100000)), "1:267: " + message);
  EXPECT_EQ(program_error(nested_parens(257)), "1:267: " + message);
  // sin( is 4 columns: the 257th call bracket is at 10 + 256 * 4 + 4.
  EXPECT_EQ(program_error(nested_calls(100000)), "1:1038: " + message);
  EXPECT_EQ(expression_error(std::string(100000, '(')), "1:257: " + message);
  // Brackets in comments do not count.
  std::string commented = "# " + std::string(1000, '(') + "\nfn f(x) = (x)";
  EXPECT_EQ(program_error(commented), "no error");
}

TEST(ParserRobustness, NestingUpToTheLimitParses) {
  SourceFile src = source(nested_parens(ast::kMaxNesting));
  ast::Program p = parse_program(src);
  const ast::Expr* e = &p.functions.at(0).result;
  int depth = 0;
  while (e->first.first.power.base.kind == Operand::Paren) {
    e = &e->first.first.power.base.args.at(0);
    ++depth;
  }
  EXPECT_EQ(depth, ast::kMaxNesting);
  EXPECT_EQ(e->first.first.power.base.text, "x");

  SourceFile calls = source(nested_calls(ast::kMaxNesting));
  EXPECT_EQ(parse_program(calls).functions.size(), 1u);
}

TEST(ParserRobustness, MegabyteFlatSum) {
  std::string text = "fn f(x) = x";
  while (text.size() < (1u << 20)) text += "+x";
  auto start = std::chrono::steady_clock::now();
  SourceFile src = source(text);
  ast::Program p = parse_program(src);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const ast::Expr& e = p.functions.at(0).result;
  EXPECT_EQ(e.steps.size(), (text.size() - 11) / 2);
  EXPECT_EQ(e.steps.back().operand.first.power.base.text, "x");
  EXPECT_EQ(e.steps.back().loc.offset, text.size() - 2);
  // About 0.15 s in a release build; the bound leaves room for a busy machine. Unoptimized and
  // sanitizer builds are several times slower, so they skip it.
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(seconds, 3.0);
#endif
  (void)seconds;
}

TEST(ParserRobustness, HundredThousandUnaryMinus) {
  std::string text = "fn f(x) = ";
  for (int i = 0; i < 100000; ++i) text += "- ";
  text += "x";
  SourceFile src = source(text);
  ast::Program p = parse_program(src);
  const ast::Unary& u = p.functions.at(0).result.first.first;
  EXPECT_EQ(u.signs, std::string(100000, '-'));
  EXPECT_EQ(u.power.base.text, "x");
  EXPECT_EQ(where(src, u.loc), "1:11");
}

TEST(ParserRobustness, HundredThousandLongPowerChain) {
  std::string text = "2";
  for (int i = 0; i < 100000; ++i) text += "^2";
  SourceFile src = source(text);
  ast::Expr e = parse_expression(src);
  EXPECT_EQ(e.first.first.power.steps.size(), 100000u);
  EXPECT_TRUE(e.steps.empty());
  EXPECT_TRUE(e.first.steps.empty());
}

TEST(ParserRobustness, LongAssignmentBlock) {
  std::string text = "fn f(x) {\n";
  for (int i = 0; i < 10000; ++i) text += "  v" + std::to_string(i) + " = x * " + std::to_string(i) + "\n";
  text += "  return v9999\n}\n";
  SourceFile src = source(text);
  ast::Program p = parse_program(src);
  EXPECT_EQ(p.functions.at(0).body.size(), 10000u);
  EXPECT_EQ(where(src, p.functions[0].body.back().target.loc), "10001:3");
}

/// Random token soup: the parser either succeeds or throws an InputError located inside the
/// text, never anything else (run under the sanitizers, it also checks memory safety).
TEST(ParserRobustness, RandomInputOnlyThrowsInputError) {
  const char* const pieces[] = {"fn", "at", "return", "f", "x", "nan", "1", ".5", "1e", "2.5E+2", "1e999", "(",
                                ")", "{", "}", ",", ";", "=", "+", "-", "*", "/", "^", " ", "\n", "#c\n",
                                "$", ".", "\xc3", "_", "1.2.3"};
  std::mt19937 rng(12345);
  std::uniform_int_distribution<std::size_t> pick(0, std::size(pieces) - 1), length(0, 40);
  int parsed_ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = i % 2 ? "fn f(x) = " : "";
    for (std::size_t n = length(rng); n > 0; --n) text += pieces[pick(rng)];
    SourceFile src = source(text);
    try {
      if (i % 3 == 0)
        parse_expression(src);
      else
        parse_program(src);
      ++parsed_ok;
    } catch (const InputError& e) {
      EXPECT_LE(e.loc.offset, text.size()) << text;
      EXPECT_NE(std::string(e.what()), "") << text;
    } catch (...) {
      ADD_FAILURE() << "not an InputError for: " << text;
    }
  }
  EXPECT_GT(parsed_ok, 0);
}

}  // namespace
}  // namespace gradc
