// gradc: the command-line driver. Argument parsing by CLI11; each command lives in a cli/*.cpp
// file. Errors print `file:line:col: error: ...` with the source line and a caret, and exit with
// the documented codes of support/diagnostics.hpp (1 input error, 2 usage, 3 check failed,
// 4 training diverged).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include "cli/common.hpp"
#include "runtime/jit.hpp"

namespace gradc::cli {
namespace {

// Edit distance with adjacent transpositions counted as one edit (optimal string alignment),
// as git's "did you mean" does: `evl` is one edit from `eval`, `dfif` one from `diff`.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The closest candidate within a third of the word's letters in edits (at least one), or "".
std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(1, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) best = c, best_d = d;
  }
  return best;
}

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(c->get_name());
  return names;
}

CLI::App* find_command(CLI::App& app, const std::string& name) {
  for (CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
    if (c->get_name() == name) return c;
  return nullptr;
}

[[noreturn]] void usage(const std::string& text) { throw UsageError(text); }

void unknown_command(const CLI::App& app, const std::string& word) {
  std::string near = nearest(word, command_names(app));
  if (!near.empty()) usage(fmt::format("'{}' is not a gradc command; did you mean '{}'? (gradc help lists them)", word, near));
  if (word.find('.') != std::string::npos || word.find('/') != std::string::npos)
    usage(fmt::format("'{}' is not a gradc command; the command comes first, e.g. gradc eval {}", word, word));
  usage(fmt::format("'{}' is not a gradc command (commands: {})", word, join(command_names(app))));
}

// Long options CLI11 would reject with "The following argument was not expected", named with
// the closest option of that command.
// gradc's own --version comes before the command, as in git (--color, anywhere, is taken out earlier).
void check_long_options(const CLI::App& sub, const std::vector<std::string>& args) {
  std::vector<std::string> known;
  for (const CLI::Option* opt : sub.get_options())
    for (const std::string& n : opt->get_lnames()) known.push_back("--" + n);
  for (const std::string& arg : args) {
    if (arg == "--") return;
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) continue;
    std::string name = arg.substr(0, arg.find('='));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string near = nearest(name.substr(2), [&] {
      std::vector<std::string> bare;
      for (const std::string& k : known) bare.push_back(k.substr(2));
      return bare;
    }());
    if (!near.empty())
      usage(fmt::format("{}: unknown option '{}'; did you mean '--{}'? (gradc help {} lists them)", sub.get_name(), name,
                        near, sub.get_name()));
    usage(fmt::format("{}: unknown option '{}' (gradc help {} lists the options)", sub.get_name(), name, sub.get_name()));
  }
}

std::string version_text() {
  JitHost h = jit_host();
  return fmt::format("gradc {}\nLLVM {}\nJIT target: {} (host CPU: {})\n", kGradcVersion, h.llvm_version, h.triple, h.cpu);
}

// --color=always|never|auto, anywhere before `--`: taken out of the arguments before CLI11 sees
// them, since colour must be decided before any message is built.
void take_colour(std::vector<std::string>& args) {
  std::string when = "auto";
  for (std::size_t i = 1; i < args.size();) {
    if (args[i] == "--") break;
    if (args[i].rfind("--color=", 0) == 0) {
      when = args[i].substr(8);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (args[i] == "--color" && i + 1 < args.size()) {
      when = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    } else {
      ++i;
    }
  }
  const char* no_colour = std::getenv("NO_COLOR");  // no-color.org: set and not empty
  if (when == "always") set_colour(true);
  else if (when == "never") set_colour(false);
  else if (when == "auto") set_colour(::isatty(STDERR_FILENO) && !(no_colour && *no_colour));
  else usage(fmt::format("--color: expected always, never or auto, not '{}'", when));
}

}  // namespace

int run(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  try {
    take_colour(args);
  } catch (const UsageError& e) {
    std::fputs(message("gradc", "error", e.what()).c_str(), stderr);
    return kExitUsage;
  }
  CLI::App app{"gradc: a symbolic + numeric differentiation compiler"};
  app.name("gradc");  // usage lines say `gradc`, not the path it was started by
  app.require_subcommand(1);
  app.footer("Run 'gradc help COMMAND' for a command's options, 'gradc version' for the versions.");
  bool shown_only = false;  // these two are handled before CLI11 parses; here for --help
  std::string colour_when;
  app.add_flag("-V,--version", shown_only, "print gradc's version, LLVM's and the host CPU the JIT compiles for");
  app.add_option("--color", colour_when, "colour diagnostics: always, never or auto (default: on a terminal, unless NO_COLOR is set)");
  Options o;
  // A whole number in [lo, hi], said in words (CLI11's range text prints 1.8e308 in full).
  // Hyperparameters are not checked here but by the runtime (runtime/train.hpp validate).
  auto whole_in = [](long long lo, long long hi) {
    return CLI::Validator(
        [lo, hi](std::string& text) -> std::string {
          long long v = 0;
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (ec != std::errc() || end != text.data() + text.size() || (v >= lo && v <= hi)) return "";
          return fmt::format("must be a whole number from {} to {}, not {}", lo, hi, text);
        },
        "");
  };
  auto common = [&](CLI::App* c) {
    c->add_option("file", o.file, ".grad source file")->required();
    c->add_option("--fn", o.fn, "function to use (may be left out when the file has one)");
    c->add_flag("--no-simplify", o.no_simplify, "keep the IR as written and as differentiated");
  };
  // --digits N on the commands that print numbers: N significant digits instead of the shortest
  // that read back as the same double.
  auto digits = [&](CLI::App* c) {
    c->add_option("--digits", o.digits, "significant digits of printed numbers, 1 to 17 (default: the shortest that round-trip)")
        ->check(whole_in(1, 17));
  };
  CLI::App* eval = app.add_subcommand("eval", "value, gradient (and Hessian, Jacobian) through compiled code");
  common(eval);
  digits(eval);
  eval->add_option("--at", o.at, "point, e.g. x=0.5,y=[1,2] (values may be constant expressions; tensors nested in brackets)");
  eval->add_flag("--hessian", o.hessian, "also print the Hessian");
  eval->add_flag("--jacobian", o.jacobian, "also print the Jacobian: rows the result's elements, columns the parameters' (flattened, in order)");
  eval->add_option("--jvp", o.jvp, "also print J*v for these tangents of the parameters, e.g. x=[1,0,0] (the others: zero)");
  eval->add_option("--vjp", o.vjp, "also print u^T*J for this cotangent u of the result, e.g. [1,0] or f=[1,0]");
  eval->add_option("--mode", o.mode, "how --jacobian is computed: fwd (by columns), rev (by rows) or auto (default: fwd when there are no more inputs than outputs)")
      ->check(CLI::IsMember({"fwd", "rev", "auto"}));
  eval->add_flag("--no-fma", o.no_fma, "compile without fused multiply-adds: the bits of the C that compile -o f.c writes, built with -ffp-contract=off");
  eval->add_option("--tier", o.tier, "compiled code: fast (quick to compile, no fused multiply-adds), optimized (the bits of compile -o f.o), auto (default: fast, optimized for --points of 100000 rows or more)")
      ->check(CLI::IsMember({"fast", "optimized", "auto"}));
  eval->add_flag("--json", o.json, "print one JSON object");
  eval->add_option("--points", o.points, "CSV of points (header names the variables)");
  eval->add_option("-o,--out", o.out, "write the --points results to this CSV file");
  CLI::App* compile = app.add_subcommand("compile", "a function's kernel (or with --step a training program's step) ahead of time: an object (.o), a shared library (.so), C99 source (.c) or its C header (.h)");
  common(compile);
  compile->add_option("-o,--out", o.out, "the output; its extension chooses: .o (object), .so (shared library), .c (C99 source) or .h (header)");
  compile->add_flag("--grad", o.grad, "outputs: the value and the gradient");
  compile->add_flag("--hessian", o.hessian, "outputs: the value, the gradient and the Hessian (scalar functions)");
  compile->add_flag("--jacobian", o.jacobian, "outputs: the value and the Jacobian, row-major");
  compile->add_option("--dtype", o.dtype, "element type of the entries: f64 (double, default) or f32 (float)");
  compile->add_option("--prefix", o.prefix, "the entries' name: NAME and NAME_batch (default: the function's name)");
  compile->add_option("--target", o.target, "the object's target triple, e.g. aarch64-linux-gnu (default: this machine)");
  compile->add_option("--cpu", o.cpu, "the object's CPU, e.g. x86-64-v3 (default: this machine's, or generic for --target)");
  compile->add_flag("--header", o.header, "also write the header, OUT with the extension .h");
  compile->add_flag("--simd", o.simd, "the batch entry computes several points at a time with SLEEF's vector math, as the JIT's does (link with -lsleef)");
  compile->add_flag("--step", o.step, "a training program: its step, optimizer update and predict with a C API (see the header)");
  compile->add_option("--batch", o.batch, "--step: the minibatch's rows (default: the train block's batch)");
  compile->add_option("--epochs", o.epochs, "--step: the epochs the learning-rate schedule spans (default: the train block's)");
  compile->add_option("--params", o.params, "--step: the starting parameters (a --save checkpoint, .json or .npz; default: gradc train's initialisation)");
  CLI::App* diff = app.add_subcommand("diff", "print partial derivatives or the Jacobian");
  common(diff);
  diff->add_option("--wrt", o.wrt, "variables, comma-separated (required unless --jacobian: then all by default)");
  diff->add_flag("--jacobian", o.jacobian, "print the Jacobian: each entry, or a LaTeX pmatrix");
  diff->add_option("--mode", o.mode, "how --jacobian is computed: fwd, rev or auto (default)")
      ->check(CLI::IsMember({"fwd", "rev", "auto"}));
  diff->add_option("--order", o.order, "derivative order");
  diff->add_option("--format", o.format, "text or latex")->check(CLI::IsMember({"text", "latex"}));
  diff->add_flag("--expr-only", o.expr_only, "print just the expression, inline");
  diff->add_flag("--ieee", o.ieee, "print the compiled kernel's own form (IEEE rewrites only, constants folded)");
  CLI::App* emit = app.add_subcommand("emit", "dump a compiler stage");
  common(emit);
  emit->add_option("--stage", o.stage, "ast, ir, grad-ir, tangent-ir, plan or llvm")
      ->required()
      ->check(CLI::IsMember({"ast", "ir", "grad-ir", "tangent-ir", "plan", "llvm"}));
  emit->add_flag("--hessian", o.hessian, "grad-ir/plan/llvm: include the Hessian");
  emit->add_option("--dtype", o.dtype, "training program: the element type of the IR and the step kernel, f64 (default) or f32")
      ->check(CLI::IsMember({"f32", "f64"}));
  emit->add_option("--threads", o.threads, "llvm/plan, training program: the step kernel for this many threads")
      ->check(whole_in(1, 64));
  CLI::App* check = app.add_subcommand("check", "compare the compiled gradient with finite differences");
  common(check);
  check->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  check->add_option("--tol", o.tol, "relative tolerance (default 1e-6)");
  check->add_flag("--lint", o.lint, "instead: warn where a gradient can become nan or inf, note the kinks");

  CLI::App* train = app.add_subcommand("train", "train the network of a file's 'train' block");
  train->add_option("file", o.file, ".grad source file")->required();
  train->add_option("--lr", o.lr, "learning rate (overrides the file)");
  train->add_option("--epochs", o.epochs, "epochs (overrides the file)");
  train->add_option("--batch", o.batch, "minibatch size (overrides the file)");
  train->add_option("--seed", o.seed, "seed for initialisation and shuffling (overrides the file)");
  train->add_option("--save", o.save, "write the trained parameters and the optimizer state, atomically: NumPy .npz or JSON, by the extension (.npz or .json)");
  train->add_option("--resume", o.resume, "start from parameters saved by --save");
  train->add_option("--log", o.log, "write the loss log (CSV: epoch,step,loss,metric)");
  train->add_option("--log-every", o.log_every, "epochs between the rows of --log (default 1 for runs of at most 10000 epochs, else the file's log_every)");
  train->add_flag("--quiet", o.quiet, "print nothing but errors");
  train->add_flag("--no-shuffle", o.no_shuffle, "minibatches take the rows in file order every epoch (overrides the file's shuffle)");
  train->add_option("--dtype", o.dtype, "element type of the compiled step: f64 (default) or f32")
      ->check(CLI::IsMember({"f32", "f64"}));
  train->add_option("--threads", o.threads, "threads for the large matrix products (default 1; results do not depend on it)")
      ->check(whole_in(1, 64));

  CLI::App* graph = app.add_subcommand("graph", "the computational graph as Graphviz DOT or SVG");
  common(graph);
  graph->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  graph->add_flag("--backward", o.backward, "label edges with local partials and nodes with adjoints");
  graph->add_option("--format", o.format, "dot (default), svg, png or pdf; -o's extension chooses it")
      ->check(CLI::IsMember({"dot", "svg", "png", "pdf"}));
  graph->add_option("-o,--out", o.out, "output file (written atomically)");
  CLI::App* explain_cmd = app.add_subcommand("explain", "the chain rule along each path from the output to a variable");
  common(explain_cmd);
  explain_cmd->add_option("--wrt", o.wrt, "variables, comma-separated")->required();
  explain_cmd->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  explain_cmd->add_option("--format", o.format, "text or latex")->check(CLI::IsMember({"text", "latex"}));
  CLI::App* field = app.add_subcommand("field", "contours of a function of two variables with gradient arrows (SVG)");
  common(field);
  field->add_option("--at", o.at, "fix all variables but two, e.g. z=1 (functions of 3 or more variables)");
  field->add_option("--range", o.range, "LOW:HIGH for both axes, or XLOW:XHIGH,YLOW:YHIGH (default -3:3)");
  field->add_option("--levels", o.levels, "colour bands: linear (default) or log (geometric above the minimum)")
      ->check(CLI::IsMember({"linear", "log"}));
  field->add_option("-o,--out", o.out, "the .svg, .png or .pdf file (written atomically)");
  CLI::App* descent = app.add_subcommand("descent", "the iterates of gradient descent, drawn or as CSV");
  common(descent);
  descent->add_option("--lr", o.lr, "learning rate")->required();
  descent->add_option("--from", o.from, "starting point(s): values in parameter order, e.g. 0.5,-0.5 (repeatable)");
  descent->add_option("--at", o.at, "starting point by name (default: the file's 'at' line)");
  descent->add_option("--steps", o.steps, "number of steps (default 20)");
  descent->add_option("--format", o.format, "svg (default), png, pdf or csv; -o's extension chooses it")
      ->check(CLI::IsMember({"svg", "png", "pdf", "csv"}));
  descent->add_option("-o,--out", o.out, "output file (written atomically; csv may go to stdout)");
  CLI::App* sweep = app.add_subcommand("sweep", "one run per learning rate, labelled, on one plot");
  common(sweep);
  sweep->add_option("--lr", o.lr_list, "learning rates, comma-separated")->required();
  sweep->add_option("--epochs", o.epochs, "epochs (training program) or steps (function)");
  sweep->add_option("--at", o.at, "starting point of a function (default: the file's 'at' line)");
  sweep->add_option("-o,--out", o.out, "the plot: .svg, .png or .pdf (written atomically)");
  sweep->add_option("--csv", o.csv, "the loss curves as CSV: lr,label,epoch,loss (a training program, from epoch 1) or lr,label,step,loss (a function, from step 0)");
  CLI::App* plot = app.add_subcommand("plot", "loss (and metric) curves of training logs written by 'train --log'");
  plot->add_option("logs", o.logs, "CSV logs (epoch,step,loss,metric)")->required();
  plot->add_option("-o,--out", o.out, "the SVG plot (written atomically)");
  CLI::App* predict = app.add_subcommand("predict", "run a trained network on the rows of a CSV file");
  predict->add_option("file", o.file, ".grad source file")->required();
  predict->add_option("--params", o.params, "parameters saved by 'gradc train --save'")->required();
  predict->add_option("--data", o.data, "CSV file with the input columns")->required();
  predict->add_option("--fn", o.fn, "the layer or function to run (may be left out when there is one layer)");
  predict->add_option("--threads", o.threads, "threads for the large matrix products (default 1)")->check(whole_in(1, 64));
  predict->add_option("-o,--out", o.out, "write the predictions to this CSV file, atomically");
  for (CLI::App* c : {check, train, descent, sweep, predict}) digits(c);

  CLI::App* bench = app.add_subcommand("bench", "time a function's value and gradient (as eval compiles them) or a training program's step: compile (cold and cached), one evaluation, a batch, a step");
  common(bench);
  bench->add_option("--points", o.bench_points, "points in the timed batch (default 100000), near the file's 'at' point")
      ->check(whole_in(1, 100000000));
  bench->add_option("--dtype", o.dtype, "element type of the kernel: f64 (default) or f32")->check(CLI::IsMember({"f32", "f64"}));
  bench->add_option("--threads", o.threads, "threads for the large matrix products (default 1)")->check(whole_in(1, 64));
  bench->add_flag("--json", o.json, "print one JSON object");
  bench->add_flag("--no-cache", o.no_cache, "refused: bench compiles without the cache, and with a temporary cache of its own");

  CLI::App* repl = app.add_subcommand("repl", "an interactive session: define functions, then eval, diff, explain them");
  // The commands that run JIT-compiled kernels, which the object cache serves.
  for (CLI::App* c : {eval, check, train, predict, field, descent, sweep, repl})
    c->add_flag("--no-cache", o.no_cache, "compile every kernel: read and write no object in the cache (see README: the compile cache)");

  try {
    // git's conventions: `gradc help [COMMAND]`, `gradc version`, and a suggestion for a
    // misspelt command or option.
    const std::string first = args.size() > 1 ? args[1] : "";
    if (first == "version" || first == "-V" || first == "--version") {
      std::fputs(version_text().c_str(), stdout);
      return kExitOk;
    }
    if (first == "help") {
      if (args.size() == 2) {
        std::fputs(app.help().c_str(), stdout);
        return kExitOk;
      }
      if (args.size() > 3) usage("help: expected one command, e.g. gradc help eval");
      CLI::App* sub = find_command(app, args[2]);
      if (!sub) unknown_command(app, args[2]);
      std::fputs(sub->help("gradc").c_str(), stdout);
      return kExitOk;
    }
    if (!first.empty() && first[0] != '-') {
      CLI::App* sub = find_command(app, first);
      if (!sub) unknown_command(app, first);
      check_long_options(*sub, std::vector<std::string>(args.begin() + 2, args.end()));
    }
  } catch (const UsageError& e) {
    std::fputs(message("gradc", "error", e.what()).c_str(), stderr);
    return kExitUsage;
  }
  try {
    std::vector<char*> cargs;
    for (std::string& a : args) cargs.push_back(a.data());
    app.parse(static_cast<int>(cargs.size()), cargs.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Every message starts with `gradc:`; the hint names the command's own help.
    const std::string first = args.size() > 1 ? args[1] : "";
    std::string hint = find_command(app, first) ? fmt::format(" (gradc help {} lists the options)", first)
                                                : std::string(" (gradc help lists the commands)");
    std::fputs(message("gradc", "error", e.what() + hint).c_str(), stderr);
    return kExitUsage;
  }
  try {
    set_digits(o.digits);
    // Flags that would do nothing here are refused, never silently ignored.
    if (*diff && o.wrt.empty() && !o.jacobian) usage("diff: --wrt is required (or --jacobian, over every parameter)");
    if (*eval && !o.points.empty()) {
      if (o.json) usage("--json: with --points, eval writes one CSV row per point; leave out --json");
      if (!o.at.empty()) usage("--at: with --points, the points come from the CSV file; leave out --at");
    }
    route_standard_streams(o);
    if (*repl) return cmd_repl(o);
    if (*eval) return cmd_eval(o);
    if (*compile) {
      std::vector<std::string> words{"gradc"};
      words.insert(words.end(), args.begin() + 1, args.end());
      return cmd_compile(o, join(words, " "));
    }
    if (*diff) return cmd_diff(o);
    if (*emit) return cmd_emit(o);
    if (*train) return cmd_train(o);
    if (*predict) return cmd_predict(o);
    if (*graph) return cmd_graph(o);
    if (*explain_cmd) return cmd_explain(o);
    if (*field) return cmd_field(o);
    if (*descent) return cmd_descent(o);
    if (*sweep) return cmd_sweep(o);
    if (*plot) return cmd_plot(o);
    if (*bench) return cmd_bench(o);
    return cmd_check(o);
  } catch (const Diagnostic& d) {
    std::fputs(d.what(), stderr);
    return d.exit_code;
  } catch (const InputError& e) {  // an error without a source file at hand
    std::fputs(message(o.file, "error", e.what()).c_str(), stderr);
    return e.exit_code;
  } catch (const UsageError& e) {
    std::fputs(message("gradc", "error", e.what()).c_str(), stderr);
    return kExitUsage;
  } catch (const LimitError& e) {
    std::fputs(message(o.file, "error", e.what()).c_str(), stderr);
    return kExitInputError;
  }
}

}  // namespace gradc::cli

int main(int argc, char** argv) {
  // Into a pipe or a file, each line leaves when it is complete (not in 4 KiB blocks at exit), so
  // `gradc train ... | tee log` shows the progress as it happens.
  if (!::isatty(STDOUT_FILENO)) std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return gradc::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::fputs(gradc::message("gradc", "internal error", e.what()).c_str(), stderr);
    return gradc::kExitInternal;
  }
}

