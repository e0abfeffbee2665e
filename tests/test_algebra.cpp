// The printed derivative's algebra (compiler/algebra/): exact numbers, each canonical rewrite
// with its expected text, idempotence of the printed form, and the deep nesting that once broke
// the fixed point.
#include <gtest/gtest.h>

#include "compiler/algebra/canon.hpp"
#include "compiler/algebra/number.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

using algebra::Number;

std::string text(const Number& n) {
  if (!n.exact()) return "float " + std::to_string(n.value());
  return std::to_string(n.num()) + "/" + std::to_string(n.den()) + (n.decimal() ? " decimal" : "");
}

TEST(Number, ExactRationalArithmetic) {
  EXPECT_EQ(text(Number::ratio(1, 3) + Number::ratio(1, 6)), "1/2");
  EXPECT_EQ(text(Number::ratio(2, 3) * Number::ratio(3, 4)), "1/2");
  EXPECT_EQ(text(Number::ratio(1, 3) / Number::ratio(-2, 3)), "-1/2");
  EXPECT_EQ(text(Number::ratio(6, -4)), "-3/2");
  EXPECT_EQ(text(*Number::ratio(2, 3).pow(-3)), "27/8");
  EXPECT_FALSE(Number::integer(0).pow(-1).has_value());
  EXPECT_EQ(text(*Number::integer(8).root(3)), "2/1");
  EXPECT_EQ(text(*Number::ratio(4, 9).root(2)), "2/3");
  EXPECT_FALSE(Number::integer(2).root(2).has_value());
  EXPECT_FALSE(Number::integer(7).root(1000000000000).has_value());  // bounded, not a long loop
}

TEST(Number, DecimalsFromTheIrAreExact) {
  EXPECT_EQ(text(Number::from_double(0.1)), "1/10 decimal");
  EXPECT_EQ(text(Number::from_double(2.5)), "5/2 decimal");
  EXPECT_EQ(text(Number::from_double(3)), "3/1");
  // 0.1 + 0.2 is exactly 3/10 here (in doubles it is 0.30000000000000004).
  Number s = Number::from_double(0.1) + Number::from_double(0.2);
  EXPECT_EQ(text(s), "3/10 decimal");
  EXPECT_TRUE(s.prints_decimal());
  // A decimal times a third is no longer a decimal fraction: it prints as p/q.
  Number t = Number::from_double(2.5) * Number::ratio(1, 3);
  EXPECT_EQ(text(t), "5/6");
  EXPECT_FALSE(t.prints_decimal());
}

TEST(Number, OverflowFallsBackToAFloat) {
  Number big = Number::integer(std::int64_t(1) << 62);
  Number p = big * big;
  EXPECT_FALSE(p.exact());
  EXPECT_DOUBLE_EQ(p.value(), std::ldexp(1.0, 124));
  EXPECT_FALSE(Number::from_double(1e300).exact());
  EXPECT_FALSE(Number::from_double(-0.0).exact());  // keeps its sign
}

// The canonical form of a one-line function body, printed inline.
std::string canon(const std::string& body, const std::string& params = "x, y") {
  auto m = compile_text("fn f(" + params + ") = " + body + "\n", /*simplify=*/false);
  const Function& f = *m->find("f");
  std::vector<std::string> order;
  for (const Node* p : f.params) order.push_back(p->name);
  return print_inline(canonical(m->graph, std::span(&f.body, 1), order)[0], Format::Text);
}

TEST(Canonical, EachRewrite) {
  const std::pair<const char*, const char*> cases[] = {
      {"x - x", "0"},
      {"x/x", "1"},
      {"0*log(x)", "0"},
      {"2*x + 3*x", "5*x"},
      {"x*x^2", "x^3"},
      {"(x^2)^3", "x^6"},
      {"x/x^3", "1/x^2"},
      {"sqrt(x)^2", "x"},
      {"sqrt(x)*sqrt(x)*x", "x^2"},
      {"(x^2)^(1/2)", "sqrt(x^2)"},  // not x: only where x >= 0
      {"exp(x)*exp(y)", "exp(x + y)"},
      {"exp(x)^2", "exp(2*x)"},
      {"log(exp(x))", "x"},
      {"exp(2*log(x))", "x^2"},
      {"e^x", "exp(x)"},
      {"1/3 + 1/6", "1/2"},
      {"x/3 + x/6", "x/2"},
      {"0.1*x + 0.2*x", "0.3*x"},
      {"pow(x, 1/3)*pow(x, 1/3)", "x^(2/3)"},
      {"8^(2/3)*x", "4*x"},
      {"sqrt(8)", "sqrt(8)"},
      {"sin(-x) + cos(-x)", "cos(x) - sin(x)"},
      {"abs(-x)^2", "x^2"},
      {"sign(x)*abs(x)", "x"},
      {"atan(1) + acos(0) + sin(pi) + log(1)", "3*pi/4"},
      {"x*y + x*y", "2*x*y"},
      {"y*x*2", "2*x*y"},
      {"x*(y + 1) - x*y", "x"},
      {"x*y + x*sin(y)", "x*(y + sin(y))"},
      {"-(x - y)", "y - x"},
      {"2*(x + 1) + 3", "2*x + 5"},
      {"1 - x^2", "1 - x^2"},
      {"-x^2 + 1", "1 - x^2"},
      {"mask(step(x), 1)", "step(x)"},
      {"sign(0.15625*x) + step(3*x)", "step(x) + sign(x)"},
      {"sign(-2*x)", "-sign(x)"},
      {"lgamma(x/x) + lgamma(2*x/x) + log1p(x - x) + expm1(0*x)", "0"},  // Γ(1) = Γ(2) = 1
      {"lgamma(x) + lgamma(x) - expm1(-x)", "2*lgamma(x) - expm1(-x)"},
      {"polygamma(1, x)*polygamma(1, x)", "polygamma(1, x)^2"},
  };
  for (auto [in, want] : cases) EXPECT_EQ(canon(in), want) << in;
}

TEST(Canonical, ConstantsCalledLikeAParameterAreNumbers) {
  // pi inside g, called from f whose parameter is pi: the constant must not print as `pi`.
  auto m = compile_text("fn g(x) = pi*x\nfn f(pi, x) = g(x) + pi\n", false);
  const Function& f = *m->find("f");
  std::vector<std::string> order{"pi", "x"};
  std::string s = print_inline(canonical(m->graph, std::span(&f.body, 1), order)[0], Format::Text);
  EXPECT_EQ(s, "pi + 3.141592653589793*x");
}

// The printed derivative, read back, made canonical and printed again, is the same text; and it
// evaluates to the IEEE derivative at a point where the function is defined.
void expect_idempotent_and_right(const std::string& src, const std::string& fn, std::vector<double> at) {
  auto m = compile_text(src, false);
  const Function& f = *m->find(fn);
  std::vector<std::string> order;
  for (const Node* p : f.params) order.push_back(p->name);
  Builder none(m->graph, Simplify::None);
  const Node* body = canonical(m->graph, std::span(&f.body, 1), order)[0];
  std::vector<const Node*> g = canonical(m->graph, gradient(none, body, f.params), order);
  std::vector<double> ieee = evaluate(gradient(none, f.body, f.params), f.params, at);
  for (std::size_t i = 0; i < g.size(); ++i) {
    std::string params;
    for (std::size_t k = 0; k < order.size(); ++k) params += (k ? ", " : "") + order[k];
    Printed p = print(std::span(&g[i], 1), Format::Text, nullptr, order);
    std::string prog = "fn d(" + params + ") {\n";
    for (auto& [t, def] : p.temps) prog += "  " + t + " = " + def + "\n";
    prog += "  return " + p.results[0] + "\n}\n";
    auto back = compile_text(prog, false);
    const Function& d = *back->find("d");
    const Node* again = canonical(back->graph, std::span(&d.body, 1), order)[0];
    Printed q = print(std::span(&again, 1), Format::Text, nullptr, order);
    EXPECT_EQ(q.temps, p.temps) << prog;
    EXPECT_EQ(q.results, p.results) << prog;
    double v = evaluate(std::span(&d.body, 1), d.params, at)[0];
    EXPECT_NEAR(v, ieee[i], 1e-9 * std::max(1.0, std::abs(ieee[i]))) << prog;
  }
}

TEST(Canonical, IdempotentAndRight) {
  expect_idempotent_and_right("fn f(x, y, z) = tanh(log(1 + 2*z*x/sin(y)))\n", "f", {0.5, 1.2, 3});
  expect_idempotent_and_right("fn f(x, y) = x*y*sin(x) + x^2*exp(x*y) - pow(x, 1/3)*y\n", "f", {0.7, -1.3});
  expect_idempotent_and_right("fn f(x, y) = (x - y)^2*(y - x) + atan(x/y) + 2^x*pi\n", "f", {1.1, 0.4});
}

TEST(Canonical, DeepNestingStaysLinearAndRight) {
  // f_n = sin(f_{n-1}*x + cos(f_{n-1}*y)) at depth 60: past the depth (32) at which a bounded
  // flattening once let the factored form break down into products copied at every level.
  std::string src = "fn f1(x, y) = sin(x*x + cos(x*y))\n";
  for (int i = 2; i <= 60; ++i)
    src += "fn f" + std::to_string(i) + "(x, y) = sin(f" + std::to_string(i - 1) + "(x, y)*x + cos(f" +
           std::to_string(i - 1) + "(x, y)*y))\n";
  auto m = compile_text(src, false);
  const Function& f = *m->find("f60");
  std::vector<std::string> order{"x", "y"};
  Builder none(m->graph, Simplify::None);
  const Node* body = canonical(m->graph, std::span(&f.body, 1), order)[0];
  const Node* dx = canonical(m->graph, gradient(none, body, f.params), order)[0];
  Printed p = print(std::span(&dx, 1), Format::Text, nullptr, order);
  std::size_t size = p.results[0].size();
  for (auto& [t, def] : p.temps) size += t.size() + def.size();
  EXPECT_LT(size, 6000u);  // about 75 characters per level
  std::vector<double> at{0.3, 0.2};
  double want = evaluate(gradient(none, f.body, f.params), f.params, at)[0];
  EXPECT_NEAR(evaluate(std::span(&dx, 1), f.params, at)[0], want, 1e-9);
}

}  // namespace
}  // namespace gradc::test
