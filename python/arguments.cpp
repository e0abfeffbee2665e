// Python arguments to a kernel's input rows: by position or name, NumPy broadcasting over
// leading axes, arrays of whole points used in place.
#include <fmt/format.h>

#include <algorithm>

#include "python/state.hpp"
#include "support/diagnostics.hpp"

namespace gradc::python {

namespace {

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

std::string shape_str(const py::ssize_t* dims, std::size_t rank) {
  std::string s = "[";
  for (std::size_t a = 0; a < rank; ++a) s += (a ? ", " : "") + std::to_string(dims[a]);
  return s + "]";
}

std::string names(const Function& f) {
  std::string s;
  for (const Node* p : f.params) s += (s.empty() ? "" : ", ") + p->name;
  return s;
}

// obj as a C-contiguous float64 array (the same object when it is one already).
Array as_array(const py::handle& obj, const std::string& name) {
  // NumPy reads None as nan: refused, as a value left out by mistake.
  Array a = obj.is_none() ? Array() : Array::ensure(obj);
  if (obj.is_none() || !a) {
    PyErr_Clear();
    usage_error(fmt::format("'{}': expected a number or an array of numbers, not {}", name,
                            std::string(py::str(py::type::of(obj).attr("__name__")))));
  }
  return a;
}

}  // namespace

Points resolve_arguments(const Function& f, const py::args& args, const py::kwargs& kwargs) {
  const std::size_t k = f.params.size();
  std::size_t n = 0;
  for (const Node* p : f.params) n += static_cast<std::size_t>(p->shape.size());
  Points pts;

  // One array of whole points: [..., n], in place.
  if (k > 1 && args.size() == 1 && kwargs.empty()) {
    Array a = as_array(args[0], f.params[0]->name);
    if (a.ndim() >= 1) {
      if (static_cast<std::size_t>(a.shape(a.ndim() - 1)) != n)
        usage_error(fmt::format("'{}' takes {} arguments ({}), or one array of points of shape [..., {}]; this "
                                "array has shape {}",
                                f.name, k, names(f), n, shape_str(a.shape(), static_cast<std::size_t>(a.ndim()))));
      pts.batch.assign(a.shape(), a.shape() + a.ndim() - 1);
      pts.rows = 1;
      for (py::ssize_t d : pts.batch) pts.rows *= static_cast<std::size_t>(d);
      pts.in = a.data();
      pts.keep = std::move(a);
      return pts;
    }
  }

  if (args.size() > k)
    usage_error(fmt::format("'{}' takes {} argument{} ({}); {} given", f.name, k, k == 1 ? "" : "s", names(f),
                            args.size()));
  std::vector<Array> given(k);
  std::vector<bool> has(k, false);
  for (std::size_t i = 0; i < args.size(); ++i) given[i] = as_array(args[i], f.params[i]->name), has[i] = true;
  for (auto [key, value] : kwargs) {
    std::string name = py::str(key);
    auto it = std::find_if(f.params.begin(), f.params.end(), [&](const Node* p) { return p->name == name; });
    if (it == f.params.end())
      usage_error(fmt::format("'{}' is not a parameter of '{}' (parameters: {})", name, f.name, names(f)));
    std::size_t i = static_cast<std::size_t>(it - f.params.begin());
    if (has[i]) usage_error(fmt::format("'{}' is given twice", name));
    given[i] = as_array(value, name), has[i] = true;
  }

  // Each value: leading (batch) axes, then its parameter's shape.
  std::vector<std::vector<py::ssize_t>> lead(k);
  std::size_t rank = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const Node* p = f.params[i];
    if (!has[i])
      usage_error(fmt::format("no value for parameter '{}' of '{}' (parameters: {})", p->name, f.name, names(f)));
    const Array& a = given[i];
    const auto r = static_cast<py::ssize_t>(p->shape.rank);
    bool fits = a.ndim() >= r;
    for (py::ssize_t ax = 0; fits && ax < r; ++ax) fits = a.shape(a.ndim() - r + ax) == p->shape[static_cast<int>(ax)];
    if (!fits)
      usage_error(fmt::format("'{}' has shape {}; this value has shape {}", p->name, p->shape.str(),
                              shape_str(a.shape(), static_cast<std::size_t>(a.ndim()))));
    lead[i].assign(a.shape(), a.shape() + a.ndim() - r);
    rank = std::max(rank, lead[i].size());
  }
  // NumPy's broadcasting of the leading axes, aligned on the right.
  pts.batch.assign(rank, 1);
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t ax = 0; ax < lead[i].size(); ++ax) {
      py::ssize_t& b = pts.batch[rank - lead[i].size() + ax];
      py::ssize_t d = lead[i][ax];
      if (d == b || d == 1) continue;
      if (b != 1) {
        std::string shapes;
        for (std::size_t j = 0; j < k; ++j)
          shapes += fmt::format("{}{} {}", j ? ", " : "", f.params[j]->name, shape_str(lead[j].data(), lead[j].size()));
        usage_error(fmt::format("the arguments' leading axes do not broadcast together ({})", shapes));
      }
      b = d;
    }
  pts.rows = 1;
  for (py::ssize_t d : pts.batch) pts.rows *= static_cast<std::size_t>(d);

  // Gather the rows: row r holds every parameter's elements at r's index in the batch.
  pts.buffer.resize(pts.rows * n);
  std::vector<py::ssize_t> idx(rank, 0);
  for (std::size_t r = 0; r < pts.rows; ++r) {
    double* row = &pts.buffer[r * n];
    for (std::size_t i = 0; i < k; ++i) {
      const auto size = static_cast<std::size_t>(f.params[i]->shape.size());
      // The point's offset in the value: its leading index, with axes of length 1 repeated.
      std::size_t at = 0, skip = rank - lead[i].size();
      for (std::size_t ax = 0; ax < lead[i].size(); ++ax)
        at = at * static_cast<std::size_t>(lead[i][ax]) + (lead[i][ax] == 1 ? 0 : static_cast<std::size_t>(idx[skip + ax]));
      std::copy_n(given[i].data() + at * size, size, row);
      row += size;
    }
    for (std::size_t ax = rank; ax-- > 0;) {
      if (++idx[ax] < pts.batch[ax]) break;
      idx[ax] = 0;
    }
  }
  pts.in = pts.buffer.data();
  return pts;
}

}  // namespace gradc::python
