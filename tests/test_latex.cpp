// The LaTeX printer: textbook notation (implicit products, fractions for negative powers, no
// double superscripts, tensor names and sums), each string also rendered by KaTeX and MathJax
// after the tests (rendered(), tests/render_latex.js).
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "support/helpers.hpp"

namespace gradc {
namespace {

using test::compile_text;
using test::rendered;

// The body of `fn f(x, y, z, a, b, c, alpha) = e`, lowered without folding, in LaTeX.
std::string latex(const std::string& e) {
  auto m = compile_text("fn f(x, y, z, a, b, c, alpha) = " + e, /*simplify=*/false);
  return rendered(print_inline(m->find("f")->body, Format::Latex));
}

TEST(Latex, MultiplicationIsImplicitWhereUnambiguous) {
  EXPECT_EQ(latex("2*x*z"), "2 x z");
  EXPECT_EQ(latex("x*sin(y)"), "x \\sin\\left(y\\right)");
  EXPECT_EQ(latex("2*x*exp(x)"), "2 x e^{x}");
  EXPECT_EQ(latex("sin(x)*cos(y)"), "\\sin\\left(x\\right) \\cos\\left(y\\right)");
  EXPECT_EQ(latex("(x + y)*(x - y)"), "\\left(x + y\\right) \\left(x - y\\right)");
  // Numbers come first; \cdot only where digits would run together.
  EXPECT_EQ(latex("x*2"), "2 x");
  EXPECT_EQ(latex("2*3^x"), "2 \\cdot 3^{x}");
  EXPECT_EQ(latex("2*3"), "2 \\cdot 3");
  EXPECT_EQ(latex("x*1.5e-7"), "1.5 \\cdot 10^{-7} x");
  EXPECT_EQ(latex("x*3^y*2"), "2 x \\cdot 3^{y}");
  // No 1 \cdot, no 0 \cdot: a factor 1 is dropped, a factor 0 makes the product 0.
  EXPECT_EQ(latex("1*x*1*y"), "x y");
  EXPECT_EQ(latex("1*(x + y)"), "x + y");
  EXPECT_EQ(latex("0*log(x)*y"), "0");
  EXPECT_EQ(latex("1*1"), "1");
  // Signs move to the front of the product.
  EXPECT_EQ(latex("x*-y"), "-x y");
  EXPECT_EQ(latex("-x*-y"), "x y");
  EXPECT_EQ(latex("x*(-2)*y"), "-2 x y");
}

TEST(Latex, SumsHaveNoPlusMinus) {
  EXPECT_EQ(latex("a + -b"), "a - b");
  EXPECT_EQ(latex("a - -b"), "a + b");
  EXPECT_EQ(latex("a + -2*b"), "a - 2 b");
  EXPECT_EQ(latex("a - 2*-b"), "a + 2 b");
  EXPECT_EQ(latex("a + -(b + c)"), "a - \\left(b + c\\right)");
  EXPECT_EQ(latex("a - (b - c)"), "a - \\left(b - c\\right)");
  EXPECT_EQ(latex("a + -3"), "a - 3");
  EXPECT_EQ(latex("-a + b"), "-a + b");
}

TEST(Latex, QuotientsAndNegativePowersAreFractions) {
  EXPECT_EQ(latex("x^-2"), "\\frac{1}{x^{2}}");
  EXPECT_EQ(latex("x^(-1)"), "\\frac{1}{x}");
  EXPECT_EQ(latex("3*x^-2*y"), "\\frac{3 y}{x^{2}}");
  EXPECT_EQ(latex("-2/x^3"), "-\\frac{2}{x^{3}}");
  EXPECT_EQ(latex("-(2/x^3)"), "-\\frac{2}{x^{3}}");
  EXPECT_EQ(latex("2/3"), "\\frac{2}{3}");
  EXPECT_EQ(latex("x/2"), "\\frac{x}{2}");
  EXPECT_EQ(latex("2*x/3"), "\\frac{2 x}{3}");
  EXPECT_EQ(latex("x/y/y*alpha"), "\\frac{x \\alpha}{y^{2}}");
  EXPECT_EQ(latex("x/(y/alpha)"), "\\frac{x \\alpha}{y}");
  EXPECT_EQ(latex("x*x*x/y"), "\\frac{x^{3}}{y}");
  EXPECT_EQ(latex("(x + y)/(x - y)"), "\\frac{x + y}{x - y}");
  EXPECT_EQ(latex("(x/y)^2"), "\\left(\\frac{x}{y}\\right)^{2}");
  // Rational exponents as \frac in the superscript (not \sqrt[q]{}: one form for every p/q).
  EXPECT_EQ(latex("pow(x, 1/3)"), "x^{\\frac{1}{3}}");
  EXPECT_EQ(latex("pow(x, 2/3)*y"), "x^{\\frac{2}{3}} y");
  EXPECT_EQ(latex("pow(x, -1/3)"), "\\frac{1}{x^{\\frac{1}{3}}}");
  EXPECT_EQ(latex("pow(x, -(2/3))*y"), "\\frac{y}{x^{\\frac{2}{3}}}");
  EXPECT_EQ(latex("pow(x, -2*y)"), "\\frac{1}{x^{2 y}}");
  EXPECT_EQ(latex("x^0.5"), "x^{0.5}");
  EXPECT_EQ(latex("x^-0.5"), "\\frac{1}{x^{0.5}}");
}

TEST(Latex, PowersNeverStackSuperscripts) {
  // (e^{u})^{k} = e^{k u}: what printed e^{x}^{2}, which KaTeX rejects.
  EXPECT_EQ(latex("exp(x)^2"), "e^{2 x}");
  EXPECT_EQ(latex("exp(x)^-1"), "e^{-x}");
  EXPECT_EQ(latex("exp(x + y)^3"), "e^{3 \\left(x + y\\right)}");
  EXPECT_EQ(latex("exp(x)^(1/2)"), "e^{\\frac{x}{2}}");
  EXPECT_EQ(latex("exp(2*x)^y"), "e^{2 y x}");
  EXPECT_EQ(latex("exp(x)^2*exp(y)"), "e^{2 x} e^{y}");
  // Any other base that ends in a superscript gets parentheses.
  EXPECT_EQ(latex("(x^2)^3"), "\\left(x^{2}\\right)^{3}");
  EXPECT_EQ(latex("(1e-5)^x"), "\\left(10^{-5}\\right)^{x}");
  EXPECT_EQ(latex("(2.5e-5)^x"), "\\left(2.5 \\cdot 10^{-5}\\right)^{x}");
  EXPECT_EQ(latex("(2^x)^y"), "\\left(2^{x}\\right)^{y}");
  EXPECT_EQ(latex("sqrt(x)^3"), "\\left(\\sqrt{x}\\right)^{3}");
  EXPECT_EQ(latex("abs(x)^3"), "\\left|x\\right|^{3}");
  EXPECT_EQ(latex("(-x)^2"), "\\left(-x\\right)^{2}");
  EXPECT_EQ(latex("sin(x)^2"), "\\sin^{2}\\left(x\\right)");
  EXPECT_EQ(latex("sin(x)^-2"), "\\frac{1}{\\sin^{2}\\left(x\\right)}");
  EXPECT_EQ(latex("tanh(x)^0.5"), "\\tanh\\left(x\\right)^{0.5}");
  EXPECT_EQ(latex("exp(-x)*alpha"), "e^{-x} \\alpha");
}

TEST(Latex, Names) {
  auto name = [](const char* n) { return rendered(print_name(n, Format::Latex)); };
  EXPECT_EQ(name("x"), "x");
  EXPECT_EQ(name("x1"), "x_{1}");
  EXPECT_EQ(name("x_12"), "x_{12}");
  EXPECT_EQ(name("alpha"), "\\alpha");
  EXPECT_EQ(name("Omega_2"), "\\Omega_{2}");
  EXPECT_EQ(name("loss"), "\\mathit{loss}");
  EXPECT_EQ(name("t_max"), "t_{\\mathrm{max}}");
  EXPECT_EQ(name("x_1_2"), "x_{1,2}");
  EXPECT_EQ(name("alpha_i_max"), "\\alpha_{i,\\mathrm{max}}");
  EXPECT_EQ(name("w_beta"), "w_{\\beta}");
  // Names with no symbol before an underscore, or an empty part, stay as written.
  EXPECT_EQ(name("_x"), "\\mathit{\\_x}");
  EXPECT_EQ(name("x__y"), "\\mathit{x\\_\\_y}");
  EXPECT_EQ(name("x_"), "\\mathit{x\\_}");
  // A member path is a label under the symbol: one subscript, never two stacked.
  EXPECT_EQ(name("net.0.W"), "W_{\\text{net.0}}");
  EXPECT_EQ(name("spiral.x"), "x_{\\text{spiral}}");
  EXPECT_EQ(name("net.0.W_in"), "W_{\\mathrm{in},\\text{net.0}}");
  EXPECT_EQ(name("enc.block_1.2.gamma1"), "\\gamma_{1,\\text{enc.block\\_1.2}}");
  EXPECT_EQ(name("a.b.c.d_1_2"), "d_{1,2,\\text{a.b.c}}");
}

TEST(Latex, Partials) {
  auto partial = [](std::vector<std::string> wrt, const char* fn = "f") {
    return rendered(print_partial(fn, wrt, Format::Latex));
  };
  EXPECT_EQ(partial({"x"}), "\\frac{\\partial f}{\\partial x}");
  EXPECT_EQ(partial({"x", "y"}), "\\frac{\\partial^{2} f}{\\partial x \\partial y}");
  EXPECT_EQ(partial({"x", "x", "y"}), "\\frac{\\partial^{3} f}{\\partial x^{2} \\partial y}");
  EXPECT_EQ(partial({"x_1", "x_1"}), "\\frac{\\partial^{2} f}{\\partial x_{1}^{2}}");
  EXPECT_EQ(partial({"net.0.W"}, "L"), "\\frac{\\partial L}{\\partial W_{\\text{net.0}}}");
  EXPECT_EQ(partial({"alpha", "beta"}, "f2"), "\\frac{\\partial^{2} f_{2}}{\\partial \\alpha \\partial \\beta}");
}

TEST(Latex, Numbers) {
  EXPECT_EQ(rendered(print_number(1e-5, Format::Latex)), "10^{-5}");
  EXPECT_EQ(rendered(print_number(-2.5e20, Format::Latex)), "-2.5 \\cdot 10^{20}");
  EXPECT_EQ(rendered(print_number(INFINITY, Format::Latex)), "\\infty");
  EXPECT_EQ(rendered(print_number(-INFINITY, Format::Latex)), "-\\infty");
  EXPECT_EQ(rendered(print_number(NAN, Format::Latex)), "\\mathrm{NaN}");
  EXPECT_EQ(rendered(print_number(0.25, Format::Latex)), "0.25");
}

const Node* node(Graph& g, Op op, std::vector<const Node*> args, const Attrs& attrs = {}) {
  return g.make(op, args, attrs);
}

// Tensor expressions built directly in a graph (no language needed for the shapes).
class LatexTensors : public ::testing::Test {
 protected:
  Graph g;
  const Node* W = g.var("net.0.W", Shape{2, 2});
  const Node* V = g.var("V", Shape{2, 2});
  const Node* x1 = g.var("x_1", Shape{2});
  const Node* s = g.var("s");
  const Node* make(Op op, std::vector<const Node*> args, const Attrs& attrs = {}) { return node(g, op, args, attrs); }
  std::string tex(const Node* n) { return rendered(print_inline(n, Format::Latex)); }
};

TEST_F(LatexTensors, ElementwiseProductsAreHadamardMatrixProductsJuxtaposed) {
  EXPECT_EQ(tex(make(Op::Mul, {W, V})), "W_{\\text{net.0}} \\odot V");
  EXPECT_EQ(tex(make(Op::MatMul, {W, V})), "W_{\\text{net.0}} V");
  EXPECT_EQ(tex(make(Op::MatMul, {make(Op::Mul, {W, V}), V})), "\\left(W_{\\text{net.0}} \\odot V\\right) V");
  EXPECT_EQ(tex(make(Op::MatMul, {V, make(Op::Neg, {W})})), "V \\left(-W_{\\text{net.0}}\\right)");
  EXPECT_EQ(tex(make(Op::MatMul, {make(Op::MatMul, {W, V}), V})), "W_{\\text{net.0}} V V");
  const Node* sb = make(Op::Broadcast, {s}, Attrs{Shape{2, 2}});
  EXPECT_EQ(tex(make(Op::Mul, {sb, W})), "s W_{\\text{net.0}}");
}

TEST_F(LatexTensors, ScriptsNeverStack) {
  EXPECT_EQ(tex(make(Op::Transpose, {W})), "W_{\\text{net.0}}^{\\top}");
  EXPECT_EQ(tex(make(Op::Transpose, {make(Op::Exp, {W})})), "\\left(e^{W_{\\text{net.0}}}\\right)^{\\top}");
  const Node* two = g.constant(2);
  const Node* two22 = make(Op::Broadcast, {two}, Attrs{Shape{2, 2}});
  EXPECT_EQ(tex(make(Op::Pow, {make(Op::Transpose, {V}), two22})), "\\left(V^{\\top}\\right)^{2}");
  EXPECT_EQ(tex(make(Op::Index, {x1}, Attrs{{}, 0, 1})), "\\left(x_{1}\\right)_{1}");
  EXPECT_EQ(tex(make(Op::Index, {V}, Attrs{{}, 0, 1})), "V_{1}");
  EXPECT_EQ(tex(make(Op::Index, {V}, Attrs{{}, 1, 0})), "V_{:,0}");
  EXPECT_EQ(tex(make(Op::Index, {make(Op::Transpose, {V})}, Attrs{{}, 0, 1})), "\\left(V^{\\top}\\right)_{1}");
}

TEST_F(LatexTensors, SumsUseSigma) {
  EXPECT_EQ(tex(make(Op::Sum, {W}, Attrs{{}, -1, 0})), "\\sum W_{\\text{net.0}}");
  EXPECT_EQ(tex(make(Op::Sum, {make(Op::Mul, {W, V})}, Attrs{{}, 1, 0})),
            "\\sum_{\\text{axis }1}\\left(W_{\\text{net.0}} \\odot V\\right)");
  EXPECT_EQ(tex(make(Op::ReduceMax, {V}, Attrs{{}, 0, 0})), "\\max_{\\text{axis }0} V");
  // A sum that is not the last factor is parenthesized: it would take in what follows.
  const Node* sum = make(Op::Sum, {V}, Attrs{{}, -1, 0});
  EXPECT_EQ(tex(make(Op::Mul, {sum, s})), "\\left(\\sum V\\right) s");
  EXPECT_EQ(tex(make(Op::Mul, {s, sum})), "s \\sum V");
}

// Every op in every position a printer meets it: as a power's base and exponent, a factor, a
// divisor, negated, inside another call; random trees of them. Each string is rendered by KaTeX
// and MathJax after the tests; here each must at least print with balanced braces.
TEST(Latex, EveryOpInEveryPositionRenders) {
  Graph g;
  const Node* x = g.var("x");
  const Node* y = g.var("alpha_1");
  std::vector<const Node*> leaves{x, y, g.constant(2), g.constant(-3), g.constant(0.5), g.constant(1e-7),
                                  g.var("net.0.b")};
  std::vector<Op> unary, binary;
  for (int i = 0; i < kNumOps; ++i) {
    const OpInfo& info = op_info(static_cast<Op>(i));
    if (!info.elementwise || info.syntax == Syntax::Leaf) continue;
    (info.arity == 1 ? unary : binary).push_back(info.op);
  }
  std::mt19937 rng(9);
  auto pick = [&](const std::vector<const Node*>& v) { return v[rng() % v.size()]; };
  std::vector<const Node*> pool = leaves;
  std::map<const Node*, int> size;  // of the printed tree, kept small
  for (int round = 0; round < 120;) {
    const Node* a = pick(pool);
    const Node* b = pick(pool);
    bool one = rng() % 2;
    if (size[a] + (one ? 0 : size[b]) > 12) continue;
    const Node* n = one ? node(g, unary[rng() % unary.size()], {a}) : node(g, binary[rng() % binary.size()], {a, b});
    size[n] = 1 + size[a] + (one ? 0 : size[b]);
    pool.push_back(n);
    ++round;
  }
  std::size_t printed = 0;
  for (const Node* n : pool) {
    for (const Node* m : {n, node(g, Op::Pow, {n, g.constant(2)}), node(g, Op::Pow, {n, g.constant(-2)}),
                          node(g, Op::Pow, {x, n}), node(g, Op::Mul, {g.constant(3), n}), node(g, Op::Mul, {n, n}),
                          node(g, Op::Div, {g.constant(1), n}), node(g, Op::Neg, {n}), node(g, Op::Sub, {x, n})}) {
      std::string s = rendered(print_inline(m, Format::Latex));
      int depth = 0;
      for (char c : s) {
        depth += c == '{' ? 1 : c == '}' ? -1 : 0;
        ASSERT_GE(depth, 0) << s;
      }
      EXPECT_EQ(depth, 0) << s;
      ++printed;
    }
  }
  EXPECT_EQ(printed, (leaves.size() + 120) * 9);
}

}  // namespace
}  // namespace gradc
