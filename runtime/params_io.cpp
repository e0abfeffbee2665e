// Parameter files (nlohmann::json for reading; numbers are written by fmt, 17 digits).
#include "runtime/params_io.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/csv.hpp"
#include "runtime/npz.hpp"

#include <algorithm>
#include <iterator>

namespace gradc {

namespace {
bool is_npz(const std::string& path) { return path.size() > 4 && path.compare(path.size() - 4, 4, ".npz") == 0; }
}  // namespace

void save_params(const std::string& path, const std::vector<Param>& params, const std::vector<Tensor>& values) {
  if (is_npz(path)) {
    std::vector<std::pair<std::string, Tensor>> arrays;
    for (std::size_t i = 0; i < params.size(); ++i) arrays.emplace_back(params[i].name, values[i]);
    return write_file_atomic(path, npz_bytes(arrays));
  }
  std::string s = "{\"format\": \"gradc-params\", \"params\": {";
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Shape& sh = params[i].shape;
    std::string dims, data;
    for (int d = 0; d < sh.rank; ++d) dims += fmt::format("{}{}", d ? ", " : "", sh[d]);
    for (std::size_t k = 0; k < values[i].data.size(); ++k) data += fmt::format("{}{:.17g}", k ? ", " : "", values[i].data[k]);
    s += fmt::format("{}\n  \"{}\": {{\"shape\": [{}], \"data\": [{}]}}", i ? "," : "", params[i].name, dims, data);
  }
  s += "\n}}\n";
  write_file_atomic(path, s);
}

std::vector<Tensor> load_params(const std::string& path, const std::vector<Param>& params) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("cannot open '{}'", path));
  if (is_npz(path)) {
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::pair<std::string, Tensor>> arrays;
    try {
      arrays = read_npz(bytes);
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("'{}': {}", path, e.what()));
    }
    std::vector<Tensor> out;
    for (const Param& p : params) {
      auto it = std::find_if(arrays.begin(), arrays.end(), [&](const auto& a) { return a.first == p.name; });
      if (it == arrays.end()) throw UsageError(fmt::format("'{}' has no values for parameter '{}'", path, p.name));
      if (!(it->second.shape == p.shape))
        throw UsageError(fmt::format("'{}': parameter '{}' has shape {} in the file but {} in the program", path,
                                     p.name, it->second.shape.str(), p.shape.str()));
      out.push_back(it->second);
    }
    return out;
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("'{}' is not a parameter file: {}", path, e.what()));
  }
  std::vector<Tensor> out;
  for (const Param& p : params) {
    if (!j.contains("params") || !j["params"].contains(p.name))
      throw UsageError(fmt::format("'{}' has no values for parameter '{}'", path, p.name));
    const auto& e = j["params"][p.name];
    std::vector<std::int64_t> dims;
    try {
      dims = e.at("shape").get<std::vector<std::int64_t>>();
      Tensor t{Shape::of(dims), e.at("data").get<std::vector<double>>()};
      if (!(t.shape == p.shape) || static_cast<std::int64_t>(t.data.size()) != p.shape.size())
        throw UsageError(fmt::format("'{}': parameter '{}' has shape {} in the file but {} in the program", path,
                                     p.name, t.shape.str(), p.shape.str()));
      out.push_back(std::move(t));
    } catch (const nlohmann::json::exception& ex) {
      throw UsageError(fmt::format("'{}': parameter '{}' is malformed: {}", path, p.name, ex.what()));
    } catch (const ShapeError& ex) {
      throw UsageError(fmt::format("'{}': parameter '{}': {}", path, p.name, ex.what()));
    }
  }
  return out;
}

}  // namespace gradc
