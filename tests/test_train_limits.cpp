// Trust in the training runtime: the one range check of hyperparameters, f32 optimizer
// constants, label checks, unused parameters, limits on epochs, and interrupts.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace gradc::test
