// `gradc explain` on graphs with too many paths to write out (30 diamonds: 2^30) or too deep to
// walk recursively (the 1 MB expression), and `gradc graph` on 10,000 terms: they finish, and the
// numbers they print are the gradient.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "compiler/explain.hpp"
#include "compiler/graph.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

// a_k = sin(a_{k-1}) + cos(a_{k-1}) from a_0 = x, every branch named: 2^n paths from f to x.
std::string diamonds(int n) {
  std::string src = "fn f(x) {\n";
  std::string prev = "x";
  for (int k = 1; k <= n; ++k) {
    src += fmt::format("  b{0} = sin({1})\n  c{0} = cos({1})\n  a{0} = b{0} + c{0}\n", k, prev);
    prev = fmt::format("a{}", k);
  }
  return src + "  return " + prev + "\n}\n";
}

// df/dx by the interpreter's reverse mode, and by the closed form: each diamond multiplies the
// derivative by cos(a) - sin(a).
double diamonds_gradient(Module& m, double x, int n) {
  const Function& f = m.functions.back();
  Builder b(m.graph);
  double interpreted = evaluate(gradient(b, f.body, f.params), f.params, std::vector<double>{x})[0];
  double a = x, d = 1;
  for (int k = 0; k < n; ++k) {
    d *= std::cos(a) - std::sin(a);
    a = std::sin(a) + std::cos(a);
  }
  EXPECT_NEAR(interpreted, d, 1e-12 * std::fabs(d));
  return interpreted;
}

// The lines of text that start with prefix.
std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  for (std::size_t p = 0; p < text.size();) {
    std::size_t end = text.find('\n', p);
    if (end == std::string::npos) end = text.size();
    if (text.compare(p, prefix.size(), prefix) == 0) found.push_back(text.substr(p, end - p));
    p = end + 1;
  }
  return found;
}

TEST(Explain, ThirtyDiamondsAreCountedNotEnumerated) {
  auto m = compile_text(diamonds(30));
  const Function& f = m->functions.back();
  double grad = diamonds_gradient(*m, 0.3, 30);
  Explanation e = explain(*m, f, f.params[0], std::vector<double>{0.3}, Format::Text);
  EXPECT_EQ(e.paths, std::size_t{1} << 30);
  EXPECT_NEAR(e.total, grad, 1e-12 * std::fabs(grad));
  EXPECT_EQ(lines_starting(e.text, "path ").size(), 16u);
  EXPECT_EQ(lines_starting(e.text, "... 1073741808 more paths, summed edge by edge from f down").size(), 1u);
  // One line per name on the way down (a1..a29, b1..b30, c1..c30) and x, the last giving df/dx.
  std::vector<std::string> adjoints = lines_starting(e.text, "df/d");
  ASSERT_EQ(adjoints.size(), 29u + 30u + 30u + 1u);
  EXPECT_EQ(adjoints.back().substr(0, 9), "df/dx = d");
  EXPECT_EQ(adjoints.back().substr(adjoints.back().rfind(" = ")), fmt::format(" = {:.6g}", grad));
  EXPECT_EQ(lines_starting(e.text, "∂f/∂x = sum").at(0), fmt::format("∂f/∂x = sum over 1073741824 paths = {:.6g}", grad));
}

// The sum over paths of the products of edge partials is the gradient; so is the edge-by-edge
// sum forced with no path written out, on the same small graphs.
TEST(Explain, SumOverPathsAndEdgeByEdgeSumAreTheGradient) {
  const char* srcs[] = {
      "fn g(x, y, z) {\n a = 2 * x\n b = sin(y)\n c = a / b\n d = z * c\n e = log(1 + d)\n return tanh(e)\n}",
      "fn f(x, y) {\n s = x * y\n t = sin(s) + s\n return t * x + exp(s)\n}",  // x reaches f three ways
      "fn f(x, y) = x * x * y + cos(x * y)"};                                 // no names: every node is one
  for (const char* src : srcs) {
    auto m = compile_text(src);
    const Function& f = m->functions.back();
    std::vector<double> point{0.7, 1.2, 1.3};
    point.resize(f.params.size());
    Builder b(m->graph);
    auto grad = evaluate(gradient(b, f.body, f.params), f.params, point);
    for (std::size_t i = 0; i < f.params.size(); ++i) {
      SCOPED_TRACE(fmt::format("{} d/d{}", src, f.params[i]->name));
      Explanation paths = explain(*m, f, f.params[i], point, Format::Text);
      Explanation edges = explain(*m, f, f.params[i], point, Format::Text, 0);
      EXPECT_GE(paths.paths, 1u);
      EXPECT_NEAR(paths.total, grad[i], 1e-12 * std::max(1.0, std::fabs(grad[i])));
      EXPECT_EQ(edges.paths, paths.paths);
      EXPECT_NEAR(edges.total, grad[i], 1e-12 * std::max(1.0, std::fabs(grad[i])));
      EXPECT_TRUE(lines_starting(edges.text, "path ").empty());
      EXPECT_EQ(lines_starting(edges.text, fmt::format("d{}/d{} = ", f.name, f.params[i]->name)).size(), 1u);
      Explanation tex = explain(*m, f, f.params[i], point, Format::Latex, 0);
      rendered(tex.text);
      EXPECT_EQ(tex.text.substr(0, 16), "\\begin{aligned}\n");
      EXPECT_EQ(tex.text.substr(tex.text.size() - 14), "\\end{aligned}\n");
      EXPECT_EQ(tex.total, edges.total);
    }
  }
}

// A path longer than the factor budget is not written out; the sum is still exact.
TEST(Explain, MegabyteExpressionDoesNotOverflowTheStack) {
  // The golden test's 1 MB input (tests/run_golden.py): x*0.5 + x*1.5 + ... + x*119999.5.
  std::string src = "fn f(x) = ";
  for (int i = 0; i < 120000; ++i) src += fmt::format("{}x*{}.5", i ? " + " : "", i);
  auto m = compile_text(src);
  const Function& f = m->functions.back();
  Explanation e = explain(*m, f, f.params[0], std::vector<double>{1.0}, Format::Text);
  EXPECT_EQ(e.paths, 120000u);
  EXPECT_EQ(e.total, 120000.0 * 120000.0 / 2);  // every partial sum is an exact double
  EXPECT_EQ(e.text.substr(0, 37), "120000 paths (too long to write out),");
  EXPECT_EQ(e.text.substr(e.text.rfind("∂f/∂x")), "∂f/∂x = sum over 120000 paths = 7.2e+09\n");
}

// The node and edge lines of a DOT text.
std::pair<std::size_t, std::size_t> dot_counts(const std::string& dot) {
  std::size_t nodes = 0, edges = 0;
  for (std::size_t p = dot.find("\n  n"); p != std::string::npos; p = dot.find("\n  n", p + 1)) {
    std::size_t end = dot.find('\n', p + 1);
    if (!std::isdigit(static_cast<unsigned char>(dot[p + 4]))) continue;  // "node [...]"
    (dot.substr(p, end - p).find(" -> ") != std::string::npos ? edges : nodes) += 1;
  }
  return {nodes, edges};
}

// 10,000 terms x*0.5 + x*1.5 + ...: x, 10,000 products and 9,999 sums; each product has one
// edge (from x; the constant is written into it) and each sum two.
TEST(Graph, TenThousandTermsGiveEveryNodeAndEdge) {
  std::string src = "fn f(x) = ";
  for (int i = 0; i < 10000; ++i) src += fmt::format("{}x*{}.5", i ? " + " : "", i);
  auto m = compile_text(src);
  const Function& f = m->functions.back();
  std::string dot = graph_dot(*m, f, std::vector<double>{1.0}, false);
  EXPECT_EQ(dot_counts(dot), std::make_pair(std::size_t{20000}, std::size_t{29998}));
  EXPECT_NE(dot.find("[label=\"v3 = v1 + v2\\n= 2\"];"), std::string::npos);
  std::string backward = graph_dot(*m, f, std::vector<double>{1.0}, true);
  EXPECT_EQ(dot_counts(backward), std::make_pair(std::size_t{20000}, std::size_t{29998}));
  // df/dx = 0.5 + 1.5 + ... + 9999.5 = 10000^2 / 2.
  EXPECT_NE(backward.find("[label=\"x\\n= 1\\ngrad 5e+07\", shape=ellipse];"), std::string::npos);
  EXPECT_NE(backward.find("[label=\"∂v3/∂v1 = 1\\n= 1\"];"), std::string::npos);
}

}  // namespace
}  // namespace gradc::test
