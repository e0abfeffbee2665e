// The C emitter: one `const T tN = ...;` per scalar node in topological order, and for a tensor
// node a plain loop nest filling its buffer in the caller's workspace, summing every reduction
// and matrix product in the interpreter's order (k increasing, from +0).
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "compiler/codegen_c.hpp"
#include "compiler/codegen_c/detail.hpp"
#include "compiler/ops_tensor.hpp"

namespace gradc {
namespace {

using codegen_c_detail::c_elementwise;

// A shape padded on the left to rank 3 (as the interpreter walks it).
struct Dims {
  std::int64_t d[3], stride[3];
  int pad;
  explicit Dims(const Shape& s) : pad(3 - s.rank) {
    for (int i = 0; i < 3; ++i) d[i] = i < pad ? 1 : s.dims[i - pad];
    stride[2] = 1;
    stride[1] = d[2];
    stride[0] = d[1] * d[2];
  }
};

// An exact C literal of v in the element type: hex floats (C99) keep every bit.
std::string literal(double v, bool f32) {
  if (f32) v = static_cast<float>(v);  // rounded as the JIT rounds an f32 constant (it may overflow)
  if (std::isnan(v)) return f32 ? "NAN" : "(double)NAN";
  if (std::isinf(v)) return std::string(v < 0 ? "-" : "") + (f32 ? "INFINITY" : "(double)INFINITY");
  if (f32) return fmt::format("{:a}f", v);
  return fmt::format("{:a}", v);
}

class Emitter {
 public:
  Emitter(const KernelSpec& spec, std::string name)
      : spec_(spec), name_(std::move(name)), f32_(spec.dtype == DType::F32), T_(f32_ ? "float" : "double") {}

  void run() {
    std::int64_t off = 0;
    for (const Node* v : spec_.inputs) {
      in_offset_.emplace(v, off);
      off += v->shape.size();
    }
    // The nodes the code reads: not a constant that a pow's spelling folds in (the exponent of
    // x^2, the base of 2^y), so that no variable is left unused.
    std::vector<const Node*> order = reachable(spec_.outputs);
    std::unordered_set<const Node*> used(spec_.outputs.begin(), spec_.outputs.end());
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const Node* n = *it;
      if (!used.count(n)) continue;
      for (int i = 0; i < n->nargs; ++i)
        if (codegen_c_detail::reads_operand(n, i, f32_)) used.insert(n->arg(i));
    }
    for (const Node* n : order) {
      if (!used.count(n)) continue;
      tensor_ = tensor_ || !n->shape.scalar();
      node(n);
    }
    off = 0;
    for (const Node* o : spec_.outputs) {
      if (o->shape.scalar()) {
        body_ += fmt::format("  out[{}] = {};\n", off, at(o, "0"));
      } else {
        body_ += fmt::format("  for (e = 0; e < {}; ++e) out[{} + e] = {};\n", o->shape.size(), off, at(o, "e"));
      }
      off += o->shape.size();
    }
  }

  std::string body_, statics_;
  std::int64_t work_ = 0;
  bool digamma_ = false, polygamma_ = false, lgamma_ = false, tensor_ = false;

 private:
  // Element idx (a C expression) of n's value.
  std::string at(const Node* n, const std::string& idx) const {
    if (n->shape.scalar()) return fmt::format("t{}", n->id);
    if (auto it = in_offset_.find(n); it != in_offset_.end())
      return it->second ? fmt::format("in[{} + {}]", it->second, idx) : fmt::format("in[{}]", idx);
    if (n->op == Op::Tensor) return fmt::format("{}_k{}[{}]", name_, n->id, idx);
    auto it = buffers_.find(n);
    if (it == buffers_.end())
      throw std::logic_error(fmt::format("codegen_c: t{} ({} {}) is read before it is computed", n->id, op_id(n->op), n->shape.str()));
    return fmt::format("work[{} + {}]", it->second, idx);
  }

  // Row-major linear index of padded multi-index i (C expressions; "0" for a fixed 0).
  static std::string linear(const Dims& D, const std::string (&i)[3]) {
    std::string s;
    for (int e = 0; e < 3; ++e) {
      if (i[e] == "0" || D.d[e] == 1) continue;
      if (!s.empty()) s += " + ";
      s += D.stride[e] == 1 ? i[e] : fmt::format("{} * {}", i[e], D.stride[e]);
    }
    return s.empty() ? "0" : s;
  }

  // for i0, i1, i2 over D (axes of size 1 get no loop; `fixed` >= 0 holds that axis at `value`):
  // body(i) inside, at indentation 2 + depth.
  template <class Body>
  void nest(const Dims& D, Body body, int fixed = -1, std::int64_t value = 0) {
    std::string i[3];
    std::string open, close, indent = "    ";
    for (int e = 0; e < 3; ++e) {
      if (e == fixed) {
        i[e] = std::to_string(value);
      } else if (D.d[e] == 1) {
        i[e] = "0";
      } else {
        i[e] = fmt::format("i{}", e);
        open += fmt::format("{}for (i{} = 0; i{} < {}; ++i{})\n", indent, e, e, D.d[e], e);
        indent += "  ";
      }
    }
    body_ += open + indent + body(i) + "\n";
  }

  void zero(const Node* n) { body_ += fmt::format("    for (e = 0; e < {}; ++e) w[e] = {};\n", n->shape.size(), literal(0, f32_)); }

  void node(const Node* n) {
    if (n->op == Op::Var) {
      if (!in_offset_.count(n)) throw std::logic_error("codegen_c: variable '" + n->name + "' is not a kernel input");
      if (n->shape.scalar()) body_ += fmt::format("  const {} t{} = {}; /* {} */\n", T_, n->id, fmt::format("in[{}]", in_offset_.at(n)), n->name);
      return;
    }
    if (n->op == Op::Const) {
      // The exact hex literal, and the shortest decimal that reads back as it, for people.
      double v = f32_ ? static_cast<float>(n->value) : n->value;
      body_ += fmt::format("  const {} t{} = {};{}\n", T_, n->id, literal(n->value, f32_),
                           std::isfinite(v) ? fmt::format(" /* {} */", f32_ ? fmt::format("{}", static_cast<float>(v)) : fmt::format("{}", v)) : "");
      return;
    }
    if (n->op == Op::Tensor) {
      if (n->shape.scalar()) {
        body_ += fmt::format("  const {} t{} = {};\n", T_, n->id, literal(n->data->at(0), f32_));
        return;
      }
      // File-scope names start with the entry's (so that an entry called k3 clashes with nothing).
      statics_ += fmt::format("static const {} {}_k{}[{}] = {{", T_, name_, n->id, n->shape.size());
      for (std::size_t e = 0; e < n->data->size(); ++e)
        statics_ += (e % 4 ? " " : "\n  ") + literal((*n->data)[e], f32_) + ",";
      statics_ += "\n};\n";
      return;
    }
    const Node* a = n->nargs > 0 ? n->arg(0) : nullptr;
    const Node* b = n->nargs > 1 ? n->arg(1) : nullptr;
    if (n->shape.scalar() && (!a || a->shape.scalar())) {
      // Straight-line code; the tensor ops a scalar meets are identities on it (a sum from +0).
      std::string e;
      switch (n->op) {
        case Op::Broadcast: case Op::Reshape: case Op::Detach: case Op::ReduceMax: e = at(a, "0"); break;
        case Op::Sum: e = literal(0, f32_) + " + " + at(a, "0"); break;
        default: e = elementwise(n, at(a, "0"), b ? at(b, "0") : "");
      }
      body_ += fmt::format("  const {} t{} = {};\n", T_, n->id, e);
      return;
    }
    if (n->shape.scalar()) {
      // A tensor op with a scalar result (a reduction to one element, an element).
      body_ += fmt::format("  {} t{};\n  {{\n", T_, n->id);
      const std::string inf = f32_ ? "INFINITY" : "(double)INFINITY";
      if (n->op == Op::Sum) {
        body_ += fmt::format("    {} acc = {};\n    for (e = 0; e < {}; ++e) acc += {};\n", T_, literal(0, f32_),
                             a->shape.size(), at(a, "e"));
      } else if (n->op == Op::ReduceMax && n->axis == -1) {
        // The interpreter's rule over every axis: v replaces acc when v > acc or v is nan.
        body_ += fmt::format("    {0} acc = -{1};\n    for (e = 0; e < {2}; ++e) {{\n      const {0} v = {3};\n"
                             "      if (v > acc || isnan(v)) acc = v;\n    }}\n",
                             T_, inf, a->shape.size(), at(a, "e"));
      } else if (n->op == Op::ReduceMax) {
        // Along one axis: the first element, then v replaces acc when v > acc or v is nan, unless acc is nan.
        body_ += fmt::format("    {0} acc = {1};\n    for (e = 1; e < {2}; ++e) {{\n      const {0} v = {3};\n"
                             "      if (v > acc || isnan(v)) acc = isnan(acc) ? acc : v;\n    }}\n",
                             T_, at(a, "0"), a->shape.size(), at(a, "e"));
      } else if (n->op == Op::Index) {
        body_ += fmt::format("    {} acc = {};\n", T_, at(a, std::to_string(n->index)));
      } else if (n->op == Op::Reshape || n->op == Op::Detach || n->op == Op::Slice) {
        body_ += fmt::format("    {} acc = {};\n", T_, at(a, n->op == Op::Slice ? std::to_string(n->index) : "0"));
      } else {
        throw std::logic_error(std::string("codegen_c: no scalar result of tensor op ") + op_id(n->op));
      }
      body_ += fmt::format("    t{} = acc;\n  }}\n", n->id);
      return;
    }
    // A tensor result: a buffer of the workspace.
    body_ += fmt::format("  /* t{}: {} {} */\n  {{\n    {}* const w = work + {};\n", n->id, op_id(n->op),
                         n->shape.str(), T_, work_);
    tensor_op(n, a, b);
    body_ += "  }\n";
    buffers_.emplace(n, work_);
    work_ += n->shape.size();
  }


  std::string elementwise(const Node* n, const std::string& a, const std::string& b) {
    if (n->op == Op::Digamma) digamma_ = true;
    if (n->op == Op::Polygamma) digamma_ = polygamma_ = true;
    if (n->op == Op::Lgamma) lgamma_ = true;
    return c_elementwise(n, a, b, f32_);
  }

  std::string operand(const Node* x, const std::string& idx) const { return at(x, idx); }

  void tensor_op(const Node* n, const Node* a, const Node* b) {
    const std::string w = "w";
    const std::int64_t size = n->shape.size();
    if (n->info().elementwise) {
      std::string e = elementwise(n, codegen_c_detail::reads_operand(n, 0, f32_) ? operand(a, "e") : "",
                                  b && codegen_c_detail::reads_operand(n, 1, f32_) ? operand(b, "e") : "");
      body_ += fmt::format("    for (e = 0; e < {}; ++e) {}[e] = {};\n", size, w, e);
      return;
    }
    Dims O(n->shape);
    switch (n->op) {
      case Op::Reshape: case Op::Detach:
        body_ += fmt::format("    for (e = 0; e < {}; ++e) {}[e] = {};\n", size, w, operand(a, "e"));
        return;
      case Op::Broadcast: {
        Dims X(a->shape);
        nest(O, [&](const std::string (&i)[3]) {
          std::string j[3];
          for (int d = 0; d < 3; ++d) j[d] = X.d[d] == 1 ? "0" : i[d];
          return fmt::format("{}[{}] = {};", w, linear(O, i), operand(a, linear(X, j)));
        });
        return;
      }
      case Op::Sum: case Op::ReduceMax: {
        // Per output element, the reduced axis in increasing order (the interpreter's order).
        Dims X(a->shape);
        int ax = n->axis + X.pad;
        Dims K(a->shape.with_one(n->axis));
        bool max = n->op == Op::ReduceMax;
        nest(K, [&](const std::string (&i)[3]) {
          std::string j[3] = {i[0], i[1], i[2]};
          j[ax] = "r";
          std::string first = [&] { std::string z[3] = {i[0], i[1], i[2]}; z[ax] = "0"; return operand(a, linear(X, z)); }();
          std::string s = "{\n";
          if (max) {
            s += fmt::format("      {0} acc = {1};\n      for (r = 1; r < {2}; ++r) {{\n        const {0} v = {3};\n"
                             "        if (v > acc || isnan(v)) acc = isnan(acc) ? acc : v;\n      }}\n",
                             T_, first, X.d[ax], operand(a, linear(X, j)));
          } else {
            s += fmt::format("      {} acc = {};\n      for (r = 0; r < {}; ++r) acc += {};\n", T_,
                             literal(0, f32_), X.d[ax], operand(a, linear(X, j)));
          }
          return s + fmt::format("      {}[{}] = acc;\n    }}", w, linear(K, i));
        });
        return;
      }
      case Op::MatMul: {
        const Shape &xs = a->shape, &ys = b->shape;
        std::int64_t batch = xs.rank == 3 ? xs[0] : 1;
        std::int64_t m = xs[xs.rank - 2], kk = xs[xs.rank - 1], p = ys[ys.rank - 1];
        body_ += fmt::format(
            "    for (i0 = 0; i0 < {0}; ++i0)\n      for (i1 = 0; i1 < {1}; ++i1)\n        for (i2 = 0; i2 < {2}; ++i2) {{\n"
            "          {3} acc = {4};\n          for (r = 0; r < {5}; ++r) acc += {6} * {7};\n"
            "          {8}[(i0 * {1} + i1) * {2} + i2] = acc;\n        }}\n",
            batch, m, p, T_, literal(0, f32_), kk, operand(a, fmt::format("(i0 * {} + i1) * {} + r", m, kk)),
            operand(b, fmt::format("(i0 * {} + r) * {} + i2", kk, p)), w);
        return;
      }
      case Op::Transpose: {
        Dims X(a->shape);
        auto perm = tensor_ops::permutation(n->axis, a->shape.rank);
        nest(O, [&](const std::string (&i)[3]) {
          std::string j[3] = {"0", "0", "0"};
          for (int d = 0; d < n->shape.rank; ++d) j[X.pad + perm[d]] = i[O.pad + d];
          return fmt::format("{}[{}] = {};", w, linear(O, i), operand(a, linear(X, j)));
        });
        return;
      }
      case Op::Index: case Op::Embed: {
        // One walk over the larger shape with the axis held at the index, the smaller one in order.
        bool index = n->op == Op::Index;
        const Shape& big = index ? a->shape : n->shape;
        Dims B(big);
        if (!index) zero(n);
        body_ += "    e = 0;\n";
        nest(B, [&](const std::string (&i)[3]) {
          return index ? fmt::format("{}[e++] = {};", w, operand(a, linear(B, i)))
                       : fmt::format("{}[{}] = {};", w, linear(B, i), operand(a, "e++"));
        }, n->axis + B.pad, n->index);
        return;
      }
      case Op::Slice: case Op::Pad: {
        bool slice = n->op == Op::Slice;
        const Shape &small = slice ? n->shape : a->shape, &big = slice ? a->shape : n->shape;
        Dims S(small), B(big);
        int ax = n->axis + S.pad;
        if (!slice) zero(n);
        nest(S, [&](const std::string (&i)[3]) {
          std::string j[3] = {i[0], i[1], i[2]};
          j[ax] = j[ax] == "0" ? std::to_string(n->index) : fmt::format("({} + {})", i[ax], n->index);
          return slice ? fmt::format("{}[{}] = {};", w, linear(S, i), operand(a, linear(B, j)))
                       : fmt::format("{}[{}] = {};", w, linear(B, j), operand(a, linear(S, i)));
        });
        return;
      }
      case Op::OneHot: {
        zero(n);
        body_ += fmt::format(
            "    for (e = 0; e < {0}; ++e) {{\n      const {1} c = {2};\n"
            "      if (c >= {3} && c < {4} && c == {5}(c)) {6}[e * {4} + (size_t)c] = {7};\n    }}\n",
            a->shape[0], T_, operand(a, "e"), literal(0, f32_), n->index, f32_ ? "floorf" : "floor", w,
            literal(1, f32_));
        return;
      }
      default:
        throw std::logic_error(std::string("codegen_c: no loop nest for op ") + op_id(n->op));
    }
  }

  const KernelSpec& spec_;
  std::string name_;
  bool f32_;
  const char* T_;
  std::unordered_map<const Node*, std::int64_t> in_offset_, buffers_;
};

}  // namespace

std::string c_identifier(std::string_view name) {
  std::string s;
  for (char c : name) s += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s.insert(s.begin(), '_');
  return s;
}

CSource codegen_c(const KernelSpec& spec, std::string_view layout) {
  const std::string name = c_identifier(spec.name);
  const bool f32 = spec.dtype == DType::F32;
  const char* T = f32 ? "float" : "double";
  for (const Node* v : spec.inputs)
    if (v->dtype == DType::F32 && !f32)
      throw std::logic_error("codegen_c: the f32 variable '" + v->name + "' in an f64 kernel");
  Emitter em(spec, name);
  em.run();
  std::int64_t n_in = 0, n_out = 0;
  for (const Node* v : spec.inputs) n_in += v->shape.size();
  for (const Node* o : spec.outputs) n_out += o->shape.size();
  const std::int64_t work_bytes = em.work_ * static_cast<std::int64_t>(f32 ? sizeof(float) : sizeof(double));
  const bool local = work_bytes <= kCMaxLocalWorkBytes;

  std::string s;
  if (!layout.empty()) {
    s = std::string(layout);
  } else {
    s = fmt::format("/* {}.c: C99 source generated by gradc (it needs libm only).\n *\n", name);
    s += fmt::format(" * Element type: {}. Tensors are flattened row-major.\n", T);
    std::int64_t off = 0;
    s += fmt::format(" * Inputs ({} elements a point):\n", n_in);
    for (const Node* v : spec.inputs) {
      s += fmt::format(" *   in[{}]  {}{}\n", off, v->name, v->shape.scalar() ? "" : "  " + v->shape.str());
      off += v->shape.size();
    }
    off = 0;
    s += fmt::format(" * Outputs ({} elements a point):\n", n_out);
    for (std::size_t j = 0; j < spec.outputs.size(); ++j) {
      const Shape& sh = spec.outputs[j]->shape;
      s += fmt::format(" *   out[{}]  output {}{}\n", off, j, sh.scalar() ? "" : "  " + sh.str());
      off += sh.size();
    }
  }
  s += " *\n";
  s += fmt::format(" * {0}(in, out) computes one point; {0}_batch(n, in, out) n points, row r reading\n"
                   " * in[r*{0}_N_IN ...] and writing out[r*{0}_N_OUT ...]. Thread-safe, allocation-free.\n", name);
  if (!em.tensor_) {
    s += " * `out` may overlap `in` (every output is stored after the last input is read).\n";
  } else {
    s += " * `in` and `out` must not overlap.\n";
  }
  if (em.work_ > 0) {
    s += fmt::format(" * Workspace: {0}_N_WORK elements for the intermediate tensors. {0}_work(in, out, work)\n"
                     " * takes the caller's; ", name);
    if (local)
      s += fmt::format("{0} and {0}_batch keep it on their stack ({1} bytes).\n", name, work_bytes);
    else
      s += fmt::format("{0} and {0}_batch keep it in C11 _Thread_local storage ({1} bytes\n"
                       " * per calling thread) and are defined only when compiled as C11 or later: under C99\n"
                       " * only {0}_work is.\n", name, work_bytes);
  }
  s += " * Compiled with -ffp-contract=off, it has the bits of gradc's kernels built without fma\n"
       " * contraction (gradc eval contracts a*b + c into an fma where the CPU has one).\n */\n";
  s += "#include <math.h>\n#include <stddef.h>\n\n";
  s += fmt::format("#define {}_N_IN {}\n#define {}_N_OUT {}\n#define {}_N_WORK {}\n\n", name, n_in, name, n_out, name,
                   em.work_);
  if (em.lgamma_) s += codegen_c_detail::c_lgamma(f32) + "\n";
  if (em.digamma_) s += std::string(codegen_c_detail::kCDigamma).substr(1) + "\n";
  if (em.polygamma_) s += std::string(codegen_c_detail::kCPolygamma).substr(1) + "\n";
  if (!em.statics_.empty()) s += em.statics_ + "\n";

  // Loop counters, when there are loops (not all of them are used by every kernel).
  const bool loops = em.body_.find("for (") != std::string::npos;
  const std::string unused_in = em.body_.find("in[") == std::string::npos ? "  (void)in;\n" : "";
  const std::string decls = unused_in + (loops ? "  size_t e, r, i0, i1, i2;\n  (void)e; (void)r; (void)i0; (void)i1; (void)i2;\n" : "");
  if (em.work_ == 0) {
    s += fmt::format("void {}(const {}* in, {}* out) {{\n", name, T, T);
    s += decls + em.body_ + "}\n\n";
    s += fmt::format("void {0}_batch(size_t n, const {1}* in, {1}* out) {{\n  size_t row;\n"
                     "  for (row = 0; row < n; ++row) {0}(in + row * {0}_N_IN, out + row * {0}_N_OUT);\n}}\n",
                     name, T);
    return CSource{s, 0};
  }
  s += fmt::format("void {}_work(const {}* in, {}* out, {}* work) {{\n", name, T, T, T);
  s += decls + em.body_ + "}\n\n";
  std::string entries = fmt::format(
      "void {0}(const {1}* in, {1}* out) {{\n{2}  {0}_work(in, out, {3});\n}}\n\n"
      "void {0}_batch(size_t n, const {1}* in, {1}* out) {{\n{2}  size_t row;\n"
      "  for (row = 0; row < n; ++row) {0}_work(in + row * {0}_N_IN, out + row * {0}_N_OUT, {3});\n}}\n",
      name, T, local ? fmt::format("  {} work[{}_N_WORK];\n", T, name) : "", local ? "work" : name + "_tls");
  if (local) {
    s += entries;
  } else {
    s += "#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_THREADS__)\n";
    s += fmt::format("static _Thread_local {0} {1}_tls[{1}_N_WORK];\n\n", T, name);
    s += entries + "#endif\n";
  }
  return CSource{s, em.work_};
}

}  // namespace gradc
