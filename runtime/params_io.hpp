// Saving and loading parameter values, written atomically: NumPy's .npz when the path ends in
// .npz (np.load(path)["net.0.W"]), else JSON with names and shapes.
#pragma once
#include <string>
#include <vector>

#include "compiler/lower.hpp"

namespace gradc {

/// {"format": "gradc-params", "params": {"W1": {"shape": [2, 8], "data": [...]}, ...}}, numbers
/// with 17 significant digits. Written to a temporary file and renamed.
void save_params(const std::string& path, const std::vector<Param>& params, const std::vector<Tensor>& values);

/// Reads values for `params` (by name; every parameter must be present with its shape).
/// Throws UsageError naming the file and the problem.
std::vector<Tensor> load_params(const std::string& path, const std::vector<Param>& params);

}  // namespace gradc
