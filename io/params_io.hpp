// Saving and loading parameter values and the optimizer state that goes with them, written
// atomically: NumPy's .npz when the path ends in .npz (np.load(path)["net.0.W"]), else JSON
// with names and shapes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "compiler/lower.hpp"
#include "runtime/train.hpp"

namespace gradc {

/// JSON: {"format": "gradc-params", "params": {"W1": {"shape": [2, 8], "data": [...]}, ...},
/// "optimizer": {"kind": "adam", "step": 600, "epoch": 300, "state": {"W1": {"exp_avg": {"shape":
/// [2, 8], "data": [...]}, "exp_avg_sq": {...}}, ...}}}, numbers with 17 significant digits.
/// .npz: one float64 array per parameter, named after it; the optimizer's counters as 0-d
/// float64 arrays optimizer.KIND.step and optimizer.KIND.epoch (KIND: sgd or adam), and each
/// buffer as optimizer.BUFFER.PARAM (BUFFER: momentum_buffer, exp_avg, exp_avg_sq). A run
/// interrupted inside an epoch adds "epoch_rows" and "epoch_loss" (optimizer.KIND.epoch_rows and
/// .epoch_loss): where in the next epoch it stopped (OptimizerState).
/// Without `optimizer`, the parameters only. Written to a temporary file and renamed.
void save_params(const std::string& path, const std::vector<Param>& params, const std::vector<Tensor>& values,
                 const OptimizerState* optimizer = nullptr);

/// Reads values for `params` (by name; every parameter must be present with its shape).
/// Throws UsageError naming the file and the problem.
std::vector<Tensor> load_params(const std::string& path, const std::vector<Param>& params);

struct Checkpoint {
  std::vector<Tensor> params;
  std::optional<OptimizerState> optimizer;  // none in a parameters-only file
};

/// load_params, and the optimizer state when the file has one. The state must be of `kind` (the
/// train block's optimizer) and each of its buffers present for every parameter or for none,
/// shaped like it; else UsageError.
Checkpoint load_checkpoint(const std::string& path, const std::vector<Param>& params, Optimizer::Kind kind);

}  // namespace gradc
