// The Python module's state behind gradc.Module and gradc.Function: the compiled program, its
// Jit and the kernels compiled so far, and how Python arguments become a kernel's input rows.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "cli/plan.hpp"
#include "compiler/forward.hpp"
#include "compiler/lower.hpp"
#include "runtime/jit.hpp"
#include "runtime/train.hpp"

namespace gradc::python {

namespace py = pybind11;

/// Raised as gradc.Error: `text` is what the command line prints on standard error (without
/// the final newline), `exit_code` the code it exits with.
struct Error : std::runtime_error {
  int exit_code;
  Error(const std::string& text, int code) : std::runtime_error(text), exit_code(code) {}
};
/// A usage error in a call from Python: `gradc: error: TEXT`, as the command line words them.
[[noreturn]] void usage_error(const std::string& text);

/// What a kernel computes, with the outputs of `gradc eval` for the same request (so that the
/// results are the same bits): the value (eval: with the gradient for a scalar result); value
/// and gradient; with the Hessian (eval --hessian); with the Jacobian (eval --jacobian).
enum class Kind { Value, Grad, Hessian, Jacobian };

/// A compiled kernel and where each part sits in its output row (offsets in elements).
struct Compiled : cli::Layout {  // the outputs as gradc eval plans them (cli/plan.hpp)
  Kernel kernel;
};

struct ModuleState {
  std::string path;  // the file, or "<string>" for gradc.compile(text)
  std::string text;
  std::unique_ptr<Module> module;     // lowered with folding: what the kernels are made of
  std::unique_ptr<Module> algebraic;  // lowered as written, for diff (made on first use)
  std::unique_ptr<Jit> jit;           // made on first use
  // Kernels are not reentrant (their buffers are module globals) and the Jit compiles one
  // module at a time: every compile and call holds this. Nobody waits for it while holding the
  // GIL (see Locked), so its holder may take the GIL (training does, to see Ctrl-C).
  std::mutex mutex;
  std::map<std::tuple<std::string, Kind, bool>, Compiled> kernels;
  // A training program's parameters and optimizer state (from the train block's
  // initialisation until the first train()).
  std::vector<Tensor> params;
  std::optional<OptimizerState> optimizer;

  Jit& get_jit();
  /// The kernel of f for `kind` (single point, or with the batch entry), compiled on first use.
  const Compiled& kernel(const Function& f, Kind kind, bool batch);
};

/// Holds a module's mutex, taken by a thread that holds the GIL: at once when it is free, else
/// waiting for it with the GIL released.
class Locked {
 public:
  explicit Locked(std::mutex& m) : m_(m) {
    if (m_.try_lock()) return;
    py::gil_scoped_release release;
    m_.lock();
  }
  ~Locked() { m_.unlock(); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  std::mutex& m_;
};

/// A call's points: `rows` rows of n inputs each at `in` (owned by `keep` or by `buffer`),
/// broadcast over `batch` (empty: one point, a single-point call).
struct Points {
  std::vector<py::ssize_t> batch;
  std::size_t rows = 1;
  const double* in = nullptr;
  std::vector<double> buffer;
  py::object keep;
};

/// The arguments of a call of f: by position or by name, each of its parameter's shape with
/// leading batch axes that broadcast as NumPy's do, or (for a function of several parameters)
/// one array of whole points, shape [..., n]. A C-contiguous float64 array of points is used
/// in place.
Points resolve_arguments(const Function& f, const py::args& args, const py::kwargs& kwargs);

/// Runs the kernel on the points: the output rows as a [rows, total] array, and the kernel's
/// layout in `c`. A batch releases the GIL while it runs. With `out` (value_and_grad's out=: a
/// C-contiguous float64 array of [rows, total], the kernel's own layout) the kernel writes
/// there instead of into a new array: a batch of a million points then touches no fresh memory.
py::array_t<double> run(ModuleState& s, const Function& f, Kind kind, const Points& p, Compiled& c,
                        py::object out = py::none());

/// A part of the output rows as an array of shape batch + part (a view into `out`), or a
/// Python float for a scalar part of a single point. `strides` are the part's in elements.
py::object part(const py::array_t<double>& out, const Points& p, std::size_t offset,
                const std::vector<py::ssize_t>& shape, const std::vector<py::ssize_t>& strides);

}  // namespace gradc::python
