// The training runtime.
#include "runtime/train.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "runtime/update.hpp"

namespace gradc {

std::uint64_t Rng::next() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (spare_) {
    double v = *spare_;
    spare_.reset();
    return v;
  }
  double u1 = 1.0 - uniform(), u2 = uniform();  // u1 in (0, 1]
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2 * std::numbers::pi * u2);
  return r * std::cos(2 * std::numbers::pi * u2);
}

std::uint64_t Rng::below(std::uint64_t n) { return static_cast<std::uint64_t>(uniform() * static_cast<double>(n)); }

std::vector<Tensor> initialize(const std::vector<Param>& params, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Tensor> out;
  for (const Param& p : params) {
    Tensor t{p.shape, std::vector<double>(static_cast<std::size_t>(p.shape.size()))};
    // Weights are [fan_in, fan_out] (x @ W); a vector's fans are its length.
    double fan_in = p.shape.rank >= 1 ? p.shape[0] : 1;
    double fan_out = p.shape.rank >= 2 ? p.shape[1] : fan_in;
    for (double& v : t.data) {
      switch (p.init.kind) {
        case Init::Zeros: v = 0; break;
        case Init::Ones: v = 1; break;
        case Init::Constant: v = p.init.a; break;
        case Init::Normal: v = p.init.a + p.init.b * rng.normal(); break;
        case Init::Uniform: v = p.init.a + (p.init.b - p.init.a) * rng.uniform(); break;
        case Init::He: v = std::sqrt(2.0 / fan_in) * rng.normal(); break;  // He et al. 2015
        case Init::Xavier: {  // Glorot and Bengio 2010, uniform
          double a = std::sqrt(6.0 / (fan_in + fan_out));
          v = -a + 2 * a * rng.uniform();
          break;
        }
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::optional<Invalid> validate(const Optimizer& opt, const Training& t) {
  auto bad = [](const char* setting, std::string message) { return Invalid{setting, std::move(message)}; };
  auto finite = [](double v) { return std::isfinite(v); };
  if (!finite(opt.lr) || !(opt.lr > 0))
    return bad("lr", fmt::format("the learning rate must be a finite number above 0, not {}", opt.lr));
  if (opt.kind == Optimizer::Sgd) {
    if (!finite(opt.momentum) || opt.momentum < 0)
      return bad("momentum", fmt::format("momentum must be a finite number of at least 0, not {}", opt.momentum));
    if (opt.nesterov && !(opt.momentum > 0)) return bad("nesterov", "nesterov needs a momentum above 0");
  } else {
    for (auto [name, v] : {std::pair{"beta1", opt.beta1}, std::pair{"beta2", opt.beta2}})
      if (!(v >= 0 && v < 1)) return bad(name, fmt::format("{} must be at least 0 and below 1, not {}", name, v));
    if (!finite(opt.eps) || !(opt.eps > 0))
      return bad("eps", fmt::format("eps must be a finite number above 0, not {}", opt.eps));
  }
  if (!finite(opt.weight_decay) || opt.weight_decay < 0)
    return bad("weight_decay", fmt::format("weight_decay must be a finite number of at least 0, not {}", opt.weight_decay));
  if (t.epochs < 1 || t.epochs > kMaxEpochs)
    return bad("epochs", fmt::format("the number of epochs must be a whole number from 1 to {}, not {}", kMaxEpochs, t.epochs));
  if (t.batch < 1) return bad("batch", fmt::format("the batch size must be at least 1, not {}", t.batch));
  return std::nullopt;
}

Trainer::Trainer(Module& m, Jit& jit, const TrainOptions& opts)
    : m_(m), jit_(jit), dtype_(opts.dtype), use_metric_(opts.metric), record_every_(opts.record_every) {
  if (!m.training) throw UsageError(fmt::format("{} has no 'train' block", m.source.path));
  cfg_ = *m.training;
  // The row count of the data the loss uses (checked equal across data sets by the lowering).
  std::vector<DataInput> inputs;
  m.lower(*cfg_.loss, 0, inputs);
  rows_ = 1;
  for (const DataInput& in : inputs) rows_ = in.source->shape.rank ? in.source->shape[0] : 1;
  if (opts.lr) cfg_.optimizer.lr = *opts.lr;
  if (opts.epochs) cfg_.epochs = *opts.epochs;
  if (opts.seed) cfg_.seed = *opts.seed;
  if (opts.shuffle) cfg_.shuffle = *opts.shuffle;
  if (opts.batch) {
    cfg_.batch = *opts.batch;
  } else if (cfg_.batch == 0) {
    cfg_.batch = rows_;  // the train block sets none: the whole data set
  }
  // A value out of range is the flag's fault when a flag gave it, else the train block's.
  if (auto bad = validate(cfg_.optimizer, cfg_)) {
    if ((bad->setting == "lr" && opts.lr) || (bad->setting == "epochs" && opts.epochs) || (bad->setting == "batch" && opts.batch))
      throw UsageError(fmt::format("--{}: {}", bad->setting, bad->message));
    auto at = cfg_.where.find(bad->setting);
    throw Diagnostic(m.source.format(at != cfg_.where.end() ? at->second : cfg_.loc, "error", bad->message), kExitInputError);
  }
  if (record_every_ == kRecordShortRuns) record_every_ = cfg_.epochs <= kShortRun ? 1 : 0;
  on_step_ = opts.on_step;
  cfg_.batch = std::min(cfg_.batch, rows_);  // a batch beyond the data is the whole data set, as in PyTorch
  start_ = opts.start.empty() ? initialize(m.params, cfg_.seed) : opts.start;
  state_.kind = cfg_.optimizer.kind;  // a fresh optimizer, unless resuming
  if (opts.state) state_ = *opts.state;
  // A resumed run ends within kMaxEpochs too; its step count stays far from overflow (each
  // epoch takes at most rows steps).
  if (state_.epoch < 0 || state_.epoch > kMaxEpochs - cfg_.epochs)
    throw UsageError(fmt::format("--resume: the checkpoint has completed {} epochs; {} more would pass the limit of {} epochs",
                                 state_.epoch, cfg_.epochs, kMaxEpochs));
  if (state_.step < 0 || state_.step > std::numeric_limits<std::int64_t>::max() / 2 - cfg_.epochs * rows_)
    throw UsageError(fmt::format("--resume: the checkpoint's step count {} is out of range", state_.step));
  if (state_.epoch_rows < 0 || state_.epoch_rows >= rows_ || !std::isfinite(state_.epoch_loss))
    throw UsageError(fmt::format("--resume: the checkpoint stopped after row {} of an epoch, but an epoch has {} rows",
                                 state_.epoch_rows, rows_));
  stop_ = opts.stop;
}

// The compiled step for minibatches of `rows` rows: loss and the gradient of every parameter.
Trainer::Step& Trainer::step_for(std::int64_t rows) {
  for (std::size_t i = 0; i < step_rows_.size(); ++i)
    if (step_rows_[i] == rows) return *steps_[i];
  auto s = std::make_unique<Step>();
  const Node* loss = m_.lower(*cfg_.loss, rows, s->data);
  Builder b(m_.graph, Simplify::Fold);
  std::vector<const Node*> inputs;
  for (const Param& p : m_.params) inputs.push_back(p.var);
  for (const DataInput& d : s->data) inputs.push_back(d.var);
  std::vector<const Node*> outputs = value_and_derivatives(b, loss, std::vector<const Node*>(inputs.begin(), inputs.begin() + static_cast<std::ptrdiff_t>(m_.params.size())), false);
  for (const Node* n : inputs) s->in_size += static_cast<std::size_t>(n->shape.size());
  for (const Node* n : outputs) s->out_size += static_cast<std::size_t>(n->shape.size());
  s->kernel = compile(fmt::format("step{}", rows), inputs, outputs);
  steps_.push_back(std::move(s));
  step_rows_.push_back(rows);
  return *steps_.back();
}

// outputs(inputs) compiled in the run's element type (for F32, the graph's f32 twin).
Kernel Trainer::compile(const std::string& name, std::vector<const Node*> inputs, std::vector<const Node*> outputs) {
  if (dtype_ != DType::F64) {
    inputs = retype(m_.graph, inputs, dtype_);
    outputs = retype(m_.graph, outputs, dtype_);
  }
  return jit_.compile(KernelSpec{name, inputs, outputs, /*batch=*/false, dtype_});
}

// Packs parameters and the selected data rows, runs the step, returns the loss; grads receives
// the flattened gradients (parameter order).
double Trainer::call(Step& s, const std::vector<Tensor>& params, const std::vector<std::int64_t>& idx,
                     std::vector<double>& grads) {
  std::vector<double> in;
  in.reserve(s.in_size);
  for (const Tensor& p : params) in.insert(in.end(), p.data.begin(), p.data.end());
  for (const DataInput& d : s.data) {
    const Tensor& t = *d.source;
    std::size_t row = t.shape.rank ? static_cast<std::size_t>(t.shape.size() / t.shape[0]) : 1;
    for (std::int64_t r : idx) in.insert(in.end(), t.data.begin() + r * row, t.data.begin() + (r + 1) * row);
  }
  std::vector<double> out(s.out_size);
  run_kernel(s.kernel, in, out);
  grads.assign(out.begin() + 1, out.end());
  return out[0];
}

void Trainer::run_kernel(const Kernel& k, const std::vector<double>& in, std::vector<double>& out) {
  if (dtype_ == DType::F64) return k.single(in.data(), out.data());
  std::vector<float> fin(in.begin(), in.end()), fout(out.size());
  k.single_f32(fin.data(), fout.data());
  out.assign(fout.begin(), fout.end());
}

std::vector<Tensor> Trainer::step_at(const std::vector<Tensor>& params, std::int64_t rows) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) idx[i] = i;
  std::vector<double> g;
  double loss = call(step_for(rows), params, idx, g);
  std::vector<Tensor> out{Tensor::scalar(loss)};
  std::size_t off = 0;
  for (const Tensor& p : params) {
    out.push_back(Tensor{p.shape, std::vector<double>(g.begin() + off, g.begin() + off + p.data.size())});
    off += p.data.size();
  }
  return out;
}

void Trainer::prepare() {
  step_for(cfg_.batch);
  if (rows_ % cfg_.batch) step_for(rows_ % cfg_.batch);
  if (use_metric_ && cfg_.accuracy_pred) accuracy(start_);
}

double Trainer::accuracy(const std::vector<Tensor>& params) {
  if (!cfg_.accuracy_pred || !use_metric_) return std::nan("");
  if (!metric_) {
    metric_ = std::make_unique<Metric>();
    const Node* pred = m_.lower(*cfg_.accuracy_pred, 0, metric_->data);
    const Node* target = m_.lower(*cfg_.accuracy_target, 0, metric_->data);
    std::vector<const Node*> inputs;
    for (const Param& p : m_.params) inputs.push_back(p.var);
    for (const DataInput& d : metric_->data) inputs.push_back(d.var);
    for (const Node* n : inputs) metric_->in_size += static_cast<std::size_t>(n->shape.size());
    metric_->pred = pred->shape;
    metric_->target = target->shape;
    metric_->pred_size = static_cast<std::size_t>(pred->shape.size());
    metric_->target_size = static_cast<std::size_t>(target->shape.size());
    metric_->kernel = compile("metric", inputs, {pred, target});
  }
  Metric& mt = *metric_;
  std::vector<double> in;
  for (const Tensor& p : params) in.insert(in.end(), p.data.begin(), p.data.end());
  for (const DataInput& d : mt.data) in.insert(in.end(), d.source->data.begin(), d.source->data.end());
  std::vector<double> out(mt.pred_size + mt.target_size);
  run_kernel(mt.kernel, in, out);
  const double* pred = out.data();
  const double* target = out.data() + mt.pred_size;
  std::int64_t n = mt.pred[0], c = mt.pred[1];
  std::int64_t tc = mt.target.rank == 2 ? mt.target[1] : 1;
  auto argmax = [](const double* v, std::int64_t k) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < k; ++j)
      if (v[j] > v[best]) best = j;
    return best;
  };
  std::int64_t right = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (c == 1) {  // one output: a probability or a 0/1 regression, thresholded at 0.5
      right += (pred[i] > 0.5) == (target[i * tc] > 0.5);
    } else {
      // A label that is not a class index (a computed target, even 1e300) matches no class.
      double t = target[i];
      std::int64_t label = tc > 1 ? argmax(target + i * tc, tc)
                                  : (t >= 0 && t < static_cast<double>(c) && t == std::floor(t) ? static_cast<std::int64_t>(t) : -1);
      right += argmax(pred + i * c, c) == label;
    }
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

namespace {

// The kernel entry point for the element type T.
template <class T>
auto entry(const Kernel& k) {
  if constexpr (std::is_same_v<T, float>) {
    return k.single_f32;
  } else {
    return k.single;
  }
}

}  // namespace

TrainResult Trainer::run(const std::function<void(const LogLine&, std::int64_t)>& on_log) {
  return dtype_ == DType::F32 ? run_typed<float>(on_log) : run_typed<double>(on_log);
}

// The loop keeps everything in T: the parameters live at the start of the kernel's input
// buffer (every step kernel reads them there, then its data rows), and are updated in place;
// buffers are allocated once; minibatch rows are gathered only when they change.
template <class T>
TrainResult Trainer::run_typed(const std::function<void(const LogLine&, std::int64_t)>& on_log) {
  TrainResult res;
  const Optimizer& opt = cfg_.optimizer;
  std::size_t P = 0;
  for (const Tensor& p : start_) P += p.data.size();
  std::int64_t B = cfg_.batch, step = state_.step, first = state_.epoch + 1, last = state_.epoch + cfg_.epochs;
  prepare();
  std::size_t in_size = 0, out_size = 0;
  for (const auto& s : steps_) in_size = std::max(in_size, s->in_size), out_size = std::max(out_size, s->out_size);
  // The optimizer's state only where the optimizer (or the state resumed from) has it: three
  // zeroed buffers of every parameter are page faults and traffic a plain SGD run never uses.
  const bool momentum = opt.kind == Optimizer::Sgd && opt.momentum > 0, adam = opt.kind == Optimizer::Adam;
  std::vector<T> in(in_size), out(out_size);
  std::vector<T> buf(momentum || !state_.momentum_buffer.empty() ? P : 0, T(0));
  std::vector<T> m1(adam || !state_.exp_avg.empty() ? P : 0, T(0)), m2(adam || !state_.exp_avg_sq.empty() ? P : 0, T(0));
  T* w = in.data();
  auto load = [](const std::vector<Tensor>& ts, T* dst) {  // tensors into a flat T buffer
    for (const Tensor& t : ts)
      for (double v : t.data) *dst++ = static_cast<T>(v);
  };
  auto tensors = [&](const T* src) {  // a flat T buffer as tensors shaped like the parameters
    std::vector<Tensor> ts = start_;
    for (Tensor& t : ts)
      for (double& v : t.data) v = static_cast<double>(*src++);
    return ts;
  };
  load(start_, w);
  load(state_.momentum_buffer, buf.data());
  load(state_.exp_avg, m1.data());
  load(state_.exp_avg_sq, m2.data());
  bool have_buf = !state_.momentum_buffer.empty();
  auto finish = [&](std::int64_t steps, std::int64_t epochs) {  // the parameters and their state
    res.params = tensors(w);
    res.optimizer = OptimizerState{opt.kind, steps, epochs, {}, {}, {}, 0, 0};
    if (have_buf) res.optimizer.momentum_buffer = tensors(buf.data());
    if (opt.kind == Optimizer::Adam) res.optimizer.exp_avg = tensors(m1.data()), res.optimizer.exp_avg_sq = tensors(m2.data());
  };
  std::int64_t log_every = cfg_.log_every > 0 ? cfg_.log_every : std::max<std::int64_t>(1, cfg_.epochs / 10);
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows_)), gathered;
  for (std::int64_t i = 0; i < rows_; ++i) order[i] = i;
  const Step* gathered_for = nullptr;
  std::unordered_map<const Tensor*, std::vector<T>> data_in_t;
  // Each epoch a fresh permutation of the rows, as PyTorch's RandomSampler draws one: a
  // Fisher-Yates shuffle of 0..rows-1 with the epoch's rows - 1 draws of one splitmix64 stream.
  // A resumed run skips the earlier epochs' draws in O(1), however many there were.
  Rng rng(cfg_.seed ^ 0x5851f42d4c957f2dULL);
  const bool shuffled = cfg_.shuffle && B < rows_;
  auto shuffle = [&] {
    if (!shuffled) return;
    for (std::int64_t i = 0; i < rows_; ++i) order[i] = i;
    for (std::int64_t i = rows_ - 1; i > 0; --i)
      std::swap(order[i], order[static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(i + 1)))]);
  };
  if (shuffled) rng.discard(static_cast<std::uint64_t>(first - 1) * static_cast<std::uint64_t>(rows_ - 1));
  auto t0 = std::chrono::steady_clock::now();

  for (std::int64_t epoch = first; epoch <= last; ++epoch) {
    double lr = opt.lr;
    double e = static_cast<double>(epoch - 1);
    switch (cfg_.schedule.kind) {
      case Schedule::Constant: break;
      case Schedule::Step: lr *= std::pow(cfg_.schedule.gamma, std::floor(e / cfg_.schedule.every)); break;
      case Schedule::Exponential: lr *= std::pow(cfg_.schedule.gamma, e); break;
      case Schedule::Cosine:
        lr = cfg_.schedule.min_lr + (opt.lr - cfg_.schedule.min_lr) * (1 + std::cos(std::numbers::pi * e / static_cast<double>(last))) / 2;
        break;
    }
    shuffle();
    double epoch_loss = 0;
    std::int64_t from = 0;
    if (epoch == first) from = state_.epoch_rows, epoch_loss = state_.epoch_loss;  // resuming inside an epoch
    for (std::int64_t start = from; start < rows_; start += B) {
      std::int64_t n = std::min(B, rows_ - start);
      Step& s = step_for(n);
      // Gather the minibatch's rows after the parameters (skipped when they are the same rows).
      if (gathered_for != &s || !std::equal(gathered.begin(), gathered.end(), order.begin() + start) ||
          gathered.size() != static_cast<std::size_t>(n)) {
        gathered.assign(order.begin() + start, order.begin() + start + n);
        gathered_for = &s;
        T* dst = in.data() + P;
        for (const DataInput& d : s.data) {
          const Tensor& t = *d.source;
          std::size_t row = t.shape.rank ? static_cast<std::size_t>(t.shape.size() / t.shape[0]) : 1;
          // The data in T: f64 rows are copied straight from the tensor; f32's are converted once
          // per run, then a row is one copy.
          const T* src;
          if constexpr (std::is_same_v<T, double>) {
            src = t.data.data();
          } else {
            std::vector<T>& conv = data_in_t[&t];
            if (conv.empty()) conv.assign(t.data.begin(), t.data.end());
            src = conv.data();
          }
          for (std::int64_t r : gathered) {
            std::copy_n(src + static_cast<std::size_t>(r) * row, row, dst);
            dst += row;
          }
        }
      }
      entry<T>(s.kernel)(in.data(), out.data());
      double loss = static_cast<double>(out[0]);
      const T* g = out.data() + 1;
      ++step;
      if (!std::isfinite(loss)) {  // diverged: keep the last finite parameters and their state
        res.diverged = true;
        res.epoch = epoch;
        res.step = step;
        res.lr = lr;
        res.loss = loss;
        finish(step - 1, epoch - 1);
        return res;
      }
      epoch_loss += loss * static_cast<double>(n);
      if (on_step_) on_step_(epoch, step, epoch_loss / static_cast<double>(start + n));
      // The update (PyTorch's formulas), one loop per optimizer.
      const Update<T> u{w, g, P, static_cast<T>(lr), static_cast<T>(opt.weight_decay)};
      if (opt.kind == Optimizer::Sgd && opt.momentum <= 0) {
        sgd_update(u);
      } else if (opt.kind == Optimizer::Sgd) {
        momentum_update(u, buf.data(), static_cast<T>(opt.momentum), opt.nesterov, !have_buf);
        have_buf = true;
      } else {
        // The bias corrections folded into two scalars per step, as torch.optim.Adam does.
        adam_update(u, adam_constants<T>(m1.data(), m2.data(), lr, opt.beta1, opt.beta2, opt.eps, static_cast<double>(step)));
      }
      if (stop_ && start + n < rows_ && stop_()) {  // inside the epoch: its place goes into the state
        res.interrupted = true;
        res.epoch = epoch, res.step = step, res.lr = lr;
        res.epoch_step = (start + n + B - 1) / B, res.epoch_steps = (rows_ + B - 1) / B;
        finish(step, epoch - 1);
        res.optimizer.epoch_rows = start + n;
        res.optimizer.epoch_loss = epoch_loss;
        return res;
      }
    }
    bool shown = epoch % log_every == 0 || epoch == last;
    bool recorded = record_every_ > 0 ? epoch % record_every_ == 0 || epoch == last : shown;
    if (shown || recorded) {
      LogLine line{epoch, step, epoch_loss / static_cast<double>(rows_), accuracy(tensors(w)), lr, shown, recorded};
      res.log.push_back(line);
      if (on_log) on_log(line, last);
    }
    if (stop_ && epoch < last && stop_()) {  // at the end of an epoch
      res.interrupted = true;
      res.epoch = epoch, res.step = step, res.lr = lr;
      res.epoch_step = res.epoch_steps = (rows_ + B - 1) / B;
      finish(step, epoch);
      return res;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.steps_per_second = secs > 0 ? static_cast<double>(step - state_.step) / secs : 0;
  finish(step, last);
  return res;
}

}  // namespace gradc
