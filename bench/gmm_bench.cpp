// The GMM benchmark (bench/gmm.md): examples/gmm.grad at ADBench's sizes,
// objective and gradient time, and the time from source to compiled kernel.
//
//   gradc_gmm_bench [--d 2,10,20,64] [--K 5,10,25,50,100,200] [--n 1000] [--reps 5] [--source FILE]
//
// --source times another statement of the objective (a variant of examples/gmm.grad with the
// same parameters and data files), as bench/gmm.md's findings do.
//
// For each (d, K) it writes n random points and K component rows into a temporary folder beside
// a copy of examples/gmm.grad (the source is the same for every size), compiles it as
// `gradc eval` does (Simplify::Fold, value_and_derivatives, one fused kernel), checks the
// objective against ADBench's loops written here (objective_loops) and one gradient entry against
// a central difference, then times the value kernel and the value+gradient kernel (CPU time of
// this thread, median of --reps runs of a loop of at least 0.2 s).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/lower.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "runtime/jit.hpp"
#include "support/diagnostics.hpp"

namespace gradc::bench {
namespace {

namespace fs = std::filesystem;

double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

struct Problem {
  int d, K, n;
  std::vector<double> x;       // [n, d]
  std::vector<double> params;  // the kernel's input: alphas [K], means [K, d], q [K, d], Ls [K, d, d]
};

Problem make_problem(int d, int K, int n, unsigned seed) {
  Problem p{d, K, n, {}, {}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  p.x.resize(std::size_t(n) * d);
  for (double& v : p.x) v = normal(rng);
  p.params.resize(std::size_t(K) * (1 + 2 * d + d * d));
  double* a = p.params.data();
  for (int k = 0; k < K; ++k) *a++ = normal(rng);
  for (int i = 0; i < K * d; ++i) *a++ = normal(rng);        // means
  for (int i = 0; i < K * d; ++i) *a++ = 0.1 * normal(rng);  // q
  for (int i = 0; i < K * d * d; ++i) *a++ = 0.1 * normal(rng);  // Ls (upper part unused)
  return p;
}

void write_csv(const fs::path& path, const double* v, int rows, int cols) {
  std::ostringstream s;
  s.precision(17);
  for (int c = 0; c < cols; ++c) s << (c ? "," : "") << 'x' << c + 1;
  s << '\n';
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) s << (c ? "," : "") << v[std::size_t(r) * cols + c];
    s << '\n';
  }
  std::ofstream(path) << s.str();
}

/// ADBench's gmm_objective (src/cpp/shared/gmm.h) as its loops are written, on this layout.
double objective_loops(const Problem& p, const double* in, double gamma, int m) {
  const int d = p.d, K = p.K, n = p.n;
  const double *alphas = in, *means = in + K, *q = means + K * d, *Ls = q + K * d;
  auto lse = [](const std::vector<double>& v) {
    double mx = *std::max_element(v.begin(), v.end()), s = 0;
    for (double e : v) s += std::exp(e - mx);
    return std::log(s) + mx;
  };
  std::vector<double> sum_q(K, 0.0), inner(K), z(d);
  for (int k = 0; k < K; ++k)
    for (int r = 0; r < d; ++r) sum_q[k] += q[k * d + r];
  double slse = 0;
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < K; ++k) {
      double sq = 0;
      for (int r = 0; r < d; ++r) {
        double zr = std::exp(q[k * d + r]) * (p.x[i * d + r] - means[k * d + r]);
        for (int c = 0; c < r; ++c) zr += Ls[(k * d + r) * d + c] * (p.x[i * d + c] - means[k * d + c]);
        sq += zr * zr;
      }
      inner[k] = alphas[k] + sum_q[k] - 0.5 * sq;
    }
    slse += lse(inner);
  }
  std::vector<double> a(alphas, alphas + K);
  const int N = d + m + 1;
  double mgl = 0.25 * d * (d - 1) * std::log(M_PI);
  for (int j = 1; j <= d; ++j) mgl += std::lgamma(0.5 * N + 0.5 * (1 - j));
  const double C = N * d * (std::log(gamma) - 0.5 * std::log(2.0)) - mgl;
  double prior = 0;
  for (int k = 0; k < K; ++k) {
    double frob = 0;
    for (int r = 0; r < d; ++r) {
      frob += std::exp(2 * q[k * d + r]);
      for (int c = 0; c < r; ++c) frob += Ls[(k * d + r) * d + c] * Ls[(k * d + r) * d + c];
    }
    prior += 0.5 * gamma * gamma * frob - m * sum_q[k];
  }
  return -0.5 * n * d * std::log(2 * M_PI) + slse - n * lse(a) + prior - K * C;
}

/// CPU seconds per call of fn: the median of `reps` timed loops of at least 0.2 s each.
template <class F>
double time_per_call(F fn, int reps) {
  fn();  // warm: buffers, page faults
  int calls = 1;
  for (;;) {
    double t0 = thread_seconds();
    for (int c = 0; c < calls; ++c) fn();
    if (thread_seconds() - t0 >= 0.2 || calls >= (1 << 20)) break;
    calls *= 2;
  }
  std::vector<double> per;
  for (int r = 0; r < reps; ++r) {
    double t0 = thread_seconds();
    for (int c = 0; c < calls; ++c) fn();
    per.push_back((thread_seconds() - t0) / calls);
  }
  return median(per);
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

int run(int argc, char** argv) {
  std::vector<int> ds{2, 10, 20, 64}, Ks{5, 10, 25, 50, 100, 200};
  int n = 1000, reps = 5;
  std::string source_arg = GRADC_SOURCE_DIR "/examples/gmm.grad";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--d") ds = parse_list(argv[i + 1]);
    else if (a == "--K") Ks = parse_list(argv[i + 1]);
    else if (a == "--n") n = std::stoi(argv[i + 1]);
    else if (a == "--reps") reps = std::stoi(argv[i + 1]);
    else if (a == "--source") source_arg = argv[i + 1];
    else throw std::invalid_argument("unknown option " + a);
  }
  const fs::path source = source_arg;
  const fs::path tmp = fs::temp_directory_path() / ("gradc_gmm_bench_" + std::to_string(getpid()));
  fs::create_directories(tmp / "data");
  fs::copy_file(source, tmp / "gmm.grad", fs::copy_options::overwrite_existing);
  // gamma and m as the example states them (ADBench's data: 1 and 0)
  const double gamma = 1.0;
  const int m = 0;

  std::printf("| d | K | n | objective ms | gradient ms | gradient / objective | loops ms | "
              "front end ms | JIT ms | compile ms | value rel. error | grad check |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  int failures = 0;
  for (int d : ds) {
    for (int K : Ks) {
      Problem p = make_problem(d, K, n, 1000u * d + K);
      write_csv(tmp / "data" / "gmm_points.csv", p.x.data(), n, d);
      write_csv(tmp / "data" / "gmm_components.csv", p.params.data() + K, K, d);  // the means

      // Source to compiled value+gradient kernel, as `gradc eval` does it (wall time: what a
      // user waits for).
      double w0 = wall_seconds();
      auto module = compile_module(load_source((tmp / "gmm.grad").string()), true, read_csv);
      const Function* fn = module->find("gmm");
      if (!fn) throw std::runtime_error("examples/gmm.grad has no fn gmm");
      Builder b(module->graph, Simplify::Fold);
      std::vector<const Node*> vg = value_and_derivatives(b, fn->body, fn->params, false);
      double w1 = wall_seconds();
      auto jit = Jit::create();
      Kernel grad_kernel = jit->compile(KernelSpec{"gmm_grad", fn->params, vg, /*batch=*/false});
      double w2 = wall_seconds();
      std::vector<const Node*> value{fn->body};
      Kernel value_kernel = jit->compile(KernelSpec{"gmm_value", fn->params, value, false});
      if (grad_kernel.num_inputs != p.params.size())
        throw std::runtime_error("the kernel takes " + std::to_string(grad_kernel.num_inputs) +
                                 " inputs, the problem has " + std::to_string(p.params.size()));

      std::vector<double> out_v(value_kernel.num_outputs), out_g(grad_kernel.num_outputs);
      value_kernel.single(p.params.data(), out_v.data());
      grad_kernel.single(p.params.data(), out_g.data());
      double want = objective_loops(p, p.params.data(), gamma, m);
      double rel = std::fabs(out_v[0] - want) / std::max(1.0, std::fabs(want));
      // One gradient entry of each parameter group against a central difference of the loops.
      bool grad_ok = true;
      const std::size_t groups[] = {0, std::size_t(K), std::size_t(K + K * d),
                                    std::size_t(K + 2 * K * d + d)};  // alpha_0, mu_00, q_00, L_k=0[1,0]
      for (std::size_t j : groups) {
        if (j >= p.params.size() || (d == 1 && j == groups[3])) continue;
        std::vector<double> t = p.params;
        double h = 1e-5 * std::max(1.0, std::fabs(t[j]));
        t[j] += h;
        double up = objective_loops(p, t.data(), gamma, m);
        t[j] -= 2 * h;
        double down = objective_loops(p, t.data(), gamma, m);
        double fd = (up - down) / (2 * h), g = out_g[1 + j];
        if (std::fabs(fd - g) > 1e-5 * std::max({1.0, std::fabs(fd), std::fabs(want) * 1e-6})) grad_ok = false;
      }
      if (rel > 1e-10 || !grad_ok || std::fabs(out_g[0] - out_v[0]) > 1e-10 * std::max(1.0, std::fabs(want)))
        ++failures;

      double t_value = time_per_call([&] { value_kernel.single(p.params.data(), out_v.data()); }, reps);
      double t_grad = time_per_call([&] { grad_kernel.single(p.params.data(), out_g.data()); }, reps);
      double t_loops = time_per_call([&] { volatile double v = objective_loops(p, p.params.data(), gamma, m); (void)v; },
                                     std::max(1, reps / 2));
      std::printf("| %d | %d | %d | %.3f | %.3f | %.2fx | %.3f | %.1f | %.1f | %.1f | %.1e | %s |\n", d, K, n,
                  1e3 * t_value, 1e3 * t_grad, t_grad / t_value, 1e3 * t_loops, 1e3 * (w1 - w0),
                  1e3 * (w2 - w1), 1e3 * (w2 - w0), rel, grad_ok ? "ok" : "FAILED");
      std::fflush(stdout);
    }
  }
  fs::remove_all(tmp);
  if (failures) std::printf("%d sizes FAILED their checks\n", failures);
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace gradc::bench

int main(int argc, char** argv) {
  try {
    return gradc::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gradc_gmm_bench: %s\n", e.what());
    return 1;
  }
}
