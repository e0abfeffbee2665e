// gradc: the command-line driver. Argument parsing by CLI11; each command lives in a cli/*.cpp
// file. Errors print `file:line:col: error: ...` with the source line and a caret, and exit with
// the documented codes of support/diagnostics.hpp (1 input error, 2 usage, 3 check failed,
// 4 training diverged).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cstdio>

#include <unistd.h>

#include "cli/common.hpp"

namespace gradc::cli {

int run(int argc, char** argv) {
  CLI::App app{"gradc: a symbolic + numeric differentiation compiler"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gradc 0.1");
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
  CLI::App* eval = app.add_subcommand("eval", "value, gradient (and Hessian) through compiled code");
  common(eval);
  eval->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2 (values may be constant expressions)");
  eval->add_flag("--hessian", o.hessian, "also print the Hessian");
  eval->add_flag("--json", o.json, "print one JSON object");
  eval->add_option("--points", o.points, "CSV of points (header names the variables)");
  eval->add_option("--out", o.out, "write the --points results to this CSV file");
  CLI::App* diff = app.add_subcommand("diff", "print partial derivatives");
  common(diff);
  diff->add_option("--wrt", o.wrt, "variables, comma-separated")->required();
  diff->add_option("--order", o.order, "derivative order");
  diff->add_option("--format", o.format, "text or latex")->check(CLI::IsMember({"text", "latex"}));
  diff->add_flag("--expr-only", o.expr_only, "print just the expression, inline");
  diff->add_flag("--ieee", o.ieee, "print the compiled kernel's own form (IEEE rewrites only, constants folded)");
  CLI::App* emit = app.add_subcommand("emit", "dump a compiler stage");
  common(emit);
  emit->add_option("--stage", o.stage, "ast, ir, grad-ir or llvm")
      ->required()
      ->check(CLI::IsMember({"ast", "ir", "grad-ir", "llvm"}));
  emit->add_flag("--hessian", o.hessian, "grad-ir/llvm: include the Hessian");
  emit->add_option("--dtype", o.dtype, "training program: the element type of the IR and the step kernel, f64 (default) or f32")
      ->check(CLI::IsMember({"f32", "f64"}));
  emit->add_option("--threads", o.threads, "llvm, training program: the step kernel for this many threads")
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
  train->add_option("--save", o.save, "write the trained parameters and the optimizer state, atomically: NumPy .npz when the name ends in .npz, else JSON");
  train->add_option("--resume", o.resume, "start from parameters saved by --save");
  train->add_option("--log", o.log, "write the loss log (CSV: epoch,step,loss,metric)");
  train->add_option("--log-every", o.log_every, "epochs between the rows of --log (default 1 for runs of at most 10000 epochs, else the file's log_every)");
  train->add_flag("--quiet", o.quiet, "print nothing but errors");
  train->add_option("--dtype", o.dtype, "element type of the compiled step: f64 (default) or f32")
      ->check(CLI::IsMember({"f32", "f64"}));
  train->add_option("--threads", o.threads, "threads for the large matrix products (default 1; results do not depend on it)")
      ->check(whole_in(1, 64));

  CLI::App* graph = app.add_subcommand("graph", "the computational graph as Graphviz DOT or SVG");
  common(graph);
  graph->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  graph->add_flag("--backward", o.backward, "label edges with local partials and nodes with adjoints");
  graph->add_option("--format", o.format, "dot (default) or svg")->check(CLI::IsMember({"dot", "svg", "text"}));
  graph->add_option("-o,--out", o.out, "output file (written atomically)");
  CLI::App* explain_cmd = app.add_subcommand("explain", "the chain rule along each path from the output to a variable");
  common(explain_cmd);
  explain_cmd->add_option("--wrt", o.wrt, "variables, comma-separated")->required();
  explain_cmd->add_option("--at", o.at, "point, e.g. x=0.5,y=1.2");
  explain_cmd->add_option("--format", o.format, "text or latex")->check(CLI::IsMember({"text", "latex"}));
  CLI::App* field = app.add_subcommand("field", "contours of a function of two variables with gradient arrows (SVG)");
  common(field);
  field->add_option("--range", o.range, "LOW:HIGH for both axes (default -3:3)");
  field->add_option("-o,--out", o.out, "the SVG file (written atomically)");
  CLI::App* descent = app.add_subcommand("descent", "the iterates of gradient descent, drawn or as CSV");
  common(descent);
  descent->add_option("--lr", o.lr, "learning rate")->required();
  descent->add_option("--from", o.from, "starting point(s): values in parameter order, e.g. 0.5,-0.5 (repeatable)");
  descent->add_option("--at", o.at, "starting point by name (default: the file's 'at' line)");
  descent->add_option("--steps", o.steps, "number of steps (default 20)");
  descent->add_option("--format", o.format, "svg (default) or csv")->check(CLI::IsMember({"svg", "csv", "text"}));
  descent->add_option("-o,--out", o.out, "output file (written atomically; csv may go to stdout)");
  CLI::App* sweep = app.add_subcommand("sweep", "one run per learning rate, labelled, on one plot");
  common(sweep);
  sweep->add_option("--lr", o.lr_list, "learning rates, comma-separated")->required();
  sweep->add_option("--epochs", o.epochs, "epochs (training program) or steps (function)");
  sweep->add_option("--at", o.at, "starting point of a function (default: the file's 'at' line)");
  sweep->add_option("-o,--out", o.out, "the SVG plot (written atomically)");
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
  predict->add_option("--out", o.out, "write the predictions to this CSV file, atomically");

  CLI::App* repl = app.add_subcommand("repl", "an interactive session: define functions, then eval, diff, explain them");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gradc: error: %s\nRun 'gradc --help' for more information.\n", e.what());
    return kExitUsage;
  }
  try {
    route_standard_streams(o);
    if (*repl) return cmd_repl(o);
    if (*eval) return cmd_eval(o);
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
    return cmd_check(o);
  } catch (const Diagnostic& d) {
    std::fputs(d.what(), stderr);
    return d.exit_code;
  } catch (const InputError& e) {  // an error without a source file at hand
    std::fprintf(stderr, "%s: error: %s\n", o.file.c_str(), e.what());
    return e.exit_code;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "gradc: error: %s\n", e.what());
    return kExitUsage;
  } catch (const LimitError& e) {
    std::fprintf(stderr, "%s: error: %s\n", o.file.c_str(), e.what());
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
    std::fprintf(stderr, "gradc: internal error: %s\n", e.what());
    return gradc::kExitInternal;
  }
}

