// gradc compile: one function's kernel ahead of time, as a relocatable object (.o), a shared
// library (.so, linked by the system's cc), C99 source (.c) or the C header that documents its
// layout (.h).
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <set>
#include <vector>

#include "cli/common.hpp"
#include "cli/compile.hpp"
#include "compiler/builder.hpp"
#include "compiler/codegen_c.hpp"
#include "compiler/diff.hpp"
#include "compiler/forward.hpp"
#include "io/file.hpp"
#include "io/process.hpp"
#include "runtime/aot.hpp"

namespace gradc::cli {
namespace {

// One named part of `in` or `out`: its offset and shape (elements row-major).
struct Part {
  std::string name;
  Shape shape;
  std::int64_t offset = 0;
  std::string note;  // how a matrix part is laid out
};

struct Plan {
  std::vector<const Node*> outs;
  std::vector<Part> in, out;
  std::int64_t n_in = 0, n_out = 0;
};

void add_part(std::vector<Part>& parts, std::int64_t& total, std::string name, Shape shape, std::string note = "") {
  parts.push_back(Part{std::move(name), shape, total, std::move(note)});
  total += shape.size();
}

Shape matrix(std::int64_t rows, std::int64_t cols) {
  Shape s;
  s.rank = 2;
  s.dims[0] = rows;
  s.dims[1] = cols;
  return s;
}

// The outputs as `gradc eval` computes them (the same IR, so the same bits), laid out as
// `gradc eval --json` prints them: the value, ∂f/∂(each parameter), the Hessian (row-major,
// its upper triangle mirrored, as eval prints it) or the Jacobian (row-major).
Plan plan(Module& m, const Function& f, const Options& o) {
  Plan p;
  for (const Node* x : f.params) add_part(p.in, p.n_in, x->name, x->shape);
  Builder b(m.graph, o.no_simplify ? Simplify::None : Simplify::Fold);
  const std::size_t n = f.params.size();
  if (o.grad || o.hessian) {
    auto vd = value_and_derivatives(b, f.body, f.params, o.hessian, &m.origins);
    for (std::size_t k = 0; k <= n; ++k) p.outs.push_back(vd[k]);
    add_part(p.out, p.n_out, f.name, f.body->shape);
    for (const Node* x : f.params)
      add_part(p.out, p.n_out, print_partial(f.name, std::vector<std::string>{x->name}, Format::Text), x->shape);
    if (o.hessian) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) p.outs.push_back(vd[1 + n + std::min(i, j) * n + std::max(i, j)]);
      auto s = static_cast<std::int64_t>(n);
      add_part(p.out, p.n_out, "hessian", matrix(s, s),
               fmt::format("row-major, symmetric; rows and columns {}", join(param_names(f))));
    }
    return p;
  }
  p.outs.push_back(f.body);
  add_part(p.out, p.n_out, f.name, f.body->shape);
  if (o.jacobian) {
    Jacobian J = jacobian(b, std::span(&f.body, 1), f.params, Mode::Auto, &m.origins);
    for (std::int64_t i = 0; i < J.rows; ++i)
      for (std::int64_t j = 0; j < J.cols; ++j) p.outs.push_back(J.entry(b, i, j));
    add_part(p.out, p.n_out, "jacobian", matrix(J.rows, J.cols),
             fmt::format("row-major; rows {}; columns {}", join(element_names(f.name, f.body->shape)),
                         join(element_names(f.params))));
  }
  return p;
}

void check_flags(const Function& f, const Options& o) {
  if (o.jacobian && f.params.empty())
    throw UsageError(fmt::format("--jacobian: '{}' has no parameters, so nothing to differentiate with respect to",
                                 f.name));
  if ((o.grad || o.hessian) && !f.body->shape.scalar())
    throw UsageError(fmt::format("{}: '{}' returns shape {}; a {} is of a scalar function (--jacobian gives the "
                                 "first derivatives)",
                                 o.hessian ? "--hessian" : "--grad", f.name, f.body->shape.str(),
                                 o.hessian ? "Hessian" : "gradient"));
  if (o.hessian)
    for (const Node* p : f.params)
      if (!p->shape.scalar())
        throw UsageError(fmt::format("--hessian: '{}' takes '{}' of shape {}; --hessian needs scalar parameters",
                                     f.name, p->name, p->shape.str()));
}

std::string range(const char* buffer, const Part& p) {
  return p.shape.size() == 1 ? fmt::format("{}[{}]", buffer, p.offset)
                             : fmt::format("{}[{}..{}]", buffer, p.offset, p.offset + p.shape.size() - 1);
}

std::string header(const Function& f, const Options& o, const Plan& p, const std::string& name,
                   std::uint64_t workspace_bytes, const std::string& path, const std::string& command) {
  const char* T = o.dtype == "f32" ? "float" : "double";
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto table = [&](const char* buffer, const std::vector<Part>& parts) {
    std::string s;
    for (const Part& x : parts) {
      std::string line = fmt::format(" *   {:<14} {}", range(buffer, x), x.name);
      if (!x.shape.scalar()) line += fmt::format("  {}", x.shape.str());
      if (!x.note.empty()) line += fmt::format(" ({})", x.note);
      s += line + "\n";
    }
    return s;
  };
  std::string s = fmt::format("/* {}: '{}' of {}, compiled by gradc ahead of time.\n",
                              std::filesystem::path(path).filename().string(), f.name, o.file);
  std::string quoted = command;  // a path holding "*/" must not end the comment
  for (std::size_t at; (at = quoted.find("*/")) != std::string::npos;) quoted.replace(at, 2, "* /");
  s += fmt::format(" *   {}\n *\n", quoted);
  s += fmt::format(" * Element type: {} ({}). Tensors are flattened row-major.\n", T, o.dtype);
  s += fmt::format(" * Inputs, in signature order ({} elements a point):\n", p.n_in);
  s += p.in.empty() ? " *   (none)\n" : table("in", p.in);
  s += fmt::format(" * Outputs ({} elements a point):\n", p.n_out);
  s += table("out", p.out);
  s += " *\n";
  s += fmt::format(" * {}(in, out) computes one point. {}_batch(n, in, out) computes n points: row r reads\n", name,
                   name);
  s += fmt::format(" * in[r*{0}_N_IN ...] and writes out[r*{0}_N_OUT ...].\n", name);
  s += " * Thread-safe (call from any number of threads at once), allocation-free, and dependent on\n";
  if (o.simd) {
    s += " * libm and SLEEF (link with -lsleef -lm). `in` and `out` must not overlap.\n";
    s += fmt::format(" * {}_batch computes several points at a time with SLEEF's vector functions (--simd): each\n", name);
    s += fmt::format(" * transcendental function within SLEEF's 1.0 ulp, so its rows may differ from {}'s in the\n", name);
    s += " * last bits; a row's results do not depend on its place in the batch.\n";
  } else {
    s += " * nothing but libm. `in` and `out` must not overlap.\n";
  }
  if (workspace_bytes)
    s += fmt::format(" * Per-thread workspace: {} bytes of thread_local storage, in each thread that calls it.\n",
                     workspace_bytes);
  else
    s += " * Per-thread workspace: none.\n";
  s += " */\n";
  s += fmt::format("#ifndef GRADC_{0}_H\n#define GRADC_{0}_H\n\n#include <stddef.h>\n\n", upper);
  s += fmt::format("#define {}_N_IN {}\n#define {}_N_OUT {}\n\n", name, p.n_in, name, p.n_out);
  s += "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  s += fmt::format("void {}(const {}* in, {}* out);\n", name, T, T);
  s += fmt::format("void {}_batch(size_t n, const {}* in, {}* out);\n", name, T, T);
  s += "\n#ifdef __cplusplus\n}  /* extern \"C\" */\n#endif\n\n";
  s += fmt::format("#endif  /* GRADC_{}_H */\n", upper);
  return s;
}

// OUT.c: the header's opening comment (title, command, element type, layout) heads the C source.
std::string c_source(const KernelSpec& spec, const std::string& h, const std::string& name, CSource& c) {
  std::size_t end = h.find(fmt::format(" *\n * {}(in, out) computes", name));
  c = codegen_c(spec, h.substr(0, end));
  return c.text;
}

// The header of OUT.c: the object's header with the C source's workspace (NAME_work and its size).
std::string c_header(std::string h, const std::string& name, const char* T, const CSource& c) {
  if (c.work_elements == 0) return h;
  std::int64_t bytes = c.work_elements * (std::string(T) == "float" ? 4 : 8);
  std::string workspace = fmt::format(
      " * Workspace: {0}_N_WORK elements. {0}_work(in, out, work) takes the caller's; {0} and {0}_batch\n", name);
  workspace += bytes <= kCMaxLocalWorkBytes
                   ? fmt::format(" * keep it on their stack ({} bytes).\n", bytes)
                   : fmt::format(" * keep it in C11 _Thread_local storage ({} bytes per calling thread), and exist only\n"
                                 " * when the .c is compiled as C11 or later.\n", bytes);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::size_t at = h.find(from);
    if (at != std::string::npos) h.replace(at, from.size(), to);
  };
  replace(" * Per-thread workspace: none.\n", workspace);
  replace(fmt::format("#define {}_N_OUT", name), fmt::format("#define {}_N_WORK {}\n#define {}_N_OUT", name, c.work_elements, name));
  replace(fmt::format("void {}_batch(size_t n, const {}* in, {}* out);\n", name, T, T),
          fmt::format("void {0}_batch(size_t n, const {1}* in, {1}* out);\nvoid {0}_work(const {1}* in, {1}* out, {1}* work);\n",
                      name, T));
  return h;
}

}  // namespace

bool c_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Names an entry may not take: C and C++ keywords (the header would not compile) and the C
// library's functions (the kernel's own calls of tanh, sincos, memset, ... would reach the
// entry instead, and the program's too).
bool reserved_name(const std::string& s) {
  static const std::set<std::string> words = {
      "auto", "bool", "break", "case", "char", "class", "const", "continue", "default", "delete", "do", "double",
      "else", "enum", "extern", "false", "float", "for", "goto", "if", "inline", "int", "long", "namespace", "new",
      "operator", "private", "protected", "public", "register", "restrict", "return", "short", "signed", "sizeof",
      "static", "struct", "switch", "template", "this", "throw", "true", "try", "typedef", "typename", "union",
      "unsigned", "using", "virtual", "void", "volatile", "while", "main", "memcpy", "memmove", "memset",
      "__tls_get_addr", "signgam"};
  static const std::set<std::string> math = {
      "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "copysign", "cos", "cosh", "erf",
      "erfc", "exp", "exp10", "exp2", "expm1", "fabs", "fdim", "floor", "fma", "fmax", "fmin", "fmod", "frexp",
      "hypot", "ilogb", "ldexp", "lgamma", "lgamma_r", "llrint", "llround", "log", "log10", "log1p", "log2", "logb",
      "lrint", "lround", "modf", "nan", "nearbyint", "nextafter", "nexttoward", "pow", "remainder", "remquo", "rint",
      "round", "scalbln", "scalbn", "sin", "sincos", "sinh", "sqrt", "tan", "tanh", "tgamma", "trunc"};
  if (words.count(s) || math.count(s)) return true;
  // The float and long double variants: sinf, sinl.
  return (s.ends_with("f") || s.ends_with("l")) && math.count(s.substr(0, s.size() - 1));
}

std::string extension(const std::string& path) {
  std::size_t dot = path.find_last_of("./");
  if (dot == std::string::npos || path[dot] == '/' || dot == 0 || path[dot - 1] == '/') return "";
  return path.substr(dot);
}

std::string replace_extension(const std::string& path, const std::string& ext) {
  return path.substr(0, path.size() - extension(path).size()) + ext;
}

// A temporary directory, removed with what it holds whatever way the scope is left.
struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gradc-compile-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw UsageError(fmt::format("cannot create a temporary directory in {}", pattern));
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The shared library: the object linked by the system's C compiler driver (no shell).
std::string link_shared(const std::string& object, const std::string& out, bool sleef) {
  TempDir dir;
  std::string obj = dir.path + "/kernel.o", so = dir.path + "/kernel.so";
  write_file_atomic(obj, object);
  std::vector<std::string> argv = {"cc", "-shared", "-o", so, obj};
  if (sleef) argv.push_back("-lsleef");
  argv.push_back("-lm");
  std::optional<ProcessResult> r = run_program(argv, "");
  if (!r)
    throw UsageError(fmt::format("cannot link {}: the C compiler driver 'cc' is not installed (apt-get install gcc); "
                                 "-o {} writes the object, to link yourself",
                                 out, replace_extension(out, ".o")));
  if (r->exit_code != 0) {
    std::string err = r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    throw UsageError(fmt::format("cannot link {}: 'cc -shared' failed (exit {}){}{}", out, r->exit_code,
                                 err.empty() ? "" : ": ", err));
  }
  return read_file(so);
}


int cmd_compile(const Options& o, const std::string& command) {
  static const char* const kOutputs =
      ".o (a relocatable object), .so (a shared library), .c (C99 source) or .h (the header)";
  if (o.step && o.simd)
    throw UsageError("--simd: only for a function's kernel; a training program's step vectorizes its tensor loops already");
  if (o.step) return cmd_compile_step(o, command);
  if (o.batch || o.epochs || !o.params.empty())
    throw UsageError(fmt::format("{}: only with --step (a training program's minibatch, schedule and starting parameters)",
                                 o.batch ? "--batch" : o.epochs ? "--epochs" : "--params"));
  if (o.out.empty()) throw UsageError(fmt::format("compile: -o OUT is required; OUT's extension chooses {}", kOutputs));
  std::string ext = extension(o.out);
  if (ext != ".o" && ext != ".so" && ext != ".c" && ext != ".h")
    throw UsageError(fmt::format("-o {}: the extension chooses the output: {}", o.out, kOutputs));
  if (int given = o.grad + o.hessian + o.jacobian; given > 1)
    throw UsageError("--grad, --hessian and --jacobian choose the outputs: give one (--hessian includes the gradient)");
  if (o.dtype != "f64" && o.dtype != "f32") throw UsageError(fmt::format("--dtype: f64 or f32, not '{}'", o.dtype));
  if (ext == ".h" && o.header) throw UsageError("--header writes OUT.h next to OUT.o or OUT.so; -o OUT.h is the header already");
  if (ext == ".h" && (!o.target.empty() || !o.cpu.empty()))
    throw UsageError(fmt::format("{}: the header is the same for every target; it chooses the code of OUT.o",
                                 o.target.empty() ? "--cpu" : "--target"));
  if (ext == ".c" && (!o.target.empty() || !o.cpu.empty()))
    throw UsageError(fmt::format("{}: OUT.c is C source, compiled by your C compiler for its target; {} chooses the "
                                 "code of OUT.o",
                                 o.target.empty() ? "--cpu" : "--target", o.target.empty() ? "--cpu" : "--target"));
  if (ext == ".so" && !o.target.empty())
    throw UsageError("--target: a shared library is linked by this machine's cc, for this machine; write OUT.o for "
                     "another target");
  if (o.simd && ext == ".c")
    throw UsageError("--simd: OUT.c is C99 without dependencies, its batch one point at a time; --simd is for OUT.o and OUT.so");
  if (!o.prefix.empty() && !c_identifier(o.prefix))
    throw UsageError(fmt::format("--prefix: '{}' is not a C identifier (letters, digits and _, not first a digit)",
                                 o.prefix));

  auto m = load(o);
  const Function& f = choose(*m, o.fn, /*tensors=*/true);
  check_flags(f, o);
  const std::string name = o.prefix.empty() ? f.name : o.prefix;
  for (const std::string& entry : {name, name + "_batch"})
    if (reserved_name(entry))
      throw UsageError(fmt::format("{}: '{}' is a name C or its library already uses; give the entries another "
                                   "with --prefix NAME",
                                   o.prefix.empty() ? "--fn" : "--prefix", entry));
  Plan p = plan(*m, f, o);
  KernelSpec spec{name, f.params, p.outs, /*batch=*/true, o.dtype == "f32" ? DType::F32 : DType::F64};
  const std::string header_path = ext == ".h" ? o.out : replace_extension(o.out, ".h");
  if (ext == ".c") {
    const char* T = spec.dtype == DType::F32 ? "float" : "double";
    CSource c;
    std::string text = c_source(spec, header(f, o, p, name, 0, o.out, command), name, c);
    write_file_atomic(o.out, text);
    if (o.header) write_file_atomic(header_path, c_header(header(f, o, p, name, 0, header_path, command), name, T, c));
    return kExitOk;
  }
  AotObject obj;
  try {
    // For OUT.h alone, the host's object: the header gives its workspace size.
    obj = compile_object(spec, ext == ".h" ? AotTarget{.simd = o.simd} : AotTarget{o.target, o.cpu, o.simd});
  } catch (const std::invalid_argument& e) {  // a name codegen refuses
    std::string why = e.what();
    if (why.starts_with("codegen: ")) why.erase(0, 9);
    throw UsageError(fmt::format("--prefix: '{}' cannot name the entries: {}", name, why));
  }
  return write_outputs(o, ext, header_path, header(f, o, p, name, obj.workspace_bytes, header_path, command), obj.bytes);
}

int write_outputs(const Options& o, const std::string& ext, const std::string& header_path,
                  const std::string& header_text, const std::string& object) {
  if (ext == ".h") {
    write_file_atomic(o.out, header_text);
    return kExitOk;
  }
  write_file_atomic(o.out, ext == ".so" ? link_shared(object, o.out, o.simd) : object);
  if (o.header) write_file_atomic(header_path, header_text);
  return kExitOk;
}

}  // namespace gradc::cli
