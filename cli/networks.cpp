// Commands on networks: train, predict, and the backward pass of a training program as
// equations (diff and explain without --fn).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "cli/common.hpp"
#include "cli/interrupt.hpp"
#include "cli/output.hpp"
#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/explain.hpp"
#include "compiler/graph.hpp"
#include "compiler/interp.hpp"
#include "compiler/print.hpp"
#include "grammar/ast_dump.hpp"
#include "grammar/parser.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "runtime/jit.hpp"
#include "io/params_io.hpp"
#include "runtime/train.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

namespace gradc::cli {

// The backward pass of a training program as named equations: the forward layers (z = x @ W + b,
// h = tanh(z)), then each adjoint in terms of them (dL/dW2 = h1^T @ dL/dz2).
int diff_training(Module& m, const Options& o, Format f) {
  std::vector<DataInput> data;
  const Node* loss = m.lower(*m.training->loss, 0, data);
  std::vector<const Node*> wrt;
  std::vector<std::string> params;
  for (const Param& p : m.params) params.push_back(p.name);
  for (auto& [off, piece] : split_top(o.wrt)) {
    std::string name;
    for (char c : piece)
      if (c != ' ' && c != '\t') name += c;
    auto it = std::find(params.begin(), params.end(), name);
    if (it == params.end())
      throw UsageError(fmt::format("--wrt: '{}' is not a parameter (parameters: {})", name, join(params)));
    wrt.push_back(m.params[static_cast<std::size_t>(it - params.begin())].var);
  }
  Builder b(m.graph, o.no_simplify ? Simplify::None : Simplify::Full);
  std::unordered_map<const Node*, const Node*> adj;
  std::vector<const Node*> grads = gradient(b, loss, wrt, nullptr, &adj);

  auto name_of = [&](const std::string& base) {
    return f == Format::Latex ? print_name(base, f) : base;
  };
  auto adjoint_name = [&](const std::string& base) {
    return f == Format::Latex ? fmt::format("\\frac{{\\partial L}}{{\\partial {}}}", print_name(base, f))
                              : "dL/d" + base;
  };
  std::unordered_map<const Node*, std::string> names, base = layer_names(loss);
  for (auto& [n, b0] : base) names[n] = name_of(b0);
  for (auto& [n, b0] : base)
    if (auto a = adj.find(n); a != adj.end() && a->second->nargs > 0) names.try_emplace(a->second, adjoint_name(b0));
  std::vector<const Node*> roots{loss};
  roots.insert(roots.end(), grads.begin(), grads.end());
  Printed pr = print(roots, f, &names);
  std::string out;
  const char* eq = f == Format::Latex ? " &= " : " = ";
  if (f == Format::Latex) out += "\\begin{aligned}\n";
  auto line = [&](const std::string& l, const std::string& r) {
    out += l + eq + r + (f == Format::Latex ? " \\\\\n" : "\n");
  };
  line(name_of("L"), pr.results[0]);
  for (auto& [t, def] : pr.temps) line(t, def);
  for (std::size_t i = 0; i < wrt.size(); ++i) line(adjoint_name(wrt[i]->name), pr.results[1 + i]);
  if (f == Format::Latex) out += "\\end{aligned}\n";
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

namespace {

// The progress line on a terminal's standard error: redrawn about 10 times a second whatever
// the epochs' length, fitted to the terminal's width (one column short of it, so that it never
// wraps), erased before each log line on standard output and at the end.
class Progress {
 public:
  Progress(std::int64_t first_epoch, std::int64_t last_epoch, std::int64_t first_step, std::int64_t steps_per_epoch)
      : first_epoch_(first_epoch), last_epoch_(last_epoch), first_step_(first_step), steps_per_epoch_(steps_per_epoch),
        t0_(std::chrono::steady_clock::now()) {}

  void step(std::int64_t epoch, std::int64_t step, double loss) {
    epoch_ = epoch, step_ = step, loss_ = loss;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw();
  }
  void metric(double m) { metric_ = m; }
  void erase() {
    if (!drawn_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }
  void redraw() { draw(); }

 private:
  void draw() {
    if (step_ < 0) return;
    struct winsize ws {};
    int cols = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    std::size_t room = static_cast<std::size_t>(std::max(cols - 1, 10));
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    double steps = static_cast<double>(step_ - first_step_);
    double total = static_cast<double>(steps_per_epoch_) * static_cast<double>(last_epoch_ - first_epoch_ + 1);
    double done = total > 0 ? std::min(1.0, steps / total) : 1.0;
    std::string eta = done > 0 && secs > 0 ? fmt::format("ETA {:.1f} s", secs * (1 - done) / done) : "ETA -";
    // On a narrow terminal the bar goes first, then steps/s, then the metric.
    std::string head = fmt::format("epoch {}/{}  loss {:.6g}", epoch_, last_epoch_, loss_);
    std::string metric = std::isnan(metric_) ? "" : fmt::format("  accuracy {:.4f}", metric_);
    std::string speed = fmt::format("  {:.0f} steps/s", secs > 0 ? steps / secs : 0.0);
    std::string text = head + metric + speed + "  " + eta;
    if (text.size() > room) text = head + metric + "  " + eta;
    if (text.size() > room) text = head + "  " + eta;
    std::string line = text;
    if (text.size() + 13 <= room) {  // a bar of at least 10 cells fits
      std::size_t cells = std::min<std::size_t>(30, room - text.size() - 3);
      std::size_t full = static_cast<std::size_t>(done * static_cast<double>(cells));
      line = "[" + std::string(full, '#') + std::string(cells - full, '.') + "] " + text;
    } else if (line.size() > room) {
      line.resize(room);
    }
    std::fputs(("\r" + line + "\033[K").c_str(), stderr);
    std::fflush(stderr);
    drawn_ = true;
  }

  std::int64_t first_epoch_, last_epoch_, first_step_, steps_per_epoch_;
  std::int64_t epoch_ = 0, step_ = -1;
  double loss_ = NAN, metric_ = NAN;
  std::chrono::steady_clock::time_point t0_, last_draw_;
  bool drawn_ = false;
};

}  // namespace

int cmd_train(const Options& o) {
  // Checked before training, so a misnamed file does not cost the run (save_params picks JSON
  // or .npz by the same extension).
  output_format("train", "--save", o.save, {"json", "npz"}, "", "json");
  auto m = load(o);
  if (!m->training) throw UsageError(fmt::format("{} has no 'train' block", o.file));
  if (o.log_every && *o.log_every < 1)
    throw UsageError(fmt::format("--log-every: expected a whole number of epochs of at least 1, not {}", *o.log_every));
  auto jit = Jit::create({.threads = o.threads, .cache_dir = jit_cache_dir(o)});
  TrainOptions opts;
  opts.lr = o.lr, opts.epochs = o.epochs, opts.batch = o.batch, opts.seed = o.seed;
  if (o.no_shuffle) opts.shuffle = false;
  opts.dtype = o.dtype == "f32" ? DType::F32 : DType::F64;
  // Rows for --log (the lines on stdout stay on the file's log_every schedule).
  if (!o.log.empty()) opts.record_every = o.log_every ? *o.log_every : kRecordShortRuns;
  if (!o.resume.empty()) {
    Checkpoint c = load_checkpoint(o.resume, m->params, m->training->optimizer.kind);
    opts.start = std::move(c.params);
    opts.state = std::move(c.optimizer);
    if (!opts.state)
      std::fputs(fmt::format("gradc: note: '{}' holds no optimizer state: the optimizer starts fresh at epoch 1\n", o.resume).c_str(),
                 stderr);
  }
  OptimizerState before = opts.state.value_or(OptimizerState{});  // where a resumed run left off
  catch_interrupts();
  opts.stop = interrupted;
  std::optional<Progress> bar;
  if (!o.quiet && ::isatty(STDERR_FILENO)) {
    opts.on_step = [&bar](std::int64_t epoch, std::int64_t step, double loss) { bar->step(epoch, step, loss); };
  }
  Trainer trainer(*m, *jit, opts);
  if (opts.on_step) {
    std::int64_t per_epoch = (trainer.rows() + trainer.config().batch - 1) / trainer.config().batch;
    bar.emplace(before.epoch + 1, before.epoch + trainer.config().epochs, before.step, per_epoch);
  }
  const bool shared = ::isatty(STDOUT_FILENO);  // stdout and the progress line on one screen
  std::string csv = "epoch,step,loss,metric\n";
  auto line = [&](const LogLine& l, std::int64_t) {
    if (l.recorded)
      csv += fmt::format("{},{},{},{}\n", l.epoch, l.step, num(l.loss), std::isnan(l.metric) ? "" : num(l.metric));
    if (bar) bar->metric(l.metric);
    if (o.quiet || !l.shown) return;
    std::string metric = std::isnan(l.metric) ? "" : fmt::format("  accuracy {:.4f}", l.metric);
    if (bar && shared) bar->erase();  // the log line goes where the progress line is
    std::fputs(fmt::format("epoch {:>6}  step {:>7}  loss {:.6g}{}  lr {:.4g}\n", l.epoch, l.step, l.loss, metric, l.lr).c_str(),
               stdout);
    std::fflush(stdout);  // a pipe or a file sees each line as it comes
    if (bar && shared) bar->redraw();
  };
  TrainResult r = trainer.run(line);
  if (!o.log.empty()) write_file_atomic(o.log, csv);
  if (!o.save.empty()) save_params(o.save, m->params, r.params, &r.optimizer);
  if (bar) bar->erase();
  if (r.interrupted) {
    std::fflush(stdout);
    std::fputs(fmt::format("gradc: interrupted at epoch {}, step {} of {}; {}\n", r.epoch, r.epoch_step, r.epoch_steps,
                           o.save.empty() ? "nothing saved (no --save)" : "saved " + o.save)
                   .c_str(),
               stderr);
    return kExitInterrupted;
  }
  if (r.diverged) {
    std::fflush(stdout);
    std::fputs(message("gradc", "error",
                       fmt::format("{}: training diverged at epoch {}, step {} with learning rate {}: the loss is {}{}", o.file,
                                   r.epoch, r.step, r.lr, num(r.loss),
                                   o.save.empty() ? "" : fmt::format("; the last finite parameters are saved in {}", o.save)))
                   .c_str(),
               stderr);
    return kExitDiverged;
  }
  if (!o.quiet) {
    const LogLine& last = r.log.back();
    std::string span = !before.epoch                      ? fmt::format("{} epoch{}", last.epoch, last.epoch == 1 ? "" : "s")
                       : before.epoch + 1 == last.epoch ? fmt::format("epoch {}", last.epoch)
                                                        : fmt::format("epochs {} to {}", before.epoch + 1, last.epoch);
    std::int64_t steps = last.step - before.step;
    std::fputs(fmt::format("trained {} ({} step{}, {:.0f} steps/s): loss {:.6g}{}\n", span, steps, steps == 1 ? "" : "s",
                           r.steps_per_second, last.loss,
                           std::isnan(last.metric) ? "" : fmt::format(", accuracy {:.4f}", last.metric))
                   .c_str(),
               stdout);
  }
  return kExitOk;
}

// Runs a layer (or a one-argument function) on the rows of a CSV file with trained parameters.
int cmd_predict(const Options& o) {
  auto m = load(o);
  std::string name = o.fn;
  if (name.empty()) {
    auto layers = m->layer_names();
    if (layers.size() != 1)
      throw UsageError(fmt::format("{} has {} layers: choose the network with --fn", o.file, layers.size()));
    name = layers[0];
  }
  std::vector<Tensor> params = load_params(o.params, m->params);
  Table t = read_csv(o.data);
  // The feature columns the network was trained on (a CSV data set's), else every column.
  std::vector<std::string> features;
  for (const Data& d : m->data)
    if (!d.features.empty()) {
      features = d.features;
      break;
    }
  if (features.empty()) features = t.columns;
  std::vector<std::size_t> col;
  for (const std::string& f : features) {
    auto it = std::find(t.columns.begin(), t.columns.end(), f);
    if (it == t.columns.end())
      throw Diagnostic(t.source.format(Loc{0}, "error", fmt::format("no column '{}' (the network's inputs: {})", f, join(features))),
                       kExitInputError);
    col.push_back(static_cast<std::size_t>(it - t.columns.begin()));
  }
  std::int64_t rows = static_cast<std::int64_t>(t.rows()), w = static_cast<std::int64_t>(t.columns.size());
  const Node* x = m->graph.var("input", Shape{static_cast<std::int32_t>(rows), static_cast<std::int32_t>(features.size())});
  SourceFile diag{m->source.path, m->source.text};
  // A CSV with the wrong number of columns is the CSV's error, not the network's: find the
  // width the network takes and say so.
  bool fits = true;
  try {
    m->apply(name, x);
  } catch (const std::exception&) {
    fits = false;
  }
  if (!fits) {
    for (std::int32_t k = 1; k <= 4096; ++k) {
      try {
        m->apply(name, m->graph.var("probe", Shape{1, k}));
      } catch (const std::exception&) {
        continue;
      }
      if (static_cast<std::size_t>(k) != features.size())
        throw Diagnostic(t.source.format(Loc{0}, "error",
                                         fmt::format("{} column{} ({}), but '{}' takes {} input{} per row", features.size(),
                                                     features.size() == 1 ? "" : "s", join(features), name, k, k == 1 ? "" : "s")),
                         kExitInputError);
      break;
    }
  }
  const Node* y = located_in(diag, [&] { return m->apply(name, x); });
  if (y->shape.rank != 2 || y->shape[0] != rows)
    throw UsageError(fmt::format("'{}' gives shape {} for {} rows; predict needs one output row per input row", name,
                                 y->shape.str(), rows));
  std::vector<const Node*> inputs;
  for (const Param& p : m->params) inputs.push_back(p.var);
  inputs.push_back(x);
  auto jit = Jit::create({.threads = o.threads, .cache_dir = jit_cache_dir(o)});
  Kernel k = jit->compile(KernelSpec{"predict", inputs, std::vector<const Node*>{y}, false});
  std::vector<double> in;
  for (const Tensor& p : params) in.insert(in.end(), p.data.begin(), p.data.end());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::size_t c : col) in.push_back(t.values[static_cast<std::size_t>(r * w) + c]);
  std::vector<double> out(static_cast<std::size_t>(y->shape.size()));
  k.single(in.data(), out.data());
  std::int64_t n = y->shape[1];
  std::string csv = join(features, ",");
  for (std::int64_t j = 0; j < n; ++j) csv += fmt::format(",{}{}", name, n == 1 ? "" : std::to_string(j));
  if (n > 1) csv += ",class";
  csv += "\n";
  for (std::int64_t r = 0; r < rows; ++r) {
    std::string line;
    for (std::size_t c = 0; c < col.size(); ++c) line += (c ? "," : "") + num(t.values[static_cast<std::size_t>(r * w) + col[c]]);
    std::int64_t best = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      double v = out[static_cast<std::size_t>(r * n + j)];
      line += "," + num(v);
      if (v > out[static_cast<std::size_t>(r * n + best)]) best = j;
    }
    if (n > 1) line += fmt::format(",{}", best);
    csv += line + "\n";
  }
  if (o.out.empty()) {
    std::fwrite(csv.data(), 1, csv.size(), stdout);
  } else {
    write_file_atomic(o.out, csv);
  }
  return kExitOk;
}

// Checks the training step of a network at its initial parameters: for up to 8 elements of each
// parameter (spread over it), the compiled gradient against central differences (Richardson,
// step 1e-6) of the compiled loss over all rows.
int check_training(Module& m, const Options& o) {
  auto jit = Jit::create({.cache_dir = jit_cache_dir(o)});
  TrainOptions opts;
  opts.metric = false;
  Trainer t(m, *jit, opts);
  std::vector<Tensor> params = initialize(m.params, t.config().seed);
  std::vector<Tensor> at = t.step_at(params, t.rows());
  auto loss = [&](std::size_t p, std::size_t e, double delta) {
    std::vector<Tensor> moved = params;
    moved[p].data[e] += delta;
    return t.step_at(moved, t.rows())[0].data[0];
  };
  bool ok = true, kinks = false;
  std::string out = fmt::format("{:<14} {:>24} {:>24} {:>10}\n", "parameter", "compiled", "finite difference", "rel. error");
  for (std::size_t p = 0; p < params.size(); ++p) {
    std::size_t n = params[p].data.size(), stride = std::max<std::size_t>(1, n / 8);
    for (std::size_t e = 0; e < n; e += stride) {
      // A small step: ReLU networks have kinks, and a wide step would straddle some of them.
      double h = 1e-6 * std::max(1.0, std::fabs(params[p].data[e]));
      double g = at[1 + p].data[e];
      PartialCheck c = check_partial([&](double t) { return loss(p, e, t); }, g, h, o.tol);
      ok = ok && c.good;
      kinks = kinks || c.kink;
      out += fmt::format("{:<14} {:>24} {:>24} {:>10.2e}{}\n", fmt::format("{}[{}]", m.params[p].name, e), num(g), num(c.fd),
                         c.rel, check_note(c));
    }
  }
  std::fputs(out.c_str(), stdout);
  if (!ok) {
    std::fflush(stdout);
    std::fputs(message("gradc", "error", fmt::format("the compiled gradients disagree with finite differences (tolerance {})", o.tol)).c_str(), stderr);
    return kExitCheckFailed;
  }
  std::fputs(fmt::format("ok: the training step's gradients match finite differences (tolerance {})\n", o.tol).c_str(), stdout);
  if (kinks) std::fputs(kKinkNote, stdout);
  return kExitOk;
}

}  // namespace gradc::cli
