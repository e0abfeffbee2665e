// NumPy's .npz format: a ZIP archive of .npy arrays, one per name.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "compiler/interp.hpp"

namespace gradc {

/// The bytes of an .npz archive holding each (name, tensor) as NAME.npy, float64, C order.
std::string npz_bytes(const std::vector<std::pair<std::string, Tensor>>& arrays);

/// Reads an .npz archive written by npz_bytes, numpy.savez or numpy.savez_compressed: stored or
/// deflated entries, ZIP64, .npy versions 1 to 3; float64/32, integer and bool arrays of either
/// byte order, in C or Fortran order (transposed into C order), as float64. At most
/// 2^27 elements and 3 dimensions per array. Throws std::runtime_error describing what is wrong
/// (object arrays, other dtypes, corrupt or truncated archives, CRC mismatches).
std::vector<std::pair<std::string, Tensor>> read_npz(const std::string& bytes);

}  // namespace gradc
