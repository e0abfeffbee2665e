// Printed derivatives parse back (findings of fuzz_program, see fuzz/regressions/program):
// tensor data is written as a literal of its shape, and temporaries never take a parameter's name.
#include <gtest/gtest.h>

#include "support/helpers.hpp"

namespace gradc::test {
namespace {

// The first derivative of f with respect to its first parameter, after the full simplifier.
const Node* first_partial(Module& m, const Function& f) {
  Builder b(m.graph, Simplify::Full);
  const Node* g = gradient(b, f.body, std::span(f.params.data(), 1))[0];
  return simplify(m.graph, std::span(&g, 1))[0];
}

TEST(PrintBack, TensorDataIsALiteralOfItsShape) {
  auto m = compile_text("data X = [[1, -2], [3, 4.5]]\ndata v = [0.5, -0.25, 2, 1, 3]\n"
                        "fn f(w) = sum(w * X) + sum(v * w^2)\n");
  const Node* d = first_partial(*m, m->functions[0]);
  // Was `... <tensor [5]> ...` (5 elements and more) and `[1, -2, 3, 4.5]` (a matrix flattened).
  EXPECT_EQ(print_inline(d, Format::Text),
            "2*sum([0.5, -0.25, 2, 1, 3], axis = 0)*w + sum(sum([[1, -2], [3, 4.5]], axis = 0), axis = 0)");
  EXPECT_EQ(rendered(print_inline(d, Format::Latex)).find("\\left[\\left[1, -2\\right], \\left[3, 4.5\\right]\\right]") !=
                std::string::npos,
            true);
  // Read back, it computes the same: 6.5 + 2*(0.5 - 0.25 + 2 + 1 + 3)*w = 6.5 + 12.5 w.
  auto back = compile_text("fn d(w) = " + print_inline(d, Format::Text) + "\n");
  const Function& fd = back->functions[0];
  EXPECT_DOUBLE_EQ(evaluate(std::span(&fd.body, 1), fd.params, std::vector<double>{2.0})[0], 6.5 + 12.5 * 2);
}

TEST(PrintBack, TemporariesAvoidUnusedParameters) {
  // d/dx does not use t1, but the printed block function declares it: t1 = ... would be a
  // second definition.
  auto m = compile_text("fn f(x, t1) {\n  a = sin(x) * sin(x)\n  b = a * a + a\n  c = b * b + b\n"
                        "  d = c * c + c\n  return d * d + t1\n}\n");
  const Node* d = first_partial(*m, m->functions[0]);
  std::vector<std::string> params{"x", "t1"};
  Printed p = print(std::span(&d, 1), Format::Text, nullptr, params);
  ASSERT_FALSE(p.temps.empty());
  EXPECT_EQ(p.temps[0].first, "tt1");
  EXPECT_EQ(p.temps[0].second, "sin(x)");
  Printed q = print(std::span(&d, 1), Format::Text);  // without `avoid`: t1 is free in d
  EXPECT_EQ(q.temps[0].first, "t1");
}

TEST(PrintBack, TensorOpsOfDataSpelledInTheLanguage) {
  // Transposes, rows, columns and reductions of data inside a scalar function: the derivative
  // printed `X^T` (x to the power of a variable T), `embed(1)` and implicit reshapes.
  const std::string src =
      "data X = [[1, 2], [3, 4], [5, 6]]\ndata v = [1, 2]\n"
      "fn f(w) = sum(transpose(X) * w^2) + sum((X * w)[1]) + sum((w * X)[:, 1]) + max(X * w) + "
      "sum(max(X * w, axis = 1)) + sum(X @ v * w)\n";
  auto m = compile_text(src);
  const Function& f = m->functions[0];
  std::string text = print_inline(first_partial(*m, f), Format::Text);
  EXPECT_EQ(text.find("^T"), std::string::npos) << text;
  EXPECT_EQ(text.find("embed"), std::string::npos) << text;
  EXPECT_NE(text.find("transpose([[1, 2], [3, 4], [5, 6]])"), std::string::npos) << text;
  auto back = compile_text("fn d(w) = " + text + "\n");
  const Function& fd = back->functions[0];
  for (double w : {0.7, -1.3, 2.0}) {
    auto value = [&](const std::vector<double>& x) { return evaluate(std::span(&f.body, 1), f.params, x)[0]; };
    double expected = finite_difference(value, {w}, 0);
    EXPECT_NEAR(evaluate(std::span(&fd.body, 1), fd.params, std::vector<double>{w})[0], expected, 1e-6) << w;
  }
}

TEST(PrintBack, BroadcastUnderAMatrixProductIsSpelled) {
  // The adjoint of a matrix product of a scalar function's data: `1 @ transpose(A*x)` read back
  // as a scalar operand of @ ("shapes [] and [2, 2] do not fit a matrix product").
  auto m = compile_text("data A = [[1, 2], [3, 4]]\nfn f(x) = sum(A*x @ (A*x) @ (A*x))\n");
  const Function& f = m->functions[0];
  const Node* d = first_partial(*m, f);
  Printed p = print(std::span(&d, 1), Format::Text, nullptr, std::vector<std::string>{"x"});
  std::string prog = "fn d(x) {\n";
  for (auto& [t, def] : p.temps) prog += "  " + t + " = " + def + "\n";
  prog += "  return " + p.results[0] + "\n}\n";
  EXPECT_NE(prog.find("*[[1, 1], [1, 1]]"), std::string::npos) << prog;
  auto back = compile_text(prog);
  const Function& fd = back->functions[0];
  // f = x^3 sum(A^3) with sum(A^3) = 37 + 54 + 81 + 118 = 290, so f' = 870 x^2.
  for (double x : {0.5, -2.0})
    EXPECT_NEAR(evaluate(std::span(&fd.body, 1), fd.params, std::vector<double>{x})[0], 870 * x * x, 1e-9 * 870 * x * x);
}

}  // namespace
}  // namespace gradc::test
