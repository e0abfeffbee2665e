// Unit tests of the parser's diagnostics: error messages with their line:col (expressions,
// numbers, keywords, strings, tensors, postfixes, items), and robustness: nesting limits,
// megabyte-long flat chains and random token soup only ever throw an InputError.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include "grammar/parser.hpp"
#include "support/parser_helpers.hpp"

namespace gradc::test {
namespace {

using ast::Operand;

//===--- Errors: message and line:col ---------------------------------------------------===//

TEST(ParserErrors, ExpectedSomething) {
  EXPECT_EQ(program_error("fn f(x) = 1 + * 2"), "1:15: expected expression");
  EXPECT_EQ(program_error("fn f(x) = sin()"), "no error");  // a call of no arguments (lowering counts them)
  EXPECT_EQ(program_error("fn f(x) = (x 1)"), "1:14: expected ')'");
  EXPECT_EQ(program_error("fn f(x) = sin(x 1)"), "1:17: expected ',' or ')'");
  EXPECT_EQ(program_error("at x 1"), "1:6: expected '='");
  EXPECT_EQ(program_error("fn f(x) {\n  a + 1\n  return a\n}"), "2:5: expected '='");
  EXPECT_EQ(program_error("fn f( = 1"), "1:7: expected parameter name or ')'");
  EXPECT_EQ(program_error("fn f(x,) = 1"), "1:8: expected parameter name");
  EXPECT_EQ(program_error("fn f(x y) = 1"), "1:8: expected ',' or ')'");
  EXPECT_EQ(program_error("fn (x) = 1"), "1:4: expected function name");
  EXPECT_EQ(program_error("fn f x = 1"), "1:6: expected '('");
  EXPECT_EQ(program_error("fn f(x) x"), "1:9: expected '=' or '{' after the parameter list");
  EXPECT_EQ(program_error("fn f(x) {\n  a = x\n}"), "3:1: expected 'return' or an assignment");
  EXPECT_EQ(program_error("fn f(x) {\n  return x\n  a = 1\n}"), "3:3: expected '}'");
  EXPECT_EQ(program_error("fn f(x) = x\nx = 1"), "2:1: expected an item (fn, at, const, param, data, layer or train)");
  EXPECT_EQ(program_error("fn f(x) = x;"), "1:12: expected an item (fn, at, const, param, data, layer or train)");
  EXPECT_EQ(program_error("at x = 1, 2"), "1:11: expected binding name");
  EXPECT_EQ(program_error("at = 1"), "1:4: expected binding name");
}

TEST(ParserErrors, UnexpectedCharacter) {
  EXPECT_EQ(program_error("fn f(x) = x $ 2"), "1:13: unexpected character '$'");
  EXPECT_EQ(program_error("fn f(x) = 2 * $"), "1:15: unexpected character '$'");
  EXPECT_EQ(program_error("fn f(x) =\n  x . y"), "2:5: unexpected character '.'");
  EXPECT_EQ(program_error("fn f(x) = x ! 2"), "1:13: unexpected character '!'");
  EXPECT_EQ(program_error("fn f(x) = \xc3\xa9"), "1:11: unexpected character '\xc3\xa9'");
  EXPECT_EQ(expression_error("x + \x01"), "1:5: unexpected character '\\x01'");
}

TEST(ParserErrors, EndOfFile) {
  EXPECT_EQ(program_error("fn f(x) = 1 +"), "1:14: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) = 1 + # more later\n"), "1:14: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) = (x + 1"), "1:17: expected ')', found end of file");
  EXPECT_EQ(program_error("fn f(x) {\n  return x\n"), "2:11: expected '}', found end of file");
  EXPECT_EQ(program_error("fn f"), "1:5: expected '(', found end of file");
  EXPECT_EQ(program_error("fn"), "1:3: expected function name, found end of file");
  EXPECT_EQ(program_error("fn f(x) = x @"), "1:14: expected expression, found end of file");
  EXPECT_EQ(expression_error(""), "1:1: expected expression, found end of file");
  EXPECT_EQ(expression_error("  # nothing\n"), "1:1: expected expression, found end of file");
  EXPECT_EQ(expression_error(")"), "1:1: expected expression");
}

// At the end of the file, errors point just after the last token, on the line being written
// (as clang and rustc do), not at a blank line after it.
TEST(ParserErrors, EndOfFilePointsAfterTheLastToken) {
  EXPECT_EQ(program_error("fn f(x) = x +\n"), "1:14: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) = x +   \n\n\n"), "1:14: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) = x +\r\n"), "1:14: expected expression, found end of file");
  EXPECT_EQ(program_error("fn f(x) = (x\n  # the rest is missing\n\n"), "1:13: expected ')', found end of file");
  EXPECT_EQ(program_error("data d = csv(\"a.csv\"\n"), "1:21: expected ',' or ')', found end of file");
  EXPECT_EQ(program_error("data d = csv(\"a#b\" \n"), "1:19: expected ',' or ')', found end of file");
  // The whole message: the source line with the caret after the '+'.
  SourceFile src{"f.grad", "fn f(x) = x +\n"};
  try {
    parse_program(src);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(src.format(e.loc, "error", e.what()),
              "f.grad:1:14: error: expected expression, found end of file\nfn f(x) = x +\n             ^\n");
  }
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
  const std::string message = "1:1: empty file: expected at least one item (fn, at, const, param, data, layer or train)";
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
                                "$", ".", "\xc3", "_", "1.2.3", "[", "]", ":", "@", "\"", "\\", "\"s\"",
                                "param", "data", "layer", "train", "x.y", "a = "};
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

//===--- Errors in the network syntax ------------------------------------------------------===//

TEST(ParserErrors, UnterminatedString) {
  EXPECT_EQ(program_error("data d = csv(\"spiral.csv)"), "1:14: unterminated string");
  EXPECT_EQ(program_error("data d = csv(\"spiral.csv\n\", classes = 2)"), "1:14: unterminated string");
  EXPECT_EQ(program_error("data d = csv(\"spiral.csv\r\n\")"), "1:14: unterminated string");
  EXPECT_EQ(program_error("data d = csv(\"a\\\")"), "1:14: unterminated string");
  EXPECT_EQ(program_error("data d = csv(\"a\\\n\")"), "1:14: unterminated string");
  EXPECT_EQ(program_error("data d = \"a\\"), "1:10: unterminated string");
  EXPECT_EQ(expression_error("\""), "1:1: unterminated string");
  // Only \" and \\ are escapes.
  EXPECT_EQ(program_error("data d = csv(\"a\\nb.csv\")"),
            "1:16: unknown escape '\\n' in string (only \\\" and \\\\ are allowed)");
}

TEST(ParserErrors, Tensors) {
  EXPECT_EQ(program_error("data X = [1, 2,]"), "1:16: expected expression");
  EXPECT_EQ(program_error("data X = []"), "1:11: expected expression");
  EXPECT_EQ(program_error("data X = [1 2]"), "1:13: expected ',' or ']'");
  EXPECT_EQ(program_error("data X = [1, 2"), "1:15: expected ',' or ']', found end of file");
  EXPECT_EQ(program_error("data X = [[1, 2], [3, 4)]"), "1:24: expected ',' or ']'");
  EXPECT_EQ(program_error("data X = [1, 2]]"), "1:16: expected an item (fn, at, const, param, data, layer or train)");
}

TEST(ParserErrors, Postfixes) {
  EXPECT_EQ(program_error("fn f(x) = x.5"), "1:13: expected member name");
  EXPECT_EQ(program_error("fn f(x) = x.5 + 1"), "1:13: expected member name");
  EXPECT_EQ(program_error("fn f(x) = x."), "1:13: expected member name, found end of file");
  EXPECT_EQ(program_error("fn f(x) = x.(y)"), "1:13: expected member name");
  EXPECT_EQ(program_error("fn f(x) = x[]"), "1:13: expected expression or ':'");
  EXPECT_EQ(program_error("fn f(x) = x[0,]"), "1:15: expected expression or ':'");
  EXPECT_EQ(program_error("fn f(x) = x[0"), "1:14: expected ',' or ']', found end of file");
  EXPECT_EQ(program_error("fn f(x) = x[1:2]"), "1:14: expected ',' or ']'");
  EXPECT_EQ(program_error("fn f(x) = x[0)"), "1:14: expected ',' or ']'");
  // Numbers keep their rules: a '.' glued to a number belongs to the number.
  EXPECT_EQ(program_error("fn f(x) = 1.x"), "1:11: malformed number '1.x'");
  EXPECT_EQ(program_error("fn f(x) = x + 2.e"), "1:15: malformed number '2.e'");
}

TEST(ParserErrors, Items) {
  EXPECT_EQ(program_error("param W[2 = zeros"), "1:11: expected ',' or ']'");
  EXPECT_EQ(program_error("param W[2] zeros"), "1:12: expected '='");
  EXPECT_EQ(program_error("param W[2]"), "1:11: expected '=', found end of file");
  EXPECT_EQ(program_error("param W[2] ="), "1:13: expected expression, found end of file");
  EXPECT_EQ(program_error("param W = zeros"), "1:9: expected '['");
  EXPECT_EQ(program_error("param W[] = zeros"), "1:9: expected expression");
  EXPECT_EQ(program_error("param [2] = zeros"), "1:7: expected param name");
  EXPECT_EQ(program_error("data = [1]"), "1:6: expected data name");
  EXPECT_EQ(program_error("data X [1]"), "1:8: expected '='");
  EXPECT_EQ(program_error("layer = tanh"), "1:7: expected layer name");
  EXPECT_EQ(program_error("layer l linear(2, 3)"), "1:9: expected '='");
  EXPECT_EQ(program_error("train epochs = 1"), "1:7: expected '{'");
  EXPECT_EQ(program_error("train { lr 0.1 }"), "1:12: expected '='");
  EXPECT_EQ(program_error("train { epochs = 1"), "1:19: expected a setting or '}', found end of file");
  EXPECT_EQ(program_error("train { epochs = 1, batch = 2 }"), "1:19: expected a setting or '}'");
  EXPECT_EQ(program_error("train {\n  epochs = 1\n  fn f(x) = x\n}"), "3:3: expected a setting or '}'");
  EXPECT_EQ(program_error("train { epochs = $ }"), "1:18: unexpected character '$'");
}

TEST(ParserErrors, NewKeywordsAsNames) {
  EXPECT_EQ(program_error("fn f(param) = 1"), "1:6: 'param' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn data(x) = x"), "1:4: 'data' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("data data = [1]"), "1:6: 'data' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("param train[1] = 0"), "1:7: 'train' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("layer layer = tanh"), "1:7: 'layer' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("at layer = 1"), "1:4: 'layer' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) = x + train"), "1:15: 'train' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) = g(data = 1)"), "1:13: 'data' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) = x.layer"), "1:13: 'layer' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("fn f(x) {\n  param = x\n  return x\n}"),
            "2:3: 'param' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("train {\n  data = 1\n}"), "2:3: 'data' is a keyword and cannot be used as a name");
  EXPECT_EQ(program_error("train { return = 1 }"), "1:9: 'return' is a keyword and cannot be used as a name");
  EXPECT_EQ(expression_error("param"), "1:1: 'param' is a keyword and cannot be used as a name");
}

//===--- Robustness of the network syntax ---------------------------------------------------===//

TEST(ParserRobustness, DeepTensorsAndIndexesAreAnError) {
  const std::string message = "expression nested too deeply (more than 256 levels)";
  // "data X = " is 9 columns: the 257th '[' is at column 9 + 257.
  EXPECT_EQ(program_error("data X = " + std::string(300, '[') + "1" + std::string(300, ']')), "1:266: " + message);
  EXPECT_EQ(program_error("data X = " + std::string(100000, '[')), "1:266: " + message);
  // '(' and '[' count together: x[( is 3 columns, the 257th bracket is at 10 + 128 * 3 + 2.
  std::string mixed = "fn f(x) = ";
  for (int i = 0; i < 200; ++i) mixed += "x[(";
  EXPECT_EQ(program_error(mixed), "1:396: " + message);
  // Brackets in strings do not count; a '#' or a '"' in a string does not hide what follows
  // (there, f's '(' is the first level: the 257th is the 256th '[').
  EXPECT_EQ(program_error("data d = csv(\"" + std::string(1000, '(') + "\")"), "no error");
  EXPECT_EQ(program_error("data d = f(\"#\", " + std::string(100000, '[')), "1:272: " + message);
  EXPECT_EQ(program_error("data d = f(\"\\\"#\", " + std::string(100000, '[')), "1:274: " + message);
  // A '"' in a comment starts no string.
  EXPECT_EQ(program_error("# \"\ndata X = " + std::string(100000, '[')), "2:266: " + message);
}

TEST(ParserRobustness, TensorNestingUpToTheLimitParses) {
  int n = ast::kMaxNesting;
  SourceFile src = source("data X = " + std::string(n, '[') + "1" + std::string(n, ']'));
  ast::Program p = parse_program(src);
  const ast::Expr* e = &p.datas.at(0).value;
  int depth = 0;
  while (e->first.first.power.base.kind == Operand::Tensor) {
    e = &e->first.first.power.base.args.at(0);
    ++depth;
  }
  EXPECT_EQ(depth, n);

  std::string indexes = "fn f(x) = ";
  for (int i = 0; i < n; ++i) indexes += "x[";
  indexes += '0';
  indexes += std::string(n, ']');
  SourceFile src2 = source(indexes);
  EXPECT_EQ(parse_program(src2).functions.size(), 1u);
}

TEST(ParserRobustness, HundredThousandPostfixes) {
  std::string text = "x";
  for (int i = 0; i < 50000; ++i) text += "[0].a";
  SourceFile src = source(text);
  ast::Expr e = parse_expression(src);
  const Operand& x = e.first.first.power.base;
  ASSERT_EQ(x.postfix.size(), 100000u);
  EXPECT_EQ(x.postfix.back().kind, ast::Postfix::Member);
  EXPECT_EQ(x.postfix.back().loc.offset, text.size() - 2);
}
}  // namespace
}  // namespace gradc::test
