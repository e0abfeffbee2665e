// gradc's own vector sin, cos, tanh and log (compiler/codegen/vector_math.cpp) in the batch entry: at most 1 ulp from the exact value on over a million points per function and type
// (f64 against glibc's long double functions, f32 against the double ones), the special values
// as the C library gives them, and each row within 2 ulp of the single entry (libm). The worst
// errors are printed (README and bench/batch.md quote them).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "runtime/jit.hpp"
#include "support/ulps.hpp"

namespace gradc {
namespace {

using Nodes = std::vector<const Node*>;

Jit& jit() {
  static std::unique_ptr<Jit> j = Jit::create();
  return *j;
}

using test::ulps;

struct Function {
  Op op;
  long double (*exact)(long double);  // f64's reference
  double (*exact32)(double);           // f32's reference
  // The inputs drawn: magnitudes 2^lo .. 2^hi, exponent-uniform, and uniform in [-dense, dense]
  // (or (0, dense] for log), where most arguments of real functions are.
  int lo, hi;
  double dense;
  bool positive;
};

const std::vector<Function> kFunctions = {
    {Op::Sin, [](long double x) { return sinl(x); }, [](double x) { return std::sin(x); }, -40, 30, 10, false},
    {Op::Cos, [](long double x) { return cosl(x); }, [](double x) { return std::cos(x); }, -40, 30, 10, false},
    {Op::Log, [](long double x) { return logl(x); }, [](double x) { return std::log(x); }, -1074, 1023, 4, true},
    {Op::Tanh, [](long double x) { return tanhl(x); }, [](double x) { return std::tanh(x); }, -40, 6, 20, false},
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// Special and boundary inputs: zeros, subnormals, the fast paths' edges (sin/cos: 2^20; tanh:
// the clamp at 20 and where it rounds to 1; log: the subnormal boundary), huge, inf, nan.
template <class T>
std::vector<T> edges() {
  constexpr T kMin = std::numeric_limits<T>::min(), kDen = std::numeric_limits<T>::denorm_min();
  std::vector<double> e = {0.0, 1.0, 0.5, 2.0, 1e-30, 1e-8, 0.7071067811865476, 1.4142135623730951,
                           0.7853981633974483, 1.5707963267948966, 3.141592653589793, 1048576.0, 1048577.0,
                           1048575.9, 9.0, 19.0, 19.1, 20.0, 20.5, 44.0, 88.0, 710.0, 1e22, 1e300,
                           static_cast<double>(kMin), static_cast<double>(kDen), static_cast<double>(kMin) / 3,
                           static_cast<double>(std::numeric_limits<T>::max()), kInf, kNan};
  std::vector<T> out;
  for (double v : e)
    for (double s : {1.0, -1.0}) {
      T t = static_cast<T>(s * v);
      out.push_back(t);
      out.push_back(std::nextafter(t, T(0)));
      out.push_back(std::nextafter(t, static_cast<T>(kInf)));
    }
  return out;
}

template <class T>
void check(const Function& fn) {
  constexpr bool f32 = std::is_same_v<T, float>;
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  Nodes in = {x}, out = {b.call(fn.op, x)};
  Kernel k = jit().compile(KernelSpec{"k", in, out, true, f32 ? DType::F32 : DType::F64});
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<T> xs;
  const int random = 1'000'000;
  for (int i = 0; i < random; ++i) {
    double v;
    if (i % 2 == 0) {
      int lo = std::max(fn.lo, f32 ? -149 : -1074), hi = std::min(fn.hi, f32 ? 127 : 1023);
      v = std::ldexp(1 + unit(rng), lo + static_cast<int>(unit(rng) * (hi - lo)));
    } else {
      v = unit(rng) * fn.dense;
    }
    if (!fn.positive && (i / 2) % 2) v = -v;
    xs.push_back(static_cast<T>(v));
  }
  if (fn.op == Op::Sin || fn.op == Op::Cos) {
    // Where the reduction by pi cancels most (x near k pi/2: sin or cos near 0, the remainder r
    // near 0 or near +-pi/2, the polynomial's edge) over its whole range |x| <= 2^20, and tiny x.
    const long double half_pi = 1.570796326794896619231321691639751442L;
    for (int i = 0; i < 200'000; ++i) {
      long double k = std::floor(i % 4 == 0 ? unit(rng) * 16 : std::ldexp(unit(rng), 20) / half_pi);
      T v = static_cast<T>(k * half_pi);
      for (int step = static_cast<int>(unit(rng) * 4); step > 0; --step) v = std::nextafter(v, T(i % 2 ? 1e9 : -1e9));
      xs.push_back(i % 3 ? v : -v);
      if (i % 50 == 0) xs.push_back(static_cast<T>(std::ldexp(unit(rng) - 0.5, -20 - i % (f32 ? 130 : 1000))));
    }
  }
  const std::size_t n_random = xs.size();
  for (T e : edges<T>()) xs.push_back(e);
  std::vector<T> got(xs.size());
  if constexpr (f32) k.batch_f32(xs.data(), got.data(), static_cast<std::int64_t>(xs.size()));
  else k.batch(xs.data(), got.data(), static_cast<std::int64_t>(xs.size()));

  double worst = 0, worst_own = -1;  // worst_own: the lanes gradc's code computes (not SLEEF's)
  T worst_at = 0;
  int failures = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    long double ref = f32 ? static_cast<long double>(fn.exact32(xs[i])) : fn.exact(xs[i]);
    T one;
    if constexpr (f32) k.single_f32(&xs[i], &one); else k.single(&xs[i], &one);
    std::string where = std::string(op_info(fn.op).name) + "(" + std::to_string(static_cast<double>(xs[i])) + ")";
    if (i >= n_random || !std::isfinite(static_cast<T>(ref)) || static_cast<T>(ref) == 0) {
      // nan where libm gives nan, infinities and zeros exactly (with their sign)
      ASSERT_EQ(std::isnan(got[i]), std::isnan(one)) << where << ": batch " << got[i] << ", libm " << one;
      if (std::isnan(one)) continue;
      if (std::isinf(one) || one == 0) {
        EXPECT_EQ(got[i], one) << where;
        EXPECT_EQ(std::signbit(got[i]), std::signbit(one)) << where << ": batch " << got[i] << ", libm " << one;
        continue;
      }
    }
    double e = ulps(got[i], ref);
    if (e > worst) {
      worst = e;
      worst_at = xs[i];
    }
    bool own = fn.op == Op::Sin || fn.op == Op::Cos ? std::fabs(xs[i]) <= T(1048576)
               : fn.op == Op::Log                  ? xs[i] >= std::numeric_limits<T>::min()
                                                   : true;
    if (own) worst_own = std::max(worst_own, e);
    if (e > 1.0 && ++failures <= 10)
      ADD_FAILURE() << where << " = " << got[i] << ", exact " << static_cast<double>(ref) << ": " << e << " ulp";
    // the single entry (libm, also within 1 ulp) and the batch: within 2 ulp of each other
    if (std::isfinite(one) && one != 0 && ulps(got[i], static_cast<long double>(one)) > 2.0 && ++failures <= 10)
      ADD_FAILURE() << where << ": batch " << got[i] << ", single " << one;
  }
  EXPECT_EQ(failures, 0);
  std::printf("%s %s: %zu points, worst %.3f ulp at %.17g; %s %.3f\n", op_info(fn.op).name, f32 ? "f32" : "f64",
              xs.size(), worst, static_cast<double>(worst_at),
              worst_own < 0 ? "all lanes SLEEF's" : "gradc's own lanes", std::max(worst_own, 0.0));
}

TEST(VectorMath, F64WithinOneUlp) {
  for (const Function& fn : kFunctions) check<double>(fn);
}

TEST(VectorMath, F32WithinOneUlp) {
  for (const Function& fn : kFunctions) check<float>(fn);
}

// f32 sin and cos over their whole fast range (|x| <= 2^20, the rest is SLEEF's): every 37th
// float of each sign (68 million points, all exponents), and 16 consecutive floats from the one
// nearest +-k pi/2 (towards 0 for odd k, away for even), for k up to 20,000 and 20,000 random k up
// to 2^20 2/pi, where the reduction cancels most.
// Reference: glibc's double sin and cos (within 1 ulp of double, far below f32's ulp).
TEST(VectorMath, F32SinCosSweep) {
  constexpr std::uint32_t kStride = 37;  // 1: every float (2.5 billion, a few minutes; run once by hand)
  std::vector<float> near;
  std::mt19937_64 rng(32);
  std::uniform_int_distribution<long> far(20'000, static_cast<long>(1048576 / (M_PI / 2)));
  for (long i = 1; i <= 40'000; ++i) {
    long k = i <= 20'000 ? i : far(rng);
    float c = static_cast<float>(k * (M_PI / 2));
    for (int s = 0; s < 16; ++s) {
      near.push_back(c);
      near.push_back(-c);
      c = std::nextafter(c, i % 2 ? 0.0f : 2e6f);
    }
  }
  for (Op op : {Op::Sin, Op::Cos}) {
    Graph g;
    Builder b(g, Simplify::None);
    const Node* x = b.var("x");
    Nodes in = {x}, out = {b.call(op, x)};
    Kernel k = jit().compile(KernelSpec{"k", in, out, true, DType::F32});
    double worst = 0;
    float worst_at = 0;
    std::size_t points = 0;
    std::vector<float> xs, got;
    auto measure = [&] {
      got.resize(xs.size());
      k.batch_f32(xs.data(), got.data(), static_cast<std::int64_t>(xs.size()));
      for (std::size_t i = 0; i < xs.size(); ++i) {
        double ref = op == Op::Sin ? std::sin(static_cast<double>(xs[i])) : std::cos(static_cast<double>(xs[i]));
        if (ref == 0) {  // sin(+-0): the zero with its sign
          ASSERT_EQ(std::signbit(got[i]), std::signbit(xs[i])) << xs[i];
          ASSERT_EQ(got[i], 0.0f) << xs[i];
          continue;
        }
        double e = ulps(got[i], static_cast<long double>(ref));
        if (e > worst) {
          worst = e;
          worst_at = xs[i];
        }
      }
      points += xs.size();
      xs.clear();
    };
    xs = near;
    measure();
    // in blocks of 2^22 floats, so that kStride = 1 fits in memory
    for (std::uint64_t bits = 0; bits <= 0x49800000u; bits += kStride) {
      for (std::uint32_t sign : {0u, 0x80000000u}) {
        std::uint32_t u = static_cast<std::uint32_t>(bits) | sign;
        float v;
        std::memcpy(&v, &u, 4);
        xs.push_back(v);
      }
      if (xs.size() >= (1u << 22)) measure();
    }
    measure();
    EXPECT_LE(worst, 1.0) << op_info(op).name << " at " << worst_at;
    std::printf("%s f32 sweep: %zu points, worst %.3f ulp at %.9g\n", op_info(op).name, points, worst,
                static_cast<double>(worst_at));
  }
}

// The mechanism the tests above measure: the batch computes sin, cos, log and tanh by gradc's
// own code (vrcp14pd and no division on an AVX-512 host), SLEEF only for the lanes outside the
// fast path (sin, cos, log), never for tanh.
TEST(VectorMath, BatchUsesGradcsOwnFunctions) {
  for (DType dtype : {DType::F64, DType::F32}) {
    Graph g;
    Builder b(g, Simplify::None);
    const Node* x = b.var("x");
    Nodes in = {x}, out = {b.call(Op::Tanh, b.call(Op::Log, b.call(Op::Sin, x)))};
    std::string ir = jit().llvm_ir(KernelSpec{"k", in, out, true, dtype});
    EXPECT_EQ(ir.find("Sleef_tanh"), std::string::npos) << ir;
    // f32: sin in f32 arithmetic, no conversion to double
    if (dtype == DType::F32) {
      EXPECT_EQ(ir.find("fpext"), std::string::npos) << ir;
    }
    // f32 tanh: f32 arithmetic (vrcp14ps for its quotient), f64: vrcp14pd
    if (jit().target().avx512) {
      EXPECT_NE(ir.find(dtype == DType::F32 ? "llvm.x86.avx512.rcp14.ps.512" : "llvm.x86.avx512.rcp14.pd.512"),
                std::string::npos)
          << ir;
    }
  }
}

}  // namespace
}  // namespace gradc
