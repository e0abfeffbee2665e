// gradc benchmarks (Google Benchmark). See bench/README.md for the commands and the figures.
//
//   Eval/*      ns per evaluation of the lecture function: JIT value+gradient, JIT value alone,
//               the same written by hand (hand_written.cpp, -O2; and -O2 -march=native), single
//               calls and batches of 1024 points.
//   Compile/*   Jit::create and Jit::compile for the lecture function's value+gradient and for a
//               generated function whose value+gradient DAG has ~2,000 nodes.
//   Diff/*      reverse-mode differentiation of the nested f_n = sin(f_{n-1} x + cos(f_{n-1} y)):
//               time, DAG nodes of the gradient, and characters printed by `print`.
//
// Extra modes: `gradc_bench --cold_compile` (`--cold_compile_fast`) times the process's first
// Jit::create + compile of the lecture function once in the optimized (fast) tier (native
// target initialization included), prints it and exits;
// `gradc_bench --emit_generated_ir` prints the generated function's optimized LLVM IR.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <time.h>

#include "compiler/builder.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "compiler/diff.hpp"
#include "compiler/ir.hpp"
#include "compiler/lower.hpp"
#include "compiler/print.hpp"
#include "support/diagnostics.hpp"
#include "hand_written.hpp"
#include "runtime/jit.hpp"

namespace gradc::bench {
namespace {

using Nodes = std::vector<const Node*>;

// ---------------------------------------------------------------------------------------------
// The lecture function, from examples/lecture.grad, and its kernels.

struct Lecture {
  std::unique_ptr<Module> module;
  const Function* fn = nullptr;
  Nodes value_grad;  // {f, df/dx, df/dy, df/dz}, as `gradc eval` builds them
  Nodes value;       // {f}
};

Lecture& lecture() {
  static Lecture* l = [] {
    auto* l = new Lecture;
    l->module = compile_module(load_source(GRADC_SOURCE_DIR "/examples/lecture.grad"));
    l->fn = l->module->find("f");
    if (!l->fn) throw std::runtime_error("examples/lecture.grad has no fn f");
    Builder b(l->module->graph, Simplify::Fold);  // as `gradc eval` compiles it
    l->value_grad = value_and_derivatives(b, l->fn->body, l->fn->params, /*hessian=*/false);
    l->value.push_back(l->fn->body);
    return l;
  }();
  return *l;
}

KernelSpec lecture_spec(bool with_gradient) {
  Lecture& l = lecture();
  return KernelSpec{"f", l.fn->params, with_gradient ? l.value_grad : l.value};
}

struct LectureKernels {
  std::unique_ptr<Jit> jit;
  Kernel value_grad, value;
  Kernel value_grad_fast;  // Tier::Fast, to compare the tiers' speed
};

LectureKernels& kernels() {
  static LectureKernels* k = [] {
    auto* k = new LectureKernels;
    k->jit = Jit::create();
    k->value_grad = k->jit->compile(lecture_spec(true));
    k->value = k->jit->compile(lecture_spec(false));
    k->value_grad_fast = k->jit->compile(lecture_spec(true), Tier::Fast);
    return k;
  }();
  return *k;
}

// 16 points near the default point x = 0.5, y = 1.2, z = 3, cycled through so no call can be
// hoisted out of the loop and the branch/libm paths stay realistic.
constexpr int kPoints = 16;
const double* points() {
  static double p[kPoints * 3];
  static bool init = [] {
    for (int i = 0; i < kPoints; ++i) {
      p[3 * i + 0] = 0.5 + 0.01 * i;
      p[3 * i + 1] = 1.2 + 0.005 * i;
      p[3 * i + 2] = 3.0 + 0.02 * i;
    }
    return true;
  }();
  (void)init;
  return p;
}

using SingleFn = void (*)(const double*, double*);

void run_single(benchmark::State& state, SingleFn fn) {
  const double* p = points();
  double out[4];
  unsigned i = 0;
  for (auto _ : state) {
    fn(p + 3 * (i++ % kPoints), out);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
}

// Checks a kernel against the hand-written code once, so a wrong kernel cannot be timed.
void check_against_hand(SingleFn fn, SingleFn reference, int outputs) {
  const double* p = points();
  for (int i = 0; i < kPoints; ++i) {
    double a[4], b[4];
    fn(p + 3 * i, a);
    reference(p + 3 * i, b);
    for (int j = 0; j < outputs; ++j)
      if (!(std::fabs(a[j] - b[j]) <= 1e-12 * std::max(1.0, std::fabs(b[j]))))
        throw std::runtime_error("kernel disagrees with the hand-written code");
  }
}

void BM_Eval_Jit_ValueGrad(benchmark::State& state) {
  SingleFn k = kernels().value_grad.single;
  check_against_hand(k, hand::value_grad, 4);
  run_single(state, k);
}
void BM_Eval_Jit_Value(benchmark::State& state) {
  SingleFn k = kernels().value.single;
  check_against_hand(k, hand::value, 1);
  run_single(state, k);
}
void BM_Eval_Hand_ValueGrad(benchmark::State& state) { run_single(state, hand::value_grad); }
void BM_Eval_Hand_Value(benchmark::State& state) { run_single(state, hand::value); }
void BM_Eval_HandNative_ValueGrad(benchmark::State& state) { run_single(state, hand_native::value_grad); }
void BM_Eval_HandNative_Value(benchmark::State& state) { run_single(state, hand_native::value); }

void BM_Eval_JitFast_ValueGrad(benchmark::State& state) {
  SingleFn k = kernels().value_grad_fast.single;
  check_against_hand(k, hand::value_grad, 4);
  run_single(state, k);
}

BENCHMARK(BM_Eval_Jit_ValueGrad);
BENCHMARK(BM_Eval_JitFast_ValueGrad);
BENCHMARK(BM_Eval_Hand_ValueGrad);
BENCHMARK(BM_Eval_HandNative_ValueGrad);
BENCHMARK(BM_Eval_Jit_Value);
BENCHMARK(BM_Eval_Hand_Value);
BENCHMARK(BM_Eval_HandNative_Value);

// Batches: 1024 distinct points per call. The counter per_point is the figure to read.
constexpr std::int64_t kBatch = 1024;
using BatchFn = void (*)(const double*, double*, std::int64_t);

void run_batch(benchmark::State& state, BatchFn fn, int outputs, std::int64_t points = kBatch) {
  std::vector<double> in(points * 3), out(points * outputs);
  for (std::int64_t r = 0; r < points; ++r) {
    in[3 * r + 0] = 0.5 + 0.0005 * (r % kBatch);
    in[3 * r + 1] = 1.2 + 0.0002 * (r % kBatch);
    in[3 * r + 2] = 3.0 + 0.001 * (r % kBatch);
  }
  for (auto _ : state) {
    fn(in.data(), out.data(), points);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * points);
  // Seconds (CPU time) per point: the console shows it with an SI prefix, e.g. 31.6n = 31.6 ns.
  state.counters["per_point"] = benchmark::Counter(
      static_cast<double>(points),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_Eval_Jit_ValueGrad_Batch1024(benchmark::State& state) {
  run_batch(state, kernels().value_grad.batch, 4);
}
void BM_Eval_Jit_Value_Batch1024(benchmark::State& state) {
  run_batch(state, kernels().value.batch, 1);
}
void BM_Eval_Hand_ValueGrad_Batch1024(benchmark::State& state) {
  run_batch(state, hand::value_grad_batch, 4);
}
void BM_Eval_HandNative_ValueGrad_Batch1024(benchmark::State& state) {
  run_batch(state, hand_native::value_grad_batch, 4);
}

void BM_Eval_JitFast_ValueGrad_Batch1024(benchmark::State& state) {
  run_batch(state, kernels().value_grad_fast.batch, 4);
}

BENCHMARK(BM_Eval_Jit_ValueGrad_Batch1024);
BENCHMARK(BM_Eval_JitFast_ValueGrad_Batch1024);
BENCHMARK(BM_Eval_Hand_ValueGrad_Batch1024);
BENCHMARK(BM_Eval_HandNative_ValueGrad_Batch1024);
BENCHMARK(BM_Eval_Jit_Value_Batch1024);

// 10^6 points per call (24 MB in, 32 MB out): the kernel as the Python module's batch calls
// run it on large arrays (bench/python_vs_torch.py compares the two).
void BM_Eval_Jit_ValueGrad_Batch1M(benchmark::State& state) {
  run_batch(state, kernels().value_grad.batch, 4, 1'000'000);
}
BENCHMARK(BM_Eval_Jit_ValueGrad_Batch1M);

// ---------------------------------------------------------------------------------------------
// Compile time.

// A generated function of 8 variables: `steps` random binary/unary combinations, each drawing
// on the 16 most recent nodes (so nearly every node reaches the root), summed at the end.
// std::mt19937's sequence is fixed by the standard, and only its raw output is used.
const Node* generated_function(Builder& b, const Nodes& vars, int steps) {
  std::mt19937 rng(12345);
  Nodes pool(vars);
  auto pick = [&] {
    std::size_t window = std::min<std::size_t>(pool.size(), 16);
    return pool[pool.size() - 1 - rng() % window];
  };
  for (int s = 0; s < steps; ++s) {
    const Node* a = pick();
    const Node* c = pick();
    const Node* n = nullptr;
    switch (rng() % 8) {
      case 0: n = b.add(a, c); break;
      case 1: n = b.sub(a, c); break;
      case 2: n = b.mul(a, c); break;
      case 3: n = b.add(b.mul(0.5 + (rng() % 7), a), c); break;
      case 4: n = b.call(Op::Sin, b.mul(a, c)); break;
      case 5: n = b.call(Op::Cos, b.add(a, c)); break;
      case 6: n = b.call(Op::Tanh, b.sub(a, c)); break;
      case 7: n = b.call(Op::Exp, b.mul(0.125, b.sub(a, c))); break;
    }
    pool.push_back(n);
  }
  const Node* f = pool.back();
  for (std::size_t i = 2; i <= 16 && i <= pool.size(); ++i) f = b.add(f, pool[pool.size() - i]);
  return f;
}

struct Generated {
  Graph graph;
  Nodes vars, outs;  // outs = {f, gradient...}
  int steps = 0;
  std::size_t dag = 0;
};

// The smallest step count (in steps of 10) whose value+gradient DAG has at least 2,000 nodes.
Generated& generated() {
  static Generated* gen = [] {
    for (int steps = 50;; steps += 10) {
      auto* g = new Generated;
      Builder b(g->graph, Simplify::Fold);
      for (int i = 0; i < 8; ++i) {
        std::string name = "x";
        name += std::to_string(i);
        g->vars.push_back(b.var(name));
      }
      const Node* f = generated_function(b, g->vars, steps);
      g->outs = value_and_derivatives(b, f, g->vars, /*hessian=*/false);
      g->dag = dag_size(g->outs);
      g->steps = steps;
      if (g->dag >= 2000) return g;
      delete g;
    }
  }();
  return *gen;
}

KernelSpec generated_spec() { return KernelSpec{"gen", generated().vars, generated().outs}; }

void set_dag_counter(benchmark::State& state, const KernelSpec& spec) {
  state.counters["dag_nodes"] = static_cast<double>(dag_size(spec.outputs));
}

// Jit::create alone.
void BM_Compile_JitCreate(benchmark::State& state) {
  for (auto _ : state) {
    std::unique_ptr<Jit> jit = Jit::create();
    benchmark::DoNotOptimize(jit.get());
    state.PauseTiming();
    jit.reset();
    state.ResumeTiming();
  }
}

// A fresh Jit per iteration: Jit::create + compile (the cost `gradc eval` pays once; the
// process-wide native-target initialization happened before, see --cold_compile).
void compile_fresh(benchmark::State& state, const KernelSpec& spec, bool optimize) {
  set_dag_counter(state, spec);
  for (auto _ : state) {
    std::unique_ptr<Jit> jit = Jit::create(Jit::Options{.optimize = optimize});
    Kernel k = jit->compile(spec);
    benchmark::DoNotOptimize(k.single);
    state.PauseTiming();
    jit.reset();
    state.ResumeTiming();
  }
}

// One Jit for all iterations: compile alone (each call adds a new module).
void compile_again(benchmark::State& state, const KernelSpec& spec, bool optimize) {
  set_dag_counter(state, spec);
  std::unique_ptr<Jit> jit = Jit::create(Jit::Options{.optimize = optimize});
  jit->compile(spec);  // not timed: the first module of this Jit
  for (auto _ : state) {
    Kernel k = jit->compile(spec);
    benchmark::DoNotOptimize(k.single);
  }
}

// _Fresh/_Again: the optimized tier; _Fast: Tier::Fast (what `gradc eval` compiles first).
void BM_Compile_Lecture_Fresh(benchmark::State& s) { compile_fresh(s, lecture_spec(true), true); }
void BM_Compile_Lecture_Fresh_Fast(benchmark::State& s) { compile_fresh(s, lecture_spec(true), false); }
void BM_Compile_Generated_Fresh_Fast(benchmark::State& s) { compile_fresh(s, generated_spec(), false); }
void BM_Compile_Lecture_Again(benchmark::State& s) { compile_again(s, lecture_spec(true), true); }
void BM_Compile_Generated_Fresh(benchmark::State& s) {
  s.counters["steps"] = generated().steps;
  compile_fresh(s, generated_spec(), true);
}
void BM_Compile_Generated_Again(benchmark::State& s) { compile_again(s, generated_spec(), true); }
void BM_Compile_Generated_Again_NoOpt(benchmark::State& s) { compile_again(s, generated_spec(), false); }
void BM_Compile_Lecture_Again_NoOpt(benchmark::State& s) { compile_again(s, lecture_spec(true), false); }

BENCHMARK(BM_Compile_JitCreate)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Lecture_Fresh)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Lecture_Fresh_Fast)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Lecture_Again)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Lecture_Again_NoOpt)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Generated_Fresh)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Generated_Fresh_Fast)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Generated_Again)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compile_Generated_Again_NoOpt)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// Differentiation of the nested expression f_0 = x, f_n = sin(f_{n-1} x + cos(f_{n-1} y)).

const Node* nested(Builder& b, const Node* x, const Node* y, int n) {
  const Node* f = x;
  for (int i = 0; i < n; ++i) f = b.call(Op::Sin, b.add(b.mul(f, x), b.call(Op::Cos, b.mul(f, y))));
  return f;
}

// Characters of the printed form: `t = definition` lines for the named temporaries, then one
// line per result (what `gradc diff` writes, without its labels).
std::size_t printed_chars(const Printed& p) {
  std::size_t c = 0;
  for (const auto& [name, def] : p.temps) c += name.size() + 3 + def.size() + 1;
  for (const auto& r : p.results) c += r.size() + 1;
  return c;
}

// This thread's CPU time: on a shared machine, time spent preempted is not counted.
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Time: gradient() alone, as thread CPU time (manual timing: the graph and f_n are rebuilt
// untimed for each iteration, so every gradient starts from an empty memo and a graph without
// its nodes; the CPU column of this benchmark includes that rebuild, the Time column does not).
// Counters: f_nodes = DAG of f_n; grad_nodes = DAG of the gradient (df/dx, df/dy) as roots;
// grad_per_n = grad_nodes / n; grad_tree = tree_size of the gradient; chars = printed characters of the gradient; dx_nodes / dx_chars
// = the same for df/dx alone (what a `diff(f, x)` in a CAS returns).
void BM_Diff_Nested(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    Graph g;
    Builder b(g);
    const Node* x = b.var("x");
    const Node* y = b.var("y");
    const Node* f = nested(b, x, y, n);
    double t0 = thread_cpu_seconds();
    Nodes d = gradient(b, f, Nodes{x, y});
    double t1 = thread_cpu_seconds();
    benchmark::DoNotOptimize(d.data());
    state.SetIterationTime(t1 - t0);
  }
  // Sizes (outside the timed loop).
  Graph g;
  Builder b(g);
  const Node* x = b.var("x");
  const Node* y = b.var("y");
  const Node* f = nested(b, x, y, n);
  Nodes d = gradient(b, f, Nodes{x, y});
  Nodes dx{d[0]};
  const Node* froot[] = {f};
  state.counters["f_nodes"] = static_cast<double>(dag_size(froot));
  state.counters["grad_nodes"] = static_cast<double>(dag_size(d));
  state.counters["grad_per_n"] = static_cast<double>(dag_size(d)) / n;
  state.counters["grad_tree"] = static_cast<double>(tree_size(d));  // written without sharing
  state.counters["chars"] = static_cast<double>(printed_chars(print(d, Format::Text)));
  state.counters["dx_nodes"] = static_cast<double>(dag_size(dx));
  state.counters["dx_chars"] = static_cast<double>(printed_chars(print(dx, Format::Text)));
}
BENCHMARK(BM_Diff_Nested)->DenseRange(5, 40, 5)->UseManualTime()->Unit(benchmark::kMicrosecond);

// print() of the gradient, for the same n (differentiation + print is what `gradc diff` does).
void BM_Diff_Nested_Print(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Graph g;
  Builder b(g);
  const Node* x = b.var("x");
  const Node* y = b.var("y");
  Nodes d = gradient(b, nested(b, x, y, n), Nodes{x, y});
  for (auto _ : state) {
    Printed p = print(d, Format::Text);
    benchmark::DoNotOptimize(p.results.data());
  }
}
BENCHMARK(BM_Diff_Nested_Print)->Arg(10)->Arg(40)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------------------------

// The process's first Jit::create + compile of the lecture function (value+gradient, single
// and batch entries) in `tier`.
int cold_compile(Tier tier) {
  // CPU time of this thread: a busy machine stretches wall time, not this.
  auto now = [] {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
  };
  double t0 = now();
  KernelSpec spec = lecture_spec(true);
  double t1 = now();
  std::unique_ptr<Jit> jit = Jit::create();
  double t2 = now();
  Kernel k = jit->compile(spec, tier);
  double t3 = now();
  double out[4];
  k.single(points(), out);
  std::printf("cold (%s tier), CPU ms: parse+lower+gradient %.3f, Jit::create %.3f, compile %.3f, total %.3f\n",
              tier == Tier::Fast ? "fast" : "optimized", t1 - t0, t2 - t1, t3 - t2, t3 - t0);
  return 0;
}

// The generated function's LLVM IR after the O2 pipeline (to study its codegen with llc).
int emit_generated_ir() {
  std::fputs(Jit::create()->llvm_ir(generated_spec()).c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace gradc::bench

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--cold_compile") == 0) return gradc::bench::cold_compile(gradc::Tier::Optimized);
    if (std::strcmp(argv[i], "--cold_compile_fast") == 0) return gradc::bench::cold_compile(gradc::Tier::Fast);
    if (std::strcmp(argv[i], "--emit_generated_ir") == 0) return gradc::bench::emit_generated_ir();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Report the generated function's size once, before the tables.
  const auto& gen = gradc::bench::generated();
  std::fprintf(stderr, "generated function: %d steps, value+gradient DAG %zu nodes\n", gen.steps, gen.dag);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
