// Printed derivatives parse back (findings of fuzz_program, see fuzz/regressions/program):
// tensor data is written as a literal of its shape, and temporaries never take a parameter's name;
// a Hessian printed in one listing (temporaries shared) reads back as the compiled Hessian.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>
#include <random>
#include <sstream>

#include "compiler/algebra/canon.hpp"
#include "compiler/print_layout.hpp"
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
  for (auto& [t, def] : p.temps) EXPECT_EQ(t.rfind("tt", 0), 0u) << t;
  EXPECT_EQ(p.temps[0].first, "tt1");
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

// The second partials of f as `gradc diff --order 2` prints them: lowered without folding,
// differentiated, each order in canonical form, then print_partials.
std::string printed_hessian(const std::string& src, std::vector<PartialExpr>& partials) {
  auto m = compile_text(src, /*simplify=*/false);
  const Function& f = m->functions.back();
  Builder b(m->graph, Simplify::None);
  std::vector<std::string> names;
  for (const Node* p : f.params) names.push_back(p->name);
  auto g = canonical(m->graph, gradient(b, f.body, f.params), names);
  partials.clear();
  for (std::size_t i = 0; i < g.size(); ++i) {
    auto h = gradient(b, g[i], std::span(f.params).subspan(i));
    for (std::size_t j = 0; j < h.size(); ++j) partials.push_back({{i, i + j}, h[j]});
  }
  std::vector<const Node*> roots;
  for (auto& p : partials) roots.push_back(p.node);
  roots = canonical(m->graph, roots, names);
  for (std::size_t k = 0; k < roots.size(); ++k) partials[k].node = roots[k];
  return print_partials(f.name, names, names, partials, Format::Text, {});
}

// The printed listing as a program: its block functions as they are, a one-line partial
// `d2f/dxdy = e` as `fn pK(params) = e`, in the listing's order.
std::string as_program(const std::string& printed, const std::string& params) {
  std::istringstream in(printed);
  std::string line, prog;
  int k = 0;
  while (std::getline(in, line)) {
    if (line.rfind("d2", 0) == 0 && line.find(" = ") != std::string::npos) {
      prog += fmt::format("fn p{}({}) = {}\n", k++, params, line.substr(line.find(" = ") + 3));
    } else {
      if (line.rfind("fn ", 0) == 0) ++k;
      prog += line + "\n";
    }
  }
  return prog;
}

TEST(PrintBack, HessianListingEvaluatesToTheCompiledHessian) {
  // Functions whose second partials share subexpressions (a block per partial, with the same
  // temporaries) and small ones (a line per partial), including a parameter named like a
  // temporary, and random sums of products of calls over x, y, z.
  std::vector<std::string> sources = {
      "fn f(x, y, z) = tanh(log(1 + z * (2*x / sin(y))))\n",
      "fn f(x, y) = sin(x * x + cos(x * y)) * exp(x - y) + x^2*y\n",
      "fn f(x, t1) {\n  a = sin(x) * cos(t1)\n  b = a * a + a\n  return b * b + b * t1\n}\n",
      "fn f(x, y) = x^2*y + sin(x)\n",
  };
  std::mt19937 rng(9);
  const char* calls[] = {"sin", "cos", "exp", "tanh", "sqrt", "log"};
  const char* vars[] = {"x", "y", "z"};
  for (int n = 0; n < 12; ++n) {
    std::string e;
    for (int t = 0; t < 3; ++t) {
      std::string term = fmt::format("{}(", calls[rng() % 6]);
      for (int k = 0; k < 3; ++k) term += fmt::format("{}{}*{}", k ? " + " : "", rng() % 3 + 1, vars[rng() % 3]);
      term += fmt::format(")*{}", vars[rng() % 3]);
      e += (t ? " + " : "") + term;
    }
    // sqrt and log of a positive argument at the points below (x, y, z > 0).
    sources.push_back("fn f(x, y, z) = " + e + "\n");
  }
  int with_blocks = 0;
  for (const std::string& src : sources) {
    SCOPED_TRACE(src);
    std::vector<PartialExpr> partials;
    std::string printed = printed_hessian(src, partials);
    with_blocks += printed.find("\nfn ") != std::string::npos;
    auto m = compile_text(src);
    const Function& f = m->functions.back();
    std::string params;
    for (std::size_t i = 0; i < f.params.size(); ++i) params += (i ? ", " : "") + f.params[i]->name;
    auto back = compile_text(as_program(printed, params));
    ASSERT_EQ(back->functions.size(), partials.size()) << printed;
    // The compiled Hessian (the kernel's own path: folded, differentiated at Full), by the JIT.
    Builder b(m->graph, Simplify::Fold);
    auto outs = value_and_derivatives(b, f.body, f.params, /*hessian=*/true);
    Kernel k = shared_jit().compile(KernelSpec{f.name, f.params, outs, /*batch=*/false});
    std::size_t np = f.params.size();
    for (std::vector<double> at : {std::vector<double>{0.4, 1.1, 0.7}, {1.3, 0.6, 2.1}}) {
      at.resize(np);
      std::vector<double> out(outs.size());
      k.single(at.data(), out.data());
      for (std::size_t q = 0; q < partials.size(); ++q) {
        const Function& d = back->functions[q];
        double printed_value = evaluate(std::span(&d.body, 1), d.params, at)[0];
        double compiled = out[1 + np + partials[q].wrt[0] * np + partials[q].wrt[1]];
        if (!std::isfinite(printed_value) || !std::isfinite(compiled)) continue;
        EXPECT_LT(rel_err(printed_value, compiled), 1e-9) << d.name << " at " << at[0] << "\n" << printed;
      }
    }
  }
  EXPECT_GE(with_blocks, 2);  // the shared temporaries are exercised, not only one-line partials
}

TEST(PrintBack, HessianTemporariesMeanTheSameInEveryBlock) {
  // The second partials of f2 = sin(f1*x + cos(f1*y)), f1 = sin(x^2 + cos(x*y)), share cos(x*y)
  // and more: every block that defines a temporary defines it alike, and the numbering is one
  // for the whole listing.
  std::vector<PartialExpr> partials;
  std::string printed = printed_hessian(
      "fn f1(x, y) = sin(x * x + cos(x * y))\nfn f2(x, y) = sin(f1(x, y) * x + cos(f1(x, y) * y))\n", partials);
  std::map<std::string, std::string> defs;
  std::istringstream in(printed);
  int blocks = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("fn ", 0) == 0) ++blocks;
    if (line.rfind("  t", 0) != 0) continue;
    std::string name = line.substr(2, line.find(" = ") - 2), def = line.substr(line.find(" = ") + 3);
    auto [it, added] = defs.emplace(name, def);
    EXPECT_EQ(it->second, def) << name << "\n" << printed;
  }
  EXPECT_GE(blocks, 2) << printed;
  EXPECT_EQ(defs.at("t1"), "cos(x*y)") << printed;
}

}  // namespace
}  // namespace gradc::test
