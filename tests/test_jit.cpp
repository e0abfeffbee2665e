// The LLVM code generator and JIT, checked against the IR interpreter: every op at ordinary and
// edge-case points (with the O2 pipeline and unoptimized), the batch entry point (scalar and
// vectorized), shared subexpressions, large random DAGs, a 250,000-node chain, symbol uniquing,
// errors and the emitted IR text.
#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/interp.hpp"
#include "runtime/jit.hpp"

namespace gradc {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

using Nodes = std::vector<const Node*>;

KernelSpec spec(const std::string& name, const Nodes& in, const Nodes& out) {
  return KernelSpec{name, in, out};
}

// Exact: bitwise equal (nan matches any nan). Otherwise a relative error of 1e-15, since the JIT
// may reach libm through a different entry point (or use x*x for pow(x, 2)).
::testing::AssertionResult same(double expected, double actual, bool exact) {
  bool ok;
  if (std::isnan(expected) || std::isnan(actual))
    ok = std::isnan(expected) && std::isnan(actual);
  else if (exact)
    ok = std::bit_cast<std::uint64_t>(expected) == std::bit_cast<std::uint64_t>(actual);
  else
    ok = expected == actual || std::fabs(expected - actual) <= 1e-15 * std::fabs(expected);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected " << expected << ", got " << actual << std::hexfloat << " (" << expected
         << " vs " << actual << ")";
}

// Ops whose lowering is a single IEEE operation or a select: the JIT must match bit for bit.
const std::set<Op> kExactOps = {Op::Add, Op::Sub,  Op::Mul, Op::Div, Op::Neg,  Op::Sqrt,
                                Op::Abs, Op::Relu, Op::Min, Op::Max, Op::Step, Op::Sign};

std::vector<Op> all_ops() {
  return {
#define GRADC_OP_LIST(name, arity) Op::name,
      GRADC_FOR_EACH_OP(GRADC_OP_LIST)
#undef GRADC_OP_LIST
  };
}

const std::vector<double> kUnaryPoints = {0.0,    -0.0,   0.5,     -0.5, 1.0,   -1.0,  2.0,   -3.0,
                                          0.25,   1e-300, -1e-300, 1e-8, 20.0,  -20.0, 100.0, 710.0,
                                          -745.5, 1e300,  -1e300,  kInf, -kInf, kNan};
const std::vector<double> kBinaryPoints = {0.0, -0.0, 1.0,  -1.0,  2.0, -2.5,
                                           0.5, 3.0,  kInf, -kInf, kNan};

class JitOps : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { jit = Jit::create({.optimize = GetParam()}); }
  std::unique_ptr<Jit> jit;
};

TEST_P(JitOps, EveryOpMatchesTheInterpreter) {
  for (Op op : all_ops()) {
    const OpInfo& info = op_info(op);
    if (info.syntax == Syntax::Leaf || !info.elementwise) continue;
    Graph g;
    Builder b(g, Simplify::None);
    Nodes in = {b.var("x"), b.var("y")};
    in.resize(info.arity);
    const Node* f = b.apply(op, std::span<const Node* const>(in));
    Kernel k = jit->compile(spec(std::string("op_") + info.name, in, {f}));
    bool exact = kExactOps.contains(op);
    auto check = [&](std::vector<double> x) {
      double out = -12345;
      k.single(x.data(), &out);
      double ref = evaluate(Nodes{f}, in, x)[0];
      EXPECT_TRUE(same(ref, out, exact))
          << info.name << " at " << x[0] << (x.size() > 1 ? ", " : "")
          << (x.size() > 1 ? std::to_string(x[1]) : "");
    };
    if (info.arity == 1)
      for (double x : kUnaryPoints) check({x});
    else
      for (double x : kBinaryPoints)
        for (double y : kBinaryPoints) check({x, y});
  }
}

// pow with exponent 2 and 3 is lowered to multiplies, 0.5 stays pow (sqrt(-0) would be -0).
TEST_P(JitOps, PowWithConstantExponents) {
  for (double e : {2.0, 3.0, 0.5, -1.0, 0.0}) {
    Graph g;
    Builder b(g, Simplify::None);
    const Node* x = b.var("x");
    const Node* f = b.pow(x, b.constant(e));
    Kernel k = jit->compile(spec("powc", {x}, {f}));
    for (double v : kUnaryPoints) {
      double out;
      k.single(&v, &out);
      EXPECT_TRUE(same(std::pow(v, e), out, false)) << "pow(" << v << ", " << e << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(OptimizedAndNot, JitOps, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "O2" : "O0"; });

class JitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { jit_ = Jit::create().release(); }
  static void TearDownTestSuite() { delete jit_; }
  static Jit* jit_;

  // f(in) through the single entry point.
  static std::vector<double> run(const Kernel& k, std::vector<double> in) {
    std::vector<double> out(k.num_outputs, -12345);
    k.single(in.data(), out.data());
    return out;
  }
  static double run1(Op op, std::vector<double> args) {
    Graph g;
    Builder b(g, Simplify::None);
    Nodes in = {b.var("a"), b.var("b")};
    in.resize(args.size());
    Kernel k = jit_->compile(spec("edge", in, {b.apply(op, std::span<const Node* const>(in))}));
    return run(k, args)[0];
  }
};
Jit* JitTest::jit_ = nullptr;

// The conventions at kinks, ties and nan, spelled out (the table above checks them against
// the interpreter; this documents them).
TEST_F(JitTest, EdgeCaseConventions) {
  EXPECT_EQ(run1(Op::Relu, {0.0}), 0.0);
  EXPECT_EQ(run1(Op::Relu, {kNan}), 0.0);  // relu(nan) = 0: x > 0 is false for nan
  EXPECT_FALSE(std::signbit(run1(Op::Abs, {-0.0})));
  EXPECT_EQ(run1(Op::Step, {0.0}), 0.0);
  EXPECT_EQ(run1(Op::Step, {kNan}), 0.0);
  EXPECT_EQ(run1(Op::Sign, {0.0}), 0.0);
  EXPECT_EQ(run1(Op::Sign, {kNan}), 0.0);
  EXPECT_EQ(run1(Op::Sign, {-2.0}), -1.0);
  // Ties pick the first argument; a nan comparison picks the second.
  EXPECT_TRUE(std::signbit(run1(Op::Min, {-0.0, 0.0})));
  EXPECT_FALSE(std::signbit(run1(Op::Min, {0.0, -0.0})));
  EXPECT_TRUE(std::signbit(run1(Op::Max, {-0.0, 0.0})));
  EXPECT_EQ(run1(Op::Max, {kNan, 1.0}), 1.0);
  EXPECT_TRUE(std::isnan(run1(Op::Max, {1.0, kNan})));
  EXPECT_EQ(run1(Op::Min, {kNan, 1.0}), 1.0);
  // Domain errors stay visible as IEEE nan and inf.
  EXPECT_TRUE(std::isnan(run1(Op::Log, {-1.0})));
  EXPECT_EQ(run1(Op::Log, {0.0}), -kInf);
  EXPECT_EQ(run1(Op::Div, {1.0, 0.0}), kInf);
  EXPECT_TRUE(std::isnan(run1(Op::Sqrt, {-1.0})));
  EXPECT_TRUE(std::isnan(run1(Op::Asin, {2.0})));
  EXPECT_EQ(run1(Op::Softplus, {-kInf}), 0.0);
  EXPECT_EQ(run1(Op::Softplus, {kInf}), kInf);
  EXPECT_EQ(run1(Op::Sigmoid, {-kInf}), 0.0);
  EXPECT_EQ(run1(Op::Softplus, {1000.0}), 1000.0);  // the stable form does not overflow
}

TEST_F(JitTest, BatchMatchesSingleOverRandomRows) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y"), *z = b.var("z");
  const Node* xy = b.mul(x, y);
  Nodes out = {b.add(b.call(Op::Sin, xy), b.mul(z, b.call(Op::Exp, y))),
               b.div(b.call(Op::Softplus, b.sub(x, z)), b.add(b.constant(2), b.call(Op::Cos, xy))),
               b.apply(Op::Max, {b.call(Op::Tanh, z), b.pow(x, b.constant(3))})};
  Nodes in = {x, y, z};
  Kernel k = jit_->compile(spec("batched", in, out));
  ASSERT_EQ(k.num_inputs, 3u);
  ASSERT_EQ(k.num_outputs, 3u);

  constexpr int kRows = 100;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> dist(-3, 3);
  std::vector<double> rows(kRows * 3);
  for (double& v : rows) v = dist(rng);
  std::vector<double> batch(kRows * 3 + 1, -777.0);  // one sentinel past the end
  k.batch(rows.data(), batch.data(), kRows);
  EXPECT_EQ(batch.back(), -777.0);
  for (int r = 0; r < kRows; ++r) {
    std::vector<double> row(rows.begin() + 3 * r, rows.begin() + 3 * r + 3);
    std::vector<double> single = run(k, row);
    std::vector<double> ref = evaluate(out, in, row);
    for (int j = 0; j < 3; ++j) {
      // The batch's sin, exp, ... are SLEEF's (1.0 ulp each), the single call's the C library's.
      EXPECT_NEAR(single[j], batch[3 * r + j], 1e-14 * std::max(1.0, std::fabs(single[j]))) << "row " << r << " output " << j;
      // contract may fuse z*exp(y) + sin(xy) into an fma: not bitwise, but within an ulp or two.
      EXPECT_NEAR(ref[j], single[j], 1e-14 * std::max(1.0, std::fabs(ref[j]))) << "row " << r;
    }
  }
  // No rows (or a negative count) writes nothing.
  std::vector<double> untouched(3, -777.0);
  k.batch(rows.data(), untouched.data(), 0);
  k.batch(rows.data(), untouched.data(), -5);
  EXPECT_EQ(untouched, std::vector<double>(3, -777.0));
}

// Pure arithmetic: the batch loop is vectorized, with a scalar remainder for the last rows.
TEST_F(JitTest, VectorizedBatchMatchesSingle) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y");
  const Node* xx = b.mul(x, x);
  Nodes out = {b.add(b.mul(xx, y), b.div(y, b.add(b.constant(1), xx))),
               b.apply(Op::Min, {b.call(Op::Sqrt, b.call(Op::Abs, y)), b.call(Op::Relu, x)})};
  Nodes in = {x, y};
  EXPECT_NE(jit_->llvm_ir(spec("poly", in, out)).find(" x double>"), std::string::npos);
  Kernel k = jit_->compile(spec("poly", in, out));
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(-2, 2);
  for (int rows : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 101}) {
    std::vector<double> data(2 * rows), got(2 * rows + 1, -777.0);
    for (double& v : data) v = dist(rng);
    k.batch(data.data(), got.data(), rows);
    EXPECT_EQ(got.back(), -777.0) << rows;
    for (int r = 0; r < rows; ++r) {
      std::vector<double> single = run(k, {data[2 * r], data[2 * r + 1]});
      EXPECT_TRUE(same(single[0], got[2 * r], false)) << rows << " rows, row " << r;
      EXPECT_TRUE(same(single[1], got[2 * r + 1], true)) << rows << " rows, row " << r;
    }
  }
}

TEST_F(JitTest, SharedSubexpressionsAcrossOutputs) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y");
  const Node* s = b.call(Op::Sin, b.mul(x, y));
  // Outputs in any order, an input and a constant as outputs, an unused input (w).
  const Node* w = b.var("w");
  Nodes out = {b.mul(s, s), s, b.add(s, b.call(Op::Log, x)), y, b.constant(7.5), b.neg(s)};
  Nodes in = {y, w, x};
  Kernel k = jit_->compile(spec("shared", in, out));
  for (std::vector<double> v : {std::vector<double>{0.3, 99, 1.7}, {-2, 0, 0.25}, {1, 1, -1}}) {
    std::vector<double> got = run(k, v);
    std::vector<double> ref = evaluate(out, in, v);
    ASSERT_EQ(got.size(), ref.size());
    for (std::size_t j = 0; j < ref.size(); ++j) EXPECT_TRUE(same(ref[j], got[j], false)) << j;
  }
}

// The single entry point stores only after its last load, so it may run in place.
TEST_F(JitTest, SingleCallInPlace) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y");
  Kernel k = jit_->compile(spec("swap", {x, y}, {b.mul(y, b.constant(10)), b.add(x, y)}));
  double buf[2] = {1, 2};
  k.single(buf, buf);
  EXPECT_EQ(buf[0], 20.0);
  EXPECT_EQ(buf[1], 3.0);
}

TEST_F(JitTest, SinAndCosOfOneArgument) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  const Node* t = b.mul(x, b.constant(3));
  Nodes out = {b.call(Op::Sin, t), b.call(Op::Cos, t)};
  Nodes in = {x};
  KernelSpec s = spec("sc", in, out);
  std::string ir = jit_->llvm_ir(s);
  // One call each in the single entry point (the x86 backend then merges the pair into one
  // sincos call; the batch loop has its own copy).
  std::size_t begin = ir.find("define void @sc(");
  ASSERT_NE(begin, std::string::npos) << ir;
  std::string single = ir.substr(begin, ir.find("\n}\n", begin) - begin);
  auto count = [&](const std::string& what) {
    int n = 0;
    for (std::size_t p = single.find(what); p != std::string::npos; p = single.find(what, p + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count("@llvm.sin.f64("), 1) << single;
  EXPECT_EQ(count("@llvm.cos.f64("), 1) << single;
  Kernel k = jit_->compile(s);
  for (double v : {0.0, 0.1, -1.3, 100.0, 1e10}) {
    std::vector<double> got = run(k, {v});
    EXPECT_TRUE(same(std::sin(v * 3), got[0], false)) << v;
    EXPECT_TRUE(same(std::cos(v * 3), got[1], false)) << v;
  }
}

TEST_F(JitTest, QuarterMillionNodeChain) {
  constexpr int kLength = 250000;
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  const Node* one = b.constant(1);
  const Node* e = x;
  for (int i = 0; i < kLength; ++i) e = b.add(e, one);
  ASSERT_EQ(dag_size(Nodes{e}), kLength + 2u);
  for (bool optimize : {false, true}) {
    auto jit = Jit::create({.optimize = optimize});
    auto t0 = std::chrono::steady_clock::now();
    Kernel k = jit->compile(spec("chain", {x}, {e}));
    auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    RecordProperty(optimize ? "compile_ms_O2" : "compile_ms_O0", static_cast<int>(ms));
    EXPECT_EQ(run(k, {0.5})[0], kLength + 0.5);
    EXPECT_EQ(run(k, {-kInf})[0], -kInf);
  }
}

// Big random DAGs of every op: one below the size where the body stops being inlined, one
// above the size where the backend switches to -O0 (see runtime/jit.cpp).
TEST_F(JitTest, LargeRandomDagsMatchTheInterpreter) {
  std::vector<Op> ops;
  for (Op op : all_ops())
    if (op_info(op).syntax != Syntax::Leaf && op_info(op).elementwise) ops.push_back(op);
  for (int size : {3000, 40000}) {
    Graph g;
    Builder b(g, Simplify::None);
    std::mt19937 rng(size);
    Nodes in, pool;
    for (char name : std::string("abcdef")) pool.push_back(b.var(std::string(1, name)));
    in = pool;
    pool.push_back(b.constant(0.5));
    for (int i = 0; i < size; ++i) {
      // Mostly recent operands, sometimes any earlier node: long chains and wide sharing.
      auto pick = [&] {
        std::size_t back =
            rng() % 4 == 0 ? rng() % pool.size() : rng() % std::min<std::size_t>(pool.size(), 32);
        return pool[pool.size() - 1 - back];
      };
      Op op = ops[rng() % ops.size()];
      pool.push_back(op_info(op).arity == 1 ? b.call(op, pick()) : b.apply(op, {pick(), pick()}));
    }
    Nodes out(pool.end() - 40, pool.end());
    Kernel k = jit_->compile(spec("random", in, out));
    for (double scale : {0.3, -1.7}) {
      std::vector<double> x(in.size());
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = scale * (1 + static_cast<double>(i)) / 3;
      std::vector<double> got = run(k, x), ref = evaluate(out, in, x);
      for (std::size_t j = 0; j < out.size(); ++j) {
        bool ok = std::isnan(ref[j])
                      ? std::isnan(got[j])
                      : ref[j] == got[j] || std::fabs(ref[j] - got[j]) <= 1e-9 * std::fabs(ref[j]);
        EXPECT_TRUE(ok) << size << " nodes, output " << j << ": " << ref[j] << " vs " << got[j];
      }
    }
  }
}

TEST_F(JitTest, SameNameTwiceInOneJit) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  Kernel k1 = jit_->compile(spec("f", {x}, {b.add(x, b.constant(1))}));
  Kernel k2 = jit_->compile(spec("f", {x}, {b.mul(x, b.constant(2))}));
  EXPECT_NE(k1.single, k2.single);
  EXPECT_EQ(run(k1, {5})[0], 6.0);
  EXPECT_EQ(run(k2, {5})[0], 10.0);
}

// compile() names the symbols itself, so a kernel may be called like a libm function that the
// generated code (or the backend, for sin and cos) calls.
TEST_F(JitTest, KernelNamedLikeTheCLibrary) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  Nodes out = {b.call(Op::Softplus, x), b.call(Op::Sin, x), b.call(Op::Cos, x)};
  for (const char* name : {"log1p", "sincos", "sin", "exp2", ""}) {
    Kernel k = jit_->compile(spec(name, {x}, out));
    std::vector<double> got = run(k, {0.7});
    EXPECT_TRUE(same(std::log1p(std::exp(-0.7)) + 0.7, got[0], false)) << name;
    EXPECT_TRUE(same(std::sin(0.7), got[1], false)) << name;
    EXPECT_TRUE(same(std::cos(0.7), got[2], false)) << name;
  }
}

TEST_F(JitTest, LlvmIrText) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node* x = b.var("x");
  const Node* f = b.call(Op::Exp, x);
  std::string ir = jit_->llvm_ir(spec("my_kernel", {x}, {f}));
  EXPECT_NE(ir.find("define void @my_kernel("), std::string::npos) << ir;
  EXPECT_NE(ir.find("define void @my_kernel_batch("), std::string::npos) << ir;
  EXPECT_NE(ir.find("@llvm.exp.f64"), std::string::npos) << ir;
  // No full fast-math: only `contract` may appear on the operations.
  EXPECT_EQ(ir.find(" fast "), std::string::npos) << ir;
  EXPECT_EQ(ir.find("nnan"), std::string::npos) << ir;

  auto unoptimized = Jit::create({.optimize = false});
  std::string raw = unoptimized->llvm_ir(spec("my_kernel", {x}, {f}));
  EXPECT_NE(raw.find("define void @my_kernel("), std::string::npos) << raw;
  // The fast tier (optimize = false) compiles without contraction (see Tier::Fast).
  EXPECT_NE(raw.find("call double @llvm.exp.f64"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("contract"), std::string::npos) << raw;
}

TEST_F(JitTest, Errors) {
  Graph g;
  Builder b(g, Simplify::None);
  const Node *x = b.var("x"), *y = b.var("y");
  // A variable that is not an input is a bug in the caller.
  EXPECT_THROW(jit_->compile(spec("k", {x}, {b.add(x, y)})), std::logic_error);
  // The emitted IR cannot define a function under the name of the libm function it declares.
  EXPECT_THROW(jit_->llvm_ir(spec("log1p", {x}, {x})), std::invalid_argument);
  EXPECT_THROW(jit_->llvm_ir(spec("", {x}, {x})), std::invalid_argument);
  EXPECT_THROW(jit_->llvm_ir(spec("llvm.foo", {x}, {x})), std::invalid_argument);
  // The Jit stays usable after an error.
  EXPECT_EQ(run(jit_->compile(spec("k", {x, y}, {b.add(x, y)})), {1, 2})[0], 3.0);
}

TEST_F(JitTest, NoInputsOrNoOutputs) {
  Graph g;
  Builder b(g, Simplify::None);
  Kernel c = jit_->compile(spec("constant", {}, {b.call(Op::Exp, b.constant(1))}));
  EXPECT_TRUE(same(std::exp(1.0), run(c, {})[0], false));
  Kernel none = jit_->compile(spec("nothing", {}, {}));
  none.single(nullptr, nullptr);
  none.batch(nullptr, nullptr, 10);
}

}  // namespace
}  // namespace gradc
