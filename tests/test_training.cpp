// The training runtime: SGD and Adam steps against an independent plain C++ implementation,
// reproducibility, initialisers, the examples' accuracy, and bad training programs.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/train.hpp"
#include "support/helpers.hpp"

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
    std::vector<double> gW1(6, 0), gb1(3, 0), gW2(3, 0), gb2(1, 0);
    double loss = 0;
    for (int i = first; i < first + n; ++i) {
      double h[3], out = b2[0];
      for (int j = 0; j < 3; ++j) {
        double z = b1[j];
        for (int k = 0; k < 2; ++k) z += X[i][k] * W1[k * 3 + j];
        h[j] = std::tanh(z);
        out += h[j] * W2[j];
      }
      double d = out - Y[i];
      loss += d * d / n;
      double dout = 2 * d / n;
      gb2[0] += dout;
      for (int j = 0; j < 3; ++j) {
        gW2[j] += h[j] * dout;
        double dz = dout * W2[j] * (1 - h[j] * h[j]);
        gb1[j] += dz;
        for (int k = 0; k < 2; ++k) gW1[k * 3 + j] += X[i][k] * dz;
      }
    }
    g[0] = gW1, g[1] = gb1, g[2] = gW2, g[3] = gb2;
    return loss;
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
  auto spiral = compile_module(load_source(GRADC_SOURCE_DIR "/examples/spiral.grad"));
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
  auto m = compile_module(load_source(GRADC_SOURCE_DIR "/examples/xor.grad"));
  Trainer t(*m, shared_jit(), TrainOptions{});
  TrainResult r = t.run(nullptr);
  ASSERT_FALSE(r.diverged);
  EXPECT_EQ(r.log.back().metric, 1.0);
  EXPECT_LT(r.log.back().loss, 0.05);
}

TEST(Training, SpiralExampleReaches95Percent) {
  auto m = compile_module(load_source(GRADC_SOURCE_DIR "/examples/spiral.grad"));
  Trainer t(*m, shared_jit(), TrainOptions{});
  EXPECT_EQ(t.rows(), 512);
  EXPECT_EQ(t.config().batch, 64);
  TrainResult r = t.run(nullptr);
  ASSERT_FALSE(r.diverged);
  EXPECT_GE(r.log.back().metric, 0.95);
}

TEST(Training, RegressionExampleFitsTheNoiseLevel) {
  auto m = compile_module(load_source(GRADC_SOURCE_DIR "/examples/regression.grad"));
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
        BadProgram{"data X = [[1, 2], [3]]", "1:19: ragged tensor literal: 1 elements here, 2 in the first row at this depth"},
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

#include "runtime/params_io.hpp"
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
}  // namespace
}  // namespace gradc::test
