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
  EXPECT_EQ(print_inline(d, Format::Latex).find("\\left[\\left[1, -2\\right], \\left[3, 4.5\\right]\\right]") !=
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

}  // namespace
}  // namespace gradc::test
