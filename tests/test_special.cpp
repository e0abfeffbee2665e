// lgamma, log1p, expm1, digamma and polygamma: values against reference numbers (mpmath at 50
// digits), the poles and infinities, the JIT against the interpreter in f64 and f32, and orders
// of derivatives past the second.
#include <gtest/gtest.h>

#include <limits>

#include "support/helpers.hpp"
#include "support/special.hpp"

namespace gradc::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// |got - want| in units in the last place of want.
double ulps(double got, double want) {
  double ulp = std::nextafter(std::fabs(want), kInf) - std::fabs(want);
  return std::fabs(got - want) / ulp;
}

struct Reference {
  int n;
  double x;
  double value;  // ψ⁽ⁿ⁾(x), mpmath.polygamma(n, x) at 50 digits, rounded to 21
};

// Closed forms among them: ψ(1) = -γ, ψ(1/2) = -γ - 2 ln 2, ψ⁽¹⁾(1) = π²/6, ψ⁽¹⁾(1/2) = π²/2,
// ψ⁽²⁾(1) = -2ζ(3), ψ⁽³⁾(1) = π⁴/15, ψ⁽⁵⁾(1) = 8π⁶/63. x = 1.4616321449683622 is the double
// nearest the positive root of ψ: only 0.7e-16 from it, so the value is tiny and still exact to
// a few ulp (a relative test, which a recurrence from x + 10 fails by many orders).
const Reference kReferences[] = {
      {0, 1, -0.577215664901532860607},
      {0, 0.5, -1.96351002602142347944},
      {0, 2, 0.422784335098467139393},
      {0, 10, 2.25175258906672110765},
      {0, 1e-05, -1.00000577199215672889e+5},
      {0, 100.5, 4.60517435258184521187},
      {0, 1.4616321449683622, -9.24126552172942751679e-17},
      {0, 1.5, 0.036489973978576520559},
      {0, 3.7, 1.16715353936151144095},
      {0, -2.5, 1.10315664064524318723},
      {0, -0.3, 2.11330977963539887341},
      {0, 1000000.0, 13.8155100579641907708},
      {0, -7.9, -7.54000722441947843443},
      {1, 1, 1.64493406684822643647},
      {1, 0.5, 4.93480220054467930942},
      {1, 2.5, 0.490357756100234864973},
      {1, 0.001, 1.00000164253319582734e+6},
      {1, 50, 0.020201333226697125806},
      {1, -2.5, 9.53924664498912375386},
      {1, -0.3, 13.9451602678057224889},
      {1, 7.25, 0.147879233158932169652},
      {2, 1, -2.4041138063191885708},
      {2, 0.5, -16.8287966442343199956},
      {2, 0.7, -6.43499287419092369432},
      {2, 3, -0.154113806319188570799},
      {2, 12.5, -0.0069324365857882407909},
      {2, -1.5, -0.236204051641727403004},
      {2, -0.3, 67.6390811998831600402},
      {3, 1, 6.4939394022668291491},
      {3, 0.5, 97.4090910340024372364},
      {3, 2.25, 0.324544009188396022791},
      {3, 40, 3.24414001515635003219e-5},
      {3, -2.5, 194.747876219187622422},
      {5, 1, 122.081167438133896766},
      {5, 0.25, 4.91552513767681292046e+5},
      {5, 9.5, 0.000400292772116835299034},
      {5, -3.3, 1.65660146529172086613e+5},
};

TEST(SpecialFunctions, DigammaAndPolygammaWithinTwoUlpOfReferences) {
  for (const Reference& r : kReferences) {
    double got = r.n == 0 ? gradc_digamma(r.x) : gradc_polygamma(r.n, r.x);
    EXPECT_LE(ulps(got, r.value), 2.0) << "polygamma(" << r.n << ", " << r.x << ") = " << got << ", want " << r.value;
    if (r.n == 0) EXPECT_EQ(gradc_polygamma(0, r.x), got);
  }
}

TEST(SpecialFunctions, PolesInfinitiesAndBadOrders) {
  // ψ(±0) = ∓inf (the side's limit, as PyTorch); at -1, -2, ... the sides disagree: nan.
  EXPECT_EQ(gradc_digamma(0.0), -kInf);
  EXPECT_EQ(gradc_digamma(-0.0), kInf);
  EXPECT_TRUE(std::isnan(gradc_digamma(-1.0)));
  EXPECT_TRUE(std::isnan(gradc_digamma(-3.0)));
  EXPECT_EQ(gradc_digamma(kInf), kInf);
  EXPECT_TRUE(std::isnan(gradc_digamma(-kInf)));
  EXPECT_TRUE(std::isnan(gradc_digamma(std::nan(""))));
  // Odd orders: +inf from both sides of every pole; even orders: the sign of zero decides at 0.
  EXPECT_EQ(gradc_polygamma(1, 0.0), kInf);
  EXPECT_EQ(gradc_polygamma(1, -4.0), kInf);
  EXPECT_EQ(gradc_polygamma(3, -0.0), kInf);
  EXPECT_EQ(gradc_polygamma(2, 0.0), -kInf);
  EXPECT_EQ(gradc_polygamma(2, -0.0), kInf);
  EXPECT_TRUE(std::isnan(gradc_polygamma(2, -2.0)));
  EXPECT_EQ(gradc_polygamma(1, kInf), 0.0);
  EXPECT_EQ(gradc_polygamma(4, kInf), 0.0);
  // The order is an integer n >= 0.
  EXPECT_TRUE(std::isnan(gradc_polygamma(1.5, 2.0)));
  EXPECT_TRUE(std::isnan(gradc_polygamma(-1, 2.0)));
  EXPECT_TRUE(std::isnan(gradc_polygamma(std::nan(""), 2.0)));
  // Large orders overflow to inf with the sign of (-1)^(n+1): ψ⁽ⁿ⁾(1) = (-1)^(n+1) n! ζ(n+1).
  EXPECT_EQ(gradc_polygamma(200, 1.0), -kInf);
  EXPECT_EQ(gradc_polygamma(201, 1.0), kInf);
}

// f(x) for one op, through the interpreter and the JIT (f64), both against a reference.
TEST(SpecialOps, ValuesMatchReferences) {
  struct Case {
    const char* expr;
    double x, want;  // mpmath at 50 digits
  };
  const Case cases[] = {
      {"lgamma(x)", 0.5, 0.572364942924700087072},  // ln sqrt(pi)
      {"lgamma(x)", 1e-8, 18.4206807381802088845},
      {"lgamma(x)", 3.5, 1.20097360234707422482},
      {"lgamma(x)", -2.5, -0.0562437164976740506726},  // ln|Γ|: Γ(-2.5) < 0
      {"lgamma(x)", -0.5, 1.26551212348464539649},
      {"lgamma(x)", 100, 359.134205369575398776},
      {"lgamma(x)", 171.5, 709.143163030928242272},  // Γ(171.5) itself overflows a double
      {"log1p(x)", 1e-10, 9.99999999950000036436e-11},  // log(1 + x) would be 1.00000008e-10
      {"log1p(x)", -0.5, -0.693147180559945309417},
      {"log1p(x)", 3, 1.38629436111989061883},
      {"log1p(x)", -1e-12, -1.00000000000049997989e-12},
      {"expm1(x)", 1e-10, 1.00000000005000003643e-10},
      {"expm1(x)", -0.5, -0.393469340287366576396},
      {"expm1(x)", 3, 19.0855369231876677409},
      {"expm1(x)", -1e-12, -9.99999999999499979887e-13},
      {"digamma(x)", 0.5, -1.96351002602142347944},
      {"polygamma(1, x)", 0.5, 4.93480220054467930942},  // π²/2
      {"polygamma(1 + 1, x)", 1, -2.40411380631918857080},  // the order is a constant expression
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.expr << " at " << c.x);
    auto m = compile_text(std::string("fn f(x) = ") + c.expr);
    const Function& f = *m->find("f");
    double interp = evaluate(std::span(&f.body, 1), f.params, std::vector<double>{c.x})[0];
    EXPECT_LE(ulps(interp, c.want), 2.0) << interp;
    Kernel k = shared_jit().compile(KernelSpec{"f", f.params, std::span(&f.body, 1), false});
    double jit = 0;
    k.single(&c.x, &jit);
    EXPECT_EQ(jit, interp);
  }
}

// Each derivative is the next op: lgamma' = ψ, ψ' = ψ⁽¹⁾, ψ⁽ⁿ⁾' = ψ⁽ⁿ⁺¹⁾. The third and fourth
// derivatives of lgamma at 1 are ψ⁽²⁾(1) = -2ζ(3) and ψ⁽³⁾(1) = π⁴/15.
TEST(SpecialOps, HigherOrdersOfLgamma) {
  auto m = compile_text("fn f(x) = lgamma(x)");
  const Function& f = *m->find("f");
  Builder b(m->graph);
  const Node* d = f.body;
  const double want[] = {0, -0.577215664901532860607, 1.64493406684822643647, -2.40411380631918857080,
                         6.49393940226682914910};
  const char* printed[] = {"lgamma(x)", "digamma(x)", "polygamma(1, x)", "polygamma(2, x)", "polygamma(3, x)"};
  for (int order = 0; order <= 4; ++order) {
    if (order > 0) d = gradient(b, d, f.params)[0];
    EXPECT_EQ(print_inline(d, Format::Text), printed[order]);
    double v = evaluate(std::span(&d, 1), f.params, std::vector<double>{1.0})[0];
    EXPECT_LE(std::fabs(v - want[order]), 2 * std::numeric_limits<double>::epsilon() * std::fabs(want[order])) << order;
  }
  EXPECT_EQ(rendered(print_inline(d, Format::Latex)), "\\psi^{(3)}\\left(x\\right)");
  EXPECT_EQ(rendered(print_inline(f.body, Format::Latex)), "\\ln\\Gamma\\left(x\\right)");
}

// The JIT equals the interpreter on tensors, value and gradient (which calls digamma and
// polygamma up to order 3), in f64 and in f32 (rounded).
TEST(SpecialOps, TensorKernelsMatchTheInterpreter) {
  Graph g;
  Builder b(g);
  const Node* x = b.var("x", Shape{6});
  const Node* y = b.apply(Op::Add, {b.call(Op::Lgamma, x), b.mul(b.call(Op::Log1p, x), b.call(Op::Expm1, b.neg(x)))});
  y = b.add(y, b.mul(b.call(Op::Digamma, x), b.apply(Op::Polygamma, {b.constant(2), x})));
  const Node* loss = b.sum(y, -1);
  const Node* grad = gradient(b, loss, std::span(&x, 1))[0];
  const Node* outs[] = {y, grad};
  const Tensor xv{Shape{6}, {0.25, 1.5, 3.75, -0.5, 12, 0.01}};
  std::vector<Tensor> ref = evaluate_tensors(outs, std::span(&x, 1), std::span(&xv, 1));
  for (DType dt : {DType::F64, DType::F32}) {
    Kernel k = shared_jit().compile(KernelSpec{"special", std::span(&x, 1), outs, false, dt});
    std::vector<double> got(12);
    if (dt == DType::F64) {
      k.single(xv.data.data(), got.data());
    } else {
      std::vector<float> in(xv.data.begin(), xv.data.end()), out(12);
      k.single_f32(in.data(), out.data());
      got.assign(out.begin(), out.end());
    }
    for (int j = 0; j < 2; ++j)
      for (int i = 0; i < 6; ++i) {
        double want = ref[j].data[i], v = got[6 * j + i];
        if (dt == DType::F64)  // the same special functions; exp and the sums may be vectorized
          EXPECT_LE(std::fabs(v - want), 1e-14 * std::max(1.0, std::fabs(want))) << "output " << j << " element " << i;
        else  // f32 rounds x and every intermediate
          EXPECT_LE(std::fabs(v - want), 1e-4 * std::max(1.0, std::fabs(want))) << "f32 output " << j << " element " << i;
      }
  }
}

}  // namespace
}  // namespace gradc::test
