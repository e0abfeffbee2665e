// `import gradc`: load or compile a .grad program, call its functions and their derivatives
// from Python with NumPy arrays, print derivatives as `gradc diff` does, and train networks.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "cli/common.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include <pybind11/stl.h>

#include "python/state.hpp"
#include "support/diagnostics.hpp"

namespace gradc::python {

namespace {

py::handle g_error;  // gradc.Error

// The command line's message on standard error, without its final newline.
std::string chomp(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void raise(const std::string& text, int code) {
  py::object e = py::reinterpret_borrow<py::object>(g_error)(chomp(text));
  e.attr("exit_code") = code;
  PyErr_SetObject(g_error.ptr(), e.ptr());
}

// Runs f; errors without a source file at hand are worded as the command line words them
// for the file (cli/main.cpp).
template <class F>
auto in_file(const std::string& path, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const InputError& e) {
    throw Error(message(path, "error", e.what()), e.exit_code);
  } catch (const LimitError& e) {
    throw Error(message(path, "error", e.what()), kExitInputError);
  }
}

std::shared_ptr<ModuleState> load(SourceFile src) {
  auto s = std::make_shared<ModuleState>();
  s->path = src.path;
  s->text = src.text;
  SourceFile diag{src.path, src.text};
  s->module = in_file(s->path, [&] { return located_in(diag, [&] { return compile_module(std::move(src), true, read_csv); }); });
  return s;
}

// A function of the program, as gradc.Function.
struct Fn {
  std::shared_ptr<ModuleState> state;
  std::string name;

  const Function& get() const { return *state->module->find(name); }

  py::object call(Kind kind, const py::args& args, const py::kwargs& kwargs, py::object out_buffer = py::none()) const {
    const Function& f = get();
    return in_file(state->path, [&]() -> py::object {
      Points p = resolve_arguments(f, args, kwargs);
      Compiled c;
      // A scalar function's value comes from the kernel `eval` compiles (value and gradient):
      // computed alone, fma contraction may round it differently in the last bit.
      const Kind compiled = kind == Kind::Value && f.body->shape.scalar() ? Kind::Grad : kind;
      py::array_t<double> out = run(*state, f, compiled, p, c, out_buffer);
      std::vector<py::ssize_t> result(f.body->shape.dims.begin(), f.body->shape.dims.begin() + f.body->shape.rank);
      auto contiguous = [](const std::vector<py::ssize_t>& dims) {
        std::vector<py::ssize_t> st(dims.size());
        py::ssize_t step = 1;
        for (std::size_t a = dims.size(); a-- > 0;) st[a] = step, step *= dims[a];
        return st;
      };
      py::object value = part(out, p, 0, result, contiguous(result));
      if (kind == Kind::Value) return value;
      const auto n = static_cast<py::ssize_t>(c.n), m = static_cast<py::ssize_t>(c.m);
      if (kind == Kind::Grad) return py::make_tuple(value, part(out, p, c.grad, {n}, {1}));
      if (kind == Kind::Jacobian)
        return c.mode == Mode::Forward ? part(out, p, c.jac, {m, n}, {1, m}) : part(out, p, c.jac, {m, n}, {n, 1});
      // The upper triangle, mirrored, as eval prints it: the two orders of differentiation are
      // separate roots whose rounding may differ in the last bit.
      std::vector<py::ssize_t> dims(p.batch);
      dims.push_back(n), dims.push_back(n);
      py::array_t<double> H(dims);
      double* h = H.mutable_data();
      const auto k = static_cast<std::size_t>(n);
      for (std::size_t r = 0; r < p.rows; ++r)
        for (std::size_t i = 0; i < k; ++i)
          for (std::size_t j = 0; j < k; ++j)
            h[(r * k + i) * k + j] = out.data()[r * c.total + c.hess + std::min(i, j) * k + std::max(i, j)];
      return H;
    });
  }

  py::object value_and_grad(const py::args& args, const py::kwargs& kwargs) const {
    const Function& f = get();
    if (!f.body->shape.scalar())
      usage_error(fmt::format("value_and_grad: '{}' returns shape {}; a gradient is of a scalar function (jacobian "
                              "gives the first derivatives)",
                              f.name, f.body->shape.str()));
    // out=: the caller's [rows, 1 + k] buffer (see run); the results are views of it.
    py::kwargs rest;
    py::object out = py::none();
    const bool named_out = std::any_of(f.params.begin(), f.params.end(), [](const Node* x) { return x->name == "out"; });
    for (auto [key, value] : kwargs) {
      if (!named_out && py::str(key).cast<std::string>() == "out")
        out = py::reinterpret_borrow<py::object>(value);
      else
        rest[key] = value;
    }
    return call(Kind::Grad, args, rest, out);
  }

  py::object hessian(const py::args& args, const py::kwargs& kwargs) const {
    const Function& f = get();
    // cli/eval.cpp's check_flags, for this call.
    if (!f.body->shape.scalar())
      usage_error(fmt::format("hessian: '{}' returns shape {}; a Hessian is of a scalar function "
                              "(jacobian gives the first derivatives)",
                              f.name, f.body->shape.str()));
    for (const Node* p : f.params)
      if (!p->shape.scalar())
        usage_error(fmt::format("hessian: '{}' takes '{}' of shape {}; a Hessian needs scalar parameters", f.name,
                                p->name, p->shape.str()));
    return call(Kind::Hessian, args, kwargs);
  }

  py::object jacobian(const py::args& args, const py::kwargs& kwargs) const {
    const Function& f = get();
    if (f.params.empty())
      usage_error(fmt::format("jacobian: '{}' has no parameters, so nothing to differentiate with respect to", f.name));
    return call(Kind::Jacobian, args, kwargs);
  }

  std::string diff(const py::args& wrt, const std::string& format, int order, bool ieee, bool no_simplify,
                   bool expr_only) const {
    if (format != "text" && format != "latex")
      usage_error(fmt::format("diff: format is 'text' or 'latex', not '{}'", format));
    if (ieee && no_simplify) usage_error("diff: ieee and no_simplify are two different forms: give one");
    cli::Options o;
    o.fn = name, o.format = format, o.order = order, o.ieee = ieee, o.no_simplify = no_simplify;
    o.expr_only = expr_only;
    std::vector<std::string> names;
    for (py::handle w : wrt) names.push_back(py::str(w));
    if (names.empty())
      for (const Node* p : get().params) names.push_back(p->name);
    o.wrt = cli::join(names, ",");
    Locked lock(state->mutex);
    return in_file(state->path, [&] {
      // As cmd_diff loads it: folded only for the kernel's own form (--ieee).
      Module* m = state->module.get();
      if (!ieee) {
        if (!state->algebraic) {
          SourceFile diag{state->path, state->text};
          state->algebraic = located_in(diag, [&] {
            return compile_module(SourceFile{state->path, state->text}, false, read_csv);
          });
        }
        m = state->algebraic.get();
      }
      return cli::diff_partials(*m, o);
    });
  }
};

Fn function(const std::shared_ptr<ModuleState>& s, const std::string& name) {
  const Function* f = s->module->find(name);
  if (!f) {
    std::vector<std::string> names;
    for (const Function& g : s->module->functions)
      if (cli::vector_function(g)) names.push_back(g.name);
    throw py::attribute_error(fmt::format("{} has no function '{}' (functions: {})", s->path, name, cli::join(names)));
  }
  if (!cli::vector_function(*f))
    usage_error(fmt::format("'{}' works on the parameters or data of the training program, not on its own "
                            "arguments: train the program with train()",
                            name));
  return Fn{s, name};
}

py::array_t<double> to_array(const Tensor& t) {
  py::array_t<double> a(std::vector<py::ssize_t>(t.shape.dims.begin(), t.shape.dims.begin() + t.shape.rank));
  std::copy(t.data.begin(), t.data.end(), a.mutable_data());
  return a;
}

void need_training(const ModuleState& s) {
  if (!s.module->training) usage_error(fmt::format("{} has no 'train' block", s.path));
}

py::dict parameters(ModuleState& s) {
  need_training(s);
  Locked lock(s.mutex);
  if (s.params.empty()) s.params = initialize(s.module->params, s.module->training->seed);
  py::dict d;
  for (std::size_t i = 0; i < s.params.size(); ++i) d[py::str(s.module->params[i].name)] = to_array(s.params[i]);
  return d;
}

// One run of the train block (its settings, or these), continuing from the parameters and
// optimizer state of the run before, as `gradc train --resume` does from a checkpoint. Ctrl-C
// stops it after a step, keeping that step's state, and raises KeyboardInterrupt.
py::array_t<double> train(ModuleState& s, std::optional<std::int64_t> epochs, std::optional<double> lr,
                          std::optional<std::int64_t> batch, std::optional<std::uint64_t> seed) {
  need_training(s);
  TrainOptions opts;
  opts.epochs = epochs, opts.lr = lr, opts.batch = batch, opts.seed = seed;
  opts.record_every = 1;
  // Python's signal handlers run in the main thread, with the GIL: asked about every 50 ms.
  auto asked = std::chrono::steady_clock::now();
  PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
  opts.stop = [&] {
    auto now = std::chrono::steady_clock::now();
    if (now - asked < std::chrono::milliseconds(50)) return false;
    asked = now;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() == 0) return false;
    PyErr_Fetch(&type, &value, &trace);  // raised once the state is kept
    return true;
  };
  TrainResult r = in_file(s.path, [&] {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.optimizer) opts.start = s.params, opts.state = s.optimizer;
    Trainer trainer(*s.module, s.get_jit(), opts);
    TrainResult result = trainer.run([](const LogLine&, std::int64_t) {});
    s.params = result.params;
    s.optimizer = result.optimizer;
    return result;
  });
  if (r.interrupted) {
    PyErr_Restore(type, value, trace);
    throw py::error_already_set();
  }
  if (r.diverged)
    throw Error(message("gradc", "error",
                        fmt::format("{}: training diverged at epoch {}, step {} with learning rate {}: the loss is {}",
                                    s.path, r.epoch, r.step, r.lr, cli::num(r.loss))),
                kExitDiverged);
  std::vector<double> losses;
  for (const LogLine& l : r.log)
    if (l.recorded) losses.push_back(l.loss);
  return py::array_t<double>(static_cast<py::ssize_t>(losses.size()), losses.data());
}

}  // namespace

}  // namespace gradc::python

PYBIND11_MODULE(gradc, mod) {
  using namespace gradc;
  using namespace gradc::python;
  mod.doc() = "gradc: derivatives of .grad programs, compiled to machine code, called with NumPy arrays";

  static py::exception<Error> error(mod, "Error");
  g_error = error;
  error.attr("exit_code") = 1;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      raise(e.what(), e.exit_code);
    } catch (const Diagnostic& d) {
      raise(d.what(), d.exit_code);
    } catch (const UsageError& e) {
      raise(message("gradc", "error", e.what()), kExitUsage);
    }
  });

  py::class_<Fn>(mod, "Function", "A function of a .grad program, compiled on first use")
      .def_property_readonly("name", [](const Fn& f) { return f.name; })
      .def_property_readonly("parameters", [](const Fn& f) { return cli::param_names(f.get()); })
      .def("__call__", [](const Fn& f, py::args a, py::kwargs k) { return f.call(Kind::Value, a, k); },
           "The value: a float, or an array of the result's shape (with the arguments' leading axes)")
      .def("value_and_grad", &Fn::value_and_grad,
           "(value, gradient): the gradient over every parameter element in signature order")
      .def("hessian", &Fn::hessian, "The Hessian [k, k] of a scalar function of k scalars")
      .def("jacobian", &Fn::jacobian, "The Jacobian [m, n]: result elements by parameter elements")
      .def("diff", &Fn::diff, "The partial derivatives as `gradc diff --wrt ...` prints them",
           py::arg("format") = "text", py::arg("order") = 1, py::arg("ieee") = false, py::arg("no_simplify") = false,
           py::arg("expr_only") = false)
      .def("__repr__", [](const Fn& f) {
        return fmt::format("<gradc.Function {}({})>", f.name, cli::join(cli::param_names(f.get())));
      });

  py::class_<ModuleState, std::shared_ptr<ModuleState>>(mod, "Module", "A compiled .grad program")
      .def("__getattr__", [](const std::shared_ptr<ModuleState>& s, const std::string& n) { return function(s, n); })
      .def("__getitem__", [](const std::shared_ptr<ModuleState>& s, const std::string& n) { return function(s, n); })
      .def_property_readonly("functions",
                             [](const ModuleState& s) {
                               std::vector<std::string> v;
                               for (const Function& f : s.module->functions)
                                 if (cli::vector_function(f)) v.push_back(f.name);
                               return v;
                             })
      .def("__dir__",
           [](const std::shared_ptr<ModuleState>& s) {
             py::list names = py::module_::import("builtins").attr("object").attr("__dir__")(py::cast(s));
             for (const Function& f : s->module->functions)
               if (cli::vector_function(f)) names.append(f.name);
             return names;
           })
      .def_property_readonly("path", [](const ModuleState& s) { return s.path; })
      .def_property_readonly("parameters", &parameters, "A training program's parameters by name")
      .def("train", &train, "Trains; returns the loss of every epoch", py::kw_only(), py::arg("epochs") = py::none(),
           py::arg("lr") = py::none(), py::arg("batch") = py::none(), py::arg("seed") = py::none())
      .def("__repr__", [](const ModuleState& s) { return fmt::format("<gradc.Module '{}'>", s.path); });

  mod.def("load",
          [](const py::object& path) {
            std::string p = py::str(py::module_::import("os").attr("fspath")(path));  // str or pathlib.Path
            return load(load_source(p));
          },
          py::arg("path"), "Compiles the .grad file at path");
  mod.def("compile", [](const std::string& text) { return load(text_source("<string>", text)); }, py::arg("source"),
          "Compiles .grad source text");
}
