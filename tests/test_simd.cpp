// The batch entry of scalar kernels across points (vectors of rows, SLEEF's functions and
// gradc's own sin, cos, log, tanh): each vector math op within 1.0 ulp of a reference computed in
// wider precision, f64 and f32; nan, inf and domain errors as the single entry gives them; row counts around the vector
// width; a row's results independent of its place in the batch and of how its row is read
// (whole vectors and shuffles, or gathers) and written.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdint>
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
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

Jit& jit() {
  static std::unique_ptr<Jit> j = Jit::create();
  return *j;
}

// Row counts below, at and past the rows per iteration of every width (8 to 64 rows: 2 to 16
// lanes times the vectors per iteration), and many.
const std::vector<std::int64_t> kRowCounts = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000};

using test::ulps;

struct Case {
  Op op;
  double lo, hi;  // where the points are drawn (log-uniform when lo > 0 and hi / lo > 1e6)
  double lo2 = 0, hi2 = 0;  // the second argument's range (pow)
  long double (*ref)(long double, long double);
};

#define REF1(f) [](long double x, long double) { return f(x); }
const std::vector<Case> kCases = {
    {Op::Sin, -20, 20, 0, 0, REF1(sinl)},      {Op::Cos, -20, 20, 0, 0, REF1(cosl)},
    {Op::Tan, -3, 3, 0, 0, REF1(tanl)},        {Op::Asin, -1, 1, 0, 0, REF1(asinl)},
    {Op::Acos, -1, 1, 0, 0, REF1(acosl)},      {Op::Atan, -100, 100, 0, 0, REF1(atanl)},
    {Op::Tanh, -10, 10, 0, 0, REF1(tanhl)},    {Op::Exp, -80, 80, 0, 0, REF1(expl)},
    {Op::Log, 1e-30, 1e30, 0, 0, REF1(logl)},  {Op::Log1p, -0.999, 50, 0, 0, REF1(log1pl)},
    {Op::Expm1, -30, 60, 0, 0, REF1(expm1l)},
    {Op::Pow, 0.01, 20, -8, 8, [](long double x, long double y) { return powl(x, y); }},
};
#undef REF1

// Inputs where the functions have their special cases.
const std::vector<double> kEdges = {0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 1e-310, -1e-310, 1e-30, 1e300, -1e300,
                                    710.0, -710.0, 89.0, 1e22, kInf, -kInf, kNan};

const Node* apply(Builder& b, Op op, const Node* x, const Node* y) {
  return op == Op::Pow ? b.apply(op, {x, y}) : b.call(op, x);
}

template <class T>
struct Kernels {
  static void batch(const Kernel& k, const T* in, T* out, std::int64_t n) {
    if constexpr (std::is_same_v<T, float>) k.batch_f32(in, out, n); else k.batch(in, out, n);
  }
  static void single(const Kernel& k, const T* in, T* out) {
    if constexpr (std::is_same_v<T, float>) k.single_f32(in, out); else k.single(in, out);
  }
};

template <class T>
void check_vector_math(const Case& c) {
  constexpr DType dtype = std::is_same_v<T, float> ? DType::F32 : DType::F64;
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y");
  Nodes in = {x, y}, out = {apply(b, c.op, x, y)};
  Kernel k = jit().compile(KernelSpec{"k", in, out, true, dtype});
  std::mt19937_64 rng(11);
  auto draw = [&](double lo, double hi) {
    if (lo > 0 && hi / lo > 1e6) return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng));
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  // Rows of (x, y): random in the case's range, then every pair of edge values.
  std::vector<T> rows;
  const int random_rows = 2000;
  for (int i = 0; i < random_rows; ++i) {
    rows.push_back(static_cast<T>(draw(c.lo, c.hi)));
    rows.push_back(static_cast<T>(c.op == Op::Pow ? draw(c.lo2, c.hi2) : 0.0));
  }
  for (double e : kEdges)
    for (double e2 : c.op == Op::Pow ? kEdges : std::vector<double>{0.0}) {
      rows.push_back(static_cast<T>(e));
      rows.push_back(static_cast<T>(e2));
    }
  const std::int64_t n = static_cast<std::int64_t>(rows.size() / 2);
  std::vector<T> got(n);
  Kernels<T>::batch(k, rows.data(), got.data(), n);
  double worst = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    T one;
    Kernels<T>::single(k, &rows[2 * r], &one);
    std::string where = std::string(op_info(c.op).name) + "(" + std::to_string(rows[2 * r]) +
                        (c.op == Op::Pow ? ", " + std::to_string(rows[2 * r + 1]) : "") + ")";
    if (r < random_rows) {
      long double ref = c.ref(rows[2 * r], rows[2 * r + 1]);
      if (!std::isfinite(static_cast<T>(ref))) continue;  // overflow at the range's end
      double e = ulps(got[r], ref);
      worst = std::max(worst, e);
      EXPECT_LE(e, 1.0) << where << ": " << got[r] << ", exact " << static_cast<double>(ref);
      continue;
    }
    // Special cases: nan where the single entry (the C library) gives nan, infinities and zeros
    // with its sign, finite values within SLEEF's bound of it.
    ASSERT_EQ(std::isnan(got[r]), std::isnan(one)) << where << ": batch " << got[r] << ", single " << one;
    if (std::isnan(one)) continue;
    if (std::isinf(one) || one == 0) {
      EXPECT_EQ(got[r], one) << where;
      EXPECT_EQ(std::signbit(got[r]), std::signbit(one)) << where << ": batch " << got[r] << ", single " << one;
    } else {
      EXPECT_LE(ulps(got[r], static_cast<long double>(one)), 2.0)  // each within 1 ulp of the exact value
          << where << ": batch " << got[r] << ", single " << one;
    }
  }
  std::printf("%s %s: worst %.3f ulp\n", op_info(c.op).name, dtype == DType::F32 ? "f32" : "f64", worst);
}

TEST(Simd, VectorMathF64WithinOneUlp) {
  for (const Case& c : kCases) check_vector_math<double>(c);
}

TEST(Simd, VectorMathF32WithinOneUlp) {
  for (const Case& c : kCases) check_vector_math<float>(c);
}

// The batch's IR calls SLEEF's functions (exp here; sin, cos, log and tanh are gradc's own,
// tests/test_vector_math.cpp): the mechanism the tests above measure.
TEST(Simd, BatchCallsSleef) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  Nodes in = {x}, out = {b.call(Op::Exp, x)};
  std::string ir = jit().llvm_ir(KernelSpec{"k", in, out, true, DType::F64});
  EXPECT_NE(ir.find("@Sleef_expd"), std::string::npos) << ir;
  EXPECT_NE(ir.find("@llvm.exp.f64"), std::string::npos) << ir;  // the single entry: the C library's
}

// Every row count (around each width's rows per iteration): each row computes what it computes
// in a batch of 1,000 (its place in the batch does not matter: the last rows go through the
// same vector code), and nothing past the last row is written.
template <class T>
void check_row_counts() {
  using Bits = std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint64_t>;
  constexpr DType dtype = std::is_same_v<T, float> ? DType::F32 : DType::F64;
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y"), *z = b.var("z");
  // tanh(log(1 + z * (2x / sin y))) and a pure-arithmetic output
  const Node* v = b.call(Op::Tanh, b.call(Op::Log, b.add(b.constant(1), b.mul(z, b.div(b.mul(b.constant(2), x), b.call(Op::Sin, y))))));
  Nodes in = {x, y, z}, out = {v, b.add(b.mul(x, y), z)};
  Kernel k = jit().compile(KernelSpec{"k", in, out, true, dtype});
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.1, 3);
  std::vector<T> rows(3 * 1001);
  for (T& e : rows) e = static_cast<T>(u(rng));
  std::vector<T> all(2 * 1000);
  Kernels<T>::batch(k, rows.data(), all.data(), 1000);
  for (std::int64_t n : kRowCounts) {
    for (std::int64_t start : {std::int64_t(0), std::int64_t(1)}) {
      if (start + n > 1000) continue;
      std::vector<T> got(2 * n + 1, T(-777));
      Kernels<T>::batch(k, &rows[3 * start], got.data(), n);
      EXPECT_EQ(got.back(), T(-777)) << n << " rows: wrote past the last";
      for (std::int64_t r = 0; r < n; ++r)
        for (int j = 0; j < 2; ++j)
          EXPECT_EQ(std::bit_cast<Bits>(got[2 * r + j]), std::bit_cast<Bits>(all[2 * (start + r) + j]))
              << n << " rows from " << start << ", row " << r << ", output " << j;
    }
  }
}

TEST(Simd, RowCountsAndPlacesF64) { check_row_counts<double>(); }
TEST(Simd, RowCountsAndPlacesF32) { check_row_counts<float>(); }

// Ops without a vector function (lgamma, sinh, cosh, digamma, polygamma) run the scalar one lane by lane,
// and arithmetic, comparisons and selects are the same IEEE operations on vectors: the batch
// equals the single entry bit for bit, nan cases included (min/max return the operand ops.cpp
// says).
TEST(Simd, LaneByLaneAndArithmeticEqualTheSingleEntry) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y");
  Nodes in = {x, y};
  Nodes out = {b.call(Op::Lgamma, x), b.call(Op::Sinh, x), b.call(Op::Cosh, y), b.call(Op::Digamma, x), b.apply(Op::Polygamma, {b.constant(1), y}),
               b.apply(Op::Min, {x, y}), b.apply(Op::Max, {x, y}), b.call(Op::Relu, x), b.call(Op::Sign, y),
               b.div(b.add(b.mul(x, y), b.constant(1)), b.sub(x, y)), b.call(Op::Sqrt, x), b.call(Op::Abs, y),
               b.apply(Op::Mask, {x, y})};
  for (DType dtype : {DType::F64, DType::F32}) {
    Kernel k = jit().compile(KernelSpec{"k", in, out, true, dtype});
    std::vector<double> pts = {710.0, -710.0, 89.0, 89.0, 0.5, 2.0, -0.0, 0.0, kNan, 1.0, 1.0, kNan, kInf, -kInf, -3.5, 4.25, 1e-310, 7.0,
                               12.5, -1.5, 0.0, kInf, 3.0, 3.0, -1.0, 0.25};
    for (int i = 0; i < 40; ++i) pts.push_back(0.37 * i - 5), pts.push_back(1.1 * i - 20);
    const std::int64_t n = static_cast<std::int64_t>(pts.size() / 2), no = static_cast<std::int64_t>(out.size());
    if (dtype == DType::F64) {
      std::vector<double> got(n * no), one(no);
      k.batch(pts.data(), got.data(), n);
      for (std::int64_t r = 0; r < n; ++r) {
        k.single(&pts[2 * r], one.data());
        for (std::int64_t j = 0; j < no; ++j)
          EXPECT_TRUE(std::bit_cast<std::uint64_t>(got[r * no + j]) == std::bit_cast<std::uint64_t>(one[j]) ||
                      (std::isnan(got[r * no + j]) && std::isnan(one[j])))
              << "f64 row " << r << " output " << j << ": " << got[r * no + j] << " vs " << one[j];
      }
    } else {
      std::vector<float> p(pts.begin(), pts.end()), got(n * no), one(no);
      k.batch_f32(p.data(), got.data(), n);
      for (std::int64_t r = 0; r < n; ++r) {
        k.single_f32(&p[2 * r], one.data());
        for (std::int64_t j = 0; j < no; ++j)
          EXPECT_TRUE(std::bit_cast<std::uint32_t>(got[r * no + j]) == std::bit_cast<std::uint32_t>(one[j]) ||
                      (std::isnan(got[r * no + j]) && std::isnan(one[j])))
              << "f32 row " << r << " output " << j << ": " << got[r * no + j] << " vs " << one[j];
      }
    }
  }
}

// Rows of 1 to 4 inputs (outputs) are read (written) as whole vectors and shuffled, longer ones by
// gathers (scatters): every row layout puts each input in its row's lane and each output in its
// row's place. Arithmetic outputs equal the single entry bit for bit; a SLEEF output equals the
// 1-input, 1-output kernel's (contiguous rows) bit for bit, whatever the layout. Row counts
// around each width, from offsets 0 and 1; nothing past the last row is written.
template <class T>
void check_row_layouts() {
  using Bits = std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint64_t>;
  constexpr DType dtype = std::is_same_v<T, float> ? DType::F32 : DType::F64;
  Graph g;
  Builder b(g, Simplify::None);
  Nodes vars;
  for (int i = 0; i < 6; ++i) vars.push_back(b.var("x" + std::to_string(i)));
  Nodes one_in = {vars[0]}, one_out = {b.call(Op::Tanh, vars[0])};
  Kernel plain = jit().compile(KernelSpec{"plain", one_in, one_out, true, dtype});
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-4, 4);
  std::vector<T> rows(6 * 1001);
  for (T& e : rows) e = static_cast<T>(u(rng));
  for (int nin = 1; nin <= 6; ++nin)
    for (int nout = 1; nout <= 6; ++nout) {
      Nodes in(vars.begin(), vars.begin() + nin), out;
      // output j: x_{j mod nin} * (j + 1) + x_{(j + 1) mod nin}; the last: tanh(x0)
      for (int j = 0; j + 1 < nout; ++j)
        out.push_back(b.add(b.mul(in[j % nin], b.constant(j + 1)), in[(j + 1) % nin]));
      out.push_back(one_out[0]);
      Kernel k = jit().compile(KernelSpec{"k", in, out, true, dtype});
      for (std::int64_t n : kRowCounts)
        for (std::int64_t start : {std::int64_t(0), std::int64_t(1)}) {
          if (start + n > 1000) continue;
          const T* p = &rows[nin * start];
          std::vector<T> got(nout * n + 1, T(-777)), single(nout), x0(n), tanh0(n);
          Kernels<T>::batch(k, p, got.data(), n);
          for (std::int64_t r = 0; r < n; ++r) x0[r] = p[nin * r];
          Kernels<T>::batch(plain, x0.data(), tanh0.data(), n);
          std::string where = std::to_string(nin) + " inputs, " + std::to_string(nout) + " outputs, " +
                              std::to_string(n) + " rows from " + std::to_string(start);
          ASSERT_EQ(got.back(), T(-777)) << where << ": wrote past the last row";
          for (std::int64_t r = 0; r < n; ++r) {
            Kernels<T>::single(k, p + nin * r, single.data());
            for (int j = 0; j + 1 < nout; ++j)
              ASSERT_EQ(std::bit_cast<Bits>(got[nout * r + j]), std::bit_cast<Bits>(single[j]))
                  << where << ", row " << r << ", output " << j;
            ASSERT_EQ(std::bit_cast<Bits>(got[nout * r + nout - 1]), std::bit_cast<Bits>(tanh0[r]))
                << where << ", row " << r << ", tanh";
          }
        }
    }
}

TEST(Simd, RowLayoutsF64) { check_row_layouts<double>(); }
TEST(Simd, RowLayoutsF32) { check_row_layouts<float>(); }

// The mechanism the test above covers: no gather or scatter for rows of up to 4 inputs and
// outputs (the lecture function's value and gradient), gathers and scatters beyond.
TEST(Simd, ShortRowsAreShuffledNotGathered) {
  Graph g;
  Builder b(g, Simplify::None);
  Nodes vars;
  for (int i = 0; i < 5; ++i) vars.push_back(b.var("x" + std::to_string(i)));
  for (DType dtype : {DType::F64, DType::F32}) {
    for (int n = 1; n <= 5; ++n) {
      Nodes in(vars.begin(), vars.begin() + n), out;
      for (int j = 0; j < n; ++j) out.push_back(b.call(Op::Sin, in[j]));
      std::string ir = jit().llvm_ir(KernelSpec{"k", in, out, true, dtype});
      bool wide = n > 4;
      EXPECT_EQ(ir.find("llvm.masked.gather") != std::string::npos, wide) << n << " inputs\n" << ir;
      EXPECT_EQ(ir.find("llvm.masked.scatter") != std::string::npos, wide) << n << " outputs\n" << ir;
      EXPECT_NE(ir.find("@Sleef_sin"), std::string::npos) << ir;
    }
  }
}

// The fast tier's batch entry is the single entry in a loop (the vector batch would triple its
// compile time): no SLEEF call, and each row the single entry's bits.
TEST(Simd, FastTierBatchIsTheSingleEntryInALoop) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  Nodes in = {x}, out = {b.call(Op::Sin, x)};
  KernelSpec spec{"k", in, out, true, DType::F64};
  Jit::Options opts;
  opts.optimize = false;
  std::unique_ptr<Jit> fast = Jit::create(opts);
  std::string ir = fast->llvm_ir(spec);
  EXPECT_EQ(ir.find("@Sleef_"), std::string::npos) << ir;
  Kernel k = fast->compile(spec);
  std::vector<double> pts, got(1000);
  for (int i = 0; i < 1000; ++i) pts.push_back(0.0123 * i - 6);
  k.batch(pts.data(), got.data(), 1000);
  for (int i = 0; i < 1000; ++i) {
    double one;
    k.single(&pts[i], &one);
    ASSERT_EQ(std::bit_cast<std::uint64_t>(got[i]), std::bit_cast<std::uint64_t>(one)) << "row " << i;
  }
}

}  // namespace
}  // namespace gradc
