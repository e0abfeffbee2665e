// What a gradc process spends between its start and its first result, phase by phase, in CPU
// time (bench/process.md): the front end on examples/lecture.grad (parse, lower, differentiate),
// the process's first Jit::create (native target initialization included), a second one, and
// the first compile of the lecture function's value and gradient, as `gradc eval` compiles them.
// Prints one line per phase; the median of `--runs N` processes is bench/process.md's figure.
#include <time.h>

#include <cstdio>
#include <string>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/lower.hpp"
#include "io/file.hpp"
#include "runtime/jit.hpp"

namespace {

double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

}  // namespace

int main() {
  using namespace gradc;
  double t0 = cpu_ms();
  auto m = compile_module(load_source(GRADC_SOURCE_DIR "/examples/lecture.grad"));
  const Function* f = m->find("f");
  Builder b(m->graph, Simplify::Fold);
  std::vector<const Node*> outs = value_and_derivatives(b, f->body, f->params, false);
  double t1 = cpu_ms();
  auto jit = Jit::create();
  double t2 = cpu_ms();
  auto jit2 = Jit::create();
  double t3 = cpu_ms();
  Kernel k = jit->compile(KernelSpec{f->name, f->params, outs, /*batch=*/false});
  double t4 = cpu_ms();
  std::printf("front end %.3f ms, first Jit::create %.3f ms, second Jit::create %.3f ms, first compile %.3f ms\n",
              t1 - t0, t2 - t1, t3 - t2, t4 - t3);
  return k.single ? 0 : 1;
}
