// The Python module's kernels: planned as `gradc eval` plans them, compiled once per function,
// kind and batch, run with the GIL released for a batch.
#include <fmt/format.h>

#include "python/state.hpp"
#include "runtime/object_cache.hpp"
#include "support/diagnostics.hpp"

namespace gradc::python {

void usage_error(const std::string& text) { throw Error(message_prefix("gradc", "error") + text, kExitUsage); }

Jit& ModuleState::get_jit() {
  // The CLI's object cache (GRADC_NO_CACHE turns it off), so a script's second run compiles nothing.
  if (!jit) jit = Jit::create({.cache_dir = default_cache_dir()});
  return *jit;
}

const Compiled& ModuleState::kernel(const Function& f, Kind kind, bool batch) {
  auto key = std::make_tuple(f.name, kind, batch);
  if (auto it = kernels.find(key); it != kernels.end()) return it->second;
  Compiled c;
  static_cast<cli::Layout&>(c) =
      cli::plan_derivatives(*module, f, kind == Kind::Hessian, kind == Kind::Jacobian, Mode::Auto, Simplify::Fold);
  try {
    c.kernel = get_jit().compile(KernelSpec{f.name, f.params, c.outs, batch});
  } catch (const LimitError& e) {
    throw Error(message_prefix(path, "error") + e.what(), kExitInputError);
  }
  return kernels.emplace(key, c).first->second;
}

py::array_t<double> run(ModuleState& s, const Function& f, Kind kind, const Points& p, Compiled& c, py::object given) {
  const bool batch = !p.batch.empty();
  {
    Locked lock(s.mutex);
    c = s.kernel(f, kind, batch);
  }
  const auto rows = static_cast<py::ssize_t>(p.rows), total = static_cast<py::ssize_t>(c.total);
  py::array_t<double> out;
  if (given.is_none()) {
    out = py::array_t<double>({rows, total});
  } else {
    std::string what;
    if (!py::isinstance<py::array>(given)) {
      what = "a " + py::str(given.get_type().attr("__name__")).cast<std::string>();
    } else {
      auto a = py::reinterpret_borrow<py::array>(given);
      std::string dims;
      for (py::ssize_t d = 0; d < a.ndim(); ++d) dims += fmt::format("{}{}", d ? ", " : "", a.shape(d));
      bool fits = py::isinstance<py::array_t<double>>(a) && a.ndim() == 2 && a.shape(0) == rows &&
                  a.shape(1) == total;
      if (!fits) what = fmt::format("a {} array of shape [{}]", py::str(a.dtype()).cast<std::string>(), dims);
      else if (!(a.flags() & py::array::c_style)) what = "an array that is not C-contiguous";
      else if (!a.writeable()) what = "a read-only array";
      else out = py::reinterpret_borrow<py::array_t<double>>(a);
    }
    if (!what.empty())
      usage_error(fmt::format("out: a writeable C-contiguous float64 array of shape [{}, {}] (a row per point: the "
                              "value, then the gradient), not {}",
                              rows, total, what));
  }
  double* o = out.mutable_data();
  if (!batch) {
    Locked lock(s.mutex);
    c.kernel.single(p.in, o);
  } else if (p.rows > 0) {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(s.mutex);
    c.kernel.batch(p.in, o, static_cast<std::int64_t>(p.rows));
  }
  return out;
}

py::object part(const py::array_t<double>& out, const Points& p, std::size_t offset,
                const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& strides) {
  const double* at = out.data() + (out.shape(0) ? offset : 0);
  if (p.batch.empty() && shape.empty()) return py::float_(*at);
  std::vector<py::ssize_t> dims(p.batch), steps(p.batch.size());
  py::ssize_t step = out.shape(1);  // a row
  for (std::size_t ax = p.batch.size(); ax-- > 0;) {
    steps[ax] = step * static_cast<py::ssize_t>(sizeof(double));
    step *= p.batch[ax];
  }
  dims.insert(dims.end(), shape.begin(), shape.end());
  for (py::ssize_t st : strides) steps.push_back(st * static_cast<py::ssize_t>(sizeof(double)));
  return py::array(py::dtype::of<double>(), dims, steps, at, out);  // a view keeping `out` alive
}

}  // namespace gradc::python
