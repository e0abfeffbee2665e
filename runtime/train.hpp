// The training runtime: parameter initialisation, the optimizer loop (SGD with momentum,
// Nesterov and weight decay; Adam), epochs, minibatches, shuffling, learning-rate schedules and
// the accuracy metric, around one JIT-compiled step that returns the loss and every gradient.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compiler/lower.hpp"
#include "runtime/jit.hpp"

namespace gradc {

/// A small, portable random generator (splitmix64): the same seed gives the same numbers on
/// every machine, so initialisation and shuffling are reproducible bit for bit.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  double uniform();                    // [0, 1)
  double normal();                     // standard normal (Box-Muller)
  std::uint64_t below(std::uint64_t n);  // [0, n)
  void discard(std::uint64_t n) { s_ += n * 0x9e3779b97f4a7c15ULL; }  // skips n next()s in O(1)
 private:
  std::uint64_t s_;
  std::optional<double> spare_;
};

/// Initial values of every parameter, drawn in declaration order from Rng(seed).
std::vector<Tensor> initialize(const std::vector<Param>& params, std::uint64_t seed);

/// The most epochs a run may reach (counting a resumed checkpoint's): keeps step and epoch
/// counts far from overflow, and bounds the shuffle replay of a resumed run.
inline constexpr std::int64_t kMaxEpochs = 1'000'000'000;

/// A hyperparameter outside its range: the setting's name as the train block spells it (lr,
/// momentum, weight_decay, beta1, beta2, eps, nesterov, epochs, batch) and why, in words.
struct Invalid {
  std::string setting;
  std::string message;
};

/// The one check of every hyperparameter, whatever it comes from (a train block, a command-line
/// flag, a sweep or a descent): PyTorch's ranges, lr > 0, momentum >= 0, weight_decay >= 0,
/// 0 <= beta1, beta2 < 1, eps > 0, all finite; nesterov needs momentum > 0; epochs from 1 to
/// kMaxEpochs; batch at least 1. Nothing when every value is in range.
std::optional<Invalid> validate(const Optimizer& opt, const Training& t);

/// The optimizer's state after some steps (PyTorch's optimizer.state_dict()) and the epochs
/// completed: what `--save` writes beside the parameters and `--resume` continues from.
struct OptimizerState {
  Optimizer::Kind kind = Optimizer::Sgd;
  std::int64_t step = 0;   // steps taken: Adam's bias correction continues from here
  std::int64_t epoch = 0;  // epochs completed: the next run starts at epoch + 1
  // Per parameter (Module::params order), or empty when the optimizer has not made them yet:
  // SGD's momentum buffers (PyTorch's None before the first step with momentum); Adam's moments.
  std::vector<Tensor> momentum_buffer, exp_avg, exp_avg_sq;
  // A run stopped inside epoch `epoch + 1` (interrupted): the rows of that epoch's order already
  // trained on, and the sum of their losses (times their batch's rows), so that the resumed run
  // trains the rest of that epoch and logs it as a straight run would.
  std::int64_t epoch_rows = 0;
  double epoch_loss = 0;
};

/// TrainOptions::record_every's "every epoch of a short run": `train --log`'s default.
inline constexpr std::int64_t kRecordShortRuns = -1, kShortRun = 10'000;

struct TrainOptions {
  std::optional<double> lr;
  std::optional<std::int64_t> epochs, batch;
  std::optional<std::uint64_t> seed;
  std::vector<Tensor> start;  // --resume: initial parameter values (else initialize())
  std::optional<bool> shuffle;  // overrides the train block's `shuffle` (--no-shuffle)
  // --resume: the optimizer to continue (of the train block's kind, buffers shaped like the
  // parameters, as load_checkpoint checks); else a fresh one from epoch 1. The run takes the
  // `epochs` setting's number of epochs more, and replays the earlier epochs' shuffles.
  std::optional<OptimizerState> state = std::nullopt;
  DType dtype = DType::F64;   // F32: the step and the update compute in float (the result is
                              // given in double)
  bool metric = true;         // evaluate the `metric` setting at each log line
  // Record a log line every `record_every` epochs as well as every `log_every` (0: only those;
  // kRecordShortRuns: every epoch when the run takes at most kShortRun epochs, else only those);
  // LogLine::shown tells which are on the `log_every` schedule (the lines `train` prints).
  std::int64_t record_every = 0;
  // Called after every step with the epoch, the step and the mean loss of the epoch so far
  // (progress displays; it must be cheap).
  std::function<void(std::int64_t epoch, std::int64_t step, double loss)> on_step;
  // Asked after every step: true stops the run there (the CLI's answer to SIGINT and SIGTERM),
  // with the state to resume from exactly that step.
  std::function<bool()> stop;
};

struct LogLine {
  std::int64_t epoch, step;
  double loss, metric, lr;  // metric: nan without one
  bool shown = true;        // on the `log_every` schedule (or the last epoch)
  bool recorded = true;     // on the `record_every` schedule (or the last epoch); without
                            // one, the same as `shown`
};

struct TrainResult {
  std::vector<LogLine> log;
  std::vector<Tensor> params;  // final (or last finite) values, in Module::params order
  OptimizerState optimizer;    // the state that goes with `params`
  bool diverged = false;
  bool interrupted = false;          // stopped by TrainOptions::stop (after step `step`)
  std::int64_t epoch = 0, step = 0;  // where it diverged or was interrupted
  std::int64_t epoch_step = 0, epoch_steps = 0;  // interrupted: the steps of its epoch done, of all
  double lr = 0;                     // the learning rate at that step
  double loss = 0;                   // the loss that was not finite
  double steps_per_second = 0;
};

class Trainer {
 public:
  Trainer(Module& m, Jit& jit, const TrainOptions& opts);

  const Training& config() const { return cfg_; }
  std::int64_t rows() const { return rows_; }

  /// Compiles every kernel run() will need, so that several Trainers of one Module can then
  /// run in parallel threads (lowering and compiling are not thread-safe; running is).
  void prepare();

  /// Runs the whole schedule. on_log is called at every logged epoch (and the last), with the
  /// last epoch's number (more than the `epochs` setting when resuming).
  TrainResult run(const std::function<void(const LogLine&, std::int64_t epochs)>& on_log);

  /// Accuracy of the `metric` setting at the given parameters (nan without a metric).
  double accuracy(const std::vector<Tensor>& params);

  /// Loss and gradients at the given parameters over the first `rows` rows in order, through
  /// the compiled step (for tests): loss, then one tensor per parameter.
  std::vector<Tensor> step_at(const std::vector<Tensor>& params, std::int64_t rows);

 private:
  struct Step {
    Kernel kernel;
    std::vector<DataInput> data;  // data Vars after the parameters, in kernel input order
    std::size_t in_size = 0, out_size = 0;
  };
  Step& step_for(std::int64_t rows);
  Kernel compile(const std::string& name, std::vector<const Node*> inputs, std::vector<const Node*> outputs);
  double call(Step& s, const std::vector<Tensor>& params, const std::vector<std::int64_t>& rows_idx,
              std::vector<double>& grads);

  template <class T>
  TrainResult run_typed(const std::function<void(const LogLine&, std::int64_t)>& on_log);

  /// Runs a kernel of the trainer's dtype on double data.
  void run_kernel(const Kernel& k, const std::vector<double>& in, std::vector<double>& out);

  Module& m_;
  Jit& jit_;
  DType dtype_ = DType::F64;
  bool use_metric_ = true;
  std::int64_t record_every_ = 0;
  Training cfg_;
  std::vector<Tensor> start_;
  OptimizerState state_;  // where run() starts
  std::function<bool()> stop_;
  std::function<void(std::int64_t, std::int64_t, double)> on_step_;
  std::int64_t rows_ = 1;
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<std::int64_t> step_rows_;
  struct Metric {
    Kernel kernel;
    std::vector<DataInput> data;
    std::size_t in_size = 0, pred_size = 0, target_size = 0;
    Shape pred, target;
  };
  std::unique_ptr<Metric> metric_;
};

}  // namespace gradc
