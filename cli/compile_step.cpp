// gradc compile --step: a training program's fused step (loss and every gradient, as the
// trainer compiles it), its optimizer's update and its network's predict, ahead of time, with a
// small C API in the header.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "cli/common.hpp"
#include "cli/compile.hpp"
#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "io/file.hpp"
#include "io/params_io.hpp"
#include "runtime/aot_step.hpp"
#include "runtime/train.hpp"

namespace gradc::cli {
namespace {

// A data input's name as a C parameter of NAME_step: d.x -> d_x; a keyword or `state` (the
// first parameter's name) gets a trailing _.
std::string c_name(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  if (s == "state" || reserved_name(s)) s += "_";
  return s;
}

const char* optimizer_text(const Optimizer& o) {
  if (o.kind == Optimizer::Adam) return "adam";
  return o.momentum > 0 ? (o.nesterov ? "sgd with Nesterov momentum" : "sgd with momentum") : "sgd";
}

struct StepHeader {
  const Module& m;
  const Options& o;
  const StepSpec& s;
  StepObject obj;
  std::vector<std::pair<std::string, std::int64_t>> data;  // C names, elements a row
  std::string network;
  std::int64_t rows, batch;
};

std::string header(const StepHeader& h, const std::string& path, const std::string& command) {
  const std::string& name = h.s.name;
  const char* T = h.o.dtype == "f32" ? "float" : "double";
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string quoted = command;  // a path holding "*/" must not end the comment
  for (std::size_t at; (at = quoted.find("*/")) != std::string::npos;) quoted.replace(at, 2, "* /");
  std::string s = fmt::format("/* {}: the training program {}, compiled by gradc ahead of time.\n",
                              std::filesystem::path(path).filename().string(), h.o.file);
  s += fmt::format(" *   {}\n *\n", quoted);
  s += fmt::format(" * Element type: {} ({}). Tensors are flattened row-major.\n", T, h.o.dtype);
  s += fmt::format(" * Parameters ({} elements), in this order (as gradc train --save writes them):\n", h.s.params);
  std::int64_t off = 0;
  for (const Param& p : h.m.params) {
    std::int64_t n = p.shape.size();
    s += fmt::format(" *   {:<14} {}  {}\n",
                     n == 1 ? fmt::format("[{}]", off) : fmt::format("[{}..{}]", off, off + n - 1), p.name,
                     p.shape.str());
    off += n;
  }
  s += fmt::format(
      " * {}_step(state, {}) takes one minibatch of {}_BATCH rows of each data set\n", name,
      [&] {
        std::string a;
        for (auto& [d, w] : h.data) a += (a.empty() ? "" : ", ") + d;
        return a;
      }(),
      name);
  s += " * the loss uses, row-major:\n";
  for (auto& [d, w] : h.data) s += fmt::format(" *   {:<14} {} element{} a row\n", d, w, w == 1 ? "" : "s");
  s += fmt::format(" * It computes the loss and every gradient (the fused step of gradc train), applies the\n");
  s += fmt::format(" * update of {} (lr {}", optimizer_text(h.s.optimizer), h.s.optimizer.lr);
  if (h.s.schedule.kind != Schedule::Constant) s += ", on the train block's schedule";
  s += fmt::format(") and returns the loss. An epoch is {} step{} ({} rows of the\n", h.s.steps_per_epoch,
                   h.s.steps_per_epoch == 1 ? "" : "s", h.rows);
  s += " * program's data): the learning rate of step k is the one gradc train uses in epoch\n";
  s += fmt::format(" * 1 + (k - 1) / {}_STEPS_PER_EPOCH. A loss that is not finite changes nothing (gradc train\n",
                   name);
  s += " * stops there).";
  if (h.s.tail_rows)
    s += fmt::format(
        " The batch does not divide the data's rows: as in gradc train, an epoch\n"
        " * ends with {0}_step_tail on the last {0}_TAIL_ROWS ({1}) rows, the same data sets.",
        name, h.s.tail_rows);
  s += "\n * Given the rows in the same order (gradc train --no-shuffle), the parameters\n";
  s += " * and losses equal gradc train's bit for bit.\n";
  s += fmt::format(" * {}_init sets the parameters to {} and clears the optimizer's state;\n", name,
                   h.o.params.empty() ? fmt::format("gradc train's initial ones (seed {})", h.m.training->seed)
                                      : fmt::format("those of {}", h.o.params));
  s += fmt::format(" * {}_set_params replaces the parameters and keeps the optimizer's state.\n", name);
  s += fmt::format(" * {}_predict(state, rows, x, out) runs the network '{}' on rows of {}_N_FEATURES\n", name,
                   h.network, name);
  s += fmt::format(" * inputs each, writing {}_N_OUTPUTS outputs a row (as gradc predict).\n", name);
  s += " *\n";
  s += fmt::format(" * The state is the caller's memory (nothing is allocated): declare a {}_state or\n", name);
  s += fmt::format(" * allocate {}_state_size() bytes aligned for a double. Calls on different states may run\n", name);
  s += " * in parallel threads; so may predicts on one state (they only read it), but not a step.\n";
  s += fmt::format(" * Per-thread workspace: {} bytes of thread_local storage, in each thread that calls it.\n",
                   h.obj.thread_bytes);
  s += " * Depends on nothing but libm.\n */\n";
  s += fmt::format("#ifndef GRADC_{0}_H\n#define GRADC_{0}_H\n\n#include <stddef.h>\n\n", upper);
  s += fmt::format("typedef {} {}_real;\n\n", T, name);
  s += fmt::format("#define {}_N_PARAMS {}\n", name, h.s.params);
  s += fmt::format("#define {}_BATCH {}\n", name, h.batch);
  s += fmt::format("#define {}_STEPS_PER_EPOCH {}\n", name, h.s.steps_per_epoch);
  if (h.s.tail_rows) s += fmt::format("#define {}_TAIL_ROWS {}\n", name, h.s.tail_rows);
  for (auto& [d, w] : h.data) s += fmt::format("#define {}_WIDTH_{} {}\n", name, d, w);
  s += fmt::format("#define {}_N_FEATURES {}\n#define {}_N_OUTPUTS {}\n", name, h.s.features, name, h.s.outputs);
  s += fmt::format("#define {}_STATE_SIZE {}\n\n", name, h.obj.state_bytes);
  s += "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  s += fmt::format("typedef struct {0}_state {{ double opaque_[{1}]; }} {0}_state;\n\n", name, h.obj.state_bytes / 8);
  s += fmt::format("size_t {0}_state_size(void);\nvoid {0}_init({0}_state* state);\n", name);
  s += fmt::format("void {0}_set_params({0}_state* state, const {1}* flat);\n", name, T);
  s += fmt::format("void {0}_params(const {0}_state* state, {1}* flat);\n", name, T);
  std::string args;
  for (auto& [d, w] : h.data) args += fmt::format(", const {}* {}", T, d);
  s += fmt::format("double {0}_step({0}_state* state{1});\n", name, args);
  if (h.s.tail_rows) s += fmt::format("double {0}_step_tail({0}_state* state{1});\n", name, args);
  s += fmt::format("void {0}_predict(const {0}_state* state, size_t rows, const {1}* x, {1}* out);\n", name, T);
  s += "\n#ifdef __cplusplus\n}  /* extern \"C\" */\n#endif\n\n";
  s += fmt::format("#endif  /* GRADC_{}_H */\n", upper);
  return s;
}

}  // namespace

int cmd_compile_step(const Options& o, const std::string& command) {
  static const char* const kOutputs = ".o (a relocatable object), .so (a shared library) or .h (the header)";
  if (!o.fn.empty())
    throw UsageError("--step compiles the train block's step, update and network; --fn compiles a function instead");
  if (o.grad || o.hessian || o.jacobian)
    throw UsageError(
        fmt::format("--{}: the step computes the loss and every gradient; --grad, --hessian and "
                    "--jacobian choose a function's outputs (--fn)",
                    o.grad      ? "grad"
                    : o.hessian ? "hessian"
                                : "jacobian"));
  if (o.out.empty()) throw UsageError(fmt::format("compile: -o OUT is required; OUT's extension chooses {}", kOutputs));
  std::string ext = extension(o.out);
  if (ext != ".o" && ext != ".so" && ext != ".h")
    throw UsageError(fmt::format("-o {}: the extension chooses the output: {}", o.out, kOutputs));
  if (o.dtype != "f64" && o.dtype != "f32") throw UsageError(fmt::format("--dtype: f64 or f32, not '{}'", o.dtype));
  if (ext == ".h" && o.header)
    throw UsageError("--header writes OUT.h next to OUT.o or OUT.so; -o OUT.h is the header already");
  if (ext == ".so" && !o.target.empty())
    throw UsageError(
        "--target: a shared library is linked by this machine's cc, for this machine; write OUT.o for "
        "another target");
  if (!o.prefix.empty() && !c_identifier(o.prefix))
    throw UsageError(
        fmt::format("--prefix: '{}' is not a C identifier (letters, digits and _, not first a digit)", o.prefix));
  if (o.batch && *o.batch < 1)
    throw UsageError(fmt::format("--batch: the batch size must be at least 1, not {}", *o.batch));

  auto m = load(o);
  if (!m->training) throw UsageError(fmt::format("--step: {} has no 'train' block", o.file));
  // The trainer's own reading of the train block: its checks, its batch and its data rows.
  auto jit = Jit::create();
  TrainOptions topts;
  topts.batch = o.batch;
  topts.epochs = o.epochs;
  topts.metric = false;
  Trainer trainer(*m, *jit, topts);
  const Training& cfg = trainer.config();
  const std::int64_t B = cfg.batch, rows = trainer.rows();
  std::string name = o.prefix;
  if (name.empty()) {
    name = std::filesystem::path(o.file).stem().string();
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "net_" + name;
  }
  for (const char* entry : {"_step", "_init", "_predict", "_params", "_set_params", "_state_size"})
    if (reserved_name(name + entry) || !c_identifier(name + entry))
      throw UsageError(fmt::format("--prefix: '{}' cannot name the entries", name));
  auto layers = m->layer_names();
  if (layers.size() != 1)
    throw UsageError(
        fmt::format("--step: {} has {} layers; predict runs the program's one network", o.file, layers.size()));
  const std::string network = layers[0];

  StepSpec spec;
  spec.name = name;
  const DType dtype = o.dtype == "f32" ? DType::F32 : DType::F64;
  // The step as Trainer::step_for builds it for minibatches of `n` rows: inputs, outputs, and
  // each data set's elements.
  std::vector<const Node*> params;
  for (const Param& p : m->params) params.push_back(p.var), spec.params += p.shape.size();
  std::vector<std::string> data_names;
  auto step_kernel = [&](std::int64_t n, std::vector<const Node*>& in, std::vector<const Node*>& out,
                         std::vector<std::int64_t>& sizes, std::vector<std::string>& names) {
    std::vector<DataInput> data;
    const Node* loss = m->lower(*cfg.loss, n, data);
    Builder b(m->graph, Simplify::Fold);
    in = params;
    for (const DataInput& d : data) {
      in.push_back(d.var);
      sizes.push_back(d.var->shape.size());
      names.push_back(d.name);
    }
    out = value_and_derivatives(b, loss, params, false);
  };
  std::vector<const Node*> step_in, step_out, tail_in, tail_out, pred_in, pred_out;
  step_kernel(B, step_in, step_out, spec.data_sizes, data_names);
  StepHeader h{*m, o, spec, {}, {}, network, rows, B};
  for (std::size_t i = 0; i < data_names.size(); ++i)
    h.data.emplace_back(c_name(data_names[i]), spec.data_sizes[i] / B);
  spec.tail_rows = rows % B;
  if (spec.tail_rows) {
    std::vector<std::string> tail_names;
    step_kernel(spec.tail_rows, tail_in, tail_out, spec.tail_sizes, tail_names);
    if (tail_names != data_names) throw std::logic_error("compile --step: the last step reads other data sets");
  }
  // predict: the network on one row (gradc predict's kernel has every row; a row's outputs are
  // the same computation).
  std::int64_t features = 0;
  for (std::int32_t k = 1; k <= 4096 && !features; ++k) {
    try {
      m->apply(network, m->graph.var("probe", Shape{1, k}));
      features = k;
    } catch (const std::exception&) {
    }
  }
  if (!features) throw UsageError(fmt::format("--step: the network '{}' takes no row of 1 to 4096 inputs", network));
  const Node* x = m->graph.var("input", Shape{1, static_cast<std::int32_t>(features)});
  const Node* y = m->apply(network, x);
  if (y->shape.rank != 2 || y->shape[0] != 1)
    throw UsageError(fmt::format("--step: '{}' gives shape {} for 1 row; predict needs one output row per input row",
                                 network, y->shape.str()));
  pred_in = params;
  pred_in.push_back(x);
  pred_out = {y};
  if (dtype != DType::F64) {
    step_in = retype(m->graph, step_in, dtype);
    step_out = retype(m->graph, step_out, dtype);
    tail_in = retype(m->graph, tail_in, dtype);
    tail_out = retype(m->graph, tail_out, dtype);
    pred_in = retype(m->graph, pred_in, dtype);
    pred_out = retype(m->graph, pred_out, dtype);
  }
  spec.step = KernelSpec{name + "_kstep", step_in, step_out, false, dtype};
  spec.predict = KernelSpec{name + "_kpredict", pred_in, pred_out, false, dtype};
  if (spec.tail_rows) spec.tail = KernelSpec{name + "_ktail", tail_in, tail_out, false, dtype};
  spec.features = features;
  spec.outputs = y->shape[1];
  std::vector<Tensor> start = o.params.empty() ? initialize(m->params, cfg.seed) : load_params(o.params, m->params);
  for (const Tensor& t : start) spec.init.insert(spec.init.end(), t.data.begin(), t.data.end());
  spec.optimizer = cfg.optimizer;
  spec.schedule = cfg.schedule;
  spec.epochs = cfg.epochs;
  spec.steps_per_epoch = (rows + B - 1) / B;

  StepObject obj = compile_step_object(spec, AotTarget{o.target, o.cpu});
  h.obj = obj;
  const std::string header_path = ext == ".h" ? o.out : replace_extension(o.out, ".h");
  return write_outputs(o, ext, header_path, header(h, header_path, command), obj.bytes);
}

}  // namespace gradc::cli
