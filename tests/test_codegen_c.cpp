// Generated C (compiler/codegen_c.hpp) compiled by the system's cc: bit for bit the JIT's
// results without fma contraction on every scalar function of the examples and test inputs,
// tensor kernels against the interpreter, the special functions against support/special.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "compiler/codegen_c.hpp"
#include "io/file.hpp"
#include "io/process.hpp"
#include "support/helpers.hpp"
#include "support/special.hpp"
#include "support/temp_dir.hpp"
#include "support/tensor_kernels.hpp"

namespace gradc::test {
namespace {

using Nodes = std::vector<const Node*>;
using Entry = void (*)(const double*, double*);
using BatchEntry = void (*)(std::size_t, const double*, double*);
using EntryF32 = void (*)(const float*, float*);

// C sources compiled together by `cc -std=c99 -O2 -ffp-contract=off` into one shared library
// (one cc run for many kernels), then opened with dlopen.
class CLibrary {
 public:
  void add(const std::string& source) { sources_.push_back(source); }

  // Builds in `dir`; returns the compiler's messages when it fails (then a test fails).
  std::string build(const std::filesystem::path& dir, const std::string& std = "-std=c99") {
    std::vector<std::string> argv = {"cc", std, "-O2", "-ffp-contract=off", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-o", (dir / "lib.so").string()};
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      std::string path = (dir / ("k" + std::to_string(i) + ".c")).string();
      write_file_atomic(path, sources_[i]);
      argv.push_back(path);
    }
    argv.push_back("-lm");
    std::optional<ProcessResult> r = run_program(argv, "");
    if (!r) return "cc is not installed";
    if (r->exit_code != 0) return r->err;
    handle_ = dlopen((dir / "lib.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    return handle_ ? "" : dlerror();
  }
  ~CLibrary() {
    if (handle_) dlclose(handle_);
  }
  template <class F>
  F get(const std::string& name) const {
    return reinterpret_cast<F>(dlsym(handle_, name.c_str()));
  }

 private:
  std::vector<std::string> sources_;
  void* handle_ = nullptr;
};

// Equal bits, or both nan (a nan's sign and payload are not part of the contract).
bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b) || (std::isnan(a) && std::isnan(b)); }

bool uses_special(const Nodes& outs) {
  for (const Node* n : reachable(outs))
    if (n->op == Op::Digamma || n->op == Op::Polygamma) return true;
  return false;
}

std::unique_ptr<Module> load(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return compile_module(SourceFile{path, text.str()}, true, read_csv);
}

std::vector<std::string> grad_files() {
  std::vector<std::string> files;
  for (const char* dir : {"/examples", "/tests/inputs"})
    for (const auto& e : std::filesystem::directory_iterator(std::string(GRADC_SOURCE_DIR) + dir))
      if (e.path().extension() == ".grad") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// A kernel of the test: its graph's module, its inputs and outputs, where it came from.
struct Case {
  std::string label, name;
  std::shared_ptr<Module> m;
  Nodes in, out;
  DType dtype = DType::F64;
};

std::vector<double> point(std::size_t n, int which) {
  static const double base[] = {0.3, 1.7, -0.8, 2.5};
  static const double step[] = {0.2, -0.3, 0.45, 0.1};
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = base[which] + step[which] * static_cast<double>(i);
  return x;
}

// Every scalar function of the examples and test inputs that compiles: value, gradient and
// (up to 6 parameters) Hessian, f64 and f32.
std::vector<Case> scalar_cases() {
  std::vector<Case> cases;
  for (const std::string& file : grad_files()) {
    std::shared_ptr<Module> m;
    try {
      m = load(file);
    } catch (const std::exception&) {
      continue;  // inputs that are errors on purpose
    }
    for (const Function& f : m->functions) {
      if (!f.body || !f.body->shape.scalar()) continue;
      bool scalar = true;
      for (const Node* p : f.params) scalar = scalar && p->shape.scalar();
      if (!scalar) continue;
      Builder b(m->graph, Simplify::Fold);
      Nodes outs = value_and_derivatives(b, f.body, f.params, f.params.size() <= 6);
      std::string label = std::filesystem::path(file).filename().string() + ":" + f.name;
      cases.push_back(Case{label, "k" + std::to_string(cases.size()), m, f.params, outs, DType::F64});
      Nodes in32 = retype(m->graph, f.params, DType::F32), out32 = retype(m->graph, outs, DType::F32);
      cases.push_back(Case{label + " f32", "k" + std::to_string(cases.size()), m, in32, out32, DType::F32});
    }
  }
  return cases;
}

class CodegenC : public InTempDir {};

TEST(CodegenCTable, EveryOpHasACSpelling) {
  for (int i = 0; i < kNumOps; ++i) EXPECT_TRUE(has_c_spelling(static_cast<Op>(i))) << op_id(static_cast<Op>(i));
}

TEST(CodegenCNames, IdentifiersAreSanitized) {
  EXPECT_EQ(c_identifier("f"), "f");
  EXPECT_EQ(c_identifier("f'"), "f_");
  EXPECT_EQ(c_identifier("2x"), "_2x");
  EXPECT_EQ(c_identifier("a.b-c"), "a_b_c");
  EXPECT_EQ(c_identifier(""), "_");
}

// The text of a small kernel: the entries, the layout, exact literals, x^2 as a multiply.
TEST(CodegenCText, ScalarKernelIsStraightLine) {
  auto m = compile_text("fn f(x, y) = x^2 * 0.1 + sin(y)");
  const Function& f = m->functions[0];
  CSource c = codegen_c(KernelSpec{"my f", f.params, Nodes{f.body}, true, DType::F64});
  EXPECT_EQ(c.work_elements, 0);
  for (const char* part : {"void my_f(const double* in, double* out) {", "void my_f_batch(size_t n, const double* in, double* out)",
                           "#define my_f_N_IN 2", "#define my_f_N_OUT 1", "0x1.999999999999ap-4", "sin(t",
                           "#include <math.h>\n#include <stddef.h>\n"})
    EXPECT_NE(c.text.find(part), std::string::npos) << part << " in\n" << c.text;
  EXPECT_EQ(c.text.find("pow("), std::string::npos) << c.text;
  EXPECT_EQ(c.text.find("#include", c.text.find("<stddef.h>")), std::string::npos);
}

// A function of no parameters reads no input (and says so to the C compiler's -Wextra).
TEST_F(CodegenC, ConstantFunctionCompilesCleanly) {
  Graph g;
  Builder b(g);
  CSource c = codegen_c(KernelSpec{"seven", Nodes{}, Nodes{b.constant(7)}, true, DType::F64});
  CLibrary lib;
  lib.add(c.text);
  ASSERT_EQ(lib.build(dir_), "");
  double out = 0;
  lib.get<Entry>("seven")(nullptr, &out);
  EXPECT_EQ(out, 7);
}

TEST_F(CodegenC, ScalarFunctionsEqualTheJitWithoutContractionBitForBit) {
  std::vector<Case> cases = scalar_cases();
  ASSERT_GT(cases.size(), 60u);
  CLibrary lib;
  for (const Case& c : cases) lib.add(codegen_c(KernelSpec{c.name, c.in, c.out, true, c.dtype}).text);
  ASSERT_EQ(lib.build(dir_), "");
  auto jit = Jit::create(Jit::Options{.optimize = true, .threads = 1, .contract = false});
  int compared = 0, special = 0;
  for (const Case& c : cases) {
    Kernel k = jit->compile(KernelSpec{c.name, c.in, c.out, true, c.dtype});
    const std::size_t ni = c.in.size(), no = c.out.size();
    bool tolerant = uses_special(c.out);  // digamma's C port is not Boost: a few ulp, not bits
    special += tolerant;
    std::vector<double> in_all, jit_all(4 * no), c_all(4 * no);
    for (int p = 0; p < 4; ++p) {
      std::vector<double> x = point(ni, p);
      in_all.insert(in_all.end(), x.begin(), x.end());
    }
    if (c.dtype == DType::F64) {
      auto single = lib.get<Entry>(c.name);
      auto batch = lib.get<BatchEntry>(c.name + "_batch");
      ASSERT_TRUE(single && batch) << c.label;
      // The JIT's single entry (its batch computes several rows at a time with SLEEF's functions).
      for (int p = 0; p < 4; ++p) k.single(in_all.data() + p * ni, jit_all.data() + p * no);
      batch(4, in_all.data(), c_all.data());
      std::vector<double> one(no);
      single(in_all.data() + ni, one.data());
      for (std::size_t j = 0; j < no; ++j) EXPECT_TRUE(same_bits(one[j], c_all[no + j])) << c.label << " single vs batch";
    } else {
      auto single = lib.get<EntryF32>(c.name);
      ASSERT_TRUE(single) << c.label;
      for (int p = 0; p < 4; ++p) {
        std::vector<float> x(in_all.begin() + p * ni, in_all.begin() + (p + 1) * ni), a(no), b(no);
        k.single_f32(x.data(), a.data());
        single(x.data(), b.data());
        for (std::size_t j = 0; j < no; ++j) jit_all[p * no + j] = a[j], c_all[p * no + j] = b[j];
      }
    }
    for (std::size_t e = 0; e < jit_all.size(); ++e) {
      std::string where = c.label + " point " + std::to_string(e / no) + " output " + std::to_string(e % no);
      if (tolerant)
        EXPECT_LE(rel_err(jit_all[e], c_all[e]), 1e-12) << where;
      else
        EXPECT_TRUE(same_bits(jit_all[e], c_all[e])) << where << ": jit " << jit_all[e] << ", C " << c_all[e];
    }
    ++compared;
  }
  std::printf("%d kernels compared (%d with digamma or polygamma, to 1e-12)\n", compared, special);
}

}  // namespace
}  // namespace gradc::test

namespace gradc::test {
namespace {

// Distance in units in the last place (0 for equal values, both nan, or equal infinities).
double ulps(double a, double b) {
  if ((std::isnan(a) && std::isnan(b)) || a == b) return 0;
  if (!std::isfinite(a) || !std::isfinite(b)) return INFINITY;
  return std::fabs(a - b) / std::max(std::nextafter(std::fabs(b), INFINITY) - std::fabs(b), 4.9e-324);
}

// The static C digamma and polygamma against support/special (Boost.Math in long double).
TEST_F(CodegenC, SpecialFunctionsAreWithinAFewUlpOfSupportSpecial) {
  Graph g;
  const Node* n = g.var("n");
  const Node* x = g.var("x");
  Nodes in{n, x}, out{g.make(Op::Digamma, std::vector<const Node*>{x}), g.make(Op::Polygamma, std::vector<const Node*>{n, x})};
  CLibrary lib;
  CSource c = codegen_c(KernelSpec{"special", in, out, true, DType::F64});
  ASSERT_NE(c.text.find("static double gradc_c_polygamma"), std::string::npos);
  lib.add(c.text);
  ASSERT_EQ(lib.build(dir_), "");
  auto f = lib.get<Entry>("special");
  ASSERT_TRUE(f);
  auto run = [&](double order, double at) {
    double i[2] = {order, at}, o[2];
    f(i, o);
    return std::pair{o[0], o[1]};
  };
  // Edges: poles, infinities, nan, bad orders: the same values as support/special.
  const double inf = INFINITY, nan = NAN;
  for (double at : {0.0, -0.0, -1.0, -2.0, -7.0, inf, -inf, nan, 1e-300, -1e-300})
    for (double order : {0.0, 1.0, 2.0, 3.0, -1.0, 1.5, 20000.0}) {
      auto [d, p] = run(order, at);
      EXPECT_EQ(ulps(d, gradc_digamma(at)), 0) << "digamma(" << at << ") = " << d;
      EXPECT_EQ(ulps(p, gradc_polygamma(order, at)), 0) << "polygamma(" << order << ", " << at << ") = " << p;
    }
  double worst_pos = 0, worst_neg = 0, worst_poly = 0;
  for (int i = 1; i <= 2000; ++i) {
    double at = 0.0173 * i * i / 40;  // 4e-4 .. 1730, denser near 0
    worst_pos = std::max(worst_pos, ulps(run(0, at).first, gradc_digamma(at)));
    for (double order : {1.0, 2.0, 3.0, 4.0, 6.0})
      worst_poly = std::max(worst_poly, ulps(run(order, at).second, gradc_polygamma(order, at)));
  }
  for (double at : {1e6, 1e12, 1e300})
    worst_pos = std::max(worst_pos, ulps(run(0, at).first, gradc_digamma(at)));
  // Negative x between the poles, away from psi's roots (there only absolute accuracy holds).
  for (int i = 0; i < 1200; ++i) {
    double at = -0.05 - 0.0491 * i;  // -0.05 .. -59 (the reflection below -20)
    double ref = gradc_digamma(at);
    if (std::fabs(ref) < 1) continue;
    worst_neg = std::max(worst_neg, ulps(run(0, at).first, ref));
  }
  // Odd orders below 0 (every term of the recurrence has one sign), high orders through logarithms.
  double worst_poly_neg = 0, worst_high = 0;
  for (int i = 0; i < 300; ++i) {
    double at = -0.05 - 0.0491 * i;
    for (double order : {1.0, 3.0}) worst_poly_neg = std::max(worst_poly_neg, ulps(run(order, at).second, gradc_polygamma(order, at)));
  }
  for (int i = 1; i <= 200; ++i) {
    double at = 0.25 * i;
    for (double order : {25.0, 60.0, 150.0}) {
      double ref = gradc_polygamma(order, at);
      if (std::fabs(ref) > 1e-290 && std::isfinite(ref))
        worst_high = std::max(worst_high, std::fabs(run(order, at).second - ref) / std::fabs(ref));
    }
  }
  std::printf("worst ulps: digamma x > 0 %.1f, x < 0 %.1f; polygamma orders 1-6 x > 0 %.1f, orders 1, 3 x < 0 %.1f; "
              "orders 25-150 relative %.2g\n", worst_pos, worst_neg, worst_poly, worst_poly_neg, worst_high);
  EXPECT_LE(worst_pos, 4);
  EXPECT_LE(worst_neg, 6);
  EXPECT_LE(worst_poly, 6);
  EXPECT_LE(worst_poly_neg, 8);
  EXPECT_LE(worst_high, 1e-12);
}

}  // namespace
}  // namespace gradc::test

namespace gradc::test {
namespace {

using tensor_kernels::close;
using tensor_kernels::random_tensor;
using tensor_kernels::tolerance;

bool has_tensor(const Function& f) {
  if (!f.body) return false;
  bool t = !f.body->shape.scalar();
  for (const Node* p : f.params) t = t || !p->shape.scalar();
  return t;
}

// Whether the JIT sums every product and reduction of the kernel in the interpreter's order
// (k increasing from +0). It does not in two fixed orders of compiler/codegen/matmul.cpp and
// tensor_loops.cpp: dot products in vectors of 8 lanes (matrix products with an inner dimension
// of 16 or more) and 4 interleaved partial sums (over 64 terms or more: column sums of tall
// matrices, products of a small result).
bool jit_order_is_interpreters(const Nodes& outs) {
  for (const Node* n : reachable(outs)) {
    if (n->op == Op::MatMul && n->arg(0)->shape[n->arg(0)->shape.rank - 1] >= 16) return false;
    if (n->op == Op::Sum && n->axis == 0 && n->arg(0)->shape.rank == 2 && n->arg(0)->shape[0] >= 64) return false;
  }
  return true;
}

// The C kernel of c at `values` against the interpreter (tests/support/tensor_kernels.hpp's
// tolerances) and, where the JIT's order is the interpreter's, bit for bit against the JIT
// without contraction. Returns whether the bits were compared.
bool compare_tensor_kernel(const CLibrary& lib, Jit& jit, const Case& c, const std::vector<Tensor>& values) {
  std::vector<double> flat;
  for (const Tensor& t : values) flat.insert(flat.end(), t.data.begin(), t.data.end());
  std::vector<Tensor> ref = evaluate_tensors(c.out, c.in, values);
  Kernel k = jit.compile(KernelSpec{c.name, c.in, c.out, false, c.dtype});
  std::vector<double> got(k.num_outputs), jitted(k.num_outputs);
  if (c.dtype == DType::F64) {
    auto f = lib.get<Entry>(c.name);
    if (!f) return ADD_FAILURE() << c.label << ": no entry", false;
    f(flat.data(), got.data());
    k.single(flat.data(), jitted.data());
  } else {
    auto f = lib.get<EntryF32>(c.name);
    if (!f) return ADD_FAILURE() << c.label << ": no entry", false;
    std::vector<float> in32(flat.begin(), flat.end()), a(k.num_outputs), b(k.num_outputs);
    f(in32.data(), a.data());
    k.single_f32(in32.data(), b.data());
    got.assign(a.begin(), a.end());
    jitted.assign(b.begin(), b.end());
  }
  std::size_t off = 0;
  for (std::size_t j = 0; j < c.out.size(); ++j) {
    std::vector<double> part(got.begin() + off, got.begin() + off + ref[j].data.size());
    EXPECT_TRUE(close(ref[j].data, part, tolerance(c.dtype))) << c.label << " output " << j;
    off += ref[j].data.size();
  }
  if (!jit_order_is_interpreters(c.out)) return false;
  for (std::size_t e = 0; e < got.size(); ++e)
    EXPECT_TRUE(same_bits(got[e], jitted[e])) << c.label << " element " << e << ": C " << got[e] << ", jit " << jitted[e];
  return true;
}

// Every tensor function of the examples and test inputs: the C kernel against the interpreter
// (tests/support/tensor_kernels.hpp's tolerances), and bit for bit against the JIT without
// contraction where the JIT's order is the interpreter's.
TEST_F(CodegenC, TensorFunctionsMatchTheInterpreterAndTheJit) {
  std::vector<std::string> files = grad_files();
  for (const auto& e : std::filesystem::directory_iterator(std::string(GRADC_SOURCE_DIR) + "/tests/golden/inputs"))
    if (e.path().extension() == ".grad") files.push_back(e.path().string());
  std::vector<Case> cases;
  for (const std::string& file : files) {
    std::shared_ptr<Module> m;
    try {
      m = load(file);
    } catch (const std::exception&) {
      continue;
    }
    for (const Function& f : m->functions) {
      if (!has_tensor(f)) continue;
      Builder b(m->graph, Simplify::Fold);
      Nodes outs = f.body->shape.scalar() ? value_and_derivatives(b, f.body, f.params, false) : Nodes{f.body};
      std::string label = std::filesystem::path(file).filename().string() + ":" + f.name;
      cases.push_back(Case{label, "k" + std::to_string(cases.size()), m, f.params, outs, DType::F64});
      Nodes in32 = retype(m->graph, f.params, DType::F32), out32 = retype(m->graph, outs, DType::F32);
      cases.push_back(Case{label + " f32", "k" + std::to_string(cases.size()), m, in32, out32, DType::F32});
    }
  }
  ASSERT_GT(cases.size(), 20u);
  CLibrary lib;
  for (const Case& c : cases) lib.add(codegen_c(KernelSpec{c.name, c.in, c.out, true, c.dtype}).text);
  ASSERT_EQ(lib.build(dir_, "-std=c11"), "");
  auto jit = Jit::create(Jit::Options{.optimize = true, .threads = 1, .contract = false});
  int bitwise = 0;
  for (const Case& c : cases) {
    std::vector<Tensor> values;
    for (std::size_t i = 0; i < c.in.size(); ++i)
      values.push_back(random_tensor(c.in[i]->shape, 17 + static_cast<std::uint32_t>(i), -1.5, 1.5));
    bitwise += compare_tensor_kernel(lib, *jit, c, values);
  }
  std::printf("%zu tensor kernels against the interpreter, %d of them bit for bit against the JIT\n", cases.size(), bitwise);
}

// Every tensor op, along each axis where it has one, its value and its gradient (whose rules
// use the others: unreduce, embed, pad, transpose), in f64 and f32.
TEST_F(CodegenC, EveryTensorOp) {
  Graph g;
  Builder b(g, Simplify::Fold);
  const Node* x = g.var("x", Shape{2, 3, 4});
  const Node* y = g.var("y", Shape{3, 5});
  const Node* z = g.var("z", Shape{4, 5});
  const Node* w = g.var("w", Shape{2, 4, 3});
  const Node* labels = g.var("labels", Shape{6});
  const Node* q = g.var("q", Shape{3, 4});  // holds nan and infinities, for max alone
  const Node* data = g.tensor(Shape{3}, {0.5, -1, 2});
  Nodes terms;
  for (int axis = -1; axis < 3; ++axis) terms.push_back(b.sum(b.reduce_max(b.call(Op::Sin, x), axis), -1));
  for (int axis = 0; axis < 3; ++axis) {
    terms.push_back(b.sum(b.mul(b.sum(x, axis), b.sum(b.call(Op::Exp, x), axis)), -1));
    terms.push_back(b.sum(b.call(Op::Tanh, b.index(x, axis, 1)), -1));
    terms.push_back(b.sum(b.mul(b.slice(x, axis, 1, 1), b.slice(x, axis, 0, 1)), -1));
    Shape big = x->shape;
    big.dims[axis] += 2;
    terms.push_back(b.sum(b.call(Op::Sigmoid, b.pad(x, axis, 1, big)), -1));
    terms.push_back(b.sum(b.mul(b.embed(b.index(x, axis, 0), axis, 1, x->shape), x), -1));
  }
  const Node* xm = b.index(x, 0, 1);  // [3, 4]
  terms.push_back(b.sum(b.call(Op::Tanh, b.matmul(b.transpose(y), xm)), -1));        // [5, 3] @ [3, 4]
  terms.push_back(b.sum(b.mul(b.matmul(xm, z), b.matmul(xm, z)), -1));              // [3, 4] @ [4, 5]
  terms.push_back(b.sum(b.call(Op::Sin, b.matmul(x, w)), -1));                       // [2, 3, 4] @ [2, 4, 3]
  const int perm[] = {2, 0, 1};
  terms.push_back(b.sum(b.mul(b.permute(x, perm), b.reshape(x, Shape{4, 2, 3})), -1));
  terms.push_back(b.sum(b.mul(b.broadcast_to(data, Shape{4, 3}), b.transpose(b.index(x, 0, 0))), -1));
  terms.push_back(b.sum(b.mul(b.call(Op::Detach, y), y), -1));
  const Node* oh = g.make(Op::OneHot, std::vector<const Node*>{labels}, Attrs{{}, 0, 3});
  terms.push_back(b.sum(b.mul(oh, b.index(y, 1, 0)), -1));
  const Node* loss = terms[0];
  for (std::size_t i = 1; i < terms.size(); ++i) loss = b.add(loss, b.mul(b.constant(0.5 + 0.1 * static_cast<double>(i)), terms[i]));
  Nodes in{x, y, z, w, labels, q};
  Nodes outs = value_and_derivatives(b, loss, std::span(in).first(5), false);
  outs.push_back(b.matmul(x, w));
  outs.push_back(b.matmul(b.reshape(x, Shape{2, 12}), b.reshape(x, Shape{12, 2})));  // an inner dimension of 12
  outs.push_back(b.reduce_max(x, 2));
  outs.push_back(oh);
  for (int axis = -1; axis < 2; ++axis) outs.push_back(b.reduce_max(q, axis));
  std::vector<Case> cases{Case{"every op", "every_op", nullptr, in, outs, DType::F64}};
  cases.push_back(Case{"every op f32", "every_op_f32", nullptr, retype(g, in, DType::F32), retype(g, outs, DType::F32), DType::F32});
  CLibrary lib;
  for (const Case& c : cases) lib.add(codegen_c(KernelSpec{c.name, c.in, c.out, true, c.dtype}).text);
  ASSERT_EQ(lib.build(dir_), "");
  auto jit = Jit::create(Jit::Options{.optimize = true, .threads = 1, .contract = false});
  std::vector<Tensor> values;
  for (std::size_t i = 0; i < 4; ++i) values.push_back(random_tensor(in[i]->shape, 90 + static_cast<std::uint32_t>(i)));
  values.push_back(Tensor{labels->shape, {0, 2, 1, -1, 2.5, 2}});
  const double nan = tensor_kernels::kNan, inf = tensor_kernels::kInf;
  values.push_back(Tensor{q->shape, {1, nan, 3, -inf, -inf, -inf, -inf, -inf, 0, -0.0, 2, nan}});
  for (const Case& c : cases) EXPECT_TRUE(compare_tensor_kernel(lib, *jit, c, values)) << c.label;
}

// The workspace: on NAME's stack up to 64 KiB; beyond, in C11 _Thread_local storage, or under
// C99 only NAME_work (the caller's). Every entry is reentrant: threads calling at once get
// the bits of one call alone. The batch entry is the single one row by row.
TEST_F(CodegenC, WorkspacesAndThreads) {
  Graph g;
  Builder b(g, Simplify::Fold);
  auto kernel = [&](int n) {
    const Node* x = g.var("x", Shape{n, n});
    const Node* h = b.call(Op::Tanh, b.matmul(x, x));
    return std::pair{x, b.sum(b.mul(h, b.call(Op::Sin, h)), 1)};
  };
  auto [xs, small] = kernel(6);    // 2 buffers of 36 doubles: on the stack
  auto [xl, large] = kernel(100);  // 3 x 10,000 doubles: 240 KB
  CSource cs = codegen_c(KernelSpec{"small", Nodes{xs}, Nodes{small}, true, DType::F64});
  CSource cl = codegen_c(KernelSpec{"large", Nodes{xl}, Nodes{large}, true, DType::F64});
  EXPECT_NE(cs.text.find("  double work[small_N_WORK];"), std::string::npos) << cs.text;
  EXPECT_NE(cl.text.find("static _Thread_local double large_tls[large_N_WORK];"), std::string::npos);
  EXPECT_NE(cl.text.find(" * only large_work is."), std::string::npos);
  EXPECT_GT(cl.work_elements * 8, kCMaxLocalWorkBytes);
  std::filesystem::create_directories(dir_ / "c99");
  std::filesystem::create_directories(dir_ / "c11");
  CLibrary c99, c11;
  for (CLibrary* lib : {&c99, &c11}) {
    lib->add(cs.text);
    lib->add(cl.text);
  }
  ASSERT_EQ(c99.build(dir_ / "c99", "-std=c99"), "");
  ASSERT_EQ(c11.build(dir_ / "c11", "-std=c11"), "");
  EXPECT_EQ(c99.get<Entry>("large"), nullptr);
  EXPECT_EQ(c99.get<BatchEntry>("large_batch"), nullptr);
  using WorkEntry = void (*)(const double*, double*, double*);
  auto large_work = c99.get<WorkEntry>("large_work");
  ASSERT_TRUE(large_work);
  Tensor v = random_tensor(xl->shape, 5, -0.3, 0.3);
  std::vector<double> expected = evaluate_tensors(std::span(&large, 1), std::span(&xl, 1), std::vector<Tensor>{v})[0].data;
  std::vector<double> work(static_cast<std::size_t>(cl.work_elements)), out(100);
  large_work(v.data.data(), out.data(), work.data());
  EXPECT_TRUE(close(expected, out, tolerance(DType::F64)));

  for (const char* name : {"small", "large"}) {
    SCOPED_TRACE(name);
    auto single = c11.get<Entry>(name);
    auto batch = c11.get<BatchEntry>(std::string(name) + "_batch");
    ASSERT_TRUE(single && batch);
    const Node* x = std::string(name) == "small" ? xs : xl;
    const std::size_t ni = static_cast<std::size_t>(x->shape.size()), no = static_cast<std::size_t>(x->shape[0]);
    constexpr int kThreads = 4, kRows = 3;
    std::vector<double> in(ni * kRows);
    for (int r = 0; r < kRows; ++r) {
      Tensor t = random_tensor(x->shape, 7 + r, -0.3, 0.3);
      std::copy(t.data.begin(), t.data.end(), in.begin() + r * ni);
    }
    std::vector<double> alone(no * kRows), batched(no * kRows);
    for (int r = 0; r < kRows; ++r) single(in.data() + r * ni, alone.data() + r * no);
    batch(kRows, in.data(), batched.data());
    EXPECT_EQ(alone, batched);
    std::vector<std::vector<double>> got(kThreads, std::vector<double>(no * kRows));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int rep = 0; rep < 50; ++rep)
          for (int r = 0; r < kRows; ++r) {
            int row = (r + t) % kRows;
            single(in.data() + row * ni, got[t].data() + row * no);
          }
      });
    for (std::thread& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(got[t], alone) << "thread " << t;
  }
}

// Every elementwise op of the table, alone, at edge values (signed zeros, infinities, nan,
// ties of min and max, exponents 2, 3 and 0.5), f64 and f32: the C spelling has the JIT's bits.
TEST_F(CodegenC, EveryElementwiseOpAtEdgeValuesEqualsTheJit) {
  const double inf = INFINITY, nan = NAN;
  const std::vector<double> edges = {0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, 1e-310, -2.5, 7.25, 40.0, -40.0, 0.1, 1.3, -0.7, 100.5,
                                     800.0, inf, -inf, nan, 0.9999999999999999, 1e300};
  Graph g;
  const Node* x = g.var("x");
  const Node* y = g.var("y");
  std::vector<Case> cases;
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    const OpInfo& info = op_info(op);
    if (!info.elementwise || info.arity == 0 || op == Op::Digamma || op == Op::Polygamma) continue;
    std::vector<std::pair<std::string, Nodes>> forms;
    if (info.arity == 1) {
      forms.push_back({"", Nodes{x}});
    } else {
      forms.push_back({"", Nodes{x, y}});
      // Constant exponents and bases, which LLVM's library-call simplifier rewrites.
      if (op == Op::Pow) {
        for (double e : {2.0, 3.0, 0.5, -0.5, 1.0, 0.0, -1.0, 4.0, 1.5, -2.0})
          forms.push_back({" x^" + std::to_string(e), Nodes{x, g.constant(e)}});
        for (double base : {2.0, 1.0, 10.0, 0.5, -2.0, 4.0, 0.25, 1024.0, 3.0})
          forms.push_back({" " + std::to_string(base) + "^y", Nodes{g.constant(base), y}});
      }
    }
    for (auto& [suffix, args] : forms) {
      Nodes out{g.make(op, args)};
      std::string label = std::string(op_id(op)) + suffix;
      cases.push_back(Case{label, "op" + std::to_string(cases.size()), nullptr, Nodes{x, y}, out, DType::F64});
      cases.push_back(Case{label + " f32", "op" + std::to_string(cases.size()), nullptr, retype(g, Nodes{x, y}, DType::F32),
                           retype(g, out, DType::F32), DType::F32});
    }
  }
  CLibrary lib;
  for (const Case& c : cases) lib.add(codegen_c(KernelSpec{c.name, c.in, c.out, true, c.dtype}).text);
  ASSERT_EQ(lib.build(dir_), "");
  auto jit = Jit::create(Jit::Options{.optimize = true, .threads = 1, .contract = false});
  for (const Case& c : cases) {
    Kernel k = jit->compile(KernelSpec{c.name, c.in, c.out, true, c.dtype});
    for (double a : edges)
      for (double b : edges) {
        double cv, jv;
        if (c.dtype == DType::F64) {
          double in[2] = {a, b}, o1, o2;
          lib.get<Entry>(c.name)(in, &o1);
          k.single(in, &o2);
          cv = o1, jv = o2;
        } else {
          float in[2] = {static_cast<float>(a), static_cast<float>(b)}, o1, o2;
          lib.get<EntryF32>(c.name)(in, &o1);
          k.single_f32(in, &o2);
          cv = o1, jv = o2;
        }
        EXPECT_TRUE(same_bits(cv, jv)) << c.label << "(" << a << ", " << b << "): C " << cv << ", jit " << jv;
      }
  }
}

}  // namespace
}  // namespace gradc::test
