// The op lowering table (OpLowering::elementwise) and the straight-line body of a scalar kernel.
#include "compiler/codegen/op_lowering.hpp"
#include "compiler/codegen/vector_math.hpp"

#include <algorithm>
#include <stdexcept>

#include "support/special.hpp"

namespace gradc::codegen_detail {

// The vector math of the batch entry: one row per op, SLEEF's name of the function (its 1.0-ulp
// "u10" variant, see vector_math_name). sin, cos, tanh and f64 log are gradc's own (vector_math.cpp,
// faster, also within 1 ulp): SLEEF's sin, cos and log compute the lanes outside their fast
// paths (huge |x|; log's special cases). Ops not listed are computed lane by lane by the scalar
// function: lgamma (SLEEF's is only within 1e-15 absolute for negative arguments), sinh and
// cosh (SLEEF's overflow to inf from |x| > 709, f32 88, where the result is still finite),
// digamma and polygamma (gradc's own). sqrt and fabs are LLVM intrinsics, exact on vectors too.
struct VectorMath {
  Op op;
  const char* sleef;
};
constexpr VectorMath kVectorMath[] = {
    {Op::Sin, "sin"},     {Op::Cos, "cos"},     {Op::Tan, "tan"},     {Op::Asin, "asin"},
    {Op::Acos, "acos"},   {Op::Atan, "atan"},   {Op::Tanh, "tanh"},   {Op::Exp, "exp"},     {Op::Log, "log"},     {Op::Log1p, "log1p"},
    {Op::Expm1, "expm1"}, {Op::Pow, "pow"},
};

std::string vector_math_name(Op op, DType dtype, unsigned lanes) {
  for (const VectorMath& row : kVectorMath)
    if (row.op == op)
      return std::string("Sleef_") + row.sleef + (dtype == DType::F32 ? "f" : "d") + std::to_string(lanes) + "_u10";
  return {};
}

// op(a, c) for an elementwise op (c is null for a unary one); throws std::logic_error for a
// tensor op.
llvm::Value* OpLowering::elementwise(const Node* n, llvm::Value* a, llvm::Value* c) {
  auto unary = [&](llvm::Intrinsic::ID id) { return b_.CreateUnaryIntrinsic(id, a); };
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
    case Op::Sin: case Op::Cos: case Op::Tan: case Op::Asin: case Op::Acos: case Op::Atan:
    case Op::Sinh: case Op::Cosh: case Op::Tanh: case Op::Exp: case Op::Log: case Op::Lgamma:
    case Op::Log1p: case Op::Expm1:
      return math(n->op, {a});
    case Op::Sqrt: return unary(llvm::Intrinsic::sqrt);
    case Op::Abs: return unary(llvm::Intrinsic::fabs);
    // sigmoid(x) = 1 / (1 + exp(-x))
    case Op::Sigmoid: return b_.CreateFDiv(k(1), b_.CreateFAdd(k(1), math(Op::Exp, {b_.CreateFNeg(a)})));
    // relu(x) = x > 0 ? x : 0   (relu(nan) = 0, as in the interpreter)
    case Op::Relu: return b_.CreateSelect(b_.CreateFCmpOGT(a, k(0)), a, k(0));
    // softplus(x) = std::max(x, 0) + log1p(exp(-|x|)), std::max(x, 0) being x < 0 ? 0 : x
    case Op::Softplus: {
      llvm::Value* pos = b_.CreateSelect(b_.CreateFCmpOLT(a, k(0)), k(0), a);
      llvm::Value* e = math(Op::Exp, {b_.CreateFNeg(unary(llvm::Intrinsic::fabs))});
      return b_.CreateFAdd(pos, math(Op::Log1p, {e}));
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
    case Op::Digamma: return special(kDigammaSymbol, {a});
    case Op::Polygamma: return special(kPolygammaSymbol, {a, c});
    case Op::Tensor: case Op::Broadcast: case Op::Reshape: case Op::Sum: case Op::ReduceMax:
    case Op::MatMul: case Op::Transpose: case Op::Index: case Op::Embed: case Op::OneHot:
    case Op::Detach: case Op::Slice: case Op::Pad:
      break;  // not elementwise: the emitters lower these
  }
  throw std::logic_error("codegen: no lowering for op " +
                         std::to_string(static_cast<int>(n->op)));
}

namespace {
std::vector<int> lane_range(unsigned from, unsigned n) {
  std::vector<int> r(n);
  for (unsigned i = 0; i < n; ++i) r[i] = static_cast<int>(from + i);
  return r;
}
}  // namespace

llvm::Value* OpLowering::math(Op op, std::initializer_list<llvm::Value*> args) {
  std::vector<llvm::Value*> v(args);
  if (lanes_ == 1) return scalar_math(op, v);
  std::string name = vector_math_name(op, dtype_, call_lanes_);
  if (name.empty()) return per_lane(v, [&](const std::vector<llvm::Value*>& x) { return scalar_math(op, x); });
  auto* part = llvm::FixedVectorType::get(s_, call_lanes_);
  auto sleef = [&] {
    std::vector<llvm::Type*> types(v.size(), part);
    llvm::FunctionCallee f = m_.getOrInsertFunction(name, llvm::FunctionType::get(part, types, false));
    if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
      fn->setDoesNotThrow();
      fn->setDoesNotAccessMemory();
      fn->addFnAttr(llvm::Attribute::WillReturn);
    }
    return f;
  };
  if (has_own_vector_math(op, dtype_))  // SLEEF's function computes the lanes outside the fast path
    return b_.CreateCall(own_vector_function(m_, op, dtype_, lanes_, call_lanes_, avx512_,
                                             op == Op::Tanh ? llvm::FunctionCallee() : sleef()),
                         v);
  llvm::FunctionCallee f = sleef();
  if (call_lanes_ == lanes_) return b_.CreateCall(f, v);
  // Several independent calls, one after the other, so the CPU overlaps them (one SLEEF call
  // is a long dependent chain: alone, its latency bounds the loop).
  std::vector<llvm::Value*> parts;
  for (unsigned at = 0; at < lanes_; at += call_lanes_) {
    std::vector<llvm::Value*> x;
    for (llvm::Value* a : v) x.push_back(b_.CreateShuffleVector(a, llvm::ArrayRef<int>(lane_range(at, call_lanes_))));
    parts.push_back(b_.CreateCall(f, x));
  }
  return join(parts);
}

// On scalars of the element type (s_).
llvm::Value* OpLowering::scalar_math(Op op, const std::vector<llvm::Value*>& x) {
  auto call = [&](llvm::Intrinsic::ID id) { return b_.CreateUnaryIntrinsic(id, x[0]); };
  auto c = [&](const char* name) { return b_.CreateCall(libm(name), {x[0]}); };
  int f32 = dtype_ == DType::F32;
  switch (op) {
    case Op::Sin: return call(llvm::Intrinsic::sin);
    case Op::Cos: return call(llvm::Intrinsic::cos);
    case Op::Tan: return call(llvm::Intrinsic::tan);
    case Op::Asin: return call(llvm::Intrinsic::asin);
    case Op::Acos: return call(llvm::Intrinsic::acos);
    case Op::Atan: return call(llvm::Intrinsic::atan);
    case Op::Sinh: return call(llvm::Intrinsic::sinh);
    case Op::Cosh: return call(llvm::Intrinsic::cosh);
    case Op::Tanh: return call(llvm::Intrinsic::tanh);
    case Op::Exp: return call(llvm::Intrinsic::exp);
    case Op::Log: return call(llvm::Intrinsic::log);
    case Op::Lgamma: return c(kLgamma[f32]);
    case Op::Log1p: return c(declared_libm(dtype_));
    case Op::Expm1: return c(kExpm1[f32]);
    case Op::Pow: return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x[0], x[1]);
    default: throw std::logic_error("codegen: op " + std::to_string(static_cast<int>(op)) + " is no math function");
  }
}

llvm::Value* OpLowering::per_lane(const std::vector<llvm::Value*>& args,
                                  const std::function<llvm::Value*(const std::vector<llvm::Value*>&)>& f) {
  if (lanes_ == 1) return f(args);
  llvm::Value* r = llvm::PoisonValue::get(t_);
  for (unsigned l = 0; l < lanes_; ++l) {
    std::vector<llvm::Value*> x;
    for (llvm::Value* v : args) x.push_back(b_.CreateExtractElement(v, l));
    r = b_.CreateInsertElement(r, f(x), l);
  }
  return r;
}

llvm::FunctionCallee OpLowering::libm(const char* name) {
  llvm::FunctionCallee f = m_.getOrInsertFunction(name, llvm::FunctionType::get(s_, {s_}, false));
  if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
    // errno is ignored: let LLVM treat the call as a pure function (like -fno-math-errno).
    fn->setDoesNotThrow();
    fn->setDoesNotAccessMemory();
    fn->addFnAttr(llvm::Attribute::WillReturn);
  }
  return f;
}

// A call of a special function of support/special.hpp: f64 arguments and result (an f32
// kernel widens its arguments and rounds the result, which is then correctly rounded or nearly);
// on vectors lane by lane.
llvm::Value* OpLowering::special(const char* name, std::initializer_list<llvm::Value*> args) {
  llvm::Type* f64 = b_.getDoubleTy();
  std::vector<llvm::Type*> types(args.size(), f64);
  llvm::FunctionCallee f = m_.getOrInsertFunction(name, llvm::FunctionType::get(f64, types, false));
  if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
    fn->setDoesNotThrow();
    fn->setDoesNotAccessMemory();
    fn->addFnAttr(llvm::Attribute::WillReturn);
  }
  return per_lane(args, [&](const std::vector<llvm::Value*>& x) {
    std::vector<llvm::Value*> wide;
    for (llvm::Value* v : x) wide.push_back(s_ == f64 ? v : b_.CreateFPExt(v, f64));
    llvm::Value* r = b_.CreateCall(f, wide);
    return s_ == f64 ? r : b_.CreateFPTrunc(r, s_);
  });
}

void OpLowering::make_constant_table(const std::vector<const Node*>& order, const std::string& name,
                                     std::size_t immediates) {
  std::vector<double> table;
  for (const Node* n : order) {
    if (n->op != Op::Const) continue;
    table_index_.emplace(n, table.size());
    table.push_back(n->value);
  }
  if (table.size() <= immediates) return;
  auto* type = llvm::ArrayType::get(s_, table.size());
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

llvm::Value* BodyEmitter::leaf(const Node* n, const std::unordered_map<const Node*, std::uint64_t>& input_index,
                               std::size_t num_inputs, llvm::Value* in) {
  if (n->op == Op::Const) return constant(n);
  if (n->op != Op::Var) return lower(n);
  auto it = input_index.find(n);
  if (it == input_index.end()) throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
  return load_input(in, it->second, num_inputs, n->name);
}

void BodyEmitter::emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out) {
  std::unordered_map<const Node*, std::uint64_t> input_index;
  for (std::size_t i = 0; i < spec.inputs.size(); ++i) input_index.emplace(spec.inputs[i], i);

  std::vector<const Node*> order = reachable(spec.outputs);
  values_.reserve(order.size());
  make_constant_table(order, spec.name);
  for (const Node* n : order)
    values_.emplace(n, n->nargs == 0 ? leaf(n, input_index, spec.inputs.size(), in) : lower(n));
  std::vector<llvm::Value*> outs;
  for (const Node* o : spec.outputs) outs.push_back(values_.at(o));
  store_outputs(outs, out);
}

void BodyEmitter::emit_part(const KernelSpec& spec, const BodySplit& split, std::size_t p, llvm::Value* in,
                            llvm::Value* scratch, const std::string& name) {
  std::unordered_map<const Node*, std::uint64_t> input_index;
  for (std::size_t i = 0; i < spec.inputs.size(); ++i) input_index.emplace(spec.inputs[i], i);
  const std::uint32_t first = split.begin[p], end = split.begin[p + 1];
  // The part's own constant table: the constants its operations use, in id order.
  std::vector<const Node*> consts;
  for (std::uint32_t i = first; i < end; ++i)
    for (int a = 0; a < split.order[i]->nargs; ++a)
      if (split.order[i]->arg(a)->op == Op::Const) consts.push_back(split.order[i]->arg(a));
  std::sort(consts.begin(), consts.end(), [](const Node* x, const Node* y) { return x->id < y->id; });
  consts.erase(std::unique(consts.begin(), consts.end()), consts.end());
  // Always a table: the backend's constant pool searches its entries linearly for each immediate,
  // and a part of a huge kernel has hundreds (4% of a 120,000-term compile).
  make_constant_table(consts, name, 0);
  values_.reserve(2 * (end - first));
  auto get = [&](const Node* a) {
    auto [it, fresh] = values_.try_emplace(a, nullptr);
    if (!fresh) return;
    std::uint32_t j = split.position(a);
    if (a->nargs == 0) {
      it->second = leaf(a, input_index, spec.inputs.size(), in);
    } else {
      if (j >= first) throw std::logic_error("codegen: a split body's operation used before it is computed");
      it->second = b_.CreateLoad(s_, b_.CreateConstInBoundsGEP1_64(s_, scratch, split.slot[j]));
    }
  };
  for (std::uint32_t i = first; i < end; ++i) {
    const Node* n = split.order[i];
    if (n->nargs == 0) continue;
    for (int a = 0; a < n->nargs; ++a) get(n->arg(a));
    llvm::Value* v = lower(n);
    values_.emplace(n, v);
    if (split.slot[i] != BodySplit::kNoSlot) b_.CreateStore(v, b_.CreateConstInBoundsGEP1_64(s_, scratch, split.slot[i]));
  }
}

void BodyEmitter::emit_split(const KernelSpec& spec, const BodySplit& split, std::span<llvm::Function* const> parts,
                             llvm::Value* in, llvm::Value* out) {
  std::unordered_map<const Node*, std::uint64_t> input_index;
  for (std::size_t i = 0; i < spec.inputs.size(); ++i) input_index.emplace(spec.inputs[i], i);
  auto* scratch = b_.CreateAlloca(llvm::ArrayType::get(s_, std::max<std::uint32_t>(split.slots, 1)), nullptr, "scratch");
  scratch->setAlignment(llvm::Align(64));
  for (llvm::Function* part : parts) b_.CreateCall(part, {in, scratch});
  std::vector<llvm::Value*> outs;
  for (const Node* o : spec.outputs) {
    std::uint32_t slot = split.slot[split.position(o)];
    outs.push_back(o->nargs == 0 ? leaf(o, input_index, spec.inputs.size(), in)
                                 : b_.CreateLoad(s_, b_.CreateConstInBoundsGEP1_64(s_, scratch, slot)));
  }
  store_outputs(outs, out);
}

// Input `index` of each row (rows `stride` elements apart): a vector of one lane per row. Rows
// up to kShuffleStride elements long are read as whole vectors and their lanes picked by
// shuffles (a contiguous load for stride 1): a gather is one load per lane, and on this CPU
// (Sapphire Rapids, with the gather data sampling fix) several times slower than the loads
// and permutes it replaces (bench/batch.md). Longer rows keep the gather.
llvm::Value* BodyEmitter::load_input(llvm::Value* in, std::uint64_t index, std::uint64_t stride,
                                     const std::string& name) {
  if (lanes_ == 1) return b_.CreateLoad(s_, b_.CreateConstInBoundsGEP1_64(s_, in, index), name);
  llvm::Align align(s_->getPrimitiveSizeInBits() / 8);
  llvm::Value* v;
  if (stride > kShuffleStride) {
    v = b_.CreateMaskedGather(t_, lane_pointers(in, index, stride), align);
  } else {
    // The rows' vectors, once for all inputs: rows_in_[i] holds elements i*W .. i*W+W-1.
    if (rows_in_.empty())
      for (std::uint64_t i = 0; i < lanes_ / call_lanes_ * stride; ++i)
        rows_in_.push_back(b_.CreateAlignedLoad(part_type(), b_.CreateConstInBoundsGEP1_64(s_, in, i * call_lanes_), align));
    std::vector<llvm::Value*> chunks;
    for (unsigned c = 0; c < lanes_ / call_lanes_; ++c) {
      std::vector<std::pair<llvm::Value*, unsigned>> pick;
      for (unsigned l = 0; l < call_lanes_; ++l) {
        std::uint64_t at = (c * call_lanes_ + l) * stride + index;
        pick.emplace_back(rows_in_[at / call_lanes_], static_cast<unsigned>(at % call_lanes_));
      }
      chunks.push_back(pick_lanes(pick));
    }
    v = join(chunks);
  }
  v->setName(name);
  return v;
}

// &p[l*stride + index] for each lane l: a gather's or a scatter's addresses (one instruction each,
// where loads and insertelements per lane made the backend's work grow with the lanes).
llvm::Value* BodyEmitter::lane_pointers(llvm::Value* p, std::uint64_t index, std::uint64_t stride) {
  std::vector<llvm::Constant*> offsets;
  for (unsigned l = 0; l < lanes_; ++l) offsets.push_back(b_.getInt64(l * stride + index));
  return b_.CreateInBoundsGEP(s_, p, llvm::ConstantVector::get(offsets));
}

// The outputs of each row, `outs.size()` elements apart: whole vectors put together by shuffles
// up to kShuffleStride outputs (as load_input), else scatters.
void BodyEmitter::store_outputs(const std::vector<llvm::Value*>& outs, llvm::Value* out) {
  const std::uint64_t stride = outs.size();
  if (lanes_ == 1) {
    for (std::uint64_t j = 0; j < stride; ++j) b_.CreateStore(outs[j], b_.CreateConstInBoundsGEP1_64(s_, out, j));
    return;
  }
  llvm::Align align(s_->getPrimitiveSizeInBits() / 8);
  if (stride > kShuffleStride) {
    for (std::uint64_t j = 0; j < stride; ++j) b_.CreateMaskedScatter(outs[j], lane_pointers(out, j, stride), align);
    return;
  }
  // parts[j][c]: lanes c*W .. c*W+W-1 of output j
  std::vector<std::vector<llvm::Value*>> parts(stride);
  for (std::uint64_t j = 0; j < stride; ++j)
    for (unsigned c = 0; c < lanes_ / call_lanes_; ++c)
      parts[j].push_back(b_.CreateShuffleVector(outs[j], llvm::ArrayRef<int>(lane_range(c * call_lanes_, call_lanes_))));
  for (std::uint64_t i = 0; i < lanes_ / call_lanes_ * stride; ++i) {
    std::vector<std::pair<llvm::Value*, unsigned>> pick;
    for (unsigned e = 0; e < call_lanes_; ++e) {
      std::uint64_t at = i * call_lanes_ + e, row = at / stride;
      pick.emplace_back(parts[at % stride][row / call_lanes_], static_cast<unsigned>(row % call_lanes_));
    }
    b_.CreateAlignedStore(pick_lanes(pick), b_.CreateConstInBoundsGEP1_64(s_, out, i * call_lanes_), align);
  }
}

llvm::Type* BodyEmitter::part_type() const { return llvm::FixedVectorType::get(s_, call_lanes_); }

// A vector of W = call_lanes_ lanes, lane l being lane pick[l].second of pick[l].first (vectors
// of W lanes): one two-source shuffle per further source vector (vpermt2pd / vpermt2ps).
llvm::Value* BodyEmitter::pick_lanes(const std::vector<std::pair<llvm::Value*, unsigned>>& pick) {
  const int w = static_cast<int>(call_lanes_);
  std::vector<llvm::Value*> sources;
  for (const auto& [v, lane] : pick)
    if (std::find(sources.begin(), sources.end(), v) == sources.end()) sources.push_back(v);
  std::vector<int> mask(w, -1);
  auto take = [&](llvm::Value* v, int offset) {
    for (int l = 0; l < w; ++l)
      if (pick[l].first == v) mask[l] = offset + static_cast<int>(pick[l].second);
  };
  take(sources[0], 0);
  if (sources.size() == 1) {
    bool identity = true;
    for (int l = 0; l < w; ++l) identity = identity && mask[l] == l;
    return identity ? sources[0] : b_.CreateShuffleVector(sources[0], mask);
  }
  take(sources[1], w);
  llvm::Value* acc = b_.CreateShuffleVector(sources[0], sources[1], mask);
  for (std::size_t s = 2; s < sources.size(); ++s) {
    for (int l = 0; l < w; ++l) mask[l] = l;  // keep what acc holds
    take(sources[s], w);
    acc = b_.CreateShuffleVector(acc, sources[s], mask);
  }
  return acc;
}

// The vectors of W lanes side by side (their count a power of 2): one vector of lanes_.
llvm::Value* OpLowering::join(std::vector<llvm::Value*> parts) {
  while (parts.size() > 1) {
    std::vector<llvm::Value*> joined;
    for (std::size_t i = 0; i < parts.size(); i += 2) {
      unsigned n = llvm::cast<llvm::FixedVectorType>(parts[i]->getType())->getNumElements();
      joined.push_back(b_.CreateShuffleVector(parts[i], parts[i + 1], llvm::ArrayRef<int>(lane_range(0, 2 * n))));
    }
    parts = std::move(joined);
  }
  return parts[0];
}

llvm::Value* BodyEmitter::lower(const Node* n) {
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

}  // namespace gradc::codegen_detail
