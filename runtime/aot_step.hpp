// A training program ahead of time: the fused step kernel, the optimizer update and predict in
// one object, behind a small C API (NAME_init, NAME_step, NAME_params, NAME_predict, ...).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/lower.hpp"
#include "runtime/aot.hpp"

namespace gradc {

struct StepSpec {
  std::string name;    // the C prefix
  KernelSpec step;     // inputs: every parameter, then each data input's `batch` rows; outputs: loss, gradients
  KernelSpec predict;  // inputs: every parameter, then one row of features; outputs: one row of the network
  std::vector<std::int64_t> data_sizes;  // elements of each data input in a minibatch (kernel order)
  // The data's rows % batch: a step of its own closes each epoch, as in gradc train (0: none).
  std::int64_t tail_rows = 0;
  KernelSpec tail;                       // the step for tail_rows rows (when tail_rows > 0)
  std::vector<std::int64_t> tail_sizes;  // elements of each data input in it
  std::int64_t params = 0, features = 0, outputs = 0;
  std::vector<double> init;  // the initial parameters, flat (rounded to the dtype in the object)
  Optimizer optimizer;
  Schedule schedule;
  std::int64_t epochs = 1;           // the schedule's last epoch (cosine)
  std::int64_t steps_per_epoch = 1;  // the learning rate changes after each this many steps
};

struct StepObject {
  std::string bytes;
  std::uint64_t state_bytes = 0;   // sizeof(NAME_state)
  std::uint64_t thread_bytes = 0;  // thread_local storage per calling thread
  std::string triple, cpu;
};

/// The object with the entries (T: float for F32, else double)
///   size_t NAME_state_size(void);
///   void NAME_init(NAME_state*);
///   void NAME_set_params(NAME_state*, const T* flat);
///   void NAME_params(const NAME_state*, T* flat);
///   double NAME_step(NAME_state*, const T* data0, const T* data1, ...);
///   double NAME_step_tail(NAME_state*, const T* data0, ...);      // when tail_rows > 0
///   void NAME_predict(const NAME_state*, size_t rows, const T* x, T* out);
/// The update is Trainer::run's (runtime/update.cpp: no fma contraction, the same operation
/// order; libm's pow, cos and sqrt), so a C program's training equals `gradc train`'s bits.
StepObject compile_step_object(const StepSpec& spec, const AotTarget& target);

}  // namespace gradc
