// The gradc driver's shared pieces: options, loading, choosing functions, reading --at and
// --wrt, number formatting. Each command lives in a cli/*.cpp file.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "compiler/forward.hpp"
#include "compiler/lower.hpp"
#include "compiler/print.hpp"
#include "runtime/fd_check.hpp"

namespace gradc::cli {

struct Options {
  // eval: --jvp (tangents by parameter), --vjp (a cotangent of the result), --mode of --jacobian
  // (fwd, rev, auto; empty: not given)
  std::string jvp, vjp, mode;
  bool jacobian = false;
  bool no_fma = false;   // eval: no fused multiply-adds (the bits of compile -o f.c)
  std::string tier = "auto";  // eval: fast, optimized or auto (see TierPolicy)
  std::string file, fn, at, wrt, format = "text", stage, points, out;
  // train
  std::optional<double> lr;
  std::optional<std::int64_t> epochs, batch, log_every;
  std::optional<std::uint64_t> seed;
  std::string save, log, resume, params, data, dtype = "f64";
  bool quiet = false, backward = false;
  bool no_shuffle = false;  // train: the rows in file order every epoch
  int threads = 1;  // train, predict: threads for large matrix products
  int order = 1;
  bool hessian = false, json = false, expr_only = false, no_simplify = false;
  bool ieee = false;  // diff: print the kernel's own form, not the algebraic canonical form
  double tol = 1e-6;
  bool lint = false;  // check --lint
  // descent, sweep, field
  std::string lr_list, range = "-3:3", csv, levels = "linear";
  std::vector<std::string> from;
  std::int64_t steps = 20;
  int digits = 0;  // --digits N: significant digits of printed numbers (0: shortest round trip)
  std::vector<std::string> logs;  // plot: training logs (train --log)
  // compile: the C entries' prefix (default: the function's name), --target and --cpu of the
  // object, --grad, --header (OUT.h next to OUT.o or OUT.so), --step (refused with the reason)
  std::string prefix, target, cpu;
  bool grad = false, header = false, step = false;
  bool no_cache = false;  // --no-cache: compile every kernel, read and write no cached object
  std::optional<std::int64_t> bench_points;  // bench --points N
  bool simd = false;  // compile: the batch entry W rows at a time with SLEEF (the JIT's batch)
};

/// The JIT's object cache folder for these options: "" with --no-cache, else default_cache_dir().
std::string jit_cache_dir(const Options& o);

std::string join(const std::vector<std::string>& v, const char* sep = ", ");
std::vector<std::string> param_names(const Function& f);
/// The module of o.file, lowered with folding unless --no-simplify (or `fold` is false).
std::unique_ptr<Module> load(const Options& o, bool fold = true);

/// check, descent, ... work on scalar functions of scalar parameters; eval and diff on vector
/// functions too: tensor parameters (`fn f(x[3])`) and any result shape, with no data or params.
bool scalar_function(const Function& f);
bool vector_function(const Function& f);
/// --fn's function, or the file's only usable one (`tensors`: vector functions are usable).
const Function& choose(const Module& m, const std::string& name, bool tensors = false);
std::vector<const Function*> choose_all(const Module& m, const std::string& name, bool tensors = false);

/// Splits "x=0.5, y=max(1, 2)" at top-level commas: (offset, piece) pairs.
std::vector<std::pair<std::size_t, std::string>> split_top(const std::string& s);
/// A value on the command line: a constant expression or nested brackets of them, `[[1, 2], [3, 4]]`.
Tensor command_value(const SourceFile& src, const ast::Expr& e);
/// `x=[1, 2], y=3` given for the parameters of selected[0] (the others' with several): the values
/// by name, each of its parameter's shape (exit 2 with the command line located otherwise).
std::map<std::string, Tensor> named_values(const std::string& flag, const std::string& text,
                                           std::span<const Function* const> selected);
/// The point: --at values, else the file's `at` values, for every parameter of f.
std::vector<Tensor> resolve_values(const Module& m, const Function& f, const std::string& at,
                                   std::span<const Function* const> selected = {});
/// The same, flattened (every parameter's elements, in order).
std::vector<double> resolve_point(const Module& m, const Function& f, const std::string& at,
                                  std::span<const Function* const> selected = {});
std::vector<const Node*> resolve_wrt(const Module& m, const Function& f, const std::string& wrt);

/// Every number gradc prints (text, CSV, JSON): the shortest digits that read back as the same
/// double, or `digits` significant digits after set_digits (--digits N; 0: shortest again).
void set_digits(int digits);
std::string num(double v);       // "nan", "inf", "-inf" for the non-finite
std::string json_num(double v);  // null for nan and inf (JSON has no literal for them)
/// A tensor's elements nested in brackets as NumPy prints them on one line, `[[1, 2], [3, 4]]`
/// (a scalar as a number): the form --at reads back.
std::string num(const double* data, const Shape& shape);
std::string json_num(const double* data, const Shape& shape);
/// The flattened elements' names, NumPy's indexing: `x` for a scalar, `x[0]`, `A[1,2]`.
std::vector<std::string> element_names(const std::string& name, const Shape& shape);
std::vector<std::string> element_names(std::span<const Node* const> vars);
void warn_domain(const Module& m, const Function& f, std::span<const Node* const> outputs,
                 std::span<const double> point, const std::string& where = "");
/// --mode's words: fwd, rev, auto (or not given: auto).
inline Mode parse_mode(const std::string& mode) {
  return mode == "fwd" ? Mode::Forward : mode == "rev" ? Mode::Reverse : Mode::Auto;
}
/// value, gradient and (optionally) the Hessian of f, row-major, as IR roots, for compiling.
std::vector<const Node*> derivative_outputs(Module& m, const Function& f, bool hessian, bool simplify);
/// d/dt f(t) at t = 0 by central differences with Richardson extrapolation (error O(h^4)).
double richardson(const std::function<double(double)>& f, double h);
/// `-` on the command line: at most one input reads standard input and at most one output
/// writes standard output. When an output does, the text gradc would print on standard output
/// (progress, summaries) goes to standard error instead, so the output stays clean.
void route_standard_streams(const Options& o);

// cli/eval.cpp
int cmd_eval(const Options& o);

// cli/compile.cpp
/// `command`: the command line, quoted in the header's opening comment.
int cmd_compile(const Options& o, const std::string& command);

// cli/functions.cpp
/// A check row's remark: "  MISMATCH", "  kink: one-sided L and R" or nothing.
std::string check_note(const PartialCheck& c);
extern const char* const kKinkNote;  // printed after `ok` when a row passed as a kink
int cmd_diff(const Options& o);
/// diff's partial derivatives of o.fn with respect to o.wrt (--order, --format, --ieee,
/// --no-simplify, --expr-only) as printed, in m loaded as cmd_diff loads it (folded only with
/// --ieee or --no-simplify). The Python module's Function.diff prints through it too.
std::string diff_partials(Module& m, const Options& o);
int cmd_emit(const Options& o);
int cmd_check(const Options& o);
int cmd_graph(const Options& o);
int cmd_explain(const Options& o);

// cli/networks.cpp
int cmd_train(const Options& o);
int cmd_predict(const Options& o);
/// The backward pass of a training program as named equations (diff and explain, no --fn).
int diff_training(Module& m, const Options& o, Format f);
/// The compiled step's parameter gradients against finite differences of its loss.
int check_training(Module& m, const Options& o);

// cli/repl.cpp
int cmd_repl(const Options& o);

// cli/teach.cpp
int cmd_descent(const Options& o);
int cmd_sweep(const Options& o);
int cmd_plot(const Options& o);
int cmd_field(const Options& o);
int cmd_bench(const Options& o);

}  // namespace gradc::cli
