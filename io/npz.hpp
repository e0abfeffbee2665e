// NumPy's .npz format: a ZIP archive (stored, uncompressed) of .npy arrays, one per name.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "compiler/interp.hpp"

namespace gradc {

/// The bytes of an .npz archive holding each (name, tensor) as NAME.npy, float64, C order.
std::string npz_bytes(const std::vector<std::pair<std::string, Tensor>>& arrays);

/// Reads an .npz archive written by npz_bytes or by numpy.savez (stored entries; float64,
/// float32 or int64 arrays in C order). Throws std::runtime_error describing what is wrong.
std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& bytes);

}  // namespace gradc
