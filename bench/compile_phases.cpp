// Where `gradc eval --no-cache FILE` spends its time, phase by phase, in one process
// (bench/compile.md): reading and parsing the file, lowering it to the IR, reverse mode, the
// LLVM module (codegen), the backend (the Jit's compile of that kernel, codegen included) and
// freeing it all. Prints one line per phase: wall and process CPU ms (CPU above wall: threads).
//   build/bench/gradc_compile_phases FILE [--fn NAME] [--split-ops N] [--threads N]
// (--split-ops 0: no split; --threads: Jit::Options::compile_threads)
#include <time.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/builder.hpp"
#include "compiler/codegen.hpp"
#include "compiler/diff.hpp"
#include "compiler/lower.hpp"
#include "grammar/parser.hpp"
#include "io/file.hpp"
#include "runtime/jit.hpp"

namespace {

double ms(clockid_t c) {
  timespec t;
  clock_gettime(c, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct Clock {
  double wall = ms(CLOCK_MONOTONIC), cpu = ms(CLOCK_PROCESS_CPUTIME_ID);
  double total_wall = 0, total_cpu = 0;
  void lap(const char* what) {
    double w = ms(CLOCK_MONOTONIC), c = ms(CLOCK_PROCESS_CPUTIME_ID);
    std::printf("%-34s %8.1f ms wall %8.1f ms CPU\n", what, w - wall, c - cpu);
    total_wall += w - wall, total_cpu += c - cpu;
    wall = w, cpu = c;
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace gradc;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [--fn NAME]\n", argv[0]);
    return 2;
  }
  std::string fn;
  Jit::Options options{.optimize = false};
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--fn") == 0) fn = argv[i + 1];
    if (std::strcmp(argv[i], "--split-ops") == 0) {
      options.split_ops = std::stoul(argv[i + 1]);
      if (options.split_ops == 0) options.split_above = 0;
    }
    if (std::strcmp(argv[i], "--threads") == 0) options.compile_threads = static_cast<unsigned>(std::stoul(argv[i + 1]));
  }
  Clock clock;
  SourceFile src = load_source(argv[1]);
  {
    ast::Program p = parse_program(src);
  }
  clock.lap("parse (and free the AST)");
  auto m = compile_module(std::move(src));
  clock.lap("parse + lower");
  const Function* f = fn.empty() ? &m->functions.at(0) : m->find(fn);
  if (!f) return 2;
  Builder b(m->graph, Simplify::Fold);
  std::vector<const Node*> outs = value_and_derivatives(b, f->body, f->params, false, &m->origins);
  clock.lap("reverse mode");
  KernelSpec spec{"gradc.kernel", f->params, outs, /*batch=*/false};
  {
    llvm::LLVMContext ctx;
    auto mod = codegen(ctx, spec);
    clock.lap("LLVM IR (codegen, verified)");
  }
  clock.lap("free the LLVM module");
  auto jit = Jit::create(options);
  clock.lap("Jit::create");
  Kernel k = jit->compile(KernelSpec{f->name, f->params, outs, /*batch=*/false});
  clock.lap(k.parts > 1 ? "compile: codegen + backend, split" : "compile: codegen + backend");
  jit.reset();
  clock.lap("free the Jit");
  m.reset();
  clock.lap("free the program");
  std::printf("%-34s %8.1f ms wall %8.1f ms CPU\n", "total", clock.total_wall, clock.total_cpu);
  return k.single ? 0 : 1;
}
