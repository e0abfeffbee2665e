// Commands that draw the lecture's pictures: `field` (contours and gradient arrows of a
// function of two variables), `descent` (the iterates of gradient descent over the curve or the
// contours of L) and `sweep` (one run per learning rate, labelled, on one plot).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "cli/common.hpp"
#include "cli/interrupt.hpp"
#include "cli/output.hpp"
#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "runtime/descent.hpp"
#include "runtime/plot.hpp"
#include "runtime/train.hpp"

namespace gradc::cli {
namespace {

// A scalar function of one or two parameters, compiled for value and gradient.
struct Compiled {
  std::unique_ptr<Module> m;
  const Function* f = nullptr;
  std::unique_ptr<Jit> jit;
  Kernel k;
};

Compiled compile_scalar(const Options& o, const char* command, std::size_t max_params) {
  Compiled c;
  c.m = load(o);
  if (o.fn.empty() && c.m->training && max_params == 0) return c;
  const Function* f = nullptr;
  try {
    f = &choose(*c.m, o.fn);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("{}: {}", command, e.what()));
  }
  if (max_params && f->params.size() > max_params)
    throw UsageError(fmt::format("{} draws functions of at most {} variables; '{}' has {} ({})", command,
                                 max_params, f->name, f->params.size(), join(param_names(*f))));
  c.f = f;
  c.jit = Jit::create({.cache_dir = jit_cache_dir(o)});
  auto outs = derivative_outputs(*c.m, *f, false, !o.no_simplify);
  c.k = c.jit->compile(KernelSpec{f->name, f->params, outs, /*batch=*/false});
  return c;
}

std::vector<double> parse_numbers(const std::string& text, const char* what) {
  std::vector<double> v;
  for (auto& [off, piece] : split_top(text)) {
    std::string t;
    for (char ch : piece)
      if (ch != ' ') t += ch;
    char* end = nullptr;
    double x = t.empty() ? NAN : std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !std::isfinite(x))
      throw UsageError(fmt::format("{}: '{}' is not a number (expected a comma-separated list like 0.01,0.2)",
                                   what, piece));
    v.push_back(x);
  }
  if (v.empty()) throw UsageError(fmt::format("{}: expected at least one number", what));
  return v;
}

// "LOW:HIGH": two finite numbers, LOW < HIGH. Each part is its own string that outlives the
// strtod end pointer into it (a substr() temporary did not: a read of a dead stack buffer).
std::pair<double, double> parse_range(const std::string& r) {
  auto number = [](const std::string& text) -> std::optional<double> {
    char* end = nullptr;
    double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(v)) return std::nullopt;
    return v;
  };
  std::size_t colon = r.find(':');
  std::optional<double> a, b;
  if (colon != std::string::npos) {
    std::string low = r.substr(0, colon), high = r.substr(colon + 1);
    a = number(low);
    b = number(high);
  }
  if (!a || !b || !(*a < *b))
    throw UsageError(fmt::format("--range: expected LOW:HIGH, two finite numbers with LOW < HIGH, not '{}'", r));
  return {*a, *b};
}

void write_output(const std::string& text, const std::string& path) {
  if (path.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    write_file_atomic(path, text);
  }
}

// The point a fraction t of the way from a to b, also when b - a exceeds the largest double.
double lerp(double a, double b, double t) {
  return std::isfinite(b - a) ? a + (b - a) * t : a * (1 - t) + b * t;
}

double value_at(const Kernel& k, std::vector<double> w) {
  std::vector<double> out(1 + w.size());
  k.single(w.data(), out.data());
  return out[0];
}

// The point `base` with its parameters axes[0] and axes[1] set to x and y (just {x, y} when
// base is empty: a function of two variables).
std::vector<double> on_plane(const std::vector<double>& base, std::array<std::size_t, 2> axes, double x, double y) {
  if (base.empty()) return {x, y};
  std::vector<double> w = base;
  w[axes[0]] = x;
  w[axes[1]] = y;
  return w;
}

// L over a grid covering [x0, x1] x [y0, y1] (in the plane of `axes` through `base`).
Field sample_field(const Kernel& k, double x0, double x1, double y0, double y1, std::size_t n,
                   const std::vector<double>& base = {}, std::array<std::size_t, 2> axes = {0, 1}) {
  Field fld{x0, x1, y0, y1, n, n, {}, 12};
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t i = 0; i < n; ++i) {
      double x = lerp(x0, x1, static_cast<double>(i) / static_cast<double>(n - 1));
      double y = lerp(y0, y1, static_cast<double>(j) / static_cast<double>(n - 1));
      fld.z.push_back(value_at(k, on_plane(base, axes, x, y)));
    }
  return fld;
}

// --range: "LOW:HIGH" for both axes, or "XLOW:XHIGH,YLOW:YHIGH"; {x0, x1, y0, y1}.
std::array<double, 4> parse_ranges(const std::string& r) {
  std::size_t comma = r.find(',');
  if (comma == std::string::npos) {
    auto [lo, hi] = parse_range(r);
    return {lo, hi, lo, hi};
  }
  try {
    auto [x0, x1] = parse_range(r.substr(0, comma));
    auto [y0, y1] = parse_range(r.substr(comma + 1));
    return {x0, x1, y0, y1};
  } catch (const UsageError&) {
    throw UsageError(fmt::format("--range: expected XLOW:XHIGH,YLOW:YHIGH, finite numbers with LOW < HIGH on each "
                                 "axis, not '{}'",
                                 r));
  }
}

}  // namespace

// gradc field FILE [--fn NAME] [--at z=1] [--range -3:3 | -2:2,-1:3] [-o OUT.svg]
int cmd_field(const Options& o) {
  std::string format = output_format("field", "-o", o.out, {"svg", "png", "pdf"}, "", "svg");
  Compiled c = compile_scalar(o, "field", std::numeric_limits<std::size_t>::max());
  std::size_t n = c.f->params.size();
  if (n < 2) throw UsageError(fmt::format("field draws functions of two variables; '{}' has {}", c.f->name, n));
  // The axes: the two parameters --at leaves free; the others are fixed at their --at values.
  std::set<std::string> fixed;
  if (!o.at.empty())  // (split_top gives one empty piece for "")
    for (auto& [off, piece] : split_top(o.at)) {
      std::string name = piece.substr(0, piece.find('='));
      std::erase(name, ' ');
      fixed.insert(name);
    }
  std::vector<std::size_t> free;
  std::string plane;  // NAME=0 for each free parameter: resolve_point then reads and checks the rest
  for (std::size_t i = 0; i < n; ++i)
    if (!fixed.count(c.f->params[i]->name)) free.push_back(i), plane += "," + c.f->params[i]->name + "=0";
  for (const std::string& name : fixed)  // a name that is no parameter: resolve_point says so
    if (std::none_of(c.f->params.begin(), c.f->params.end(), [&](const Node* q) { return q->name == name; }))
      resolve_point(*c.m, *c.f, o.at);
  if (free.size() != 2)
    throw UsageError(fmt::format("field draws two variables; '{}' has {} ({}) and --at fixes {}: fix all but two "
                                 "with --at NAME=VALUE",
                                 c.f->name, n, join(param_names(*c.f)), n - free.size()));
  std::array<std::size_t, 2> axes{free[0], free[1]};
  std::vector<double> base;
  std::vector<std::string> at_text;
  if (n > 2 || !o.at.empty()) {  // (with two variables, an --at naming neither is refused here)
    base = resolve_point(*c.m, *c.f, o.at + plane);
    for (std::size_t i = 0; i < n; ++i)
      if (i != axes[0] && i != axes[1]) at_text.push_back(fmt::format("{} = {}", c.f->params[i]->name, num(base[i])));
  }
  auto [x0, x1, y0, y1] = parse_ranges(o.range);
  Plot p;
  p.title = fmt::format("{}({}){} and its gradient", c.f->name, join(param_names(*c.f)),
                        at_text.empty() ? "" : " at " + join(at_text));
  p.xlabel = c.f->params[axes[0]]->name;
  p.ylabel = c.f->params[axes[1]]->name;
  p.field = sample_field(c.k, x0, x1, y0, y1, 80, base, axes);
  p.field->log_levels = o.levels == "log";
  p.limits = std::array<double, 4>{x0, x1, y0, y1};
  constexpr int kArrows = 15;
  std::vector<double> out(1 + n);
  for (int j = 0; j < kArrows; ++j)
    for (int i = 0; i < kArrows; ++i) {
      double x = lerp(x0, x1, (i + 0.5) / kArrows), y = lerp(y0, y1, (j + 0.5) / kArrows);
      std::vector<double> w = on_plane(base, axes, x, y);
      c.k.single(w.data(), out.data());
      double gx = out[1 + axes[0]], gy = out[1 + axes[1]];  // the gradient's part in the plane
      if (std::isfinite(gx) && std::isfinite(gy)) p.arrows.push_back(Arrow{x, y, gx, gy});
    }
  if (o.out.empty()) throw UsageError("field: give the SVG file with -o OUT.svg");
  write_plot(render_svg(p), o.out, format);
  return kExitOk;
}

// gradc descent FILE --lr X [--from w0] [--steps N] [--format svg|csv] [-o OUT]
// The learning rate (through the runtime's one check of hyperparameters) and the step count of
// gradient descent on a function.
void check_descent(double lr, std::int64_t steps, const char* steps_flag) {
  Optimizer opt;
  opt.lr = lr;
  Training t;
  t.batch = 1;
  if (auto bad = validate(opt, t)) throw UsageError(fmt::format("--lr: {}", bad->message));
  if (steps < 1 || steps > kMaxDescentSteps)
    throw UsageError(fmt::format("{}: the number of steps must be a whole number from 1 to {}, not {}", steps_flag,
                                 kMaxDescentSteps, steps));
}

int cmd_descent(const Options& o) {
  if (!o.lr) throw UsageError("descent: give the learning rate with --lr");
  check_descent(*o.lr, o.steps, "--steps");
  // Options' default format is "text", which descent does not accept: it means no --format given.
  std::string format =
      output_format("descent", "-o", o.out, {"svg", "png", "pdf", "csv"}, o.format == "text" ? "" : o.format, "svg");
  catch_interrupts();
  Compiled c = compile_scalar(o, "descent", 2);
  std::size_t n = c.f->params.size();
  std::vector<std::vector<double>> starts;
  for (const std::string& s : o.from) {
    std::vector<double> w = parse_numbers(s, "--from");
    if (w.size() != n)
      throw UsageError(fmt::format("--from: '{}' gives {} values; '{}' has {} parameters ({})", s, w.size(), c.f->name, n,
                                   join(param_names(*c.f))));
    starts.push_back(w);
  }
  if (starts.empty()) starts.push_back(resolve_point(*c.m, *c.f, o.at));
  std::vector<Trajectory> runs;
  for (const auto& w0 : starts) runs.push_back(descend(c.k, w0, *o.lr, o.steps));
  if (interrupted()) {
    std::fputs("gradc: descent interrupted; nothing written\n", stderr);
    return kExitInterrupted;
  }

  if (format == "csv") {
    std::string csv = "run,step";
    for (const Node* p : c.f->params) csv += "," + p->name;
    csv += ",loss";
    for (const Node* p : c.f->params) csv += ",d" + c.f->name + "_d" + p->name;  // as eval --points
    csv += "\n";
    for (std::size_t r = 0; r < runs.size(); ++r)
      for (std::size_t t = 0; t < runs[r].w.size(); ++t) {
        csv += fmt::format("{},{}", r + 1, t);
        for (double x : runs[r].w[t]) csv += "," + num(x);
        csv += "," + num(runs[r].loss[t]);
        for (double g : runs[r].grad[t]) csv += "," + num(g);
        csv += "\n";
      }
    write_output(csv, o.out);
    return kExitOk;
  }
  Plot p;
  p.title = fmt::format("Gradient descent on {} with learning rate {}", c.f->name, num(*o.lr));
  if (n == 1) {
    // The curve L(w) over the iterates' range, and each step as an arrow along it.
    double lo = runs[0].w[0][0], hi = lo;
    for (const Trajectory& t : runs)
      for (const auto& w : t.w)
        if (std::isfinite(w[0])) lo = std::min(lo, w[0]), hi = std::max(hi, w[0]);
    double pad = std::max(0.25 * (hi - lo), 0.5);
    Series curve{c.f->name + "(" + c.f->params[0]->name + ")", {}, {}, false, false, false, ""};
    double span = hi - lo + 2 * pad, a = std::max(lo - pad, -DBL_MAX), b = std::min(hi + pad, DBL_MAX);
    for (int i = 0; i <= 200; ++i) {
      double w = std::isfinite(span) ? lo - pad + span * i / 200.0 : lerp(a, b, i / 200.0);
      curve.x.push_back(w);
      curve.y.push_back(value_at(c.k, {w}));
    }
    // Where L overflows at the ends of a diverged run's range the curve just stops: it is a
    // function, not a run that diverged (whose steps end in inf and are marked so).
    while (!curve.y.empty() && !std::isfinite(curve.y.back())) curve.x.pop_back(), curve.y.pop_back();
    p.series.push_back(curve);
    p.xlabel = c.f->params[0]->name;
    p.ylabel = c.f->name;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      Series s{fmt::format("steps from {} = {}", c.f->params[0]->name, num(runs[r].w[0][0])), {}, {}, true, true, false, ""};
      for (std::size_t t = 0; t < runs[r].w.size(); ++t) s.x.push_back(runs[r].w[t][0]), s.y.push_back(runs[r].loss[t]);
      p.series.push_back(s);
    }
  } else {
    // The contours of L around the trajectories, each trajectory with its steps as arrows.
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const Trajectory& t : runs)
      for (const auto& w : t.w)
        if (std::isfinite(w[0]) && std::isfinite(w[1]))
          x0 = std::min(x0, w[0]), x1 = std::max(x1, w[0]), y0 = std::min(y0, w[1]), y1 = std::max(y1, w[1]);
    double px = std::max(0.2 * (x1 - x0), 0.5), py = std::max(0.2 * (y1 - y0), 0.5);
    x0 -= px, x1 += px, y0 -= py, y1 += py;
    p.field = sample_field(c.k, x0, x1, y0, y1, 100);
    p.limits = std::array<double, 4>{x0, x1, y0, y1};
    p.xlabel = c.f->params[0]->name;
    p.ylabel = c.f->params[1]->name;
    for (const Trajectory& t : runs) {
      Series s{fmt::format("from ({}, {})", num(t.w[0][0]), num(t.w[0][1])), {}, {}, true, true, false, ""};
      for (const auto& w : t.w) s.x.push_back(w[0]), s.y.push_back(w[1]);
      if (!std::isfinite(t.loss.back())) s.x.push_back(NAN), s.y.push_back(NAN);  // diverged: marked
      p.series.push_back(s);
    }
  }
  if (o.out.empty()) throw UsageError("descent: give the SVG file with -o OUT.svg (or --format csv)");
  write_plot(render_svg(p), o.out, format);
  return kExitOk;
}

// gradc sweep FILE --lr 0.01,0.2,0.8,1.1 [--epochs N] [-o OUT.svg] [--csv OUT.csv]
// One convention for the x axis: a training program's runs count epochs from 1 (as `train --log`
// does), a function's count steps from 0 (the starting point, as `descent --format csv` does).
int cmd_sweep(const Options& o) {
  std::vector<double> rates = parse_numbers(o.lr_list, "--lr");
  std::string format = output_format("sweep", "-o", o.out, {"svg", "png", "pdf"}, "", "svg");
  catch_interrupts();
  auto m = load(o);
  const bool training = m->training && o.fn.empty();
  if (!training)  // a function (a training program's Trainers check their own)
    for (double r : rates) check_descent(r, o.epochs ? *o.epochs : o.steps, "--epochs");
  std::vector<std::vector<double>> curves(rates.size());  // loss per step or epoch
  std::vector<std::vector<std::int64_t>> at(rates.size());  // its epoch or step numbers
  std::vector<Behaviour> labels(rates.size());
  std::string unit;
  if (training) {
    // A training program: one Trainer per rate, compiled here, run in parallel.
    unit = "epoch";
    auto jit = Jit::create({.cache_dir = jit_cache_dir(o)});
    std::vector<std::unique_ptr<Trainer>> trainers;
    for (double r : rates) {
      TrainOptions opts;
      opts.lr = r;
      opts.metric = false;
      opts.record_every = 1;
      opts.stop = interrupted;
      if (o.epochs) opts.epochs = *o.epochs;
      trainers.push_back(std::make_unique<Trainer>(*m, *jit, opts));
      trainers.back()->prepare();
    }
    std::vector<std::thread> pool;
    std::size_t next = 0, workers = std::max(1u, std::thread::hardware_concurrency());
    std::mutex mu;
    for (std::size_t w = 0; w < std::min(workers, rates.size()); ++w)
      pool.emplace_back([&] {
        for (;;) {
          std::size_t i;
          {
            std::lock_guard lock(mu);
            if (next == rates.size()) return;
            i = next++;
          }
          TrainResult r = trainers[i]->run(nullptr);
          for (const LogLine& l : r.log) curves[i].push_back(l.loss), at[i].push_back(l.epoch);
          if (r.diverged) curves[i].push_back(r.loss), at[i].push_back(r.epoch);
        }
      });
    for (std::thread& t : pool) t.join();
    double best = best_final_loss(curves);
    for (std::size_t i = 0; i < rates.size(); ++i) labels[i] = classify_losses(curves[i], best);
  } else {
    unit = "step";
    Compiled c = compile_scalar(o, "sweep", 0);
    std::vector<double> w0 = resolve_point(*c.m, *c.f, o.at);
    std::int64_t steps = o.epochs ? *o.epochs : o.steps;
    for (std::size_t i = 0; i < rates.size() && !interrupted(); ++i) {
      Trajectory t = descend(c.k, w0, rates[i], steps);
      curves[i] = t.loss;
      for (std::size_t s = 0; s < t.loss.size(); ++s) at[i].push_back(static_cast<std::int64_t>(s));
      labels[i] = classify(t);
    }
  }
  if (interrupted()) {
    std::fputs("gradc: sweep interrupted; nothing written\n", stderr);
    return kExitInterrupted;
  }
  // The suggestion: the lowest final loss of the runs that did not diverge; of equal ones, the
  // run that first came within 1e-3 of its start (the fastest), then the larger rate.
  std::optional<std::size_t> pick;
  auto first_below = [&](std::size_t i) {
    for (std::size_t t = 0; t < curves[i].size(); ++t)
      if (curves[i][t] <= 1e-3 * curves[i].front()) return t;
    return curves[i].size();
  };
  for (std::size_t i = 0; i < rates.size(); ++i) {
    if (labels[i] == Behaviour::Diverged) continue;
    if (!pick) {
      pick = i;
      continue;
    }
    double a = curves[i].back(), b = curves[*pick].back();
    std::size_t fa = first_below(i), fb = first_below(*pick);
    if (a < b || (a == b && (fa < fb || (fa == fb && rates[i] > rates[*pick])))) pick = i;
  }
  std::string text;
  for (std::size_t i = 0; i < rates.size(); ++i)
    text += fmt::format("lr {:<8} {:<12} loss {} -> {} after {} {}s\n", num(rates[i]), behaviour_name(labels[i]),
                        num(curves[i].front()), num(curves[i].back()), at[i].back(), unit);
  text += pick ? fmt::format("suggested learning rate: {} (the lowest final loss, {}, of the runs that did not diverge)\n",
                             num(rates[*pick]), num(curves[*pick].back()))
               : std::string("suggested learning rate: none of these (every run diverged)\n");
  std::fputs(text.c_str(), stdout);

  if (!o.csv.empty()) {
    std::string csv = "lr,label," + unit + ",loss\n";
    for (std::size_t i = 0; i < rates.size(); ++i)
      for (std::size_t t = 0; t < curves[i].size(); ++t)
        csv += fmt::format("{},{},{},{}\n", num(rates[i]), behaviour_name(labels[i]), at[i][t], num(curves[i][t]));
    write_file_atomic(o.csv, csv);
  }
  if (!o.out.empty()) {
    Plot p;
    p.title = "Loss for each learning rate";
    p.xlabel = unit;
    p.ylabel = "loss";
    double lo = INFINITY, hi = 0;
    for (std::size_t i = 0; i < rates.size(); ++i) {
      Series s{fmt::format("lr {} ({})", num(rates[i]), behaviour_name(labels[i])), {}, {}, false, false, false, ""};
      for (std::size_t t = 0; t < curves[i].size(); ++t) {
        s.x.push_back(static_cast<double>(at[i][t]));
        s.y.push_back(curves[i][t]);
        if (std::isfinite(curves[i][t]) && curves[i][t] > 0) lo = std::min(lo, curves[i][t]), hi = std::max(hi, curves[i][t]);
      }
      p.series.push_back(s);
    }
    p.log_y = hi > 1e3 * lo;  // the range calls for a log scale
    write_plot(render_svg(p), o.out, format);
  }
  return kExitOk;
}

// gradc plot LOG.csv [LOG2.csv ...] -o OUT.svg: the loss of each `train --log` file over its
// epochs, and its metric (dashed) when it has one.
int cmd_plot(const Options& o) {
  if (o.out.empty()) throw UsageError("plot: give the SVG file with -o OUT.svg");
  Plot p;
  p.title = "Training loss";
  p.xlabel = "epoch";
  p.ylabel = "loss";
  double lo = INFINITY, hi = 0;
  for (const std::string& path : o.logs) {
    SourceFile src = load_source(path);
    const std::string& t = src.text;
    std::size_t at = 0, rows = 0;
    Series loss{path, {}, {}, false, false, false, ""}, metric{path + ": metric", {}, {}, false, false, true, ""};
    bool header = true;
    while (at < t.size()) {
      std::size_t end = t.find('\n', at);
      if (end == std::string::npos) end = t.size();
      std::string line = t.substr(at, end - at);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      Loc loc{static_cast<std::uint32_t>(at)};
      at = end + 1;
      if (line.empty()) continue;
      if (header) {
        if (line != "epoch,step,loss,metric")
          throw Diagnostic(src.format(loc, "error", "expected the header 'epoch,step,loss,metric' of a 'gradc train --log' file"),
                           kExitInputError);
        header = false;
        continue;
      }
      std::vector<std::string> cells(1);
      for (char c : line) {
        if (c == ',') cells.emplace_back();
        else cells.back().push_back(c);
      }
      auto number = [](const std::string& c) {
        char* e = nullptr;
        double v = c.empty() ? NAN : std::strtod(c.c_str(), &e);
        return c.empty() || *e != '\0' ? NAN : v;
      };
      bool ok = cells.size() == 4;
      double epoch = ok ? number(cells[0]) : NAN, l = ok ? number(cells[2]) : NAN, m = ok ? number(cells[3]) : NAN;
      if (!ok || !std::isfinite(epoch) || !std::isfinite(l) || (!cells[3].empty() && !std::isfinite(m)))
        throw Diagnostic(src.format(loc, "error", "expected a row epoch,step,loss,metric of finite numbers (the metric may be empty)"),
                         kExitInputError);
      loss.x.push_back(epoch), loss.y.push_back(l);
      if (std::isfinite(l) && l > 0) lo = std::min(lo, l), hi = std::max(hi, l);
      if (!cells[3].empty()) metric.x.push_back(epoch), metric.y.push_back(m);
      ++rows;
    }
    if (header || rows == 0)
      throw Diagnostic(src.format(Loc{0}, "error", "no rows: expected a 'gradc train --log' file (epoch,step,loss,metric)"),
                       kExitInputError);
    p.series.push_back(loss);
    if (!metric.x.empty()) p.series.push_back(metric);
  }
  p.log_y = hi > 1e3 * lo;  // the range calls for a log scale
  write_file_atomic(o.out, render_svg(p));
  return kExitOk;
}

}  // namespace gradc::cli
