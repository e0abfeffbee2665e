// Ahead-of-time objects (runtime/aot): linked into a shared library by cc and loaded with dlopen,
// their entries must compute the JIT's bits in f64 and in f32, from several threads at once, and
// export nothing but NAME and NAME_batch.
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "support/helpers.hpp"
#include "io/file.hpp"
#include "io/process.hpp"
#include "runtime/aot.hpp"
#include "support/diagnostics.hpp"

namespace gradc::test {
namespace {

struct Library {
  std::string dir;
  void* handle = nullptr;
  Library(const AotObject& obj, const std::string& name) {
    dir = (std::filesystem::temp_directory_path() / ("gradc_test_aot_" + name + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
    write_file_atomic(dir + "/k.o", obj.bytes);
    ProcessResult r = run_program({"cc", "-shared", "-o", dir + "/k.so", dir + "/k.o", "-lm"}, "").value();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    handle = ::dlopen((dir + "/k.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(handle, nullptr) << ::dlerror();
  }
  ~Library() {
    if (handle) ::dlclose(handle);
    std::filesystem::remove_all(dir);
  }
  template <class F>
  F* get(const std::string& symbol) {
    return reinterpret_cast<F*>(::dlsym(handle, symbol.c_str()));
  }
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Value and gradient of f (every parameter), the outputs gradc compile --grad writes.
std::vector<const Node*> value_and_gradient(Module& m, const Function& f) {
  Builder b(m.graph, Simplify::Fold);
  return value_and_derivatives(b, f.body, f.params, false, &m.origins);
}

template <class T>
void expect_jit_bits(const std::string& text, const std::string& fn, DType dtype, double lo, double hi,
                     bool gradient = true) {
  auto m = compile_text(text);
  const Function& f = m->functions.at(0);
  ASSERT_EQ(f.name, fn);
  std::vector<const Node*> outs = gradient ? value_and_gradient(*m, f) : std::vector<const Node*>{f.body};
  KernelSpec spec{"kern", f.params, outs, true, dtype};
  Library lib(compile_object(spec, AotTarget{}), fn);
  auto* single = lib.get<void(const T*, T*)>("kern");
  auto* batch = lib.get<void(std::size_t, const T*, T*)>("kern_batch");
  ASSERT_TRUE(single && batch);
  auto jit = Jit::create();
  Kernel k = jit->compile(spec);
  const std::size_t n_in = k.num_inputs, n_out = k.num_outputs, rows = 37;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> in(rows * n_in), want(rows * n_out), got(rows * n_out), one(n_out);
  for (T& x : in) x = static_cast<T>(u(rng));
  // The JIT's single entry, row by row (its batch entry computes W rows at a time with SLEEF's
  // functions; an object's batch is the single entry in a loop).
  for (std::size_t r = 0; r < rows; ++r)
    if constexpr (std::is_same_v<T, float>)
      k.single_f32(&in[r * n_in], &want[r * n_out]);
    else
      k.single(&in[r * n_in], &want[r * n_out]);
  batch(rows, in.data(), got.data());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(same_bits(got[i], want[i])) << i << ": " << got[i] << " vs " << want[i];
  for (std::size_t r = 0; r < rows; ++r) {
    single(&in[r * n_in], one.data());
    for (std::size_t j = 0; j < n_out; ++j) EXPECT_TRUE(same_bits(one[j], want[r * n_out + j])) << r << "," << j;
  }
}

const char* kLecture = "fn f(x, y, z) = tanh(log(1 + z * (2*x / sin(y))))\n";
// A tensor kernel: matrix products and a softmax through the workspace.
const char* kNet =
    "fn net(x[4], W[3, 4], V[2, 3]) = sum(softmax(V @ tanh(W @ x)) * [0.25, 0.75])\n";

TEST(Aot, ScalarKernelHasTheJitsBitsF64) { expect_jit_bits<double>(kLecture, "f", DType::F64, 0.2, 1.4); }
TEST(Aot, ScalarKernelHasTheJitsBitsF32) { expect_jit_bits<float>(kLecture, "f", DType::F32, 0.2, 1.4); }
TEST(Aot, TensorKernelHasTheJitsBitsF64) { expect_jit_bits<double>(kNet, "net", DType::F64, -1, 1); }
TEST(Aot, TensorKernelHasTheJitsBitsF32) { expect_jit_bits<float>(kNet, "net", DType::F32, -1, 1); }

// lgamma writes the global signgam; the objects call lgamma_r, which computes the same bits.
// (The value only: lgamma's derivative is digamma, which objects cannot contain.)
const char* kLgamma = "fn g(x, y) = lgamma(x) * y + lgamma(x * y)\n";
TEST(Aot, LgammaHasTheJitsBitsF64) { expect_jit_bits<double>(kLgamma, "g", DType::F64, -3.7, 6, false); }
TEST(Aot, LgammaHasTheJitsBitsF32) { expect_jit_bits<float>(kLgamma, "g", DType::F32, -3.7, 6, false); }

TEST(Aot, LgammaIsTheReentrantOne) {
  for (DType dtype : {DType::F64, DType::F32}) {
    auto m = compile_text(kLgamma);
    const Function& f = m->functions.at(0);
    std::vector<const Node*> outs{f.body};
    AotObject obj = compile_object(KernelSpec{"g", f.params, outs, true, dtype}, AotTarget{});
    std::string path = (std::filesystem::temp_directory_path() / ("gradc_test_aot_lgamma" + std::to_string(::getpid()) + ".o")).string();
    write_file_atomic(path, obj.bytes);
    ProcessResult r = run_program({"nm", "-u", path}, "").value();
    std::filesystem::remove(path);
    std::set<std::string> undefined;
    std::istringstream lines(r.out);
    for (std::string kind, name; lines >> kind >> name;) undefined.insert(name);
    const char* want = dtype == DType::F32 ? "lgammaf_r" : "lgamma_r";
    EXPECT_TRUE(undefined.count(want)) << r.out;
    EXPECT_FALSE(undefined.count("lgamma") || undefined.count("lgammaf")) << r.out;
  }
}

// The workspace is per thread: eight threads batching different points at once each get what
// one thread alone computes (with one shared workspace they overwrite each other's buffers).
TEST(Aot, TensorKernelIsReentrant) {
  auto m = compile_text(kNet);
  const Function& f = m->functions.at(0);
  std::vector<const Node*> outs = value_and_gradient(*m, f);
  KernelSpec spec{"net", f.params, outs, true, DType::F64};
  AotObject obj = compile_object(spec, AotTarget{});
  EXPECT_GT(obj.workspace_bytes, 0u);
  Library lib(obj, "threads");
  auto* batch = lib.get<void(std::size_t, const double*, double*)>("net_batch");
  ASSERT_TRUE(batch);
  const std::size_t n_in = static_cast<std::size_t>(element_count(spec.inputs));
  const std::size_t n_out = static_cast<std::size_t>(element_count(spec.outputs));
  const std::size_t rows = 200, threads = 8;
  std::vector<std::vector<double>> in(threads), want(threads), got(threads);
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-1, 1);
  for (std::size_t t = 0; t < threads; ++t) {
    in[t].resize(rows * n_in);
    for (double& x : in[t]) x = u(rng);
    want[t].resize(rows * n_out);
    batch(rows, in[t].data(), want[t].data());
    got[t].resize(rows * n_out);
  }
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) batch(rows, in[t].data(), got[t].data());
    });
  for (std::thread& th : pool) th.join();
  for (std::size_t t = 0; t < threads; ++t) EXPECT_EQ(got[t], want[t]) << "thread " << t;
}

TEST(Aot, ExportsOnlyTheEntries) {
  auto m = compile_text(kNet);
  const Function& f = m->functions.at(0);
  std::vector<const Node*> outs = value_and_gradient(*m, f);
  AotObject obj = compile_object(KernelSpec{"net", f.params, outs, true, DType::F64}, AotTarget{});
  std::string path = (std::filesystem::temp_directory_path() / ("gradc_test_aot_syms" + std::to_string(::getpid()) + ".o")).string();
  write_file_atomic(path, obj.bytes);
  ProcessResult r = run_program({"nm", "-g", "--defined-only", path}, "").value();
  std::filesystem::remove(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> names;
  std::istringstream lines(r.out);
  for (std::string addr, kind, name; lines >> addr >> kind >> name;) names.push_back(name);
  // and the workspace's address function, global but hidden (runtime/aot.cpp's workspace_by_call:
  // no shared library exports it)
  EXPECT_EQ(names, (std::vector<std::string>{"net", "net.workspace_address", "net_batch"}));
}

// Past kMaxImmediates distinct constants, a scalar kernel loads them from a table. The table
// must stay one (folded into 120,000 immediates it took the backend 39 s instead of 13 s) and
// stay out of a shared library's exports.
std::string many_constants() {
  std::string text = "fn big(x) = x*0.5";
  for (int i = 1; i < 1500; ++i) text += " + x*" + std::to_string(i) + ".25";
  return text + "\n";
}

TEST(Aot, LargeConstantTableStaysAHiddenTable) {
  expect_jit_bits<double>(many_constants(), "big", DType::F64, -2, 2);
  auto m = compile_text(many_constants());
  const Function& f = m->functions.at(0);
  std::vector<const Node*> outs = value_and_gradient(*m, f);
  AotObject obj = compile_object(KernelSpec{"big", f.params, outs, true, DType::F64}, AotTarget{});
  Library lib(obj, "consts");
  auto symbols = [](const std::vector<std::string>& argv) {
    ProcessResult r = run_program(argv, "").value();
    std::vector<std::string> names;
    std::istringstream lines(r.out);
    for (std::string addr, kind, name; lines >> addr >> kind >> name;) names.push_back(name);
    return names;
  };
  EXPECT_EQ(symbols({"nm", "-g", "--defined-only", lib.dir + "/k.o"}),
            (std::vector<std::string>{"big", "big.consts", "big_batch"}));
  EXPECT_EQ(symbols({"nm", "-D", "--defined-only", lib.dir + "/k.so"}),
            (std::vector<std::string>{"big", "big_batch"}));
}

TEST(Aot, DigammaIsRefusedWithTheReason) {
  auto m = compile_text("fn f(x) = digamma(x)\n");
  const Function& f = m->functions.at(0);
  std::vector<const Node*> outs{f.body};
  try {
    compile_object(KernelSpec{"f", f.params, outs, true, DType::F64}, AotTarget{});
    FAIL() << "no error";
  } catch (const LimitError& e) {
    EXPECT_STREQ(e.what(),
                 "'f' uses digamma, which gradc computes with its own library; a compiled object depends on libm "
                 "only, so it cannot contain digamma");
  }
}

TEST(Aot, UnknownTargetAndCpuAreUsageErrors) {
  auto m = compile_text(kLecture);
  const Function& f = m->functions.at(0);
  std::vector<const Node*> outs{f.body};
  KernelSpec spec{"f", f.params, outs, true, DType::F64};
  EXPECT_THROW(compile_object(spec, AotTarget{"nonsense-unknown-none", ""}), UsageError);
  EXPECT_THROW(compile_object(spec, AotTarget{"", "no-such-cpu"}), UsageError);
  AotObject arm = compile_object(spec, AotTarget{"aarch64-linux-gnu", ""});
  ASSERT_GT(arm.bytes.size(), 20u);
  EXPECT_EQ(arm.bytes.substr(0, 4), "\x7f" "ELF");
  EXPECT_EQ(static_cast<unsigned char>(arm.bytes[18]), 183);  // e_machine EM_AARCH64
  EXPECT_EQ(arm.cpu, "generic");
}

}  // namespace
}  // namespace gradc::test
