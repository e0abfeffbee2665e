// Trust in the training runtime: the one range check of hyperparameters, f32 optimizer
// constants, label checks, unused parameters, limits on epochs, and interrupts.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "io/csv.hpp"
#include "io/file.hpp"
#include "io/params_io.hpp"
#include "runtime/train.hpp"
#include "runtime/update.hpp"
#include "support/helpers.hpp"

namespace gradc::test {
namespace {

// validate()'s message for one setting changed from PyTorch's defaults, or "ok".
std::string invalid(const std::function<void(Optimizer&, Training&)>& change) {
  Optimizer opt;
  Training t;
  t.batch = 1;
  change(opt, t);
  auto bad = validate(opt, t);
  return bad ? bad->setting + ": " + bad->message : "ok";
}

TEST(Hyperparameters, PyTorchRangesWithMessagesInWords) {
  using O = Optimizer&;
  using T = Training&;
  EXPECT_EQ(invalid([](O, T) {}), "ok");
  EXPECT_EQ(invalid([](O o, T) { o.lr = 0; }), "lr: the learning rate must be a finite number above 0, not 0");
  EXPECT_EQ(invalid([](O o, T) { o.lr = -1; }), "lr: the learning rate must be a finite number above 0, not -1");
  EXPECT_EQ(invalid([](O o, T) { o.lr = NAN; }), "lr: the learning rate must be a finite number above 0, not nan");
  EXPECT_EQ(invalid([](O o, T) { o.lr = INFINITY; }), "lr: the learning rate must be a finite number above 0, not inf");
  EXPECT_EQ(invalid([](O o, T) { o.lr = 1e-300; }), "ok");
  EXPECT_EQ(invalid([](O o, T) { o.momentum = -0.5; }), "momentum: momentum must be a finite number of at least 0, not -0.5");
  EXPECT_EQ(invalid([](O o, T) { o.momentum = 0, o.nesterov = true; }), "nesterov: nesterov needs a momentum above 0");
  EXPECT_EQ(invalid([](O o, T) { o.momentum = 0.9, o.nesterov = true; }), "ok");
  EXPECT_EQ(invalid([](O o, T) { o.weight_decay = -1; }),
            "weight_decay: weight_decay must be a finite number of at least 0, not -1");
  EXPECT_EQ(invalid([](O o, T) { o.kind = Optimizer::Adam, o.weight_decay = NAN; }),
            "weight_decay: weight_decay must be a finite number of at least 0, not nan");
  EXPECT_EQ(invalid([](O o, T) { o.kind = Optimizer::Adam, o.beta1 = 1; }), "beta1: beta1 must be at least 0 and below 1, not 1");
  EXPECT_EQ(invalid([](O o, T) { o.kind = Optimizer::Adam, o.beta1 = 0; }), "ok");
  EXPECT_EQ(invalid([](O o, T) { o.kind = Optimizer::Adam, o.beta2 = 1.5; }), "beta2: beta2 must be at least 0 and below 1, not 1.5");
  EXPECT_EQ(invalid([](O o, T) { o.kind = Optimizer::Adam, o.beta2 = -0.1; }), "beta2: beta2 must be at least 0 and below 1, not -0.1");
  EXPECT_EQ(invalid([](O o, T) { o.kind = Optimizer::Adam, o.eps = 0; }), "eps: eps must be a finite number above 0, not 0");
  EXPECT_EQ(invalid([](O, T t) { t.epochs = 0; }), "epochs: the number of epochs must be a whole number from 1 to 1000000000, not 0");
  EXPECT_EQ(invalid([](O, T t) { t.epochs = kMaxEpochs; }), "ok");
  EXPECT_EQ(invalid([](O, T t) { t.epochs = kMaxEpochs + 1; }),
            "epochs: the number of epochs must be a whole number from 1 to 1000000000, not 1000000001");
  EXPECT_EQ(invalid([](O, T t) { t.batch = 0; }), "batch: the batch size must be at least 1, not 0");
}

// The message of the error that constructing a Trainer throws: a UsageError's text, or a
// Diagnostic's full text (located in the file).
std::string trainer_error(Module& m, const TrainOptions& opts) {
  try {
    Trainer t(m, shared_jit(), opts);
  } catch (const UsageError& e) {
    return std::string("usage: ") + e.what();
  } catch (const Diagnostic& d) {
    return "exit " + std::to_string(d.exit_code) + ": " + d.what();
  }
  return "no error";
}

// A file's value is located at its setting; a flag's value is the flag's fault, and a flag that
// overrides a bad value in the file makes the run valid.
TEST(Hyperparameters, TheFileOrTheFlagIsBlamed) {
  auto m = compile_text("param w[1] = ones\ntrain {\n  loss = sum(w^2)\n  optimizer = sgd(lr = 0, momentum = -0.5)\n}\n");
  EXPECT_EQ(trainer_error(*m, {}),
            "exit 1: test.grad:4:19: error: the learning rate must be a finite number above 0, not 0\n"
            "  optimizer = sgd(lr = 0, momentum = -0.5)\n"
            "                  ^\n");
  TrainOptions opts;
  opts.lr = 0.1;
  EXPECT_EQ(trainer_error(*m, opts),
            "exit 1: test.grad:4:27: error: momentum must be a finite number of at least 0, not -0.5\n"
            "  optimizer = sgd(lr = 0, momentum = -0.5)\n"
            "                          ^\n");
  auto good = compile_text("param w[1] = ones\ntrain {\n  loss = sum(w^2)\n  optimizer = sgd(lr = 0.1)\n}\n");
  opts.lr = -2;
  EXPECT_EQ(trainer_error(*good, opts), "usage: --lr: the learning rate must be a finite number above 0, not -2");
  opts.lr = std::nullopt;
  opts.epochs = -3;
  EXPECT_EQ(trainer_error(*good, opts), "usage: --epochs: the number of epochs must be a whole number from 1 to 1000000000, not -3");
  opts.epochs = std::nullopt;
  opts.batch = 0;
  EXPECT_EQ(trainer_error(*good, opts), "usage: --batch: the batch size must be at least 1, not 0");
}


// Three f32 Adam steps against the same steps in double from the same float inputs, rounded at
// the end: PyTorch forms 1 - beta2 (and every constant) in double. At beta2 = 0.99999 the old
// 1 - float(beta2) was off by 6.8e-4 per step.
TEST(Float32Adam, ConstantsFormedInDouble) {
  const std::vector<float> g0 = {0.5f, -1.25f, 3e-3f, -7.5f, 0.0625f};
  for (double beta2 : {0.999, 0.99999}) {
    SCOPED_TRACE(beta2);
    const double lr = 0.1, beta1 = 0.9, eps = 1e-8, wd = 0.01;
    std::vector<float> w = {1.0f, -0.75f, 2.0f, 0.3f, -1.5f}, m1(5, 0), m2(5, 0);
    std::vector<double> rw(w.begin(), w.end()), rm1(5, 0), rm2(5, 0);
    for (int t = 1; t <= 3; ++t) {
      std::vector<float> g(g0);
      for (float& x : g) x *= static_cast<float>(t);
      adam_update(Update<float>{w.data(), g.data(), w.size(), static_cast<float>(lr), static_cast<float>(wd)},
                  adam_constants<float>(m1.data(), m2.data(), lr, beta1, beta2, eps, t));
      for (std::size_t k = 0; k < 5; ++k) {
        // The reference: double throughout, from the float parameters of the step before.
        double gk = static_cast<double>(g[k]) + wd * rw[k];
        rm1[k] = beta1 * rm1[k] + (1 - beta1) * gk;
        rm2[k] = beta2 * rm2[k] + (1 - beta2) * gk * gk;
        double step = lr / (1 - std::pow(beta1, t)) * rm1[k] / (std::sqrt(rm2[k]) / std::sqrt(1 - std::pow(beta2, t)) + eps);
        rw[k] -= step;
      }
      for (std::size_t k = 0; k < 5; ++k) {
        auto rel = [](double got, double want) { return std::fabs(got - want) / std::fabs(want); };
        EXPECT_LT(rel_err(w[k], rw[k]), 1e-7) << "step " << t << ", w[" << k << "]";  // relative to max(1, |w|)
        EXPECT_LT(rel(m2[k], static_cast<float>(rm2[k])), 3e-7) << "step " << t << ", m2[" << k << "]";
        EXPECT_LT(rel(m1[k], static_cast<float>(rm1[k])), 3e-7) << "step " << t << ", m1[" << k << "]";
      }
      for (std::size_t k = 0; k < 5; ++k) rw[k] = w[k], rm1[k] = m1[k], rm2[k] = m2[k];  // next step from the same floats
    }
  }
  // The bound tells the two apart: 1 - float(0.99999) is 6.8e-4 away from 1 - 0.99999.
  EXPECT_GT(std::fabs((1 - 0.99999f) - (1 - 0.99999)) / (1 - 0.99999), 6e-4);
}

// A label that is not a class index, straight from inline data, is an error at the label, as
// PyTorch's cross_entropy and one_hot raise; in range, the same programs compile.
TEST(Labels, OutOfRangeIsAnErrorAtTheLabel) {
  auto program = [](const std::string& labels, const std::string& use) {
    return "data X = [[1, 0], [0, 1], [1, 1], [0, 0]]\ndata L = " + labels +
           "\nparam W[2, 3] = zeros\ntrain {\n  loss = " + use + "\n}\n";
  };
  const std::string ce = "cross_entropy(X @ W, L)";
  EXPECT_EQ(compile_error(program("[0, 5, 1, 2]", ce)), "2:14: L: row 2: the label 5 is not a class index in [0, 3)");
  EXPECT_EQ(compile_error(program("[-1, 0, 1, 2]", ce)), "2:11: L: row 1: the label -1 is not a class index in [0, 3)");
  EXPECT_EQ(compile_error(program("[0, 1, 1.5, 2]", ce)), "2:17: L: row 3: the label 1.5 is not a class index in [0, 3)");
  EXPECT_EQ(compile_error(program("[0, 1, 2, 3]", ce)), "2:20: L: row 4: the label 3 is not a class index in [0, 3)");
  EXPECT_EQ(compile_error(program("[0, 1, 2, 2]", ce)), "no error");
  EXPECT_EQ(compile_error(program("[0, 1, 2, 7]", "sum(onehot(L, 3) * (X @ W))")),
            "2:20: L: row 4: the label 7 is not a class index in [0, 3)");
  EXPECT_EQ(compile_error(program("[0, 1, 2, 7]", "sum(onehot(L, 8) * 0) + sum(W)")), "no error");
  EXPECT_EQ(compile_error("data X = [[1, 0], [0, 1]]\ndata Y = [[1, 0, 0], [0, 1, 0]]\ndata L = [0, 4]\nparam W[2, 3] = zeros\n"
                          "train {\n  loss = mse(X @ W, Y)\n  metric = accuracy(X @ W, L)\n}\n"),
            "3:14: L: row 2: the label 4 is not a class index in [0, 3)");
}

// The accuracy of a computed target that is no class index (1e300 would overflow a cast to an
// integer): it matches no class.
TEST(Labels, AccuracyOfAComputedTargetBeyondTheClasses) {
  auto m = compile_text("data X = [[1, 0], [0, 1], [1, 1], [0, 0]]\ndata L = [0, 1, 2, 1]\nparam W[2, 3] = zeros\n"
                        "train {\n  loss = sum(W^2)\n  metric = accuracy(X @ W, L * 1e300)\n}\n");
  Trainer t(*m, shared_jit(), TrainOptions{});
  // Zero logits: argmax is class 0; the targets are 0, 1e300, 2e300, 1e300: only row 1 matches.
  EXPECT_EQ(t.accuracy(initialize(m->params, 0)), 0.25);
}

// A parameter the loss does not use gets a zero gradient of its own shape (it was one scalar
// zero, and the update read past it): plain SGD and Adam leave it as it was, weight decay
// shrinks it by w -= lr wd w per step (computed here in the run's type), and the checkpoint
// reads back.
TEST(UnusedParameter, ZeroGradientOfItsShape) {
  for (DType dtype : {DType::F64, DType::F32}) {
    for (auto [optimizer, wd] : {std::pair{"sgd(lr = 0.1)", 0.0}, std::pair{"adam(lr = 0.1)", 0.0},
                                 std::pair{"sgd(lr = 0.1, weight_decay = 0.5)", 0.5}}) {
      SCOPED_TRACE(std::string(optimizer) + (dtype == DType::F32 ? " f32" : " f64"));
      auto m = compile_text(std::string("param W[2] = ones\nparam M[2, 3] = constant(-2)\ntrain {\n  loss = 1\n  optimizer = ") +
                            optimizer + "\n  epochs = 3\n}\n");
      TrainOptions opts;
      opts.dtype = dtype;
      TrainResult r = Trainer(*m, shared_jit(), opts).run(nullptr);
      ASSERT_FALSE(r.diverged);
      EXPECT_EQ(r.log.back().loss, 1);
      auto decayed = [&](double w) {  // three steps of w -= lr (0 + wd w)
        if (dtype == DType::F32) {
          float f = static_cast<float>(w);
          for (int i = 0; i < 3; ++i) f -= 0.1f * (0.0f + static_cast<float>(wd) * f);
          return static_cast<double>(f);
        }
        for (int i = 0; i < 3; ++i) w -= 0.1 * (0.0 + wd * w);
        return w;
      };
      EXPECT_EQ(r.params[0].data, std::vector<double>(2, decayed(1)));
      EXPECT_EQ(r.params[1].data, std::vector<double>(6, decayed(-2)));
      if (wd > 0) EXPECT_NEAR(r.params[0].data[0], 0.95 * 0.95 * 0.95, 1e-7);
      std::string path = ::testing::TempDir() + "gradc_unused.json";
      save_params(path, m->params, r.params, &r.optimizer);
      Checkpoint c = load_checkpoint(path, m->params, m->training->optimizer.kind);
      std::remove(path.c_str());
      EXPECT_EQ(c.params[0].data, r.params[0].data);
      EXPECT_EQ(c.params[1].data, r.params[1].data);
    }
  }
}

// Rng::discard(n) is n calls of next(), in O(1): what lets a resumed run skip to its epoch's
// shuffle.
TEST(Limits, RngDiscardSkipsDraws) {
  Rng a(42), b(42);
  for (int i = 0; i < 1000; ++i) a.next();
  b.discard(1000);
  EXPECT_EQ(a.next(), b.next());
  Rng c(7), d(7);
  c.discard(std::uint64_t(1) << 63);
  c.discard(std::uint64_t(1) << 63);  // 2^64 draws: the stream wraps to where it began
  EXPECT_EQ(c.next(), d.next());
}

// A checkpoint's epoch beyond the limit (4503599627370495 used to replay that many shuffles),
// an epoch count that would pass it, and a resume just below it, which takes no longer than one
// epoch (the shuffle skips the earlier epochs' draws).
TEST(Limits, ResumedEpochs) {
  SourceFile src = load_source(GRADC_SOURCE_DIR "/examples/spiral.grad");
  auto m = compile_module(src, true, read_csv);
  std::string path = ::testing::TempDir() + "gradc_far_epoch.json";
  auto resume_at = [&](std::int64_t epoch, std::int64_t epochs) {
    TrainOptions one;
    one.epochs = 1;
    TrainResult r = Trainer(*m, shared_jit(), one).run(nullptr);  // a real state to edit
    r.optimizer.epoch = epoch;
    save_params(path, m->params, r.params, &r.optimizer);
    Checkpoint c = load_checkpoint(path, m->params, m->training->optimizer.kind);
    TrainOptions opts;
    opts.start = c.params;
    opts.state = c.optimizer;
    opts.epochs = epochs;
    return opts;
  };
  auto message = [&](const TrainOptions& opts) {
    try {
      Trainer(*m, shared_jit(), opts);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // An absurd count is refused when the checkpoint is read (io/params_io.cpp), before any replay.
  try {
    resume_at(4503599627370495, 1);
    ADD_FAILURE() << "a checkpoint at epoch 2^52 - 1 was accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "'" + path +
                                         "': optimizer.sgd.epoch is 4503599627370495, not a whole number from 0 to "
                                         "2147483647");
  }
  EXPECT_EQ(message(resume_at(2147483647, 1)),
            "--resume: the checkpoint has completed 2147483647 epochs; 1 more would pass the limit of 1000000000 epochs");
  EXPECT_EQ(message(resume_at(999999990, 11)),
            "--resume: the checkpoint has completed 999999990 epochs; 11 more would pass the limit of 1000000000 epochs");
  // The shuffles of 999,999,999 earlier epochs are skipped in O(1) (a replay would not finish).
  TrainOptions last = resume_at(999999999, 1);
  last.record_every = 1;
  TrainResult r = Trainer(*m, shared_jit(), last).run(nullptr);
  ASSERT_EQ(r.log.size(), 1u);
  EXPECT_EQ(r.log[0].epoch, 1000000000);
  EXPECT_EQ(r.optimizer.epoch, 1000000000);
  std::remove(path.c_str());
}

// onehot of more classes than memory allows is an input error at the call, not an internal one.
TEST(Limits, OnehotBeyondTheElementLimit) {
  EXPECT_EQ(compile_error("data L = [0, 1, 2, 1]\nparam W[2] = zeros\ntrain {\n  loss = sum(onehot(L, 1000000000)) + sum(W)\n}\n"),
            "4:14: onehot: 4 labels of 1000000000 classes make 4000000000 elements; at most 134217728 (1 GiB of f64) are supported");
  EXPECT_EQ(compile_error("data L = [0, 1, 2, 1]\nparam W[2] = zeros\ntrain {\n  loss = sum(onehot(L, 3000000000)) + sum(W)\n}\n"),
            "4:14: onehot: 4 labels of 3000000000 classes make 12000000000 elements; at most 134217728 (1 GiB of f64) are supported");
}

// A small classifier: 10 rows in shuffled minibatches of 3 (steps of 3, 3, 3 and 1 rows).
std::string small_classifier(const std::string& optimizer) {
  return "data X = [[0.1, 0.9], [0.8, -0.2], [-0.5, 0.4], [0.3, 0.3], [-0.9, -0.1], [0.6, 0.7], [-0.2, -0.8],\n"
         "          [0.9, 0.1], [-0.4, 0.6], [0.2, -0.5]]\n"
         "data L = [0, 1, 2, 0, 2, 0, 1, 1, 2, 1]\n"
         "param W[2, 3] = normal(0, 0.5)\nparam b[3] = zeros\n"
         "train {\n  loss = cross_entropy(tanh(X @ W + b), L)\n  optimizer = " + optimizer +
         "\n  batch = 3\n  epochs = 4\n  seed = 3\n  metric = accuracy(X @ W + b, L)\n}\n";
}

// A run stopped after any step (as SIGINT stops it), saved, loaded and resumed equals the
// straight run bit for bit: log lines (the interrupted epoch's loss included), parameters and
// optimizer state. The stop callback is asked after each step inside an epoch and at each
// epoch's end: its calls 1-3 are epoch 1's first three steps, 4 is epoch 1's end, 7 is epoch 2's
// third step.
TEST(Interrupt, StoppedSavedAndResumedEqualsAStraightRun) {
  for (const char* optimizer : {"sgd(lr = 0.5, momentum = 0.9)", "adam(lr = 0.05)"}) {
    auto m = compile_text(small_classifier(optimizer));
    TrainOptions opts;
    opts.record_every = 1;
    TrainResult straight = Trainer(*m, shared_jit(), opts).run(nullptr);
    for (int stop_at : {2, 4, 7}) {
      for (const char* file : {"gradc_interrupted.json", "gradc_interrupted.npz"}) {
        SCOPED_TRACE(std::string(optimizer) + " " + file + " after call " + std::to_string(stop_at));
        int calls = 0;
        TrainOptions first = opts;
        first.stop = [&] { return ++calls == stop_at; };
        TrainResult a = Trainer(*m, shared_jit(), first).run(nullptr);
        ASSERT_TRUE(a.interrupted);
        std::string path = ::testing::TempDir() + file;
        save_params(path, m->params, a.params, &a.optimizer);
        Checkpoint c = load_checkpoint(path, m->params, m->training->optimizer.kind);
        std::remove(path.c_str());
        ASSERT_TRUE(c.optimizer);
        EXPECT_EQ(c.optimizer->epoch_rows, a.optimizer.epoch_rows);
        EXPECT_EQ(c.optimizer->epoch_loss, a.optimizer.epoch_loss);
        TrainOptions rest = opts;
        rest.start = c.params;
        rest.state = c.optimizer;
        rest.epochs = 4 - c.optimizer->epoch;  // the interrupted epoch counts as one
        TrainResult b = Trainer(*m, shared_jit(), rest).run(nullptr);
        ASSERT_FALSE(b.interrupted || b.diverged);
        std::vector<LogLine> log = a.log;
        log.insert(log.end(), b.log.begin(), b.log.end());
        ASSERT_EQ(log.size(), straight.log.size());
        for (std::size_t i = 0; i < log.size(); ++i) {
          EXPECT_EQ(log[i].epoch, straight.log[i].epoch);
          EXPECT_EQ(log[i].step, straight.log[i].step);
          EXPECT_EQ(log[i].loss, straight.log[i].loss) << "epoch " << log[i].epoch;
          EXPECT_EQ(log[i].metric, straight.log[i].metric) << "epoch " << log[i].epoch;
        }
        for (std::size_t p = 0; p < m->params.size(); ++p) EXPECT_EQ(b.params[p].data, straight.params[p].data);
        EXPECT_EQ(b.optimizer.step, straight.optimizer.step);
        EXPECT_EQ(b.optimizer.epoch, 4);
        EXPECT_EQ(b.optimizer.epoch_rows, 0);
        for (auto buffer : {&OptimizerState::momentum_buffer, &OptimizerState::exp_avg, &OptimizerState::exp_avg_sq}) {
          ASSERT_EQ((b.optimizer.*buffer).size(), (straight.optimizer.*buffer).size());
          for (std::size_t p = 0; p < (b.optimizer.*buffer).size(); ++p)
            EXPECT_EQ((b.optimizer.*buffer)[p].data, (straight.optimizer.*buffer)[p].data);
        }
      }
    }
  }
}

// Where the run says it stopped, and what the state records.
TEST(Interrupt, ReportsItsPlace) {
  auto m = compile_text(small_classifier("sgd(lr = 0.5)"));
  int calls = 0;
  TrainOptions opts;
  opts.stop = [&] { return ++calls == 6; };  // epoch 2's second step
  TrainResult r = Trainer(*m, shared_jit(), opts).run(nullptr);
  ASSERT_TRUE(r.interrupted);
  EXPECT_EQ(r.epoch, 2);
  EXPECT_EQ(r.step, 6);
  EXPECT_EQ(r.epoch_step, 2);
  EXPECT_EQ(r.epoch_steps, 4);
  EXPECT_EQ(r.optimizer.epoch, 1);
  EXPECT_EQ(r.optimizer.step, 6);
  EXPECT_EQ(r.optimizer.epoch_rows, 6);
  calls = 0;
  opts.stop = [&] { return ++calls == 4; };  // epoch 1's end
  r = Trainer(*m, shared_jit(), opts).run(nullptr);
  ASSERT_TRUE(r.interrupted);
  EXPECT_EQ(r.epoch, 1);
  EXPECT_EQ(r.epoch_step, 4);
  EXPECT_EQ(r.optimizer.epoch, 1);
  EXPECT_EQ(r.optimizer.epoch_rows, 0);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// gradc with its stdout on a pipe and its stderr in a file: started, then signalled by
// `signal_it` once its first line of output has arrived (or after a second, for commands that
// print only at the end). Returns the exit status.
int run_and_signal(const std::vector<std::string>& args, const std::string& err_file, bool first_line,
                   const std::function<void(pid_t)>& signal_it) {
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> all{GRADC_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, GRADC_BINARY, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  char c = 0;
  if (first_line) {
    while (::read(out[0], &c, 1) == 1 && c != '\n') {
    }
  } else {
    ::sleep(1);
  }
  signal_it(pid);
  while (::read(out[0], &c, 1) == 1) {  // drain, so the child never blocks on a full pipe
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

// SIGINT and SIGTERM during `gradc train`: exit 130 after saving a checkpoint that resumes,
// the log rows so far, and a note of where it stopped.
TEST(Interrupt, CliSavesTheWorkAndExits130) {
  std::string dir = ::testing::TempDir();
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig);
    std::string ck = dir + "gradc_sig.json", log = dir + "gradc_sig.csv", err = dir + "gradc_sig.err";
    std::remove(ck.c_str());
    std::remove(log.c_str());
    int status = run_and_signal({"train", GRADC_SOURCE_DIR "/examples/spiral.grad", "--epochs", "1000000", "--save", ck, "--log", log},
                                  err, true, [&](pid_t pid) { ::kill(pid, sig); });
    EXPECT_EQ(status, 130);
    std::string note = read_all(err);
    EXPECT_TRUE(note.starts_with("gradc: interrupted at epoch ")) << note;
    EXPECT_TRUE(note.ends_with(" of 8; saved " + ck + "\n")) << note;
    std::string rows = read_all(log);
    EXPECT_TRUE(rows.starts_with("epoch,step,loss,metric\n50,400,0.5617991284962247,0.712890625\n")) << rows;
    // The checkpoint holds the place of the note, and resumes.
    SourceFile src = load_source(GRADC_SOURCE_DIR "/examples/spiral.grad");
    auto m = compile_module(src, true, read_csv);
    Checkpoint c = load_checkpoint(ck, m->params, Optimizer::Sgd);
    ASSERT_TRUE(c.optimizer);
    std::int64_t epoch = std::stoll(note.substr(std::string("gradc: interrupted at epoch ").size()));
    EXPECT_EQ(c.optimizer->epoch, c.optimizer->epoch_rows ? epoch - 1 : epoch);
    std::string resume = std::string(GRADC_BINARY) + " train " GRADC_SOURCE_DIR "/examples/spiral.grad --quiet --epochs 1 --resume " + ck;
    EXPECT_EQ(std::system(resume.c_str()), 0);
    for (const std::string& f : {ck, log, err}) std::remove(f.c_str());
  }
}

// A second signal exits at once: the earlier checkpoint stays as it was, and nothing is said.
// (Both signals arrive while the process is stopped, so the second handler runs before any
// saving could start.)
TEST(Interrupt, SecondSignalExitsAtOnce) {
  std::string dir = ::testing::TempDir(), ck = dir + "gradc_sig2.json", err = dir + "gradc_sig2.err";
  std::ofstream(ck) << "earlier work\n";
  int status = run_and_signal({"train", GRADC_SOURCE_DIR "/examples/spiral.grad", "--epochs", "1000000", "--save", ck}, err, true, [](pid_t pid) {
    ::kill(pid, SIGSTOP);
    int st = 0;
    ::waitpid(pid, &st, WUNTRACED);  // stopped now: both signals wait for SIGCONT
    ::kill(pid, SIGINT);
    ::kill(pid, SIGTERM);
    ::kill(pid, SIGCONT);
  });
  EXPECT_EQ(status, 130);
  EXPECT_EQ(read_all(ck), "earlier work\n");
  EXPECT_EQ(read_all(err), "");
  std::remove(ck.c_str());
  std::remove(err.c_str());
}

// A sweep stops its runs and writes nothing; exit 130.
TEST(Interrupt, SweepStopsAndWritesNothing) {
  std::string dir = ::testing::TempDir(), svg = dir + "gradc_sig_sweep.svg", err = dir + "gradc_sig_sweep.err";
  std::remove(svg.c_str());
  int status = run_and_signal({"sweep", GRADC_SOURCE_DIR "/examples/spiral.grad", "--lr", "0.01,0.1", "--epochs", "1000000", "-o", svg},
                              err, false, [](pid_t pid) { ::kill(pid, SIGINT); });
  EXPECT_EQ(status, 130);
  EXPECT_EQ(read_all(err), "gradc: sweep interrupted; nothing written\n");
  EXPECT_FALSE(std::ifstream(svg).good());
  std::remove(err.c_str());
}

}  // namespace
}  // namespace gradc::test
