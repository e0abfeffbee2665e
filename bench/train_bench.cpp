// gradc training benchmarks (Google Benchmark): microseconds per training step (forward +
// backward + optimizer update) of four networks, f32 and f64, gradc against the same step
// written by hand in plain C++ (hand_train.cpp). See bench/training.md.
//
//   xor         examples/xor.grad         2-8-1 tanh, MSE, batch 4, SGD momentum 0.9
//   regression  examples/regression.grad  2-16-16-1 ReLU, MSE, 1,024 rows (full batch), Adam
//   spiral      examples/spiral.grad      2-32-32-2 ReLU, softmax cross-entropy, batch 64, SGD momentum
//   mnist_like  bench/mnist_like.grad     784-128-10 ReLU, softmax cross-entropy, batch 64, SGD
//               momentum; its CSV (1,024 random rows, fixed seed) is written at start-up to
//               /tmp/gradc_train_bench/ with a copy of the .grad file
//
// Benchmarks Step/<net>/<f32|f64>/<what>, one training step per iteration on a fixed minibatch
// (the first `batch` rows of the data), continuing from the previous step's parameters:
//   gradc           the Trainer's step kernel (Module::lower at the batch size, value_and_derivatives,
//                   Jit::compile with the dtype), called as the Trainer calls it: pack the
//                   parameters into the input buffer (the data rows were packed once), call the
//                   kernel, apply the update to the parameters (hand_train::apply, the same code
//                   the hand-written step uses), all in T = float or double
//   gradc_inplace   the same without the packing: the parameters live in the kernel's input buffer
//   gradc_o3update  gradc, with the update compiled at -O3 -march=native (hand_train_o3::apply,
//                   vectorized) instead of -O2 (scalar)
//   gradc_kernel    the kernel call alone (same parameters every time)
//   hand            hand_train::step (forward, loss, backward, update), -O2
//   hand_native     the same source at -O2 -march=native
//   hand_o3native   the same source at -O3 -march=native (what g++ makes of these loops at best)
//   hand_grads      hand_train::loss_and_grads alone (no update)
//   trainer_run     Trainer::run over whole epochs (shuffling, gathering rows, its own update;
//                   parameters in the kernel's input buffer in the run's element type; no
//                   metric), per step; f32: TrainOptions::dtype = F32 (float kernel, float state)
//   trainer_fixed   Trainer::run on the first `batch` rows alone (one step per epoch, the rows
//                   gathered once): the work of torch_steps.py's fixed-minibatch step
// Each kernel is checked against the hand-written code before anything is timed.
//
// Extra modes: `gradc_train_bench --emit_ir=NET[:f32][:raw]` prints the step kernel's optimized
// LLVM IR (with :raw, the IR before the passes);
// `--write_data_only` writes the mnist_like files and exits.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "compiler/builder.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "compiler/diff.hpp"
#include "compiler/lower.hpp"
#include "support/diagnostics.hpp"
#include "hand_train.hpp"
#include "runtime/jit.hpp"
#include "runtime/train.hpp"

namespace gradc::bench {
namespace {

const char* kDataDir = "/tmp/gradc_train_bench";
int g_threads = 1;  // --threads=N

// ---------------------------------------------------------------------------------------------
// The mnist_like data: 1,024 rows of 784 pixels uniform in [0, 1) (4 decimals) and a label
// 0..9, from gradc's splitmix64 Rng(12345): per row 784 uniform() draws, then one for the label
// (floor(10 u)). bench/torch_steps.py draws the same numbers.

void write_mnist_like() {
  std::filesystem::create_directories(kDataDir);
  std::filesystem::copy_file(GRADC_SOURCE_DIR "/bench/mnist_like.grad", std::string(kDataDir) + "/mnist_like.grad",
                             std::filesystem::copy_options::overwrite_existing);
  std::string path = std::string(kDataDir) + "/mnist_like.csv";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + path);
  for (int j = 0; j < 784; ++j) std::fprintf(f, "p%d,", j);
  std::fprintf(f, "label\n");
  Rng rng(12345);
  for (int r = 0; r < 1024; ++r) {
    for (int j = 0; j < 784; ++j) std::fprintf(f, "%.4f,", rng.uniform());
    std::fprintf(f, "%d\n", static_cast<int>(rng.uniform() * 10));
  }
  std::fclose(f);
}

// ---------------------------------------------------------------------------------------------
// The four networks.

struct Case {
  std::string name, path;
  Activation act;
  LossKind loss;
  std::string x_name, y_name;  // the data inputs (DataInput::name) holding features and targets
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"xor", GRADC_SOURCE_DIR "/examples/xor.grad", Activation::Tanh, LossKind::Mse, "X", "Y"},
      {"regression", GRADC_SOURCE_DIR "/examples/regression.grad", Activation::Relu, LossKind::Mse, "d.x", "d.y"},
      {"spiral", GRADC_SOURCE_DIR "/examples/spiral.grad", Activation::Relu, LossKind::CrossEntropy, "spiral.x",
       "spiral.y"},
      {"mnist_like", std::string(kDataDir) + "/mnist_like.grad", Activation::Relu, LossKind::CrossEntropy, "d.x",
       "d.y"},
  };
  return c;
}

// A compiled step: what Trainer::step_for builds, for one batch size and dtype.
struct Net {
  const Case* c = nullptr;
  std::unique_ptr<Module> module;
  std::unique_ptr<Jit> jit;
  std::vector<int> sizes;  // layer widths, from the parameter shapes
  std::int64_t batch = 0;
  OptimizerConfig opt;
  std::vector<double> init;        // flat initial parameters (gradc's order)
  std::vector<const Node*> inputs;  // params, then data
  std::vector<const Node*> outputs;  // loss, then gradients
  std::vector<double> in64;         // params (initial), then the data rows, packed once
  std::vector<double> x64, y64;     // the same data rows, for the hand-written code
  std::size_t n_params = 0, n_in = 0, n_out = 0;
  Kernel k64, k32;
  double compile_ms64 = 0, compile_ms32 = 0;
};

Net& net(const std::string& name) {
  static std::vector<std::unique_ptr<Net>> nets;
  for (auto& n : nets)
    if (n->c->name == name) return *n;
  auto n = std::make_unique<Net>();
  for (const Case& c : cases())
    if (c.name == name) n->c = &c;
  if (!n->c) throw std::runtime_error("no network " + name);
  n->module = compile_module(load_source(n->c->path), true, read_csv);
  Module& m = *n->module;
  const Training& t = *m.training;
  // Layer widths from W [in, out] (parameters alternate W, b).
  n->sizes.push_back(m.params[0].shape[0]);
  for (std::size_t i = 0; i < m.params.size(); i += 2) n->sizes.push_back(m.params[i].shape[1]);
  // Optimizer settings from the train block.
  n->opt.kind = t.optimizer.kind == Optimizer::Adam ? OptimizerConfig::Adam : OptimizerConfig::SgdMomentum;
  n->opt.lr = t.optimizer.lr;
  n->opt.momentum = t.optimizer.momentum;
  n->opt.beta1 = t.optimizer.beta1;
  n->opt.beta2 = t.optimizer.beta2;
  n->opt.eps = t.optimizer.eps;
  if (t.optimizer.weight_decay != 0 || t.optimizer.nesterov) throw std::runtime_error("unsupported optimizer setting");
  // The step at the training batch size, as Trainer::step_for builds it.
  std::vector<DataInput> data;
  m.lower(*t.loss, 0, data);
  std::int64_t rows = data[0].source->shape[0];
  n->batch = t.batch > 0 && t.batch < rows ? t.batch : rows;
  data.clear();
  const Node* loss = m.lower(*t.loss, n->batch, data);
  Builder b(m.graph, Simplify::Fold);
  for (const Param& p : m.params) n->inputs.push_back(p.var);
  for (const DataInput& d : data) n->inputs.push_back(d.var);
  n->outputs = value_and_derivatives(b, loss, std::span<const Node* const>(n->inputs.data(), m.params.size()), false);
  for (const Tensor& p : initialize(m.params, t.seed)) n->init.insert(n->init.end(), p.data.begin(), p.data.end());
  n->n_params = n->init.size();
  n->n_in = static_cast<std::size_t>(element_count(n->inputs));
  n->n_out = static_cast<std::size_t>(element_count(n->outputs));
  // Pack the first `batch` rows of each data input.
  n->in64 = n->init;
  for (const DataInput& d : data) {
    const Tensor& src = *d.source;
    std::size_t row = static_cast<std::size_t>(src.shape.size() / src.shape[0]);
    std::vector<double> rows_data(src.data.begin(), src.data.begin() + static_cast<std::ptrdiff_t>(row * n->batch));
    n->in64.insert(n->in64.end(), rows_data.begin(), rows_data.end());
    if (d.name == n->c->x_name) n->x64 = rows_data;
    else if (d.name == n->c->y_name) n->y64 = rows_data;
    else throw std::runtime_error("unexpected data input " + d.name);
  }
  if (n->in64.size() != n->n_in || n->x64.empty() || n->y64.empty()) throw std::runtime_error("bad packing");
  n->jit = Jit::create({.threads = g_threads});
  auto t0 = std::chrono::steady_clock::now();
  n->k64 = n->jit->compile(KernelSpec{"step64", n->inputs, n->outputs, /*batch=*/false, DType::F64});
  auto t1 = std::chrono::steady_clock::now();
  n->k32 = n->jit->compile(KernelSpec{"step32", n->inputs, n->outputs, /*batch=*/false, DType::F32});
  auto t2 = std::chrono::steady_clock::now();
  n->compile_ms64 = std::chrono::duration<double, std::milli>(t1 - t0).count();
  n->compile_ms32 = std::chrono::duration<double, std::milli>(t2 - t1).count();
  nets.push_back(std::move(n));
  return *nets.back();
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
void call(const Kernel& k, const T* in, T* out) {
  if constexpr (std::is_same_v<T, float>) k.single_f32(in, out);
  else k.single(in, out);
}

template <class T>
const Kernel& kernel(const Net& n) {
  if constexpr (std::is_same_v<T, float>) return n.k32;
  else return n.k64;
}

template <class T>
HandMlp<T> make_hand(const Net& n) {
  return HandMlp<T>(n.sizes, n.c->act, n.c->loss, n.opt, as<T>(n.init), static_cast<int>(n.batch));
}

// The compiled step against the hand-written one at the initial parameters (loss and every
// gradient), and again after 20 steps of each (parameters), so a wrong kernel or a wrong
// baseline cannot be timed. Tolerances: f64 1e-9, f32 1e-3, relative to the largest magnitude.
template <class T>
void check(const Net& n) {
  const double tol = std::is_same_v<T, float> ? 1e-3 : 1e-9;
  auto compare = [&](const T* a, const T* b, std::size_t len, const char* what) {
    double scale = 0;
    for (std::size_t i = 0; i < len; ++i) scale = std::max(scale, std::fabs(double(b[i])));
    for (std::size_t i = 0; i < len; ++i)
      if (!(std::fabs(double(a[i]) - double(b[i])) <= tol * std::max(scale, 1e-6)))
        throw std::runtime_error(n.c->name + ": gradc and the hand-written step disagree on " + what + " at " +
                                 std::to_string(i) + ": " + std::to_string(a[i]) + " vs " + std::to_string(b[i]));
  };
  std::vector<T> in = as<T>(n.in64), out(n.n_out);
  std::vector<T> x = as<T>(n.x64), y = as<T>(n.y64);
  HandMlp<T> h = make_hand<T>(n);
  call(kernel<T>(n), in.data(), out.data());
  T hl = hand_train::loss_and_grads(h, x.data(), y.data(), static_cast<int>(n.batch));
  compare(&out[0], &hl, 1, "the loss");
  compare(out.data() + 1, h.grads.data(), n.n_params, "the gradients");
  UpdateState<T> u(n.opt, n.n_params);
  for (int s = 0; s < 20; ++s) {
    call(kernel<T>(n), in.data(), out.data());
    hand_train::apply(u, in.data(), out.data() + 1, n.n_params);
    hand_train::step(h, x.data(), y.data(), static_cast<int>(n.batch));
  }
  compare(in.data(), h.params.data(), n.n_params, "the parameters after 20 steps");
  HandMlp<T> hn = make_hand<T>(n);
  for (int s = 0; s < 20; ++s) hand_train_native::step(hn, x.data(), y.data(), static_cast<int>(n.batch));
  compare(hn.params.data(), h.params.data(), n.n_params, "the parameters after 20 steps (native)");
  HandMlp<T> h3 = make_hand<T>(n);
  for (int s = 0; s < 20; ++s) hand_train_o3::step(h3, x.data(), y.data(), static_cast<int>(n.batch));
  compare(h3.params.data(), h.params.data(), n.n_params, "the parameters after 20 steps (O3 native)");
}

// Every kResetEvery steps the parameters and the optimizer state go back to their initial values
// (inside the timed loop; the copy costs < 0.1% of a step): training one fixed minibatch for
// hundreds of thousands of steps would drive the loss towards 0 and values into subnormal range
// (softmax probabilities of exp(-90) are subnormal floats), which no real run reaches.
constexpr std::int64_t kResetEvery = 1024;

void counters(benchmark::State& state, const Net& n, double loss) {
  state.counters["loss"] = loss;  // the last step's loss (finite: the run did not diverge)
  state.counters["batch"] = static_cast<double>(n.batch);
  state.counters["params"] = static_cast<double>(n.n_params);
  if (!std::isfinite(loss)) state.SkipWithError("the loss is not finite");
}

template <class T>
void BM_Gradc(benchmark::State& state, const std::string& name, bool in_place, bool o3_update = false) {
  Net& n = net(name);
  check<T>(n);
  std::vector<T> in = as<T>(n.in64), out(n.n_out), params = as<T>(n.init);
  UpdateState<T> u(n.opt, n.n_params);
  const Kernel& k = kernel<T>(n);
  std::int64_t i = 0;
  for (auto _ : state) {
    if (++i % kResetEvery == 0) {  // back to the initial parameters (see kResetEvery)
      std::copy(n.init.begin(), n.init.end(), in_place ? in.begin() : params.begin());
      u = UpdateState<T>(n.opt, n.n_params);
    }
    if (in_place) {
      call(k, in.data(), out.data());
      hand_train::apply(u, in.data(), out.data() + 1, n.n_params);
    } else {
      std::copy(params.begin(), params.end(), in.begin());  // pack the parameters
      call(k, in.data(), out.data());
      if (o3_update) hand_train_o3::apply(u, params.data(), out.data() + 1, n.n_params);
      else hand_train::apply(u, params.data(), out.data() + 1, n.n_params);
    }
    benchmark::ClobberMemory();
  }
  counters(state, n, out[0]);
  state.counters["compile_ms"] = std::is_same_v<T, float> ? n.compile_ms32 : n.compile_ms64;
}

template <class T>
void BM_GradcKernel(benchmark::State& state, const std::string& name) {
  Net& n = net(name);
  check<T>(n);
  std::vector<T> in = as<T>(n.in64), out(n.n_out);
  const Kernel& k = kernel<T>(n);
  for (auto _ : state) {
    call(k, in.data(), out.data());
    benchmark::ClobberMemory();
  }
  counters(state, n, out[0]);
}

template <class T>
void BM_Hand(benchmark::State& state, const std::string& name, int variant) {
  Net& n = net(name);
  check<T>(n);
  std::vector<T> x = as<T>(n.x64), y = as<T>(n.y64);
  HandMlp<T> h = make_hand<T>(n);
  const int rows = static_cast<int>(n.batch);
  T loss = 0;
  std::int64_t i = 0;
  for (auto _ : state) {
    if (++i % kResetEvery == 0) {  // back to the initial parameters (see kResetEvery)
      std::copy(n.init.begin(), n.init.end(), h.params.begin());
      h.update = UpdateState<T>(n.opt, n.n_params);
    }
    switch (variant) {
      case 0: loss = hand_train::step(h, x.data(), y.data(), rows); break;
      case 1: loss = hand_train_native::step(h, x.data(), y.data(), rows); break;
      case 2: loss = hand_train_o3::step(h, x.data(), y.data(), rows); break;
      default: loss = hand_train::loss_and_grads(h, x.data(), y.data(), rows); break;
    }
    benchmark::ClobberMemory();
  }
  counters(state, n, loss);
}

// Trainer::run over `epochs` epochs (the metric switched off), per step. With `fixed`, over
// the first `batch` rows of the data alone: one step per epoch on the same rows, gathered once,
// as bench/torch_steps.py times PyTorch by default.
void BM_TrainerRun(benchmark::State& state, const std::string& name, DType dtype, bool fixed = false) {
  Net& n = net(name);
  std::unique_ptr<Module> first_rows;
  if (fixed) {
    std::size_t keep = static_cast<std::size_t>(n.batch);
    first_rows = compile_module(load_source(n.c->path), true, [keep](const std::string& path) {
      Table t = read_csv(path);
      t.values.resize(std::min(t.values.size(), keep * t.columns.size()));
      return t;
    });
  }
  Module& m = fixed ? *first_rows : *n.module;
  Training saved = *m.training;
  // Epochs per run: xor 2,000 (1 step each), regression 20 (1 step), spiral 100 (8 steps),
  // mnist_like 2 (16 steps): about 1-50 ms per run.
  std::int64_t epochs = name == "xor" ? 2000 : name == "regression" ? 20 : name == "spiral" ? 100 : 2;
  if (fixed) epochs = name == "xor" ? 2000 : name == "mnist_like" ? 32 : 100;
  m.training->accuracy_pred = nullptr;
  m.training->accuracy_target = nullptr;
  m.training->log_every = epochs;
  TrainOptions opts;
  opts.epochs = epochs;
  opts.dtype = dtype;
  Trainer t(m, *n.jit, opts);
  *m.training = saved;
  t.run(nullptr);  // compiles the step (not timed)
  std::int64_t steps = epochs * ((t.rows() + t.config().batch - 1) / t.config().batch);
  double loss = 0;
  for (auto _ : state) {
    TrainResult r = t.run(nullptr);
    loss = r.log.back().loss;
    benchmark::DoNotOptimize(r.params.data());
  }
  counters(state, n, loss);
  state.counters["steps_per_run"] = static_cast<double>(steps);
  // Seconds per step (console: e.g. 12.3u = 12.3 us).
  state.counters["per_step"] = benchmark::Counter(static_cast<double>(steps),
                                                  benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
}

void register_all() {
  for (const Case& c : cases()) {
    const std::string& nm = c.name;
    auto reg = [&](const std::string& what, auto fn) {
      benchmark::RegisterBenchmark(("Step/" + nm + "/" + what).c_str(), fn)->Unit(benchmark::kMicrosecond);
    };
    reg("f32/gradc", [nm](benchmark::State& s) { BM_Gradc<float>(s, nm, false); });
    reg("f32/gradc_inplace", [nm](benchmark::State& s) { BM_Gradc<float>(s, nm, true); });
    reg("f32/gradc_o3update", [nm](benchmark::State& s) { BM_Gradc<float>(s, nm, false, true); });
    reg("f32/gradc_kernel", [nm](benchmark::State& s) { BM_GradcKernel<float>(s, nm); });
    reg("f32/hand", [nm](benchmark::State& s) { BM_Hand<float>(s, nm, 0); });
    reg("f32/hand_native", [nm](benchmark::State& s) { BM_Hand<float>(s, nm, 1); });
    reg("f32/hand_o3native", [nm](benchmark::State& s) { BM_Hand<float>(s, nm, 2); });
    reg("f32/hand_grads", [nm](benchmark::State& s) { BM_Hand<float>(s, nm, 3); });
    reg("f32/trainer_run", [nm](benchmark::State& s) { BM_TrainerRun(s, nm, DType::F32); });
    reg("f32/trainer_fixed", [nm](benchmark::State& s) { BM_TrainerRun(s, nm, DType::F32, true); });
    reg("f64/gradc", [nm](benchmark::State& s) { BM_Gradc<double>(s, nm, false); });
    reg("f64/gradc_inplace", [nm](benchmark::State& s) { BM_Gradc<double>(s, nm, true); });
    reg("f64/gradc_o3update", [nm](benchmark::State& s) { BM_Gradc<double>(s, nm, false, true); });
    reg("f64/gradc_kernel", [nm](benchmark::State& s) { BM_GradcKernel<double>(s, nm); });
    reg("f64/hand", [nm](benchmark::State& s) { BM_Hand<double>(s, nm, 0); });
    reg("f64/hand_native", [nm](benchmark::State& s) { BM_Hand<double>(s, nm, 1); });
    reg("f64/hand_o3native", [nm](benchmark::State& s) { BM_Hand<double>(s, nm, 2); });
    reg("f64/hand_grads", [nm](benchmark::State& s) { BM_Hand<double>(s, nm, 3); });
    reg("f64/trainer_run", [nm](benchmark::State& s) { BM_TrainerRun(s, nm, DType::F64); });
    reg("f64/trainer_fixed", [nm](benchmark::State& s) { BM_TrainerRun(s, nm, DType::F64, true); });
  }
}

int emit_ir(const std::string& arg) {
  std::string name = arg.substr(0, arg.find(':'));
  bool f32 = arg.find(":f32") != std::string::npos;
  bool raw = arg.find(":raw") != std::string::npos;  // before the IR passes
  Net& n = net(name);
  std::fputs(Jit::create({.optimize = !raw, .threads = g_threads})
                 ->llvm_ir(KernelSpec{f32 ? "step32" : "step64", n.inputs, n.outputs, false,
                                      f32 ? DType::F32 : DType::F64})
                 .c_str(),
             stdout);
  return 0;
}

}  // namespace
}  // namespace gradc::bench

int main(int argc, char** argv) {
  try {
    gradc::bench::write_mnist_like();
    for (int i = 1; i < argc; ++i) {  // --threads=N: the Jit's threads (taken out of argv)
      if (std::strncmp(argv[i], "--threads=", 10) != 0) continue;
      gradc::bench::g_threads = std::atoi(argv[i] + 10);
      for (int j = i--; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
    }
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--write_data_only") == 0) return 0;
      if (std::strncmp(argv[i], "--emit_ir=", 10) == 0) return gradc::bench::emit_ir(argv[i] + 10);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    gradc::bench::register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gradc_train_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
