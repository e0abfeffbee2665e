// The Jacobian benchmark's gradc side (bench/jacobians.md); run by
// bench/jacobian_vs_torch.py, which writes the function, times PyTorch and compares the results.
//
//   gradc_jacobian_bench FILE --fn f --at x0,x1,... [--mode fwd|rev|auto] [--reps 5]
//
// Compiles fn f(x[N]) (one vector parameter, a vector result [M]) and its Jacobian by
// compiler/forward.hpp's jacobian() in the given mode into one kernel, as `gradc eval --jacobian`
// does, and prints one JSON line: the mode used, compile times (front end and JIT, wall, ms),
// the CPU time per Jacobian (µs, the median of --reps loops of at least 0.2 s) and the Jacobian
// at the point (rows: outputs, columns: inputs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <time.h>

#include "compiler/builder.hpp"
#include "compiler/forward.hpp"
#include "compiler/lower.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "runtime/jit.hpp"
#include "support/diagnostics.hpp"

namespace gradc::bench {
namespace {

double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int run(int argc, char** argv) {
  if (argc < 2) throw std::invalid_argument("usage: gradc_jacobian_bench FILE --fn f --at x0,x1,...");
  std::string file = argv[1], name = "f", mode_text = "auto";
  std::vector<double> x;
  int reps = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--fn") {
      name = argv[i + 1];
    } else if (a == "--at") {
      std::stringstream in(argv[i + 1]);
      std::string item;
      while (std::getline(in, item, ',')) x.push_back(std::stod(item));
    } else if (a == "--mode") {
      mode_text = argv[i + 1];
    } else if (a == "--reps") {
      reps = std::stoi(argv[i + 1]);
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  Mode mode = mode_text == "fwd" ? Mode::Forward : mode_text == "rev" ? Mode::Reverse : Mode::Auto;

  double w0 = wall_seconds();
  auto module = compile_module(load_source(file), true, read_csv);
  const Function* fn = module->find(name);
  if (!fn || fn->params.size() != 1) throw std::runtime_error("no fn " + name + " of one parameter");
  Builder b(module->graph, Simplify::Fold);
  const Node* outs[] = {fn->body};
  Jacobian J = jacobian(b, outs, fn->params, mode);
  // The entries in the kernel's output, then read back as rows x cols (row-major).
  std::vector<const Node*> nodes;
  if (J.mode == Mode::Forward)
    for (auto& col : J.columns) nodes.push_back(col.at(0));
  else
    for (auto& row : J.rows_) nodes.push_back(row.at(0));
  double w1 = wall_seconds();
  auto jit = Jit::create();
  Kernel k = jit->compile(KernelSpec{"jacobian", fn->params, nodes, /*batch=*/false});
  double w2 = wall_seconds();
  if (k.num_inputs != x.size())
    throw std::runtime_error("--at has " + std::to_string(x.size()) + " values, f takes " +
                             std::to_string(k.num_inputs));

  std::vector<double> out(k.num_outputs);
  k.single(x.data(), out.data());
  int calls = 1;
  for (;;) {
    double t0 = thread_seconds();
    for (int c = 0; c < calls; ++c) k.single(x.data(), out.data());
    if (thread_seconds() - t0 >= 0.2 || calls >= (1 << 24)) break;
    calls *= 2;
  }
  std::vector<double> per;
  for (int r = 0; r < reps; ++r) {
    double t0 = thread_seconds();
    for (int c = 0; c < calls; ++c) k.single(x.data(), out.data());
    per.push_back((thread_seconds() - t0) / calls);
  }
  std::sort(per.begin(), per.end());

  const std::int64_t rows = J.rows, cols = J.cols;
  std::printf("{\"mode\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"front_end_ms\": %.3f, \"jit_ms\": %.3f, "
              "\"call_us\": %.4f, \"jacobian\": [",
              J.mode == Mode::Forward ? "fwd" : "rev", (long long)rows, (long long)cols, 1e3 * (w1 - w0),
              1e3 * (w2 - w1), 1e6 * per[per.size() / 2]);
  for (std::int64_t i = 0; i < rows; ++i) {
    std::printf("%s[", i ? ", " : "");
    for (std::int64_t j = 0; j < cols; ++j) {
      // forward: column j is contiguous; reverse: row i is
      double v = J.mode == Mode::Forward ? out[j * rows + i] : out[i * cols + j];
      std::printf("%s%.17g", j ? ", " : "", v);
    }
    std::printf("]");
  }
  std::printf("]}\n");
  return 0;
}

}  // namespace
}  // namespace gradc::bench

int main(int argc, char** argv) {
  try {
    return gradc::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gradc_jacobian_bench: %s\n", e.what());
    return 1;
  }
}
