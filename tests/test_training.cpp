// The training runtime: SGD and Adam steps against an independent plain C++ implementation,
// reproducibility, initialisers, the examples' accuracy, and bad training programs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

#include "io/csv.hpp"
#include "io/file.hpp"
#include "runtime/train.hpp"
#include "support/helpers.hpp"
#include "support/mlp_reference.hpp"

namespace gradc::test {
namespace {

const char* kTiny = R"(
data X = [[0.5, -1], [1.5, 0.25], [-0.75, 2], [0, 1]]
data Y = [[1], [-0.5], [0.25], [2]]
param W1[2, 3] = normal(0, 0.5)
param b1[3] = constant(0.1)
param W2[3, 1] = uniform(-0.5, 0.5)
param b2[1] = zeros
fn net(x) = tanh(x @ W1 + b1) @ W2 + b2
train {
  loss = mse(net(X), Y)
  optimizer = OPTIMIZER
  epochs = 5
  seed = 7
}
)";

std::string tiny(const std::string& optimizer) {
  std::string s = kTiny;
  s.replace(s.find("OPTIMIZER"), 9, optimizer);
  return s;
}

// The same network, loss, gradients and updates written out by hand.
struct Reference {
  std::vector<double> W1, b1, W2, b2;  // row-major, shapes [2,3], [3], [3,1], [1]
  double X[4][2] = {{0.5, -1}, {1.5, 0.25}, {-0.75, 2}, {0, 1}};
  double Y[4] = {1, -0.5, 0.25, 2};

  // Loss and gradients (dW1, db1, dW2, db2) of mean((net(X) - Y)^2) over rows first..first+n-1.
  double grads(std::vector<double>* g, int first = 0, int n = 4) {
    return mlp_2_3_1_mse(X + first, Y + first, n, W1, b1, W2, b2, g);
  }
  std::vector<double>* params() { return &W1; }
};

Reference reference_from(const std::vector<Tensor>& init) {
  Reference r;
  r.W1 = init[0].data, r.b1 = init[1].data, r.W2 = init[2].data, r.b2 = init[3].data;
  return r;
}

TEST(Training, SgdWithMomentumMatchesPlainCpp) {
  auto m = compile_text(tiny("sgd(lr = 0.1, momentum = 0.9, weight_decay = 0.01)"));
  Trainer t(*m, shared_jit(), TrainOptions{});
  auto init = initialize(m->params, 7);
  TrainResult res = t.run(nullptr);
  ASSERT_FALSE(res.diverged);

  Reference r = reference_from(init);
  std::vector<double> buf[4];
  for (int step = 0; step < 5; ++step) {
    std::vector<double> g[4];
    r.grads(g);
    for (int p = 0; p < 4; ++p) {
      std::vector<double>& w = r.params()[p];
      if (step == 0) buf[p].assign(w.size(), 0);
      for (std::size_t k = 0; k < w.size(); ++k) {
        double gk = g[p][k] + 0.01 * w[k];
        buf[p][k] = step == 0 ? gk : 0.9 * buf[p][k] + gk;
        w[k] -= 0.1 * buf[p][k];
      }
    }
  }
  for (int p = 0; p < 4; ++p)
    for (std::size_t k = 0; k < r.params()[p].size(); ++k)
      EXPECT_NEAR(res.params[p].data[k], r.params()[p][k], 1e-12) << m->params[p].name << "[" << k << "]";
}

TEST(Training, AdamMatchesPlainCpp) {
  auto m = compile_text(tiny("adam(lr = 0.05)"));
  Trainer t(*m, shared_jit(), TrainOptions{});
  auto init = initialize(m->params, 7);
  TrainResult res = t.run(nullptr);
  Reference r = reference_from(init);
  std::vector<double> m1[4], m2[4];
  for (int step = 1; step <= 5; ++step) {
    std::vector<double> g[4];
    r.grads(g);
    for (int p = 0; p < 4; ++p) {
      std::vector<double>& w = r.params()[p];
      if (step == 1) m1[p].assign(w.size(), 0), m2[p].assign(w.size(), 0);
      for (std::size_t k = 0; k < w.size(); ++k) {
        m1[p][k] = 0.9 * m1[p][k] + 0.1 * g[p][k];
        m2[p][k] = 0.999 * m2[p][k] + 0.001 * g[p][k] * g[p][k];
        double mh = m1[p][k] / (1 - std::pow(0.9, step)), vh = m2[p][k] / (1 - std::pow(0.999, step));
        w[k] -= 0.05 * mh / (std::sqrt(vh) + 1e-8);
      }
    }
  }
  for (int p = 0; p < 4; ++p)
    for (std::size_t k = 0; k < r.params()[p].size(); ++k)
      EXPECT_NEAR(res.params[p].data[k], r.params()[p][k], 1e-12) << m->params[p].name << "[" << k << "]";
}

TEST(Training, CompiledStepMatchesInterpreterAndReference) {
  auto m = compile_text(tiny("sgd(lr = 0.1)"));
  Trainer t(*m, shared_jit(), TrainOptions{});
  auto init = initialize(m->params, 7);
  auto out = t.step_at(init, 4);
  Reference r = reference_from(init);
  std::vector<double> g[4];
  EXPECT_NEAR(out[0].data[0], r.grads(g), 1e-13);
  for (int p = 0; p < 4; ++p)
    for (std::size_t k = 0; k < g[p].size(); ++k) EXPECT_NEAR(out[1 + p].data[k], g[p][k], 1e-13);
}

// --dtype f32: the step computes in float; loss and gradients agree with f64 to float precision,
// and the spiral still trains.
TEST(Training, Float32Step) {
  auto m = compile_text(tiny("sgd(lr = 0.1)"));
  auto init = initialize(m->params, 7);
  TrainOptions f32;
  f32.dtype = DType::F32;
  Trainer t32(*m, shared_jit(), f32), t64(*m, shared_jit(), TrainOptions{});
  auto a = t32.step_at(init, 4), b = t64.step_at(init, 4);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t k = 0; k < a[i].data.size(); ++k) EXPECT_NEAR(a[i].data[k], b[i].data[k], 1e-5 * std::max(1.0, std::fabs(b[i].data[k])));
  auto spiral = compile_module(load_source(GRADC_SOURCE_DIR "/examples/spiral.grad"), true, read_csv);
  Trainer ts(*spiral, shared_jit(), f32);
  EXPECT_GE(ts.run(nullptr).log.back().metric, 0.95);
}

TEST(Training, RunsAreBitForBitRepeatable) {
  auto run = [] {
    auto m = compile_text(tiny("sgd(lr = 0.1, momentum = 0.5)"));
    Trainer t(*m, shared_jit(), TrainOptions{std::nullopt, 50, 2, 3, {}});
    return t.run(nullptr).params;
  };
  auto a = run(), b = run();
  for (std::size_t p = 0; p < a.size(); ++p) EXPECT_EQ(a[p].data, b[p].data);
}

// A classifier whose first layer's products are split over threads (96 rows x 256 x 96 fmas).
std::string wide_layer_program() {
  std::string x = "[", y = "[";
  Rng rng(3);
  for (int i = 0; i < 96; ++i) {
    x += i ? ", [" : "[";
    for (int j = 0; j < 256; ++j) x += (j ? ", " : "") + std::to_string(rng.uniform());
    x += "]";
    y += (i ? ", " : "") + std::to_string(i % 3);
  }
  std::string src = "data x = " + x + "]\ndata y = " + y + "]\n" + R"(
layer net = sequential(linear(256, 96), relu, linear(96, 3))
train {
  loss = cross_entropy(net(x), onehot(y, 3))
  optimizer = sgd(lr = 0.05, momentum = 0.9)
  epochs = 4
  batch = 48
  seed = 2
}
)";
  return src;
}

// --threads: the network above trains to the same bits on 1, 2 and 3 threads.
TEST(Training, ThreadsGiveTheSameBits) {
  std::string src = wide_layer_program();
  auto run = [&](int threads) {
    auto m = compile_text(src);
    auto jit = Jit::create({.threads = threads});
    Trainer t(*m, *jit, TrainOptions{});
    return t.run(nullptr);
  };
  TrainResult one = run(1), two = run(2), three = run(3);
  ASSERT_EQ(one.log.size(), two.log.size());
  EXPECT_EQ(one.log.back().loss, two.log.back().loss);
  EXPECT_EQ(one.log.back().loss, three.log.back().loss);
  for (std::size_t p = 0; p < one.params.size(); ++p) {
    EXPECT_EQ(one.params[p].data, two.params[p].data) << p;
    EXPECT_EQ(one.params[p].data, three.params[p].data) << p;
  }
}

TEST(Training, Initialisers) {
  auto m = compile_text("param A[200, 100] = he\nparam B[100, 300] = xavier\nparam C[50] = normal(3, 2)\n"
                        "param D[4] = constant(0.5)\nparam E[1000] = uniform(-1, 3)\nparam F[2, 2] = ones\n");
  auto v = initialize(m->params, 11);
  auto stats = [](const std::vector<double>& x) {
    double mean = 0, var = 0;
    for (double a : x) mean += a / x.size();
    for (double a : x) var += (a - mean) * (a - mean) / x.size();
    return std::pair{mean, std::sqrt(var)};
  };
  EXPECT_NEAR(stats(v[0].data).second, std::sqrt(2.0 / 200), 0.02 * std::sqrt(2.0 / 200));
  double bound = std::sqrt(6.0 / 400);
  for (double x : v[1].data) EXPECT_LE(std::fabs(x), bound);
  EXPECT_NEAR(stats(v[1].data).second, bound / std::sqrt(3.0), 0.02 * bound);
  EXPECT_NEAR(stats(v[2].data).first, 3, 0.6);
  EXPECT_EQ(v[3].data, (std::vector<double>{0.5, 0.5, 0.5, 0.5}));
  for (double x : v[4].data) EXPECT_TRUE(x >= -1 && x < 3);
  EXPECT_EQ(v[5].data, (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(initialize(m->params, 11)[0].data, v[0].data);  // same seed, same values
  EXPECT_NE(initialize(m->params, 12)[0].data, v[0].data);
}

TEST(Training, XorExampleReachesFullAccuracy) {
  auto m = compile_module(load_source(GRADC_SOURCE_DIR "/examples/xor.grad"), true, read_csv);
  Trainer t(*m, shared_jit(), TrainOptions{});
  TrainResult r = t.run(nullptr);
  ASSERT_FALSE(r.diverged);
  EXPECT_EQ(r.log.back().metric, 1.0);
  EXPECT_LT(r.log.back().loss, 0.05);
}

TEST(Training, SpiralExampleReaches95Percent) {
  auto m = compile_module(load_source(GRADC_SOURCE_DIR "/examples/spiral.grad"), true, read_csv);
  Trainer t(*m, shared_jit(), TrainOptions{});
  EXPECT_EQ(t.rows(), 512);
  EXPECT_EQ(t.config().batch, 64);
  TrainResult r = t.run(nullptr);
  ASSERT_FALSE(r.diverged);
  EXPECT_GE(r.log.back().metric, 0.95);
}

TEST(Training, RegressionExampleFitsTheNoiseLevel) {
  auto m = compile_module(load_source(GRADC_SOURCE_DIR "/examples/regression.grad"), true, read_csv);
  Trainer t(*m, shared_jit(), TrainOptions{});
  TrainResult r = t.run(nullptr);
  ASSERT_FALSE(r.diverged);
  EXPECT_LT(r.log.back().loss, 0.01);  // the noise variance is 0.0025; the function's is ~0.6
}

// Minibatches with a remainder: 4 rows in batches of 3 (no shuffling) are two SGD steps, on
// rows 0..2 and on row 3, each a mean over its own rows.
TEST(Training, LastPartialBatch) {
  std::string src = tiny("sgd(lr = 0.1)");
  src.replace(src.find("seed = 7"), 8, "seed = 7\n  batch = 3\n  shuffle = false");
  auto m = compile_text(src);
  Trainer t(*m, shared_jit(), TrainOptions{std::nullopt, 1, std::nullopt, std::nullopt, {}});
  TrainResult res = t.run(nullptr);
  EXPECT_EQ(res.log.back().step, 2);
  Reference r = reference_from(initialize(m->params, 7));
  for (auto [first, count] : {std::pair{0, 3}, std::pair{3, 1}}) {
    std::vector<double> g[4];
    r.grads(g, first, count);
    for (int p = 0; p < 4; ++p)
      for (std::size_t k = 0; k < g[p].size(); ++k) r.params()[p][k] -= 0.1 * g[p][k];
  }
  for (int p = 0; p < 4; ++p)
    for (std::size_t k = 0; k < r.params()[p].size(); ++k)
      EXPECT_NEAR(res.params[p].data[k], r.params()[p][k], 1e-12) << m->params[p].name << "[" << k << "]";
}

TEST(Training, DivergenceStopsWithTheLastFiniteParameters) {
  auto m = compile_text(tiny("sgd(lr = 1e6)"));
  Trainer t(*m, shared_jit(), TrainOptions{std::nullopt, 100, std::nullopt, std::nullopt, {}});
  TrainResult r = t.run(nullptr);
  ASSERT_TRUE(r.diverged);
  EXPECT_FALSE(std::isfinite(r.loss));
  EXPECT_EQ(r.lr, 1e6);
  for (const Tensor& p : r.params)
    for (double x : p.data) EXPECT_TRUE(std::isfinite(x));
}

struct BadProgram {
  const char* src;
  const char* error;
};
void PrintTo(const BadProgram& b, std::ostream* os) { *os << b.src; }
class TrainingErrors : public ::testing::TestWithParam<BadProgram> {};
TEST_P(TrainingErrors, ExactMessage) { EXPECT_EQ(compile_error(GetParam().src), GetParam().error); }

INSTANTIATE_TEST_SUITE_P(
    Errors, TrainingErrors,
    ::testing::Values(
        BadProgram{"param W[2, 3] = zeros\nparam v[4] = zeros\nfn f(x) = sum(W + v)\ntrain { loss = f(1) }",
                   "3:17: shapes [2, 3] and [4] cannot be broadcast together"},
        BadProgram{"data X = [[1, 2], [3, 4]]\nparam W[3, 1] = zeros\ntrain { loss = sum(X @ W) }",
                   "3:22: shapes [2, 2] and [3, 1] do not fit a matrix product"},
        BadProgram{"data X = [[1, 2], [3]]", "1:19: ragged tensor literal: 1 element here, 2 in the first row at this depth"},
        BadProgram{"param W[2] = zeros\ntrain { loss = sum(W)\n optimizer = rmsprop(lr = 1) }",
                   "3:14: unknown optimizer 'rmsprop' (sgd, adam)"},
        BadProgram{"param W[2] = zeros\ntrain { loss = sum(W)\n optimizer = sgd(lr = 1, beta = 2) }",
                   "3:26: 'sgd' has no argument 'beta' (arguments: lr, momentum, nesterov, weight_decay)"},
        BadProgram{"param W[2] = zeros\ntrain { loss = sum(W)\n epoch = 3 }",
                   "3:2: unknown setting 'epoch' (loss, optimizer, epochs, batch, shuffle, seed, schedule, metric, log_every)"},
        BadProgram{"param W[2] = zeros\ntrain { loss = W }", "2:16: the loss must be a scalar, not shape [2]"},
        BadProgram{"param W[2] = zeros\ntrain { epochs = 3 }", "2:1: the 'train' block needs a loss: loss = ..."},
        BadProgram{"param W[0] = zeros", "1:9: a dimension must be an integer of at least 1, not 0"},
        BadProgram{"param W[2] = gaussian", "1:14: unknown initialiser (zeros, ones, constant(c), normal(mean, std), "
                                             "uniform(low, high), he, xavier)"},
        BadProgram{"data d = csv(\"no_such_file.csv\", features = [a], target = b)",
                   "1:14: cannot open 'no_such_file.csv': No such file or directory"},
        BadProgram{"data X = [[1, 2]]\nparam W[2] = zeros\nfn f(x) = x[3]\ntrain { loss = sum(f(W)) }",
                   "3:13: index 3 is out of range for axis 0 of shape [2]"},
        BadProgram{"data X = [[1, 2]]\ndata Z = [[1], [2]]\ntrain { loss = sum(X) + sum(Z) }",
                   "3:16: the loss uses data with 1 and 2 rows: minibatches need one row count"},
        BadProgram{"data X = [[1], [2]]\ndata Y = [1, 2]\ntrain { loss = mse(X, Y) }",
                   "3:16: mse: the prediction has shape [2, 1] but the target has shape [2]"}));

}  // namespace
}  // namespace gradc::test

namespace gradc::test {
namespace {
// cross_entropy goes through log_softmax with the maximum subtracted: logits of 1000 give a
// finite loss and gradient (a naive log(sum(exp)) would overflow to inf and nan).
TEST(Losses, CrossEntropyIsStableForLargeLogits) {
  auto m = compile_text("data Z = [[1000, 0, -5], [0, 1000, 3]]\ndata Y = [0, 2]\n"
                        "fn f(s) = cross_entropy(Z * s, Y)\n"
                        "fn g(s) = binary_cross_entropy(Z * s, [[1, 0, 1], [0, 1, 0]])\n");
  for (const char* fn : {"f", "g"}) {
    const Function& f = *m->find(fn);
    Builder b(m->graph);
    auto out = evaluate(value_and_derivatives(b, f.body, f.params, false), f.params, std::vector<double>{1.0});
    EXPECT_TRUE(std::isfinite(out[0]) && std::isfinite(out[1])) << fn << ": " << out[0] << " " << out[1];
  }
  // Row 1 picks class 0 with logit 1000 (loss ~0); row 2 picks class 2 (3) against 1000: 997.
  const Function& f = *m->find("f");
  EXPECT_NEAR(evaluate(std::vector<const Node*>{f.body}, f.params, std::vector<double>{1.0})[0], 997.0 / 2, 1e-9);
}
}  // namespace
}  // namespace gradc::test

#include <cstdio>
#include <fstream>
#include <sstream>

#include "io/npz.hpp"
#include "io/params_io.hpp"
namespace gradc::test {
namespace {
// --save NAME.npz writes NumPy's format: a valid ZIP (CRCs checked by Python's zipfile) of .npy
// arrays named after the parameters, and --resume reads it back exactly.
TEST(ParamsIo, NpzRoundTripAndValidZip) {
  auto m = compile_text("param W[2, 3] = normal(0, 1)\nparam b[3] = uniform(-1, 1)\nparam s[1] = constant(0.5)\n");
  auto v = initialize(m->params, 9);
  std::string path = ::testing::TempDir() + "gradc_params.npz";
  save_params(path, m->params, v);
  auto back = load_params(path, m->params);
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(back[i].data, v[i].data);
  std::string check = "python3 " GRADC_SOURCE_DIR "/tests/check_npz.py " + path + " W=2x3 b=3 s=1";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  std::remove(path.c_str());
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of the UsageError that f throws.
std::string usage_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

// An example program with `settings` added at the end of its train block.
std::unique_ptr<Module> example(const std::string& name, const std::string& settings = "") {
  SourceFile src = load_source(GRADC_SOURCE_DIR "/examples/" + name);
  src.text.insert(src.text.rfind('}'), settings);
  return compile_module(src, true, read_csv);
}

void expect_same_state(const OptimizerState& a, const OptimizerState& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.epoch, b.epoch);
  for (auto buffer : {&OptimizerState::momentum_buffer, &OptimizerState::exp_avg, &OptimizerState::exp_avg_sq}) {
    ASSERT_EQ((a.*buffer).size(), (b.*buffer).size());
    for (std::size_t p = 0; p < (a.*buffer).size(); ++p) EXPECT_EQ((a.*buffer)[p].data, (b.*buffer)[p].data);
  }
}

// Training 2n epochs straight, and n epochs, saved to `file` (JSON or .npz), loaded and resumed
// for n more, give the same log from epoch n + 1, parameters and optimizer state, bit for bit.
void expect_resume_continues(Module& m, TrainOptions opts, std::int64_t n, const std::string& file) {
  SCOPED_TRACE(file);
  std::string path = ::testing::TempDir() + file;
  opts.record_every = 1;
  opts.epochs = 2 * n;
  TrainResult straight = Trainer(m, shared_jit(), opts).run(nullptr);
  opts.epochs = n;
  TrainResult first = Trainer(m, shared_jit(), opts).run(nullptr);
  save_params(path, m.params, first.params, &first.optimizer);
  Checkpoint c = load_checkpoint(path, m.params, m.training->optimizer.kind);
  std::remove(path.c_str());
  ASSERT_TRUE(c.optimizer);
  EXPECT_EQ(c.optimizer->epoch, n);
  opts.start = c.params;
  opts.state = c.optimizer;
  TrainResult rest = Trainer(m, shared_jit(), opts).run(nullptr);
  ASSERT_FALSE(straight.diverged || first.diverged || rest.diverged);
  ASSERT_EQ(rest.log.size(), static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < rest.log.size(); ++i) {
    const LogLine &a = rest.log[i], &b = straight.log[static_cast<std::size_t>(n) + i];
    EXPECT_EQ(a.epoch, b.epoch);
    EXPECT_EQ(a.step, b.step);
    EXPECT_EQ(a.loss, b.loss) << "epoch " << b.epoch;
    EXPECT_EQ(a.lr, b.lr) << "epoch " << b.epoch;
    EXPECT_TRUE(a.metric == b.metric || (std::isnan(a.metric) && std::isnan(b.metric))) << "epoch " << b.epoch;
  }
  for (std::size_t p = 0; p < m.params.size(); ++p) EXPECT_EQ(rest.params[p].data, straight.params[p].data) << m.params[p].name;
  expect_same_state(rest.optimizer, straight.optimizer);
}

// Adam (its moments and bias correction) on shuffled minibatches of 300 of 1,024 rows.
TEST(Resume, AdamContinuesBitForBit) {
  auto m = example("regression.grad");
  TrainOptions opts;
  opts.batch = 300;
  for (const char* file : {"gradc_resume_adam.json", "gradc_resume_adam.npz"}) expect_resume_continues(*m, opts, 3, file);
  opts.dtype = DType::F32;  // float state, given and taken back in double exactly
  expect_resume_continues(*m, opts, 3, "gradc_resume_adam_f32.npz");
}

// SGD with momentum on shuffled minibatches (64 of 512 rows, then 60 with a remainder of 32).
TEST(Resume, SgdWithMomentumContinuesBitForBit) {
  auto m = example("spiral.grad");
  TrainOptions opts;
  for (const char* file : {"gradc_resume_sgd.json", "gradc_resume_sgd.npz"}) expect_resume_continues(*m, opts, 3, file);
  opts.batch = 60;
  expect_resume_continues(*m, opts, 3, "gradc_resume_sgd60.json");
}

// The schedule sees the continued epoch numbers: lr halves at epochs 3 and 5.
TEST(Resume, StepScheduleContinues) {
  auto m = example("spiral.grad", "  schedule = step(2, 0.5)\n");
  for (const char* file : {"gradc_resume_step.json", "gradc_resume_step.npz"})
    expect_resume_continues(*m, TrainOptions{}, 3, file);
}

// A file without an optimizer state (an older file, or one written by hand): the parameters,
// and a fresh optimizer from epoch 1.
TEST(Resume, ParametersOnlyFileStartsAFreshOptimizer) {
  auto m = compile_text(tiny("adam(lr = 0.05)"));
  TrainResult fresh = Trainer(*m, shared_jit(), TrainOptions{}).run(nullptr);
  for (const char* file : {"gradc_params_only.json", "gradc_params_only.npz"}) {
    std::string path = ::testing::TempDir() + file;
    save_params(path, m->params, initialize(m->params, 7));
    Checkpoint c = load_checkpoint(path, m->params, Optimizer::Adam);
    std::remove(path.c_str());
    EXPECT_FALSE(c.optimizer);
    TrainOptions opts;
    opts.start = c.params;
    TrainResult r = Trainer(*m, shared_jit(), opts).run(nullptr);
    EXPECT_EQ(r.log.back().epoch, 5);
    EXPECT_EQ(r.optimizer.step, 5);
    for (std::size_t p = 0; p < r.params.size(); ++p) EXPECT_EQ(r.params[p].data, fresh.params[p].data);
  }
}

// What the files hold: the .npz's array names and shapes (checked with Python's zipfile), and the
// state read back exactly, for both optimizers.
TEST(Resume, FilesHoldTheDocumentedState) {
  struct Case {
    std::string optimizer, kind;
    std::vector<std::string> buffers;
  };
  for (const Case& c : {Case{"adam(lr = 0.05)", "adam", {"exp_avg", "exp_avg_sq"}},
                        Case{"sgd(lr = 0.1, momentum = 0.9)", "sgd", {"momentum_buffer"}}}) {
    auto m = compile_text(tiny(c.optimizer));
    TrainResult r = Trainer(*m, shared_jit(), TrainOptions{}).run(nullptr);
    for (const char* file : {"gradc_state.json", "gradc_state.npz"}) {
      // The process id in the name: test runs in other checkouts use the same folder at once.
      std::string path = ::testing::TempDir() + std::to_string(::getpid()) + "_" + file;
      save_params(path, m->params, r.params, &r.optimizer);
      expect_same_state(*load_checkpoint(path, m->params, r.optimizer.kind).optimizer, r.optimizer);
      if (std::string(file).ends_with(".npz")) {
        std::string check = "python3 " GRADC_SOURCE_DIR "/tests/check_npz.py " + path + " optimizer." + c.kind +
                            ".step= optimizer." + c.kind + ".epoch=";
        for (const char* shape : {"W1=2x3", "b1=3", "W2=3x1", "b2=1"}) {
          check += std::string(" ") + shape;
          for (const std::string& b : c.buffers) check += " optimizer." + b + "." + shape;
        }
        EXPECT_EQ(std::system(check.c_str()), 0) << check;
      } else {
        std::string text = read_text(path);
        EXPECT_NE(text.find("\"optimizer\": {\"kind\": \"" + c.kind + "\", \"step\": 5, \"epoch\": 5, \"state\": {"), std::string::npos)
            << text;
      }
      std::remove(path.c_str());
    }
  }
}

// Files whose optimizer state does not fit the program, and the exact messages.
TEST(Resume, StateErrors) {
  auto m = compile_text("param W[2] = zeros\nparam v[1] = zeros\n"
                        "train { loss = sum(W * W) + sum(v)\n optimizer = sgd(lr = 0.1, momentum = 0.9) }");
  std::string path = ::testing::TempDir() + "gradc_bad_state.json";
  auto error = [&](const std::string& optimizer) {
    std::ofstream(path) << R"({"format": "gradc-params", "params": {"W": {"shape": [2], "data": [1, 2]}, )"
                           R"("v": {"shape": [1], "data": [3]}}, "optimizer": )"
                        << optimizer << "}";
    return usage_error([&] { load_checkpoint(path, m->params, Optimizer::Sgd); });
  };
  std::string file = "'" + path + "'";
  EXPECT_EQ(error(R"({"kind": "adam", "step": 4, "epoch": 2, "state": {}})"),
            file + " holds the state of an adam optimizer but the train block's optimizer is sgd");
  EXPECT_EQ(error(R"({"kind": "sgd", "step": 4, "epoch": 2, "state": {"W": {"momentum_buffer": {"shape": [3], "data": [1, 2, 3]}},)"
                  R"( "v": {"momentum_buffer": {"shape": [1], "data": [1]}}}})"),
            file + ": the momentum_buffer of parameter 'W' has shape [3] in the file but [2] in the program");
  EXPECT_EQ(error(R"({"kind": "sgd", "step": 4, "epoch": 2, "state": {"W": {"momentum_buffer": {"shape": [2], "data": [1, 2]}}}})"),
            file + " has no values for the momentum_buffer of parameter 'v'");
  EXPECT_EQ(error(R"({"kind": "sgd", "step": 2.5, "epoch": 2, "state": {}})"),
            file + ": optimizer.sgd.step is 2.5, not a whole number from 0 to 9007199254740991");
  EXPECT_EQ(error(R"({"kind": "rmsprop", "step": 4, "epoch": 2, "state": {}})"),
            file + ": unknown optimizer kind 'rmsprop' (sgd, adam)");
  EXPECT_TRUE(error(R"({"kind": "sgd", "epoch": 2, "state": {}})").starts_with(file + ": the optimizer state is malformed"));
  std::remove(path.c_str());
}

// The CLI end to end: `train --epochs 6 --save` writes the same bytes as `--epochs 3 --save`
// then `--resume --epochs 3 --save`, through either format.
TEST(Resume, CliContinuesByteForByte) {
  // Names of this process's own (ctest runs of other checkouts may run at the same time).
  std::string dir = ::testing::TempDir() + std::to_string(::getpid()) + "_", train = GRADC_BINARY " train " GRADC_SOURCE_DIR "/examples/spiral.grad --quiet --epochs ";
  for (const char* half : {"gradc_cli_half.json", "gradc_cli_half.npz"}) {
    for (std::string args : {"6 --save " + dir + "gradc_cli_full.json", "3 --save " + dir + half,
                             "3 --resume " + dir + half + " --save " + dir + "gradc_cli_rest.json"})
      ASSERT_EQ(std::system((train + args).c_str()), 0) << train + args;
    EXPECT_EQ(read_text(dir + "gradc_cli_rest.json"), read_text(dir + "gradc_cli_full.json"));
    for (std::string f : {"gradc_cli_full.json", "gradc_cli_rest.json", half}) std::remove((dir + f).c_str());
  }
}
// The CLI's --threads: `train` saves the same bytes on 1 and 2 threads, and `emit --stage llvm`
// shows the step kernel for the threads (its parts called through gradc_parallel) and dtype.
TEST(Training, CliThreads) {
  std::string dir = ::testing::TempDir(), file = dir + "gradc_wide_layer.grad";
  {
    std::ofstream(file) << wide_layer_program();
  }
  std::string train = GRADC_BINARY " train " + file + " --quiet --save " + dir;
  ASSERT_EQ(std::system((train + "gradc_t1.json --threads 1").c_str()), 0);
  ASSERT_EQ(std::system((train + "gradc_t2.json --threads 2").c_str()), 0);
  EXPECT_EQ(read_text(dir + "gradc_t1.json"), read_text(dir + "gradc_t2.json"));
  std::string emit = GRADC_BINARY " emit " + file + " --stage llvm --dtype f32 --threads 2 > " + dir + "gradc_t.ll";
  ASSERT_EQ(std::system(emit.c_str()), 0);
  std::string ir = read_text(dir + "gradc_t.ll");
  EXPECT_NE(ir.find("call void @gradc_parallel("), std::string::npos);
  EXPECT_NE(ir.find("define internal void @step.part("), std::string::npos);
  EXPECT_NE(ir.find(" x float>"), std::string::npos);  // vectors of float
  EXPECT_EQ(std::system(GRADC_BINARY " train " GRADC_SOURCE_DIR "/examples/xor.grad --quiet --threads 0 2> /dev/null"), 2 << 8);
  for (std::string f : {"gradc_wide_layer.grad", "gradc_t1.json", "gradc_t2.json", "gradc_t.ll"}) std::remove((dir + f).c_str());
}

}  // namespace
}  // namespace gradc::test
