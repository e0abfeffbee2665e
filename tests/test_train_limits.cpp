// Trust in the training runtime: the one range check of hyperparameters, f32 optimizer
// constants, label checks, unused parameters, limits on epochs, and interrupts.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "io/params_io.hpp"
#include "runtime/train.hpp"
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

}  // namespace
}  // namespace gradc::test
