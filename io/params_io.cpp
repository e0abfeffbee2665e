// Parameter files (nlohmann::json for reading; numbers are written by fmt, 17 digits).
#include "io/params_io.hpp"

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "io/csv.hpp"
#include "io/file.hpp"
#include "io/npz.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace gradc {

namespace {
bool is_npz(const std::string& path) { return path.size() > 4 && path.compare(path.size() - 4, 4, ".npz") == 0; }

const char* kind_name(Optimizer::Kind k) { return k == Optimizer::Adam ? "adam" : "sgd"; }

// Each optimizer's per-parameter buffers, by PyTorch's names.
std::vector<std::pair<std::string, std::vector<Tensor> OptimizerState::*>> buffers(Optimizer::Kind k) {
  if (k == Optimizer::Adam) return {{"exp_avg", &OptimizerState::exp_avg}, {"exp_avg_sq", &OptimizerState::exp_avg_sq}};
  return {{"momentum_buffer", &OptimizerState::momentum_buffer}};
}

// The .npz names of the optimizer state; a JSON file's state is read into the same names.
std::string counter_name(const std::string& kind, const char* counter) { return fmt::format("optimizer.{}.{}", kind, counter); }
std::string buffer_name(const std::string& buffer, const std::string& param) {
  return fmt::format("optimizer.{}.{}", buffer, param);
}

// The largest tensor a checkpoint may hold: the compiler's limit (compiler/model.cpp).
constexpr std::int64_t kMaxElements = std::int64_t(1) << 27;
// Resuming replays the shuffles of every earlier epoch: a larger count is not a real run.
constexpr std::int64_t kMaxEpoch = (std::int64_t(1) << 31) - 1;
constexpr std::int64_t kMaxStep = (std::int64_t(1) << 53) - 1;  // exact in a double

// "W[1, 0]" for element k of a tensor of shape s, "W" for a scalar.
std::string element_name(const std::string& what, const Shape& s, std::size_t k) {
  if (s.rank == 0) return what;
  std::string idx;
  for (int d = s.rank - 1; d >= 0; --d) {
    idx = fmt::format("{}{}", k % static_cast<std::size_t>(s[d]), d == s.rank - 1 ? "" : ", " + idx);
    k /= static_cast<std::size_t>(s[d]);
  }
  return fmt::format("{} element [{}]", what, idx);
}

// Checkpoints hold finite numbers only: JSON has no inf or nan, and a non-finite parameter
// cannot continue training. `verb` says whether it was being saved or read.
void check_finite(const std::string& path, const std::string& what, const Tensor& t, const char* verb) {
  for (std::size_t k = 0; k < t.data.size(); ++k)
    if (!std::isfinite(t.data[k]))
      throw UsageError(fmt::format("cannot {} '{}': {} is {}; checkpoints hold only finite numbers", verb, path,
                                   element_name(what, t.shape, k), t.data[k]));
}

// 17 significant digits round-trip every double; -0 is written -0.0, because a JSON reader takes
// "-0" for the integer 0 and loses the sign.
std::string json_number(double v) {
  if (v == 0 && std::signbit(v)) return "-0.0";
  return fmt::format("{:.17g}", v);
}

std::string json_tensor(const Tensor& t) {
  std::string dims, data;
  for (int d = 0; d < t.shape.rank; ++d) dims += fmt::format("{}{}", d ? ", " : "", t.shape[d]);
  for (std::size_t k = 0; k < t.data.size(); ++k) data += fmt::format("{}{}", k ? ", " : "", json_number(t.data[k]));
  return fmt::format("{{\"shape\": [{}], \"data\": [{}]}}", dims, data);
}

// A JSON object of "name": value members, one per line.
std::string json_object(const std::vector<std::string>& members) {
  std::string s = "{";
  for (std::size_t i = 0; i < members.size(); ++i) s += fmt::format("{}\n  {}", i ? "," : "", members[i]);
  return s + (members.empty() ? "}" : "\n}");
}

using Arrays = std::map<std::string, Tensor>;

// Every array of the file by its .npz name.
Arrays read_arrays(const std::string& path) {
  std::string bytes = read_file(path);
  // A ZIP archive is .npz whatever its name (`-` has none); anything else is JSON.
  if (is_npz(path) || bytes.rfind("PK\x03\x04", 0) == 0) {
    try {
      auto arrays = read_npz(bytes);
      return Arrays(arrays.begin(), arrays.end());
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("'{}': {}", path, e.what()));
    }
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("'{}' is not a parameter file: {}", path, e.what()));
  }
  Arrays a;
  std::string what;  // the entry being read, for errors
  auto tensor = [&](const nlohmann::json& e) {
    // The shape: whole numbers of at least 1 (not 1.9, not 1e30), checked before they multiply.
    const nlohmann::json& shape = e.at("shape");
    if (!shape.is_array()) throw UsageError(fmt::format("'{}': {} has shape {}, not a list", path, what, shape.dump()));
    std::vector<std::int64_t> dims;
    std::int64_t product = 1;
    auto too_large = [&] {
      return UsageError(fmt::format("'{}': {} has shape {}, more than {} elements", path, what, shape.dump(), kMaxElements));
    };
    for (const nlohmann::json& d : shape) {
      if (d.is_number_unsigned() && d.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxElements)) throw too_large();
      if (!d.is_number_integer() || d.get<std::int64_t>() < 1)
        throw UsageError(fmt::format("'{}': {} has shape {}: dimensions are whole numbers of at least 1", path, what,
                                     shape.dump()));
      dims.push_back(d.get<std::int64_t>());
      if (dims.back() > kMaxElements || (product *= dims.back()) > kMaxElements) throw too_large();
    }
    Tensor t{Shape::of(dims), e.at("data").get<std::vector<double>>()};
    if (static_cast<std::int64_t>(t.data.size()) != t.shape.size())
      throw UsageError(fmt::format("'{}': {} has {} numbers for shape {}", path, what, t.data.size(), t.shape.str()));
    return t;
  };
  try {
    if (j.contains("params"))
      for (const auto& [name, e] : j["params"].items()) {
        what = fmt::format("parameter '{}'", name);
        a[name] = tensor(e);
      }
    if (j.contains("optimizer")) {
      const nlohmann::json& o = j["optimizer"];
      what = "the optimizer state";
      std::string kind = o.at("kind").get<std::string>();
      if (kind != kind_name(Optimizer::Sgd) && kind != kind_name(Optimizer::Adam))
        throw UsageError(fmt::format("'{}': unknown optimizer kind '{}' (sgd, adam)", path, kind));
      for (const char* counter : {"step", "epoch", "epoch_rows", "epoch_loss"}) {
        // epoch_rows and epoch_loss: an interrupted run's place inside its epoch (only then present)
        if (!o.contains(counter) && std::string_view(counter).rfind("epoch_", 0) == 0) continue;
        const nlohmann::json& v = o.at(counter);
        if (!v.is_number())
          throw UsageError(fmt::format("'{}': the optimizer's \"{}\" is {}, not a number", path, counter, v.dump()));
        a[counter_name(kind, counter)] = Tensor::scalar(v.get<double>());
      }
      for (const auto& [name, state] : o.at("state").items())
        for (const auto& [buffer, e] : state.items()) {
          what = fmt::format("the {} of parameter '{}'", buffer, name);
          a[buffer_name(buffer, name)] = tensor(e);
        }
    }
  } catch (const nlohmann::json::exception& ex) {
    throw UsageError(fmt::format("'{}': {} is malformed: {}", path, what, ex.what()));
  } catch (const ShapeError& ex) {
    throw UsageError(fmt::format("'{}': {}: {}", path, what, ex.what()));
  }
  return a;
}

// The array `key` of the file, which must have `shape`; `what` names it in errors.
const Tensor& checked(const std::string& path, const Arrays& a, const std::string& key, const std::string& what,
                      const Shape& shape) {
  auto it = a.find(key);
  if (it == a.end()) throw UsageError(fmt::format("'{}' has no values for {}", path, what));
  if (!(it->second.shape == shape))
    throw UsageError(fmt::format("'{}': {} has shape {} in the file but {} in the program", path, what,
                                 it->second.shape.str(), shape.str()));
  check_finite(path, what, it->second, "read");
  return it->second;
}

std::vector<Tensor> params_from(const std::string& path, const Arrays& a, const std::vector<Param>& params) {
  std::vector<Tensor> out;
  for (const Param& p : params) out.push_back(checked(path, a, p.name, fmt::format("parameter '{}'", p.name), p.shape));
  return out;
}

// A counter of the optimizer state: a whole number from 0 to `max`.
std::int64_t counter(const std::string& path, const Arrays& a, const std::string& key, std::int64_t max) {
  double v = checked(path, a, key, key, Shape{}).data[0];
  if (!(v >= 0 && v == std::floor(v) && v <= static_cast<double>(max)))
    throw UsageError(fmt::format("'{}': {} is {}, not a whole number from 0 to {}", path, key, v, max));
  return static_cast<std::int64_t>(v);
}

}  // namespace

void save_params(const std::string& path, const std::vector<Param>& params, const std::vector<Tensor>& values,
                 const OptimizerState* optimizer) {
  // Refused before anything is written: the earlier file, if any, stays as it was.
  for (std::size_t i = 0; i < params.size(); ++i)
    check_finite(path, fmt::format("parameter '{}'", params[i].name), values[i], "save");
  if (optimizer)
    for (const auto& [buffer, member] : buffers(optimizer->kind))
      for (std::size_t i = 0; i < (optimizer->*member).size(); ++i)
        check_finite(path, fmt::format("the {} of parameter '{}'", buffer, params[i].name), (optimizer->*member)[i], "save");
  if (is_npz(path)) {
    std::vector<std::pair<std::string, Tensor>> arrays;
    for (std::size_t i = 0; i < params.size(); ++i) arrays.emplace_back(params[i].name, values[i]);
    if (optimizer) {
      const char* kind = kind_name(optimizer->kind);
      arrays.emplace_back(counter_name(kind, "step"), Tensor::scalar(static_cast<double>(optimizer->step)));
      arrays.emplace_back(counter_name(kind, "epoch"), Tensor::scalar(static_cast<double>(optimizer->epoch)));
      if (optimizer->epoch_rows) {
        arrays.emplace_back(counter_name(kind, "epoch_rows"), Tensor::scalar(static_cast<double>(optimizer->epoch_rows)));
        arrays.emplace_back(counter_name(kind, "epoch_loss"), Tensor::scalar(optimizer->epoch_loss));
      }
      for (const auto& [buffer, member] : buffers(optimizer->kind))
        for (std::size_t i = 0; i < (optimizer->*member).size(); ++i)
          arrays.emplace_back(buffer_name(buffer, params[i].name), (optimizer->*member)[i]);
    }
    return write_file_atomic(path, npz_bytes(arrays));
  }
  std::vector<std::string> ps;
  for (std::size_t i = 0; i < params.size(); ++i) ps.push_back(fmt::format("\"{}\": {}", params[i].name, json_tensor(values[i])));
  std::string s = "{\"format\": \"gradc-params\", \"params\": " + json_object(ps);
  if (optimizer) {
    std::vector<std::string> state;
    for (std::size_t i = 0; i < params.size(); ++i) {
      std::string bufs;
      for (const auto& [buffer, member] : buffers(optimizer->kind))
        if (!(optimizer->*member).empty())
          bufs += fmt::format("{}\"{}\": {}", bufs.empty() ? "" : ", ", buffer, json_tensor((optimizer->*member)[i]));
      if (!bufs.empty()) state.push_back(fmt::format("\"{}\": {{{}}}", params[i].name, bufs));
    }
    std::string place = optimizer->epoch_rows ? fmt::format(", \"epoch_rows\": {}, \"epoch_loss\": {:.17g}", optimizer->epoch_rows,
                                                            optimizer->epoch_loss)
                                              : "";
    s += fmt::format(",\n\"optimizer\": {{\"kind\": \"{}\", \"step\": {}, \"epoch\": {}{}, \"state\": {}}}",
                     kind_name(optimizer->kind), optimizer->step, optimizer->epoch, place, json_object(state));
  }
  write_file_atomic(path, s + "}\n");
}

std::vector<Tensor> load_params(const std::string& path, const std::vector<Param>& params) {
  return params_from(path, read_arrays(path), params);
}

Checkpoint load_checkpoint(const std::string& path, const std::vector<Param>& params, Optimizer::Kind kind) {
  Arrays a = read_arrays(path);
  Checkpoint c{params_from(path, a, params), std::nullopt};
  for (Optimizer::Kind k : {Optimizer::Sgd, Optimizer::Adam}) {
    if (!a.count(counter_name(kind_name(k), "step"))) continue;
    if (k != kind)
      throw UsageError(fmt::format("'{}' holds the state of an {} optimizer but the train block's optimizer is {}", path,
                                   kind_name(k), kind_name(kind)));
    OptimizerState s{kind, counter(path, a, counter_name(kind_name(k), "step"), kMaxStep),
                     counter(path, a, counter_name(kind_name(k), "epoch"), kMaxEpoch), {}, {}, {}, 0, 0};
    if (a.count(counter_name(kind_name(k), "epoch_rows"))) {
      s.epoch_rows = counter(path, a, counter_name(kind_name(k), "epoch_rows"), kMaxStep);
      s.epoch_loss = checked(path, a, counter_name(kind_name(k), "epoch_loss"), counter_name(kind_name(k), "epoch_loss"), Shape{}).data[0];
    }
    for (const auto& [buffer, member] : buffers(kind)) {
      // A buffer the optimizer has not made yet is absent for every parameter.
      if (std::none_of(params.begin(), params.end(), [&](const Param& p) { return a.count(buffer_name(buffer, p.name)); }))
        continue;
      for (const Param& p : params)
        (s.*member).push_back(checked(path, a, buffer_name(buffer, p.name),
                                      fmt::format("the {} of parameter '{}'", buffer, p.name), p.shape));
    }
    c.optimizer = std::move(s);
  }
  return c;
}

}  // namespace gradc
