// gradc bench: how fast a function's value and gradient (as `gradc eval` compiles them) or a
// training program's step is on this machine: compile time without and with the object cache, one
// evaluation, a batch of points, a training step, and the vector instruction set used.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "cli/plan.hpp"
#include "runtime/jit.hpp"
#include "runtime/train.hpp"

namespace gradc::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Seconds per iteration of run(n): n grows until one sample takes kSample, then the median of
// kSamples samples (at least 0.2 s in all).
constexpr double kSample = 0.04;
constexpr int kSamples = 5;
double per_iteration(const std::function<void(std::int64_t)>& run) {
  std::int64_t n = 1;
  for (;;) {
    auto t0 = Clock::now();
    run(n);
    double t = seconds_since(t0);
    if (t >= kSample || n >= (std::int64_t(1) << 40)) break;
    n = t <= kSample / 1000 ? n * 100 : std::max<std::int64_t>(n * 2, static_cast<std::int64_t>(n * kSample * 1.2 / t));
  }
  std::vector<double> per;
  for (int i = 0; i < kSamples; ++i) {
    auto t0 = Clock::now();
    run(n);
    per.push_back(seconds_since(t0) / static_cast<double>(n));
  }
  return median(per);
}

// Seconds of one compile() (or front end), measured afresh until the samples add up to 0.2 s (at least
// 3, at most 50 samples): the median.
double compile_seconds(const std::function<double()>& once) {
  std::vector<double> samples;
  double total = 0;
  while (samples.size() < 50 && (samples.size() < 3 || total < kSample * kSamples)) {
    samples.push_back(once());
    total += samples.back();
  }
  return median(samples);
}

// A folder of its own for the cached compiles: bench neither reads the user's cache (the
// cold figure would not be cold) nor leaves objects in it.
struct ScratchCache {
  std::string dir;
  ScratchCache() {
    std::string t = (fs::temp_directory_path() / "gradc-bench-XXXXXX").string();
    if (::mkdtemp(t.data())) dir = t;
  }
  ~ScratchCache() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

struct Figures {
  std::string what;  // "function f" or "training step"
  double frontend_ms = NAN, compile_ms = NAN, cached_compile_ms = NAN, eval_ns = NAN, batch_ns_per_point = NAN,
         step_us = NAN;
  std::int64_t points = 0, batch = 0;
  Jit::Vectors vectors;
};

// The point: each parameter's `at` value (0.5 where the file gives none).
std::vector<double> bench_point(const Module& m, const Function& f) {
  std::vector<double> x;
  for (const Node* p : f.params) {
    if (const Tensor* t = m.at_tensor(p->name)) {
      x.insert(x.end(), t->data.begin(), t->data.end());
    } else {
      const double* v = m.at_value(p->name);
      x.insert(x.end(), static_cast<std::size_t>(p->shape.size()), v ? *v : 0.5);
    }
  }
  return x;
}

template <class T>
void time_kernel(const Kernel& k, const std::vector<double>& point, std::int64_t points, Figures& fig) {
  auto single = [&] {
    if constexpr (std::is_same_v<T, float>) return k.single_f32;
    else return k.single;
  }();
  auto batch = [&] {
    if constexpr (std::is_same_v<T, float>) return k.batch_f32;
    else return k.batch;
  }();
  std::vector<T> in(point.begin(), point.end()), out(k.num_outputs);
  fig.eval_ns = 1e9 * per_iteration([&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) single(in.data(), out.data());
  });
  // Points within 1% of the point (±0.001 around 0), uniform, the same every run.
  std::mt19937_64 rng(20261205);
  std::uniform_real_distribution<double> u(-1, 1);
  const std::size_t w = point.size();
  std::vector<T> rows(static_cast<std::size_t>(points) * w), results(static_cast<std::size_t>(points) * k.num_outputs);
  for (std::size_t r = 0; r < static_cast<std::size_t>(points); ++r)
    for (std::size_t j = 0; j < w; ++j)
      rows[r * w + j] = static_cast<T>(point[j] == 0 ? 1e-3 * u(rng) : point[j] * (1 + 0.01 * u(rng)));
  fig.batch_ns_per_point = 1e9 / static_cast<double>(points) * per_iteration([&](std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) batch(rows.data(), results.data(), points);
  });
}

Figures bench_function(const Options& o, DType dtype) {
  Figures fig;
  std::unique_ptr<Module> m;
  const Function* fp = nullptr;
  Layout l;
  fig.frontend_ms = 1e3 * compile_seconds([&] {
    auto t0 = Clock::now();
    m = load(o);
    fp = &choose(*m, o.fn, /*tensors=*/true);
    l = plan_derivatives(*m, *fp, false, false, Mode::Reverse, o.no_simplify ? Simplify::None : Simplify::Full);
    return seconds_since(t0);
  });
  const Function& f = *fp;
  fig.what = "function " + f.name;
  const KernelSpec spec{f.name, f.params, l.outs, /*batch=*/true, dtype};
  Jit::Options jo{.threads = o.threads};
  fig.compile_ms = 1e3 * compile_seconds([&] {
    auto jit = Jit::create(jo);
    auto c0 = Clock::now();
    jit->compile(spec);
    return seconds_since(c0);
  });
  ScratchCache scratch;
  jo.cache_dir = scratch.dir;
  auto jit = Jit::create(jo);
  Kernel k = jit->compile(spec);  // stores the object
  if (jit->cache_stats().stores == 1)
    fig.cached_compile_ms = 1e3 * compile_seconds([&] {
      auto again = Jit::create(jo);
      auto c0 = Clock::now();
      again->compile(spec);
      double s = seconds_since(c0);
      if (again->cache_stats().hits != 1) throw std::logic_error("bench: the cached compile did not hit the cache");
      return s;
    });
  fig.vectors = jit->vectors();
  fig.points = o.bench_points.value_or(100000);
  std::vector<double> point = bench_point(*m, f);
  if (dtype == DType::F32) time_kernel<float>(k, point, fig.points, fig);
  else time_kernel<double>(k, point, fig.points, fig);
  return fig;
}

Figures bench_training(const Options& o, DType dtype) {
  Figures fig;
  fig.what = "training step";
  std::unique_ptr<Module> m;
  fig.frontend_ms = 1e3 * compile_seconds([&] {
    auto t0 = Clock::now();
    m = load(o);
    return seconds_since(t0);
  });
  TrainOptions opts;
  opts.dtype = dtype;
  opts.metric = false;
  Jit::Options jo{.threads = o.threads};
  fig.compile_ms = 1e3 * compile_seconds([&] {
    auto jit = Jit::create(jo);
    auto c0 = Clock::now();
    Trainer t(*m, *jit, opts);
    t.prepare();
    return seconds_since(c0);
  });
  ScratchCache scratch;
  jo.cache_dir = scratch.dir;
  auto jit = Jit::create(jo);
  Trainer(*m, *jit, opts).prepare();
  if (jit->cache_stats().stores > 0)
    fig.cached_compile_ms = 1e3 * compile_seconds([&] {
      auto again = Jit::create(jo);
      auto c0 = Clock::now();
      Trainer t(*m, *again, opts);
      t.prepare();
      double s = seconds_since(c0);
      if (again->cache_stats().misses != 0) throw std::logic_error("bench: the cached compile missed the cache");
      return s;
    });
  fig.vectors = jit->vectors();
  // Whole epochs of `gradc train`'s loop (shuffle, step, update), as many as fill a sample.
  auto run = [&](std::int64_t epochs) {
    TrainOptions e = opts;
    e.epochs = epochs;
    Trainer t(*m, *jit, e);
    fig.batch = t.config().batch;
    t.prepare();
    auto r0 = Clock::now();
    TrainResult r = t.run([](const LogLine&, std::int64_t) {});
    double s = seconds_since(r0);
    // A run that diverges stops there: its steps so far are timed.
    std::int64_t steps = r.diverged ? r.step : epochs * ((t.rows() + t.config().batch - 1) / t.config().batch);
    return s / static_cast<double>(std::max<std::int64_t>(steps, 1));
  };
  // Seconds per step of one epoch, then enough epochs for a sample of kSample seconds.
  auto e0 = Clock::now();
  run(1);
  const double epoch = seconds_since(e0);
  const std::int64_t epochs = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(kSample / std::max(epoch, 1e-9))));
  std::vector<double> samples;
  for (int i = 0; i < kSamples; ++i) samples.push_back(run(epochs));
  fig.step_us = 1e6 * median(samples);
  return fig;
}

std::string json_escape(const std::string& text) {
  std::string s;
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') s += '\\', s += static_cast<char>(c);
    else if (c < 0x20) s += fmt::format("\\u{:04x}", c);
    else s += static_cast<char>(c);
  }
  return s;
}

std::string json_number(double v) { return std::isnan(v) ? "null" : fmt::format("{:.6g}", v); }

}  // namespace

int cmd_bench(const Options& o) {
  if (o.no_cache)
    throw UsageError("bench: --no-cache: bench times compiles without a cache and with a temporary cache of its own, "
                     "never ~/.cache; leave out --no-cache");
  const DType dtype = o.dtype == "f32" ? DType::F32 : DType::F64;
  auto m = load(o);
  const bool training = m->training && o.fn.empty();
  if (training && o.bench_points)
    throw UsageError(fmt::format("bench: --points: {} is a training program, timed by its step on the train block's batch; "
                                 "leave out --points (or give --fn for a function)",
                                 o.file));
  Figures fig = training ? bench_training(o, dtype) : bench_function(o, dtype);
  std::string isa = fig.vectors.isa;
  if (o.json) {
    std::string s = "{";
    s += fmt::format("\"file\": \"{}\", ", json_escape(o.file));
    s += training ? "\"function\": null, " : fmt::format("\"function\": \"{}\", ", json_escape(fig.what.substr(9)));
    s += fmt::format("\"dtype\": \"{}\", \"threads\": {}, ", dtype_str(dtype), o.threads);
    s += training ? fmt::format("\"points\": null, \"batch\": {}, ", fig.batch) : fmt::format("\"points\": {}, \"batch\": null, ", fig.points);
    s += fmt::format("\"frontend_ms\": {}, \"compile_ms\": {}, \"cached_compile_ms\": {}, ", json_number(fig.frontend_ms),
                     json_number(fig.compile_ms), json_number(fig.cached_compile_ms));
    s += fmt::format("\"eval_ns\": {}, \"batch_ns_per_point\": {}, \"step_us\": {}, ", json_number(fig.eval_ns),
                     json_number(fig.batch_ns_per_point), json_number(fig.step_us));
    s += fmt::format("\"isa\": \"{}\", \"vector_bits\": {}}}\n", isa, fig.vectors.bits);
    std::fputs(s.c_str(), stdout);
    return kExitOk;
  }
  auto row = [](const std::string& label, const std::string& value) { return fmt::format("  {:<26}{:>18}\n", label, value); };
  auto ms = [](double v) { return std::isnan(v) ? std::string("-") : fmt::format("{:.3f} ms", v); };
  std::string s = fmt::format("{}: {}, {}, {} thread{}\n", o.file, fig.what, dtype_str(dtype), o.threads, o.threads == 1 ? "" : "s");
  s += row("front end", ms(fig.frontend_ms));
  s += row("compile, cold", ms(fig.compile_ms));
  s += row("compile, cached", ms(fig.cached_compile_ms));
  if (training) {
    s += row(fmt::format("training step ({} rows)", fig.batch), fmt::format("{:.2f} us", fig.step_us));
  } else {
    s += row("one evaluation", fmt::format("{:.1f} ns", fig.eval_ns));
    s += row(fmt::format("batch of {} points", fig.points), fmt::format("{:.2f} ns/pt", fig.batch_ns_per_point));
  }
  s += row("vector instructions", fmt::format("{} ({}-bit)", isa, fig.vectors.bits));
  std::fputs(s.c_str(), stdout);
  return kExitOk;
}

}  // namespace gradc::cli
