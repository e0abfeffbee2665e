// LLVM code generation. A scalar kernel (every node rank 0) is straight-line code: every
// reachable node becomes one SSA value, emitted in id (topological) order, so the walk is a loop
// (a 250,000-node chain needs no recursion) and a shared node is computed once. Each op's
// lowering copies its eval function in ops.cpp, including which operand a comparison returns
// for nan, because the JIT is tested against the interpreter.
//
// A tensor kernel is a sequence of loop nests, one per materialized node, in id order (see
// TensorBody for the rules). No walk recurses over the graph: the analysis and the emission are
// loops over the topological order, and the fused expression of one element is evaluated with
// an explicit stack.
#include "compiler/codegen.hpp"
#include "support/diagnostics.hpp"

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace gradc {
namespace {

// The C library function the generated code declares by name (the other math ops are LLVM
// intrinsics, which LLVM 19 lowers to libm calls itself). A kernel may not take this name.
constexpr const char* kDeclaredLibm = "log1p";
constexpr const char* kDeclaredLibmF32 = "log1pf";

const char* declared_libm(DType t) { return t == DType::F32 ? kDeclaredLibmF32 : kDeclaredLibm; }

// Bodies up to this many instructions are inlined into both entry points; beyond, a call per
// row costs nothing next to the body, and one copy halves the backend's work.
constexpr unsigned kInlineLimit = 5000;

// Distinct constants emitted as immediates; beyond, they are loaded from a table (see emit).
constexpr std::size_t kMaxImmediates = 1000;

// A tensor kernel's workspace (its intermediate buffers) is a zero-initialised global; past this
// size, compiling is refused rather than asking the JIT linker for gigabytes.
constexpr std::int64_t kMaxWorkspaceBytes = std::int64_t(1) << 30;

// Buffers in the workspace start at this alignment (a cache line, two AVX2 / one AVX-512 vector).
constexpr std::int64_t kBufferAlignBytes = 64;

void check_name(const std::string& name, DType dtype) {
  if (name.empty()) throw std::invalid_argument("codegen: empty kernel name");
  if (name.starts_with("llvm."))
    throw std::invalid_argument("codegen: kernel name '" + name + "' is reserved by LLVM");
  if (name == declared_libm(dtype))
    throw std::invalid_argument("codegen: kernel name '" + name +
                                "' is the C library function the kernel calls");
}

llvm::Function* define(llvm::Module& m, llvm::FunctionType* type,
                       llvm::GlobalValue::LinkageTypes linkage, const std::string& name) {
  auto* f = llvm::Function::Create(type, linkage, name, m);
  if (f->getName() != name) throw std::logic_error("codegen: duplicate function '" + name + "'");
  f->addFnAttr(llvm::Attribute::NoUnwind);
  f->addParamAttr(0, llvm::Attribute::NoCapture);
  f->addParamAttr(0, llvm::Attribute::ReadOnly);
  f->addParamAttr(1, llvm::Attribute::NoCapture);
  return f;
}

// The constant behind a splat: c, broadcast(c), reshape(c), detach(c); else nullptr.
const Node* splat_constant(const Node* n) {
  while (n->op == Op::Broadcast || n->op == Op::Reshape || n->op == Op::Detach) n = n->arg(0);
  return n->op == Op::Const ? n : nullptr;
}

/// The lowering of the elementwise ops on scalar values of the element type (shared by the
/// straight-line body and the loop bodies of tensor kernels).
class OpLowering {
 public:
  OpLowering(llvm::Module& m, llvm::IRBuilder<>& b, DType dtype)
      : m_(m), b_(b), dtype_(dtype), t_(dtype == DType::F32 ? b.getFloatTy() : b.getDoubleTy()) {}

 protected:
  // op(a, c) for an elementwise op (c is null for a unary one); throws std::logic_error for a
  // tensor op.
  llvm::Value* elementwise(const Node* n, llvm::Value* a, llvm::Value* c) {
    auto call = [&](llvm::Intrinsic::ID id, llvm::Value* x) {
      return b_.CreateUnaryIntrinsic(id, x);
    };
    auto unary = [&](llvm::Intrinsic::ID id) { return call(id, a); };
    // No default: a new op in GRADC_FOR_EACH_OP without a lowering is a -Wswitch warning.
    switch (n->op) {
      case Op::Const: return k(n->value);
      case Op::Var: break;  // loaded by the emitter
      case Op::Add: return b_.CreateFAdd(a, c);
      case Op::Sub: return b_.CreateFSub(a, c);
      case Op::Mul: return b_.CreateFMul(a, c);
      case Op::Div: return b_.CreateFDiv(a, c);
      case Op::Neg: return b_.CreateFNeg(a);
      case Op::Pow: return pow(n, a, c);
      case Op::Sin: return unary(llvm::Intrinsic::sin);
      case Op::Cos: return unary(llvm::Intrinsic::cos);
      case Op::Tan: return unary(llvm::Intrinsic::tan);
      case Op::Asin: return unary(llvm::Intrinsic::asin);
      case Op::Acos: return unary(llvm::Intrinsic::acos);
      case Op::Atan: return unary(llvm::Intrinsic::atan);
      case Op::Sinh: return unary(llvm::Intrinsic::sinh);
      case Op::Cosh: return unary(llvm::Intrinsic::cosh);
      case Op::Tanh: return unary(llvm::Intrinsic::tanh);
      case Op::Exp: return unary(llvm::Intrinsic::exp);
      case Op::Log: return unary(llvm::Intrinsic::log);
      case Op::Sqrt: return unary(llvm::Intrinsic::sqrt);
      case Op::Abs: return unary(llvm::Intrinsic::fabs);
      // sigmoid(x) = 1 / (1 + exp(-x))
      case Op::Sigmoid:
        return b_.CreateFDiv(k(1),
                             b_.CreateFAdd(k(1), call(llvm::Intrinsic::exp, b_.CreateFNeg(a))));
      // relu(x) = x > 0 ? x : 0   (relu(nan) = 0, as in the interpreter)
      case Op::Relu: return b_.CreateSelect(b_.CreateFCmpOGT(a, k(0)), a, k(0));
      // softplus(x) = std::max(x, 0) + log1p(exp(-|x|)), std::max(x, 0) being x < 0 ? 0 : x
      case Op::Softplus: {
        llvm::Value* pos = b_.CreateSelect(b_.CreateFCmpOLT(a, k(0)), k(0), a);
        llvm::Value* e = call(llvm::Intrinsic::exp, b_.CreateFNeg(unary(llvm::Intrinsic::fabs)));
        return b_.CreateFAdd(pos, b_.CreateCall(libm(declared_libm(dtype_)), {e}));
      }
      // min(a, b) = a <= b ? a : b, max(a, b) = a >= b ? a : b: ties pick a, nan picks b.
      case Op::Min: return b_.CreateSelect(b_.CreateFCmpOLE(a, c), a, c);
      case Op::Max: return b_.CreateSelect(b_.CreateFCmpOGE(a, c), a, c);
      // step(x) = x > 0 ? 1 : 0; sign(x) = x > 0 ? 1 : (x < 0 ? -1 : 0); both 0 at nan
      case Op::Step: return b_.CreateSelect(b_.CreateFCmpOGT(a, k(0)), k(1), k(0));
      case Op::Sign:
        return b_.CreateSelect(b_.CreateFCmpOGT(a, k(0)), k(1),
                               b_.CreateSelect(b_.CreateFCmpOLT(a, k(0)), k(-1), k(0)));
      // mask(c, x) = c == 0 ? 0 : c*x: a select, so that x = inf or nan cannot leak through c = 0
      case Op::Mask: return b_.CreateSelect(b_.CreateFCmpOEQ(a, k(0)), k(0), b_.CreateFMul(a, c));
      case Op::Tensor: case Op::Broadcast: case Op::Reshape: case Op::Sum: case Op::ReduceMax:
      case Op::MatMul: case Op::Transpose: case Op::Index: case Op::Embed: case Op::OneHot:
      case Op::Detach:
        break;  // not elementwise: the emitters lower these
    }
    throw std::logic_error("codegen: no lowering for op " +
                           std::to_string(static_cast<int>(n->op)));
  }

  // x^2 and x^3 as multiplies (within an ulp of pow, and what instcombine would do for x^2);
  // every other exponent, 0.5 included (pow(-0, 0.5) = +0 but sqrt(-0) = -0), calls pow.
  llvm::Value* pow(const Node* n, llvm::Value* a, llvm::Value* c) {
    const Node* e = splat_constant(n->arg(1));
    if (e && e->is_const(2)) return b_.CreateFMul(a, a);
    if (e && e->is_const(3)) return b_.CreateFMul(b_.CreateFMul(a, a), a);
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a, c);
  }

  // The ReduceMax step: acc stays once it is nan; else v replaces it when v > acc or v is nan
  // (the interpreter's rule; with acc starting at -inf it also covers the first element).
  llvm::Value* max_step(llvm::Value* acc, llvm::Value* v) {
    return b_.CreateSelect(b_.CreateFCmpUNO(acc, acc), acc,
                           b_.CreateSelect(b_.CreateFCmpUGT(v, acc), v, acc));
  }

  llvm::Constant* k(double v) { return llvm::ConstantFP::get(t_, v); }

  llvm::FunctionCallee libm(const char* name) {
    llvm::FunctionCallee f = m_.getOrInsertFunction(name, llvm::FunctionType::get(t_, {t_}, false));
    if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
      // errno is ignored: let LLVM treat the call as a pure function (like -fno-math-errno).
      fn->setDoesNotThrow();
      fn->setDoesNotAccessMemory();
      fn->addFnAttr(llvm::Attribute::WillReturn);
    }
    return f;
  }

  // Scalar constants (Const nodes): immediates, or past kMaxImmediates loads from a table.
  // Thousands of distinct constants as immediates make the backend quadratic (its constant
  // pool is searched linearly per constant): the table is external and writable so that LLVM
  // cannot fold the loads back.
  void make_constant_table(const std::vector<const Node*>& order, const std::string& name) {
    std::vector<double> table;
    for (const Node* n : order) {
      if (n->op != Op::Const) continue;
      table_index_.emplace(n, table.size());
      table.push_back(n->value);
    }
    if (table.size() <= kMaxImmediates) return;
    auto* type = llvm::ArrayType::get(t_, table.size());
    llvm::Constant* init;
    if (dtype_ == DType::F32) {
      std::vector<float> f(table.begin(), table.end());
      init = llvm::ConstantDataArray::get(m_.getContext(), f);
    } else {
      init = llvm::ConstantDataArray::get(m_.getContext(), table);
    }
    consts_ = new llvm::GlobalVariable(m_, type, /*isConstant=*/false, llvm::GlobalValue::ExternalLinkage,
                                       init, name + ".consts");
  }
  // A Const node's value: an immediate or a load from the table.
  llvm::Value* constant(const Node* n) {
    if (!consts_) return k(n->value);
    return b_.CreateLoad(t_, b_.CreateConstInBoundsGEP2_64(consts_->getValueType(), consts_, 0, table_index_.at(n)));
  }

  llvm::Module& m_;
  llvm::IRBuilder<>& b_;
  DType dtype_;
  llvm::Type* t_;
  std::unordered_map<const Node*, std::uint64_t> table_index_;
  llvm::GlobalVariable* consts_ = nullptr;
};

/// Emits the straight-line body of a scalar kernel: loads the inputs it uses from `in` and
/// stores the outputs to `out` after the last load (so a single call may write its outputs over
/// its inputs).
class BodyEmitter : OpLowering {
 public:
  using OpLowering::OpLowering;

  void emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out) {
    std::unordered_map<const Node*, std::uint64_t> input_index;
    for (std::size_t i = 0; i < spec.inputs.size(); ++i) input_index.emplace(spec.inputs[i], i);

    std::vector<const Node*> order = reachable(spec.outputs);
    values_.reserve(order.size());
    make_constant_table(order, spec.name);
    for (const Node* n : order) {
      llvm::Value* v;
      if (n->op == Op::Const) {
        v = constant(n);
      } else if (n->op == Op::Var) {
        auto it = input_index.find(n);
        if (it == input_index.end())
          throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
        v = b_.CreateLoad(t_, b_.CreateConstInBoundsGEP1_64(t_, in, it->second), n->name);
      } else {
        v = lower(n);
      }
      values_.emplace(n, v);
    }
    for (std::size_t j = 0; j < spec.outputs.size(); ++j)
      b_.CreateStore(values_.at(spec.outputs[j]), b_.CreateConstInBoundsGEP1_64(t_, out, j));
  }

 private:
  llvm::Value* lower(const Node* n) {
    llvm::Value* a = n->nargs > 0 ? values_.at(n->arg(0)) : nullptr;
    llvm::Value* c = n->nargs > 1 ? values_.at(n->arg(1)) : nullptr;
    switch (n->op) {
      // The tensor ops a scalar can meet are identities on it (an element's sum starts at +0).
      case Op::Tensor: return k(n->data->at(0));
      case Op::Broadcast: case Op::Reshape: case Op::Detach: case Op::ReduceMax: return a;
      case Op::Sum: return b_.CreateFAdd(k(0), a);
      default: return elementwise(n, a, c);
    }
  }

  std::unordered_map<const Node*, llvm::Value*> values_;
};

bool is_view_op(Op op) {
  return op == Op::Broadcast || op == Op::Reshape || op == Op::Transpose || op == Op::Detach ||
         op == Op::Index;
}

// A matrix product over an inner dimension of 1, C[i,j] = A[i,0] * B[0,j]: the backward of a
// one-output layer (dL/dh = dL/dy @ W^T). The kernel computes it like an elementwise product,
// fused into its consumer (2-16-16-1, f64: a pass over 1,024 x 16 less, ~0.7 us).
bool is_outer_product(const Node* n) { return n->op == Op::MatMul && n->arg(0)->shape[1] == 1; }

// Nodes that always get a buffer (and a loop nest of their own) when their result is a tensor.
bool has_own_loop(const Node* n) {
  return (n->op == Op::MatMul && !is_outer_product(n)) || n->op == Op::Sum || n->op == Op::ReduceMax ||
         n->op == Op::Embed || n->op == Op::OneHot;
}

// Nodes whose element is computed from their operands' elements (so they may be fused).
bool is_pointwise(const Node* n) { return (n->info().elementwise && n->nargs > 0) || is_outer_product(n); }

std::int64_t row_major_stride(const Shape& s, int d) {
  std::int64_t st = 1;
  for (int e = d + 1; e < s.rank; ++e) st *= s[e];
  return st;
}

// Whether reshaping `from` to `to` only inserts or removes axes of size 1 (then each index of
// size > 1 maps to one axis of the other shape, no division needed).
bool reshape_moves_ones_only(const Shape& from, const Shape& to) {
  std::vector<std::int32_t> a, b;
  for (int d = 0; d < from.rank; ++d)
    if (from[d] != 1) a.push_back(from[d]);
  for (int d = 0; d < to.rank; ++d)
    if (to[d] != 1) b.push_back(to[d]);
  return a == b;
}

/// Emits the body of a tensor kernel.
///
/// Each node is (a) a scalar SSA value if it has rank 0, (b) a buffer, or (c) fused into the
/// loop of the node that consumes it. Buffers: the inputs (a slice of `in`), Tensor constants
/// (private constant globals), and materialized nodes, which live in their output slot when
/// they are an output and in the workspace otherwise. Materialized: MatMul (but an outer
/// product, inner dimension 1, is fused like an elementwise op), Sum, ReduceMax, Embed and
/// OneHot results, and an elementwise node that is an output, is evaluated at more than one
/// place (counting through the views over it), is read through a Broadcast that repeats it (its
/// value would be recomputed per repetition), or is a matrix product's operand. A product read
/// only by the fused expression of one buffered elementwise node is computed in that node's
/// buffer, the expression applied to each register tile (see analyze).
/// Broadcast, Reshape, Transpose, Index and Detach are index maps, never copies: over a buffer
/// they are strided views of it (a broadcast axis has stride 0); over a fused expression they
/// remap the loop index. So `tanh(x @ W + b)` is the product's loop nest writing a buffer and
/// one loop computing tanh(buf[i,j] + b[j]), and sum(exp(x - m)) computes exp in the sum's loop.
///
/// Workspace buffers are allocated first-fit in one internal zero-initialised global and freed
/// after the step that reads them last, so they reuse memory; since their offsets are constants
/// and every buffer is live while a loop reads or writes it, the loops of one step never touch
/// overlapping memory through different buffers.
class TensorBody : OpLowering {
 public:
  TensorBody(llvm::Module& m, llvm::IRBuilder<>& b, DType dtype, llvm::Function* fn, const TargetInfo& target)
      : OpLowering(m, b, dtype), fn_(fn), i64_(b.getInt64Ty()) {
    elem_bytes_ = dtype == DType::F32 ? 4 : 8;
    align_elems_ = kBufferAlignBytes / elem_bytes_;
    // The matrix product's register tile: about half the vector registers hold the block of
    // C (kTileRows rows of tile_cols_), the rest the B vectors and A broadcasts.
    std::int64_t lanes = std::max<std::int64_t>(1, target.vector_bits / 8 / elem_bytes_);
    std::int64_t accumulators = std::max<std::int64_t>(kTileRows, target.vector_registers / 2);
    tile_cols_ = lanes * std::max<std::int64_t>(1, accumulators / kTileRows);
    lanes_ = lanes;
    accumulators_ = accumulators;
    threads_ = std::max(1u, target.threads);
  }

  void emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out) {
    entry_ = b_.GetInsertBlock();
    in_ = in;
    out_ = out;
    name_ = spec.name;
    order_ = reachable(spec.outputs);
    for (std::size_t p = 0; p < order_.size(); ++p) pos_.emplace(order_[p], p);
    for (const Node* n : order_)
      if (n->op == Op::Relu) relu_of_.emplace(n->arg(0), n);
    info_.assign(order_.size(), Info{});
    make_constant_table(order_, spec.name);
    workspace_ = new llvm::GlobalVariable(m_, llvm::ArrayType::get(t_, 0), /*isConstant=*/false,
                                          llvm::GlobalValue::InternalLinkage,
                                          llvm::ConstantAggregateZero::get(llvm::ArrayType::get(t_, 0)),
                                          spec.name + ".workspace");

    // Offsets of the inputs in `in` (a variable listed twice is read from its first slot).
    std::unordered_map<const Node*, std::int64_t> input_offset;
    std::int64_t at = 0;
    for (const Node* v : spec.inputs) {
      input_offset.emplace(v, at);
      at += v->shape.size();
    }
    // Output slots: the first slot of a computed node is its buffer; other slots are copies.
    std::vector<std::int64_t> out_offset;
    at = 0;
    for (const Node* o : spec.outputs) {
      out_offset.push_back(at);
      Info& oi = info_[pos_.at(o)];
      if (oi.out_count++ == 0) oi.first_out = at;
      at += o->shape.size();
    }

    analyze();

    // Workspace buffers (offset, size) by the step that reads them last.
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> frees(order_.size());
    for (std::size_t p = 0; p < order_.size(); ++p) {
      const Node* n = order_[p];
      Info& I = info_[p];
      Storage& s = I.st;
      if (n->shape.rank == 0) {
        s.kind = Kind::Scalar;
        if (n->op == Op::Var) {
          auto it = input_offset.find(n);
          if (it == input_offset.end())
            throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
          s.scalar = b_.CreateLoad(t_, b_.CreateConstInBoundsGEP1_64(t_, in, it->second), n->name);
        } else {
          s.scalar = scalar_node(n);
        }
      } else if (n->op == Op::Var) {
        auto it = input_offset.find(n);
        if (it == input_offset.end())
          throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
        s = contiguous(in, it->second, n->shape);
      } else if (n->op == Op::Tensor) {
        s = contiguous(tensor_global(n), 0, n->shape);
      } else if (I.materialize) {
        if (I.out_count > 0) {
          s = contiguous(out, I.first_out, n->shape);
        } else {
          std::int64_t off = allocate(n->shape.size());
          if (I.last_use < order_.size()) frees[I.last_use].emplace_back(off, n->shape.size());
          s = contiguous(workspace_, off, n->shape);
        }
        materialize(n, s);
      } else if (is_view_op(n->op)) {
        s = view_storage(n);
      } else {
        s.kind = Kind::Fused;
      }
      for (auto [off, size] : frees[p]) release(off, size);
    }

    // The outputs that are not their node's buffer: scalars, inputs, constants, views, and a
    // node's second slot.
    for (std::size_t j = 0; j < spec.outputs.size(); ++j) {
      const Node* o = spec.outputs[j];
      const Info& oi = info_[pos_.at(o)];
      if (o->shape.rank == 0) {
        b_.CreateStore(oi.st.scalar, b_.CreateConstInBoundsGEP1_64(t_, out, out_offset[j]));
        continue;
      }
      if (oi.materialize && oi.first_out == out_offset[j]) continue;
      Storage dst = contiguous(out, out_offset[j], o->shape);
      for_each_index(o->shape, [&](const Idx& idx) { store(dst, o->shape, idx, value(o, idx)); });
    }

    finish_workspace(spec.name);
  }

 private:
  using Idx = std::array<llvm::Value*, Shape::kMaxRank>;  // per axis of a node's shape

  enum class Kind : std::uint8_t { Scalar, View, Fused };
  struct Storage {
    Kind kind = Kind::Fused;
    llvm::Value* scalar = nullptr;  // Scalar: the value
    llvm::Value* base = nullptr;    // View: element (offset + Σ idx[d] stride[d]) of base
    std::int64_t offset = 0;
    std::array<std::int64_t, Shape::kMaxRank> stride{0, 0, 0};
  };
  struct Info {
    Storage st;
    bool materialize = false;
    int out_count = 0;            // how many output slots show this node
    std::int64_t first_out = -1;  // offset of the first one in `out`
    std::int64_t sites = 0;       // evaluations per element (through views)
    bool repeated = false;        // read through a Broadcast that repeats it
    bool matmul_operand = false;  // a matrix product's operand (through views)
    std::size_t eval_pos = 0;     // the step whose code reads this node's value
    std::size_t last_use = 0;     // the last step that reads this node's buffer
    const Node* epilogue_of = nullptr;  // a matrix product this node finishes (see analyze)
  };

  // Operand i of n as the kernel reads it: n's own, except that step(x) reads relu(x) when the
  // kernel computes that (before n): the two have the same sign, and the backward of relu,
  // g * step(x), then reads the activation it keeps anyway (as PyTorch's threshold_backward
  // does) instead of keeping x too. Without it x + b, read by relu and by step, gets a buffer
  // and a loop of its own (2-16-16-1, f64: two passes over 1,024 x 16, ~2 us of a 26 us step).
  const Node* operand(const Node* n, int i) const {
    if (n->op == Op::Step) {
      auto r = relu_of_.find(n->arg(0));
      if (r != relu_of_.end() && pos_.at(r->second) < pos_.at(n)) return r->second;
    }
    return n->arg(i);
  }

  // ---- Analysis: which nodes get a buffer, and when buffers die. Reverse topological order,
  // so every consumer is decided before the nodes it reads.
  void analyze() {
    const std::size_t end = order_.size();  // the output copies run after every step
    std::vector<std::vector<std::uint32_t>> users(order_.size());
    for (std::size_t p = 0; p < order_.size(); ++p) {
      const Node* n = order_[p];
      for (int i = 0; i < n->nargs; ++i) {
        if (i == 1 && n->arg(1) == n->arg(0)) continue;  // x*x reads x once per element
        users[pos_.at(operand(n, i))].push_back(static_cast<std::uint32_t>(p));
      }
    }
    for (std::size_t p = order_.size(); p-- > 0;) {
      const Node* n = order_[p];
      Info& I = info_[p];
      I.sites = I.out_count;
      std::size_t last = I.out_count > 0 ? end : 0;
      for (std::uint32_t u : users[p]) {
        const Node* c = order_[u];
        const Info& C = info_[u];
        if (c->shape.rank > 0 && is_view_op(c->op)) {  // fused index map over n
          I.sites += C.sites;
          I.repeated |= C.repeated || (c->op == Op::Broadcast && c->shape.size() > n->shape.size());
          I.matmul_operand |= C.matmul_operand;
        } else {
          I.sites += 1;
          I.matmul_operand |= c->op == Op::MatMul && !is_outer_product(c);
          I.repeated |= is_outer_product(c);  // each element is read once per row or column
        }
        last = std::max(last, C.eval_pos);
      }
      I.last_use = last;
      bool computed = n->shape.rank > 0 && is_pointwise(n);
      I.materialize = n->shape.rank > 0 &&
                      (has_own_loop(n) ||
                       (computed && (I.out_count > 0 || I.sites > 1 || I.repeated || I.matmul_operand)));
      // A matrix product read only by an elementwise expression that ends in a buffer of its
      // shape (relu(x @ W + b)) is computed into that buffer, and the expression is applied to
      // each register tile of it as the tile is finished: no pass over the product's result.
      if (const Node* e = n->op == Op::MatMul && I.materialize && I.out_count == 0 ? epilogue(p, users) : nullptr) {
        info_[pos_.at(e)].epilogue_of = n;
        I.materialize = false;
      }
      bool fused = n->shape.rank > 0 && !I.materialize && n->op != Op::Var && n->op != Op::Tensor;
      I.eval_pos = fused ? last : p;
    }
  }

  // The buffered node that can finish the matrix product at position p in its register tiles:
  // the product has one reader, a chain of fused elementwise nodes of its shape, each read once
  // and directly, ends in a buffered elementwise node that finishes no other product; and the
  // product takes matmul_tiles' plain path. Else nullptr. A node finishes at most one product:
  // in A @ B + C @ D, the later product (analyzed first) writes the sum's buffer, and the other
  // keeps a buffer of its own (both in one buffer would overwrite each other).
  const Node* epilogue(std::size_t p, const std::vector<std::vector<std::uint32_t>>& users) const {
    const Node* mm = order_[p];
    std::int64_t m = mm->shape[0], kk = mm->arg(0)->shape[1], cols = mm->shape[1];
    if (is_outer_product(mm) || (cols < kTinyTrip && m >= kTinyTrip) || splits_sum(m, cols, kk) ||
        parallel(m, kk, cols))
      return nullptr;
    std::size_t at = p;
    while (users[at].size() == 1) {
      at = users[at][0];
      const Node* c = order_[at];
      if (is_view_op(c->op) || !c->info().elementwise || c->shape != mm->shape) return nullptr;
      if (info_[at].materialize) return info_[at].epilogue_of ? nullptr : c;
    }
    return nullptr;
  }

  // ---- Storage.
  Storage contiguous(llvm::Value* base, std::int64_t offset, const Shape& s) {
    Storage st;
    st.kind = Kind::View;
    st.base = base;
    st.offset = offset;
    for (int d = 0; d < s.rank; ++d) st.stride[d] = row_major_stride(s, d);
    return st;
  }

  static bool is_contiguous(const Storage& st, const Shape& s) {
    for (int d = 0; d < s.rank; ++d)
      if (s[d] != 1 && st.stride[d] != row_major_stride(s, d)) return false;
    return true;
  }

  // A view op over a strided buffer is a strided buffer; over a scalar or a fused expression,
  // or a reshape that would need divisions, it stays an index map (Fused).
  Storage view_storage(const Node* n) {
    const Node* x = n->arg(0);
    const Storage& a = info_[pos_.at(x)].st;
    Storage s;
    if (a.kind != Kind::View) return s;
    s = a;
    s.stride = {0, 0, 0};
    switch (n->op) {
      case Op::Detach:
        return a;
      case Op::Broadcast: {
        int shift = n->shape.rank - x->shape.rank;
        for (int d = 0; d < n->shape.rank; ++d) {
          int e = d - shift;
          s.stride[d] = e < 0 || x->shape[e] == 1 ? 0 : a.stride[e];
        }
        return s;
      }
      case Op::Transpose:
        s.stride[0] = a.stride[1];
        s.stride[1] = a.stride[0];
        return s;
      case Op::Index:
        s.offset += std::int64_t(n->index) * a.stride[n->axis];
        for (int d = 0, e = 0; d < x->shape.rank; ++d)
          if (d != n->axis) s.stride[e++] = a.stride[d];
        return s;
      case Op::Reshape:
        if (is_contiguous(a, x->shape)) {
          for (int d = 0; d < n->shape.rank; ++d) s.stride[d] = row_major_stride(n->shape, d);
          return s;
        }
        if (reshape_moves_ones_only(x->shape, n->shape)) {
          for (int d = 0, e = 0; d < n->shape.rank; ++d) {
            if (n->shape[d] == 1) continue;
            while (x->shape[e] == 1) ++e;
            s.stride[d] = a.stride[e++];
          }
          return s;
        }
        return Storage{};
      default:
        throw std::logic_error("codegen: not a view op");
    }
  }

  llvm::GlobalVariable* tensor_global(const Node* n) {
    llvm::Constant* init;
    if (dtype_ == DType::F32) {
      std::vector<float> f(n->data->begin(), n->data->end());
      init = llvm::ConstantDataArray::get(m_.getContext(), f);
    } else {
      init = llvm::ConstantDataArray::get(m_.getContext(), *n->data);
    }
    auto* g = new llvm::GlobalVariable(m_, init->getType(), /*isConstant=*/true,
                                       llvm::GlobalValue::PrivateLinkage, init, "tensor");
    g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    g->setAlignment(llvm::Align(kBufferAlignBytes));
    return g;
  }

  // ---- The workspace: first-fit over free intervals (in elements), aligned offsets.
  std::int64_t allocate(std::int64_t size) {
    std::int64_t need = (size + align_elems_ - 1) / align_elems_ * align_elems_;
    for (std::size_t i = 0; i < free_.size(); ++i) {
      auto& [off, len] = free_[i];
      if (len < need) continue;
      std::int64_t at = off;
      off += need;
      len -= need;
      if (len == 0) free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
      return at;
    }
    // Grow at the top, absorbing a free interval that ends there.
    std::int64_t at = top_;
    if (!free_.empty() && free_.back().first + free_.back().second == top_) {
      at = free_.back().first;
      free_.pop_back();
    }
    top_ = at + need;
    if (top_ * elem_bytes_ > kMaxWorkspaceBytes)
      throw LimitError("the compiled kernel's intermediate tensors need more than " +
                       std::to_string(kMaxWorkspaceBytes >> 20) + " MiB (README, \"Limits\")");
    return at;
  }
  void release(std::int64_t off, std::int64_t size) {
    std::int64_t len = (size + align_elems_ - 1) / align_elems_ * align_elems_;
    auto it = std::lower_bound(free_.begin(), free_.end(), std::pair{off, std::int64_t(0)});
    it = free_.insert(it, {off, len});
    auto next = it + 1;
    if (next != free_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = it - 1;
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  // Gives the workspace its final size (its users addressed a placeholder).
  void finish_workspace(const std::string& name) {
    if (top_ == 0) {
      workspace_->eraseFromParent();
      return;
    }
    auto* type = llvm::ArrayType::get(t_, static_cast<std::uint64_t>(top_));
    auto* ws = new llvm::GlobalVariable(m_, type, /*isConstant=*/false, llvm::GlobalValue::InternalLinkage,
                                        llvm::ConstantAggregateZero::get(type), "");
    ws->setAlignment(llvm::Align(kBufferAlignBytes));
    workspace_->replaceAllUsesWith(ws);
    workspace_->eraseFromParent();
    ws->setName(name + ".workspace");
  }

  // ---- Loops. Counted do-while loops (every extent is at least 1), i64 induction variables.
  struct Loop {
    llvm::BasicBlock* body;
    llvm::PHINode* iv;
    std::int64_t n;
  };
  Loop begin_loop(std::int64_t n, const char* name = "i") {
    llvm::BasicBlock* pre = b_.GetInsertBlock();
    auto* body = llvm::BasicBlock::Create(m_.getContext(), "loop", fn_);
    b_.CreateBr(body);
    b_.SetInsertPoint(body);
    llvm::PHINode* iv = b_.CreatePHI(i64_, 2, name);
    iv->addIncoming(b_.getInt64(0), pre);
    return {body, iv, n};
  }
  // With `unroll_vectorized`, the loop the vectorizer makes of it is unrolled completely (the
  // JIT runs no other unrolling on tensor kernels; see runtime/jit.cpp).
  void end_loop(const Loop& l, bool unroll_vectorized = false) {
    llvm::Value* next = b_.CreateAdd(l.iv, b_.getInt64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
    auto* exit = llvm::BasicBlock::Create(m_.getContext(), "next", fn_);
    l.iv->addIncoming(next, b_.GetInsertBlock());
    llvm::Instruction* br = b_.CreateCondBr(b_.CreateICmpULT(next, b_.getInt64(l.n)), l.body, exit);
    if (unroll_vectorized) {
      llvm::LLVMContext& ctx = m_.getContext();
      llvm::Metadata* full[] = {llvm::MDString::get(ctx, "llvm.loop.unroll.full")};
      llvm::Metadata* followup[] = {llvm::MDString::get(ctx, "llvm.loop.vectorize.followup_vectorized"),
                                    llvm::MDNode::get(ctx, full)};
      llvm::Metadata* ops[] = {nullptr, llvm::MDNode::get(ctx, followup)};
      llvm::MDNode* id = llvm::MDNode::getDistinct(ctx, ops);
      id->replaceOperandWith(0, id);
      br->setMetadata(llvm::LLVMContext::MD_loop, id);
    }
    b_.SetInsertPoint(exit);
  }
  // ---- Accumulators kept in registers. A loop nest that accumulates into a small buffer (a
  // block of a matrix product, partial sums) tags that buffer's loads and stores with an alias
  // scope of its own and its other loads as not aliasing it (true: the buffer is live while
  // they are read, so they never share workspace bytes); LICM can then keep the buffer in
  // registers across the loop even when the operands are in the workspace too.
  struct AccScope {
    llvm::MDNode* list;
    llvm::Value* acc(llvm::Value* v) const { return tag(v, llvm::LLVMContext::MD_alias_scope); }
    llvm::Value* reads(llvm::Value* v) const { return tag(v, llvm::LLVMContext::MD_noalias); }
    llvm::Value* tag(llvm::Value* v, unsigned kind) const {
      if (auto* i = llvm::dyn_cast<llvm::Instruction>(v)) i->setMetadata(kind, list);
      return v;
    }
  };
  AccScope new_acc_scope() {
    llvm::MDBuilder mdb(b_.getContext());
    llvm::MDNode* domain = mdb.createAnonymousAliasScopeDomain("acc");
    return AccScope{llvm::MDNode::get(b_.getContext(), {mdb.createAnonymousAliasScope(domain, "acc")})};
  }
  // Emits body(scope), a loop nest that passes its accesses to its destination through
  // scope.acc; every other load it emits (the fused expression of an element may load from
  // several buffers) is then tagged as a read. Without this, a loop reading a value that is
  // invariant in it (x[i] in a loop over j) from the workspace while storing to the workspace
  // is not vectorized: LLVM cannot tell the two apart.
  template <class Body>
  void scoped_nest(Body&& body) {
    AccScope scope = new_acc_scope();
    llvm::BasicBlock* first = b_.GetInsertBlock();
    llvm::Instruction* last = first->empty() ? nullptr : &first->back();
    body(scope);
    auto tag = [&](llvm::Instruction& i) {
      if (llvm::isa<llvm::LoadInst>(i) && !i.getMetadata(llvm::LLVMContext::MD_alias_scope)) scope.reads(&i);
    };
    for (auto it = last ? std::next(last->getIterator()) : first->begin(); it != first->end(); ++it) tag(*it);
    for (auto bb = std::next(first->getIterator()); bb != fn_->end(); ++bb)
      for (llvm::Instruction& i : *bb) tag(i);
  }

  // Nested loops over `s`, row-major (the last axis innermost); an axis of extent 1 has the
  // index 0 and no loop. body(idx) emits the innermost code.
  template <class F>
  void for_each_index(const Shape& s, F&& body) {
    Idx idx{nullptr, nullptr, nullptr};
    std::vector<Loop> loops;
    for (int d = 0; d < s.rank; ++d) {
      if (s[d] == 1) {
        idx[d] = b_.getInt64(0);
      } else {
        loops.push_back(begin_loop(s[d]));
        idx[d] = loops.back().iv;
      }
    }
    body(idx);
    for (auto it = loops.rbegin(); it != loops.rend(); ++it) end_loop(*it);
  }

  // ---- Element access.
  llvm::Value* address(const Storage& st, const Shape& s, const Idx& idx) {
    std::int64_t c = st.offset;
    llvm::Value* lin = nullptr;
    for (int d = 0; d < s.rank; ++d) {
      if (st.stride[d] == 0) continue;
      if (auto* ci = llvm::dyn_cast<llvm::ConstantInt>(idx[d])) {
        c += ci->getSExtValue() * st.stride[d];
        continue;
      }
      llvm::Value* term = st.stride[d] == 1 ? idx[d]
                                            : b_.CreateMul(idx[d], b_.getInt64(st.stride[d]), "",
                                                           /*HasNUW=*/true, /*HasNSW=*/true);
      lin = lin ? b_.CreateAdd(lin, term, "", true, true) : term;
    }
    if (c != 0 || !lin) lin = lin ? b_.CreateAdd(lin, b_.getInt64(c), "", true, true) : b_.getInt64(c);
    llvm::Value* base = st.base;
    if (base == in_ && part_in_) base = part_in_;  // inside a part function (parallel_tiles)
    if (base == out_ && part_out_) base = part_out_;
    return b_.CreateInBoundsGEP(t_, base, lin);
  }
  llvm::Value* load(const Storage& st, const Shape& s, const Idx& idx) {
    return b_.CreateLoad(t_, address(st, s, idx));
  }
  llvm::StoreInst* store(const Storage& st, const Shape& s, const Idx& idx, llvm::Value* v) {
    return b_.CreateStore(v, address(st, s, idx));
  }
  void zero(const Storage& st, std::int64_t size) {
    b_.CreateMemSet(address(st, Shape{}, Idx{}), b_.getInt8(0), b_.getInt64(size * elem_bytes_),
                    llvm::MaybeAlign(elem_bytes_));
  }

  // The index of a view op's operand for the element `idx` of the view.
  Idx map_index(const Node* n, const Idx& idx) {
    const Shape& xs = n->arg(0)->shape;
    const Shape& s = n->shape;
    Idx r{nullptr, nullptr, nullptr};
    switch (n->op) {
      case Op::Detach:
        return idx;
      case Op::Broadcast: {
        int shift = s.rank - xs.rank;
        for (int d = 0; d < xs.rank; ++d) r[d] = xs[d] == 1 ? b_.getInt64(0) : idx[d + shift];
        return r;
      }
      case Op::Transpose:
        return Idx{idx[1], idx[0], nullptr};
      case Op::Index:
        for (int d = 0, e = 0; d < xs.rank; ++d) r[d] = d == n->axis ? b_.getInt64(n->index) : idx[e++];
        return r;
      case Op::Reshape: {
        if (reshape_moves_ones_only(s, xs)) {
          for (int d = 0, e = 0; d < xs.rank; ++d) {
            if (xs[d] == 1) {
              r[d] = b_.getInt64(0);
              continue;
            }
            while (s[e] == 1) ++e;
            r[d] = idx[e++];
          }
          return r;
        }
        // The flat position, then the operand's index by division.
        llvm::Value* lin = b_.getInt64(0);
        for (int d = 0; d < s.rank; ++d)
          lin = b_.CreateAdd(lin, b_.CreateMul(idx[d], b_.getInt64(row_major_stride(s, d)), "", true, true), "",
                             true, true);
        for (int d = 0; d < xs.rank; ++d) {
          llvm::Value* q = b_.CreateUDiv(lin, b_.getInt64(row_major_stride(xs, d)));
          r[d] = d == 0 ? q : b_.CreateURem(q, b_.getInt64(xs[d]));
        }
        return r;
      }
      default:
        throw std::logic_error("codegen: not a view op");
    }
  }

  // Follows fused index maps down to a node that has a value of its own at the mapped index:
  // a scalar, a buffer, or a fused elementwise node.
  std::pair<const Node*, Idx> resolve(const Node* n, Idx idx) {
    while (true) {
      const Storage& s = info_[pos_.at(n)].st;
      if (s.kind != Kind::Fused || !is_view_op(n->op)) return {n, idx};
      idx = map_index(n, idx);
      n = n->arg(0);
    }
  }

  struct Key {
    const Node* n;
    Idx idx;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      std::size_t h = std::hash<const void*>()(k.n);
      for (llvm::Value* v : k.idx) h = h * 1000003u ^ std::hash<const void*>()(v);
      return h;
    }
  };

  // The value of n at idx (inside the current loop). With `compute`, n's own op is applied to
  // its operands even though n has a buffer (this is how a materialized node is filled).
  // Iterative: the fused expression is walked with an explicit stack, each (node, index)
  // computed once.
  llvm::Value* value(const Node* root, const Idx& root_idx, bool compute = false) {
    std::unordered_map<Key, llvm::Value*, KeyHash> memo;
    // A leaf's value (scalar or load), or nullptr when the node must be computed.
    auto leaf = [&](const Node* n, const Idx& idx) -> llvm::Value* {
      const Storage& s = info_[pos_.at(n)].st;
      if (s.kind == Kind::Scalar) return s.scalar;
      if (s.kind == Kind::View) return load(s, n->shape, idx);
      if (!is_pointwise(n)) throw std::logic_error("codegen: a fused node that is not elementwise");
      return nullptr;
    };
    Key top{root, root_idx};
    if (!compute) {
      auto [n, idx] = resolve(root, root_idx);
      if (llvm::Value* v = leaf(n, idx)) return v;
      top = Key{n, idx};
    }
    struct Frame {
      Key key;
      bool expanded;
      Key args[2];
    };
    std::vector<Frame> stack{Frame{top, false, {}}};
    while (!stack.empty()) {
      if (memo.count(stack.back().key)) {
        stack.pop_back();
        continue;
      }
      Frame& f = stack.back();
      const Node* n = f.key.n;
      if (!f.expanded) {
        f.expanded = true;
        std::vector<Key> pending;
        for (int i = 0; i < n->nargs; ++i) {
          Idx idx = f.key.idx;
          if (is_outer_product(n)) idx = i == 0 ? Idx{idx[0], b_.getInt64(0), nullptr} : Idx{b_.getInt64(0), idx[1], nullptr};
          auto [a, ai] = resolve(operand(n, i), idx);
          f.args[i] = Key{a, ai};
          if (memo.count(f.args[i])) continue;
          if (llvm::Value* v = leaf(a, ai))
            memo.emplace(f.args[i], v);
          else
            pending.push_back(f.args[i]);
        }
        for (const Key& k : pending) stack.push_back(Frame{k, false, {}});  // invalidates f
        continue;
      }
      llvm::Value* a = memo.at(f.args[0]);
      llvm::Value* c = n->nargs > 1 ? memo.at(f.args[1]) : nullptr;
      memo.emplace(f.key, is_outer_product(n) ? b_.CreateFMul(a, c) : elementwise(n, a, c));
      stack.pop_back();
    }
    return memo.at(top);
  }

  // ---- Steps.
  // A rank-0 node: straight-line code at the top level (a reduction to a scalar is a loop with
  // an accumulator).
  llvm::Value* scalar_node(const Node* n) {
    auto scalar = [&](const Node* x) { return info_[pos_.at(x)].st.scalar; };
    switch (n->op) {
      case Op::Const:
        return constant(n);
      case Op::Tensor:
        return k(n->data->at(0));
      case Op::Broadcast: case Op::Reshape: case Op::Detach: case Op::Index:
        return value(n->arg(0), map_index(n, Idx{nullptr, nullptr, nullptr}));
      case Op::Sum:
      case Op::ReduceMax: {
        const Node* x = n->arg(0);
        bool max = n->op == Op::ReduceMax;
        llvm::IRBuilder<> eb(entry_, entry_->begin());
        llvm::AllocaInst* acc = eb.CreateAlloca(t_, nullptr, "acc");
        b_.CreateStore(k(max ? -std::numeric_limits<double>::infinity() : 0.0), acc);
        if (!max && x->shape[0] >= kSplitMinTerms) return split_total(x);
        for_each_index(x->shape, [&](const Idx& idx) {
          llvm::Value* v = value(x, idx);
          llvm::Value* cur = b_.CreateLoad(t_, acc);
          b_.CreateStore(max ? max_step(cur, v) : b_.CreateFAdd(cur, v), acc);
        });
        return b_.CreateLoad(t_, acc);
      }
      default:
        if (!n->info().elementwise || n->nargs == 0)
          throw std::logic_error(std::string("codegen: no scalar lowering for op ") + op_id(n->op));
        return elementwise(n, scalar(operand(n, 0)), n->nargs > 1 ? scalar(n->arg(1)) : nullptr);
    }
  }

  // Fills the buffer `dst` of a materialized node.
  void materialize(const Node* n, const Storage& dst) {
    const Shape& s = n->shape;
    const Node* x = n->arg(0);
    switch (n->op) {
      case Op::Sum:
      case Op::ReduceMax: {
        // The column sums of a tall matrix (a bias gradient over a batch): partial sums.
        if (n->op == Op::Sum && n->axis == 0 && x->shape.rank == 2 && splits_sum(1, s[0], x->shape[0])) {
          split_sum(contiguous(dst.base, dst.offset, Shape{1, s[0]}), 1, s[0], x->shape[0],
                    [&](llvm::Value* kv, llvm::Value*, llvm::Value* j) { return value(x, Idx{kv, j, nullptr}); });
          return;
        }
        // Otherwise accumulate in the buffer, walking the operand row-major: each output element
        // sums its terms in the interpreter's order, and when the reduced axis is not the last
        // the inner loop runs over contiguous outputs (it vectorizes without reassociation).
        bool max = n->op == Op::ReduceMax;
        if (max)
          for_each_index(s, [&](const Idx& idx) { store(dst, s, idx, k(-std::numeric_limits<double>::infinity())); });
        else
          zero(dst, s.size());
        for_each_index(x->shape, [&](const Idx& idx) {
          Idx o{nullptr, nullptr, nullptr};
          for (int d = 0, e = 0; d < x->shape.rank; ++d)
            if (d != n->axis) o[e++] = idx[d];
          llvm::Value* v = value(x, idx);
          llvm::Value* cur = load(dst, s, o);
          store(dst, s, o, max ? max_step(cur, v) : b_.CreateFAdd(cur, v));
        });
        return;
      }
      case Op::Embed:  // zeros, and the operand at `index` along `axis`
        zero(dst, s.size());
        for_each_index(x->shape, [&](const Idx& idx) {
          Idx o{nullptr, nullptr, nullptr};
          for (int d = 0, e = 0; d < s.rank; ++d) o[d] = d == n->axis ? b_.getInt64(n->index) : idx[e++];
          store(dst, s, o, value(x, idx));
        });
        return;
      case Op::OneHot: {  // row i: 1 at column label[i] if that is a class index, else zeros
        zero(dst, s.size());
        Shape row{s[1]};
        for_each_index(x->shape, [&](const Idx& idx) {
          llvm::Value* c = value(x, idx);
          llvm::Value* valid = b_.CreateAnd(
              b_.CreateAnd(b_.CreateFCmpOGE(c, k(0)), b_.CreateFCmpOLT(c, k(n->index))),
              b_.CreateFCmpOEQ(c, b_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, c)));
          // An invalid label writes 0 over the row's first 0: no branch in the loop.
          llvm::Value* col = b_.CreateFPToSI(b_.CreateSelect(valid, c, k(0)), i64_);
          store(dst, s, Idx{idx[0], col, nullptr}, b_.CreateSelect(valid, k(1), k(0)));
        });
        return;
      }
      case Op::MatMul:
        if (!is_outer_product(n)) return matmul(n, dst);
        [[fallthrough]];
      default:  // an elementwise node or an outer product
        if (const Node* mm = info_[pos_.at(n)].epilogue_of) {
          info_[pos_.at(mm)].st = dst;  // the product's elements, as each tile finishes
          return matmul(mm, dst, n);
        }
        scoped_nest([&](const AccScope& scope) {
          for_each_index(s, [&](const Idx& idx) { scope.acc(store(dst, s, idx, value(n, idx, /*compute=*/true))); });
        });
        return;
    }
  }

  // A matrix operand as a strided buffer: its own storage when it has one, else a contiguous
  // copy in a temporary (an index map that needs divisions, a broadcast scalar).
  using Temps = std::vector<std::pair<std::int64_t, std::int64_t>>;
  Storage operand_view(const Node* x, Temps& temps) {
    const Storage& s = info_[pos_.at(x)].st;
    if (s.kind == Kind::View) return s;
    Storage t = temporary(x->shape, temps);
    for_each_index(x->shape, [&](const Idx& idx) { store(t, x->shape, idx, value(x, idx)); });
    return t;
  }
  Storage temporary(const Shape& s, Temps& temps) {
    std::int64_t off = allocate(s.size());
    temps.emplace_back(off, s.size());
    return contiguous(workspace_, off, s);
  }
  // The same view with rows and columns swapped.
  static Storage transposed(Storage s) {
    std::swap(s.stride[0], s.stride[1]);
    return s;
  }
  // A contiguous copy of a strided matrix when its rows are not contiguous (the vectorized
  // inner loop would be a gather).
  Storage with_unit_columns(const Storage& s, const Shape& shape, Temps& temps) {
    if (s.stride[1] == 1 || shape[1] == 1) return s;
    Storage t = temporary(shape, temps);
    for_each_index(shape, [&](const Idx& idx) { store(t, shape, idx, load(s, shape, idx)); });
    return t;
  }

  // C = A @ B. Each element sums its terms in the interpreter's order (k increasing, starting
  // from +0; `contract` makes each step an fma), except in two fixed orders that do not depend
  // on the host: dot products in vectors (matmul_dots) for at most kTileRows columns, and
  // partial sums (split_sum) for a small C over a long k. A product with fewer
  // than kTinyTrip columns but more rows is computed transposed, C^T = B^T @ A^T, then copied:
  // LLVM vectorizes a loop of fewer than 16 iterations only with masked loads and stores, and
  // a masked store of a row of C followed by the next k's masked load of it costs ~60 cycles
  // (64x128 @ 128x10 in f32: 35 us as is, a few us transposed). The swap changes no bit:
  // products commute and the k order stays.
  void matmul(const Node* n, const Storage& c, const Node* epilogue = nullptr) {
    const Node* x = n->arg(0);
    const Node* y = n->arg(1);
    Temps temps;
    Storage a = operand_view(x, temps);
    Storage bm = operand_view(y, temps);
    std::int64_t m = x->shape[0], kk = x->shape[1], p = y->shape[1];
    if (p <= kTileRows && m >= kTinyTrip && kk >= 2 * kDotLanes && a.stride[1] == 1) {
      Shape bt_shape{static_cast<std::int32_t>(p), static_cast<std::int32_t>(kk)};
      matmul_dots(a, with_unit_columns(transposed(bm), bt_shape, temps), c, m, kk, p);
    } else if (p < kTinyTrip && m >= kTinyTrip) {
      Shape ct_shape{static_cast<std::int32_t>(p), static_cast<std::int32_t>(m)};
      Shape at_shape{static_cast<std::int32_t>(kk), static_cast<std::int32_t>(m)};
      // With at most kTileRows rows of C^T, one block of rows covers them and matmul_tiles reads
      // each element of A^T once: read A with strides (a gather) rather than copy it transposed
      // first (a strided read and a store per element, then the product's read again).
      Storage at = p <= kTileRows ? transposed(a) : with_unit_columns(transposed(a), at_shape, temps);
      // A single column of C is laid out as its transpose: compute it in place.
      bool in_place = p == 1 && c.stride[0] == 1;
      Storage ct = in_place ? contiguous(c.base, c.offset, ct_shape) : temporary(ct_shape, temps);
      matmul_tiles(transposed(bm), at, ct, p, kk, m);
      if (!in_place)
        for_each_index(n->shape, [&](const Idx& idx) {
          store(c, n->shape, idx, load(ct, ct_shape, Idx{idx[1], idx[0], nullptr}));
        });
    } else {
      Storage b_rows = with_unit_columns(bm, y->shape, temps);
      if (parallel(m, kk, p))
        parallel_tiles(a, b_rows, c, m, kk, p);
      else
        matmul_tiles(a, b_rows, c, m, kk, p, epilogue);
    }
    for (auto [off, size] : temps) release(off, size);
  }

  // Whether a product (on matmul_tiles' plain path) is split over the threads: each gets at
  // least 2 kTileRows rows, and the whole is large enough that the hand-off (~1 us) pays.
  bool parallel(std::int64_t m, std::int64_t kk, std::int64_t p) const {
    return threads_ > 1 && m >= 2 * kTileRows * threads_ && m * kk * p >= kParallelMacs;
  }

  // matmul_tiles split by rows over the threads: one function per block of rows (an internal
  // function of the module taking the kernel's in and out), run by gradc_parallel on the Jit's
  // pool. Each element is computed as in the single-threaded kernel.
  void parallel_tiles(const Storage& a, const Storage& bm, const Storage& c, std::int64_t m, std::int64_t kk,
                      std::int64_t p) {
    llvm::LLVMContext& ctx = m_.getContext();
    llvm::Type* ptr = b_.getPtrTy();
    auto* part_type = llvm::FunctionType::get(b_.getVoidTy(), {ptr, ptr}, false);
    std::vector<llvm::Constant*> parts;
    llvm::IRBuilderBase::InsertPoint saved = b_.saveIP();
    llvm::Function* saved_fn = fn_;
    llvm::BasicBlock* saved_entry = entry_;
    std::int64_t row0 = 0;
    for (unsigned t = 0; t < threads_; ++t) {
      // Blocks end at multiples of kTileRows, so that each is tiled like the whole.
      std::int64_t row1 = t + 1 == threads_ ? m : m * (t + 1) / threads_ / kTileRows * kTileRows;
      auto* f = llvm::Function::Create(part_type, llvm::GlobalValue::InternalLinkage, name_ + ".part", m_);
      f->setDoesNotThrow();
      for (unsigned i = 0; i < 2; ++i) f->addParamAttr(i, llvm::Attribute::NoAlias);
      fn_ = f;
      entry_ = llvm::BasicBlock::Create(ctx, "entry", f);
      b_.SetInsertPoint(entry_);
      part_in_ = f->getArg(0);
      part_out_ = f->getArg(1);
      Storage ab = a, cb = c;
      ab.offset += row0 * a.stride[0];
      cb.offset += row0 * c.stride[0];
      matmul_tiles(ab, bm, cb, row1 - row0, kk, p);
      b_.CreateRetVoid();
      parts.push_back(f);
      row0 = row1;
    }
    part_in_ = part_out_ = nullptr;
    fn_ = saved_fn;
    entry_ = saved_entry;
    b_.restoreIP(saved);
    auto* table_type = llvm::ArrayType::get(ptr, parts.size());
    auto* table = new llvm::GlobalVariable(m_, table_type, /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage,
                                           llvm::ConstantArray::get(table_type, parts), name_ + ".parts");
    llvm::FunctionCallee run = m_.getOrInsertFunction(
        "gradc_parallel", llvm::FunctionType::get(b_.getVoidTy(), {ptr, ptr, i64_, ptr, ptr}, false));
    llvm::Constant* pool = m_.getOrInsertGlobal("gradc_pool", b_.getInt8Ty());
    b_.CreateCall(run, {pool, table, b_.getInt64(static_cast<std::int64_t>(parts.size())), in_, out_});
  }

  // C (m x p, contiguous) = A (m x kk, any strides) @ B (kk x p, unit column stride), loop
  // order i-k-j: C zeroed, then C[i,j] += A[i,k] * B[k,j]. The j loop is contiguous in B and C
  // and is left to the loop vectorizer. Register tiling: columns go in tiles of `tile_cols_`
  // (a few vectors) and rows in blocks of kTileRows, so that the vectorized, fully unrolled j
  // loop keeps the block of C in registers across the k loop and each load of B feeds
  // kTileRows fmas. Measured at 64x784 @ 784x128 on an AVX-512 host: f32 114 -> ~250 GFLOP/s,
  // f64 38 -> ~90 GFLOP/s against one row at a time. Leftover columns join the last tile
  // (a short loop of their own would be masked, see matmul); leftover rows go kTileRows at a
  // time (after a wider block), then one at a time.
  // With `epilogue` (an elementwise node reading the product, see analyze()), each finished
  // tile of C is replaced by the epilogue's value there.
  void matmul_tiles(const Storage& a, const Storage& bm, const Storage& c, std::int64_t m, std::int64_t kk,
                    std::int64_t p, const Node* epilogue = nullptr) {
    Shape as{static_cast<std::int32_t>(m), static_cast<std::int32_t>(kk)};
    Shape bs{static_cast<std::int32_t>(kk), static_cast<std::int32_t>(p)};
    Shape cs{static_cast<std::int32_t>(m), static_cast<std::int32_t>(p)};
    if (kk == 0) {
      zero(c, cs.size());
      if (epilogue)
        for_each_index(cs, [&](const Idx& idx) { store(c, cs, idx, value(epilogue, idx, /*compute=*/true)); });
      return;
    }
    if (splits_sum(m, p, kk)) {  // a small C over a long k: X^T @ dZ for a narrow X
      split_sum(c, m, p, kk, [&](llvm::Value* kv, llvm::Value* i, llvm::Value* j) {
        return b_.CreateFMul(load(a, as, Idx{i, kv, nullptr}), load(bm, bs, Idx{kv, j, nullptr}));
      });
      return;
    }
    struct Part {
      std::int64_t start, width, count;  // `count` tiles of `width`, the first at `start`
    };
    std::vector<Part> col_parts;
    std::int64_t cols = std::min(tile_cols_, p), full = p / cols, rest = p % cols;
    if (rest == 0) {
      col_parts.push_back({0, cols, full});
    } else if (rest >= kTinyTrip) {
      col_parts = {{0, cols, full}, {full * cols, rest, 1}};
    } else {
      if (full > 1) col_parts.push_back({0, cols, full - 1});
      col_parts.push_back({(full - 1) * cols, cols + rest, 1});
    }
    // Rows per block: kTileRows, or more (as many as fill the accumulators, up to kMaxTileRows)
    // when the column tiles are only a vector or two wide (a 16-column layer): kTileRows rows of
    // one vector are too few independent fma chains to hide the fma latency (2-16-16-1 on 1,024
    // rows, AVX-512: f32 kernel 28 -> 25 us).
    std::int64_t widest = 0;
    for (const Part& jp : col_parts) widest = std::max(widest, jp.width);
    std::int64_t vectors = (widest + lanes_ - 1) / lanes_;
    std::int64_t rows = std::min(std::clamp(accumulators_ / vectors, kTileRows, kMaxTileRows), m);
    // C does not overlap A or B (all are live at once): say so with a scope of its own,
    // so LICM can keep the block of C in registers across the k loop when A or B is in the
    // workspace too.
    AccScope acc_scope = new_acc_scope();
    auto mark_ab = [&](llvm::Value* v) { return acc_scope.reads(v); };
    std::vector<Part> row_parts{{0, rows, m / rows}};
    std::int64_t done = m / rows * rows;
    if (rows > kTileRows && m - done >= kTileRows) {
      row_parts.push_back({done, kTileRows, (m - done) / kTileRows});
      done += (m - done) / kTileRows * kTileRows;
    }
    row_parts.push_back({done, 1, m - done});
    for (const Part& jp : col_parts) {
      for (const Part& ip : row_parts) {
        if (ip.count == 0) continue;
        std::vector<Loop> open;
        auto loop_or_zero = [&](std::int64_t extent) -> llvm::Value* {
          if (extent == 1) return b_.getInt64(0);
          open.push_back(begin_loop(extent));
          return open.back().iv;
        };
        auto tile_start = [&](const Part& part) {
          return b_.CreateAdd(b_.CreateMul(loop_or_zero(part.count), b_.getInt64(part.width), "", true, true),
                              b_.getInt64(part.start), "", true, true);
        };
        llvm::Value* j0 = tile_start(jp);
        llvm::Value* i0 = tile_start(ip);
        std::vector<llvm::Value*> is;
        for (std::int64_t q = 0; q < ip.width; ++q)
          is.push_back(q == 0 ? i0 : b_.CreateAdd(i0, b_.getInt64(q), "", true, true));
        // One step of k: C[i,j] = prev + A[i,k] * B[k,j] over the j tile, prev = +0 at k = 0
        // (C is not zeroed first: no memset, no load of the zeros) and C[i,j] after.
        auto k_step = [&](llvm::Value* kv, bool first) {
          std::vector<llvm::Value*> av;
          for (std::int64_t q = 0; q < ip.width; ++q) av.push_back(mark_ab(load(a, as, Idx{is[q], kv, nullptr})));
          Loop jl{};
          bool j_loop = jp.width > 1;
          llvm::Value* jv = b_.getInt64(0);
          if (j_loop) {
            jl = begin_loop(jp.width);
            jv = jl.iv;
          }
          llvm::Value* j = b_.CreateAdd(j0, jv, "", true, true);
          llvm::Value* bv = mark_ab(load(bm, bs, Idx{kv, j, nullptr}));
          for (std::int64_t q = 0; q < ip.width; ++q) {
            llvm::Value* cp = address(c, cs, Idx{is[q], j, nullptr});
            llvm::Value* prev = first ? k(0) : acc_scope.acc(b_.CreateLoad(t_, cp));
            acc_scope.acc(b_.CreateStore(b_.CreateFAdd(prev, b_.CreateFMul(av[q], bv)), cp));
          }
          if (j_loop) end_loop(jl, /*unroll_vectorized=*/true);
        };
        k_step(b_.getInt64(0), /*first=*/true);
        if (kk > 1) {
          Loop kl = begin_loop(kk - 1);
          k_step(b_.CreateAdd(kl.iv, b_.getInt64(1), "", true, true), /*first=*/false);
          end_loop(kl);
        }
        if (epilogue)  // reads the tile back (from registers, after store forwarding)
          for (std::int64_t q = 0; q < ip.width; ++q) {
            Loop jl = begin_loop(jp.width, "j");
            Idx idx{is[q], b_.CreateAdd(j0, jl.iv, "", true, true), nullptr};
            store(c, cs, idx, value(epilogue, idx, /*compute=*/true));
            end_loop(jl, /*unroll_vectorized=*/true);
          }
        for (std::size_t l = open.size(); l-- > 0;) end_loop(open[l]);
      }
    }
  }

  // C (m x p) = A @ B for p <= kTileRows with A's rows contiguous: each C[i,j] a dot product
  // along k in vectors of kDotLanes (whatever the host's vector width, so that results do not
  // depend on the host): lane l sums the terms with k = l mod kDotLanes, the lanes are added
  // pairwise, ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), then the last kk mod kDotLanes
  // terms one by one. Vectorizing along i instead (C^T = B^T @ A^T) reads A's columns with
  // gathers: the output layer of 2-16-16-1 on 1,024 rows took 3.8 us of a 31 us f64 step.
  void matmul_dots(const Storage& a, const Storage& bt, const Storage& c, std::int64_t m, std::int64_t kk,
                   std::int64_t p) {
    Shape as{static_cast<std::int32_t>(m), static_cast<std::int32_t>(kk)};
    Shape bts{static_cast<std::int32_t>(p), static_cast<std::int32_t>(kk)};
    Shape cs{static_cast<std::int32_t>(m), static_cast<std::int32_t>(p)};
    auto* vt = llvm::FixedVectorType::get(t_, kDotLanes);
    auto vload = [&](const Storage& st, const Shape& sh, const Idx& idx) {
      return b_.CreateAlignedLoad(vt, address(st, sh, idx), llvm::Align(elem_bytes_));
    };
    llvm::IRBuilder<> eb(entry_, entry_->begin());
    std::vector<llvm::AllocaInst*> acc;
    for (std::int64_t j = 0; j < p; ++j) acc.push_back(eb.CreateAlloca(vt, nullptr, "dot"));
    std::int64_t chunks = kk / kDotLanes;
    Loop il = begin_loop(m);
    for (llvm::AllocaInst* v : acc) b_.CreateStore(llvm::Constant::getNullValue(vt), v);
    auto chunk = [&](llvm::Value* k0) {
      llvm::Value* av = vload(a, as, Idx{il.iv, k0, nullptr});
      for (std::int64_t j = 0; j < p; ++j) {
        llvm::Value* bv = vload(bt, bts, Idx{b_.getInt64(j), k0, nullptr});
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(vt, acc[j]), b_.CreateFMul(av, bv)), acc[j]);
      }
    };
    if (chunks <= kDotUnroll) {  // a short k (a 16-unit layer: 2 chunks) as straight-line code
      for (std::int64_t q = 0; q < chunks; ++q) chunk(b_.getInt64(q * kDotLanes));
    } else {
      Loop kl = begin_loop(chunks, "k");
      chunk(b_.CreateMul(kl.iv, b_.getInt64(kDotLanes), "", true, true));
      end_loop(kl);
    }
    for (std::int64_t j = 0; j < p; ++j) {
      llvm::Value* v = b_.CreateLoad(vt, acc[j]);
      for (std::int64_t half = kDotLanes / 2; half >= 1; half /= 2) {
        std::vector<int> lo, hi;
        for (std::int64_t l = 0; l < half; ++l) {
          lo.push_back(static_cast<int>(l));
          hi.push_back(static_cast<int>(l + half));
        }
        v = b_.CreateFAdd(b_.CreateShuffleVector(v, lo), b_.CreateShuffleVector(v, hi));
      }
      llvm::Value* sum = b_.CreateExtractElement(v, std::uint64_t(0));
      for (std::int64_t kv = chunks * kDotLanes; kv < kk; ++kv)
        sum = b_.CreateFAdd(sum, b_.CreateFMul(load(a, as, Idx{il.iv, b_.getInt64(kv), nullptr}),
                                               load(bt, bts, Idx{b_.getInt64(j), b_.getInt64(kv), nullptr})));
      store(c, cs, Idx{il.iv, b_.getInt64(j), nullptr}, sum);
    }
    end_loop(il);
  }

  // The sum of every element of x (x's first axis has at least kSplitMinTerms rows) as kSplit
  // partial sums over its rows (partial r takes the rows i = r mod kSplit, a leftover row goes
  // to partial 0; within a row, the interpreter's order), added as (s0 + s1) + (s2 + s3): one
  // running sum would be a chain of dependent adds (an MSE over 1,024 rows: ~1 us).
  llvm::Value* split_total(const Node* x) {
    llvm::IRBuilder<> eb(entry_, entry_->begin());
    std::vector<llvm::AllocaInst*> acc;
    for (std::int64_t r = 0; r < kSplit; ++r) {
      acc.push_back(eb.CreateAlloca(t_, nullptr, "part"));
      b_.CreateStore(k(0), acc.back());
    }
    Shape rest = x->shape.without(0);
    auto add_row = [&](llvm::Value* row, std::int64_t r) {
      for_each_index(rest, [&](const Idx& idx) {
        llvm::Value* v = value(x, Idx{row, idx[0], idx[1]});
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t_, acc[r]), v), acc[r]);
      });
    };
    split_loop(x->shape[0], add_row);
    return combine_partials([&](std::int64_t r) { return b_.CreateLoad(t_, acc[r]); });
  }

  // The loop of a sum split kSplit ways: body(k, r) adds term k to partial r, for k = q kSplit
  // + r in a loop over q, then for the leftover k (fewer than kSplit) to partial 0.
  template <class Body>
  void split_loop(std::int64_t kk, Body&& body) {
    std::int64_t blocks = kk / kSplit;
    Loop ql = begin_loop(blocks, "k");
    for (std::int64_t r = 0; r < kSplit; ++r)
      body(b_.CreateAdd(b_.CreateMul(ql.iv, b_.getInt64(kSplit), "", true, true), b_.getInt64(r), "", true, true), r);
    end_loop(ql);
    for (std::int64_t k = blocks * kSplit; k < kk; ++k) body(b_.getInt64(k), 0);
  }
  // (s0 + s1) + (s2 + s3) of partial(r).
  template <class Partial>
  llvm::Value* combine_partials(Partial&& partial) {
    return b_.CreateFAdd(b_.CreateFAdd(partial(0), partial(1)), b_.CreateFAdd(partial(2), partial(3)));
  }

  // Whether split_sum pays for an output of rows x cols summing kk terms each: the terms are
  // many, the outputs too few vectors to keep both fma pipes busy (2 pipes x 4 cycles latency),
  // and kSplit copies of them fit in the accumulator registers.
  bool splits_sum(std::int64_t rows, std::int64_t cols, std::int64_t kk) const {
    std::int64_t vectors = rows * ((cols + lanes_ - 1) / lanes_);
    return kk >= kSplitMinTerms && vectors < 8 && vectors * kSplit <= accumulators_;
  }

  // dst (rows x cols, contiguous) = the sum over k < kk of term(k, i, j), as kSplit interleaved
  // partial sums (partial r takes the terms with k = r mod kSplit, a leftover k goes to partial
  // 0) added as (s0 + s1) + (s2 + s3) at the end. One running sum per output would be a chain of
  // kk dependent adds, latency bound: 2-16-16-1's bias gradients and its 2x16 and 1x16 weight
  // gradients each sum 1,024 rows. The partials stay in registers across the k loop.
  template <class Term>
  void split_sum(const Storage& dst, std::int64_t rows, std::int64_t cols, std::int64_t kk, Term&& term) {
    Shape ps{static_cast<std::int32_t>(kSplit * rows), static_cast<std::int32_t>(cols)};
    Shape ds{static_cast<std::int32_t>(rows), static_cast<std::int32_t>(cols)};
    Temps temps;
    Storage part = temporary(ps, temps);
    zero(part, ps.size());
    scoped_nest([&](const AccScope& scope) {
      split_loop(kk, [&](llvm::Value* kv, std::int64_t r) {
        for (std::int64_t i = 0; i < rows; ++i) {
          Loop jl{};
          llvm::Value* j = b_.getInt64(0);
          if (cols > 1) {
            jl = begin_loop(cols, "j");
            j = jl.iv;
          }
          llvm::Value* at = address(part, ps, Idx{b_.getInt64(r * rows + i), j, nullptr});
          llvm::Value* t = term(kv, b_.getInt64(i), j);
          scope.acc(b_.CreateStore(b_.CreateFAdd(scope.acc(b_.CreateLoad(t_, at)), t), at));
          if (cols > 1) end_loop(jl, /*unroll_vectorized=*/true);
        }
      });
    });
    for_each_index(ds, [&](const Idx& idx) {
      store(dst, ds, idx, combine_partials([&](std::int64_t r) {
              return load(part, ps, Idx{b_.CreateAdd(idx[0], b_.getInt64(r * rows), "", true, true), idx[1], nullptr});
            }));
    });
    for (auto [off, size] : temps) release(off, size);
  }

  static constexpr std::int64_t kSplit = 4;  // partial sums (combine_partials is written for 4)
  static constexpr std::int64_t kSplitMinTerms = 64;
  static constexpr std::int64_t kDotLanes = 8;  // matmul_dots' vector (its lane sums are written for 8)
  static constexpr std::int64_t kDotUnroll = 4;  // chunks of a dot product written out, not looped
  // Below, splitting lost more than it gained (2-16-16-1: 1,024 x 16 x 16 products, 2.6e5 fmas: the
  // f64 step took 23.2 us on 2 threads, 20.8 us on one); 784-128-10 has two of 6.4e6.
  static constexpr std::int64_t kParallelMacs = std::int64_t(1) << 20;
  static constexpr std::int64_t kTileRows = 4;
  static constexpr std::int64_t kMaxTileRows = 16;
  // LLVM's TinyTripCountVectorThreshold: shorter loops are vectorized only by predication.
  static constexpr std::int64_t kTinyTrip = 16;

  llvm::Function* fn_;
  llvm::Type* i64_;
  unsigned threads_ = 1;
  llvm::Value* in_ = nullptr;        // the kernel's arguments
  llvm::Value* out_ = nullptr;
  llvm::Value* part_in_ = nullptr;   // inside a part function: its arguments, standing for them
  llvm::Value* part_out_ = nullptr;
  std::string name_;
  std::int64_t elem_bytes_ = 8, align_elems_ = 8, tile_cols_ = 16, lanes_ = 4, accumulators_ = 8;
  llvm::BasicBlock* entry_ = nullptr;
  std::vector<const Node*> order_;
  std::unordered_map<const Node*, std::size_t> pos_;
  std::unordered_map<const Node*, const Node*> relu_of_;  // x -> relu(x)
  std::vector<Info> info_;
  llvm::GlobalVariable* workspace_ = nullptr;
  std::vector<std::pair<std::int64_t, std::int64_t>> free_;  // (offset, length), sorted
  std::int64_t top_ = 0;
};

void verify(const llvm::Module& m) {
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (llvm::verifyModule(m, &os)) throw std::runtime_error("codegen: invalid LLVM IR: " + os.str());
}

}  // namespace

std::int64_t element_count(std::span<const Node* const> nodes) {
  std::int64_t n = 0;
  for (const Node* x : nodes) n += x->shape.size();
  return n;
}

bool is_tensor_kernel(const KernelSpec& spec) {
  for (const Node* v : spec.inputs)
    if (v->shape.rank > 0) return true;
  for (const Node* n : reachable(spec.outputs))
    if (n->shape.rank > 0) return true;
  return false;
}

std::unique_ptr<llvm::Module> codegen(llvm::LLVMContext& ctx, const KernelSpec& spec, const TargetInfo& target) {
  check_name(spec.name, spec.dtype);
  for (const Node* v : spec.inputs)
    if (v->dtype == DType::F32 && spec.dtype != DType::F32)
      throw std::logic_error("codegen: the f32 variable '" + v->name + "' in an f64 kernel");
  bool tensor = is_tensor_kernel(spec);
  auto m = std::make_unique<llvm::Module>(spec.name, ctx);
  llvm::IRBuilder<> b(ctx);
  // Only `contract` (fma formation): nan and inf must survive, they report domain errors.
  llvm::FastMathFlags fmf;
  fmf.setAllowContract(true);
  b.setFastMathFlags(fmf);

  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* elem = spec.dtype == DType::F32 ? b.getFloatTy() : b.getDoubleTy();
  auto* body_type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr}, false);

  // The body, once; `name` and `name_batch` call it and the inliner copies it into both
  // unless it is large.
  llvm::Function* body =
      define(*m, body_type, llvm::Function::InternalLinkage, spec.name + ".body");
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", body));
  if (tensor) {
    // Tensor kernels read `in` and write `out` in separate loops: they may not overlap.
    body->addParamAttr(0, llvm::Attribute::NoAlias);
    body->addParamAttr(1, llvm::Attribute::NoAlias);
    TensorBody(*m, b, spec.dtype, body, target).emit(spec, body->getArg(0), body->getArg(1));
  } else {
    BodyEmitter(*m, b, spec.dtype).emit(spec, body->getArg(0), body->getArg(1));
  }
  b.CreateRetVoid();
  body->addFnAttr(body->getInstructionCount() <= kInlineLimit ? llvm::Attribute::AlwaysInline
                                                              : llvm::Attribute::NoInline);

  // void name(const T* in, T* out)
  llvm::Function* single = define(*m, body_type, llvm::Function::ExternalLinkage, spec.name);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", single));
  b.CreateCall(body, {single->getArg(0), single->getArg(1)});
  b.CreateRetVoid();

  if (!spec.batch) {
    verify(*m);
    return m;
  }

  // void name_batch(const T* in, T* out, int64_t rows): for (r = 0; r < rows; ++r)
  llvm::Function* batch = define(*m, llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64}, false),
                                 llvm::Function::ExternalLinkage, spec.name + "_batch");
  llvm::Value* in = batch->getArg(0);
  llvm::Value* out = batch->getArg(1);
  llvm::Value* rows = batch->getArg(2);
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", batch);
  auto* loop = llvm::BasicBlock::Create(ctx, "row", batch);
  auto* done = llvm::BasicBlock::Create(ctx, "done", batch);
  b.SetInsertPoint(entry);
  b.CreateCondBr(b.CreateICmpSGT(rows, b.getInt64(0)), loop, done);
  b.SetInsertPoint(loop);
  llvm::PHINode* r = b.CreatePHI(i64, 2, "r");
  r->addIncoming(b.getInt64(0), entry);
  llvm::Value* row_in = b.CreateInBoundsGEP(elem, in, b.CreateMul(r, b.getInt64(element_count(spec.inputs))));
  llvm::Value* row_out = b.CreateInBoundsGEP(elem, out, b.CreateMul(r, b.getInt64(element_count(spec.outputs))));
  b.CreateCall(body, {row_in, row_out});
  llvm::Value* next = b.CreateNSWAdd(r, b.getInt64(1), "r.next");
  r->addIncoming(next, loop);
  b.CreateCondBr(b.CreateICmpSLT(next, rows), loop, done);
  b.SetInsertPoint(done);
  b.CreateRetVoid();

  verify(*m);
  return m;
}

}  // namespace gradc
