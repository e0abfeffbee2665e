// The op lowering table (OpLowering::elementwise) and the straight-line body of a scalar kernel.
#include "compiler/codegen/op_lowering.hpp"

#include <stdexcept>

#include "support/special.hpp"

namespace gradc::codegen_detail {

// op(a, c) for an elementwise op (c is null for a unary one); throws std::logic_error for a
// tensor op.
llvm::Value* OpLowering::elementwise(const Node* n, llvm::Value* a, llvm::Value* c) {
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
    case Op::Lgamma: return b_.CreateCall(libm(kLgamma[dtype_ == DType::F32]), {a});
    case Op::Log1p: return b_.CreateCall(libm(declared_libm(dtype_)), {a});
    case Op::Expm1: return b_.CreateCall(libm(kExpm1[dtype_ == DType::F32]), {a});
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

llvm::FunctionCallee OpLowering::libm(const char* name) {
  llvm::FunctionCallee f = m_.getOrInsertFunction(name, llvm::FunctionType::get(t_, {t_}, false));
  if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
    // errno is ignored: let LLVM treat the call as a pure function (like -fno-math-errno).
    fn->setDoesNotThrow();
    fn->setDoesNotAccessMemory();
    fn->addFnAttr(llvm::Attribute::WillReturn);
  }
  return f;
}

// A call of a special function of support/special.hpp: f64 arguments and result (an f32
// kernel widens its arguments and rounds the result, which is then correctly rounded or nearly).
llvm::Value* OpLowering::special(const char* name, std::initializer_list<llvm::Value*> args) {
  llvm::Type* f64 = b_.getDoubleTy();
  std::vector<llvm::Type*> types(args.size(), f64);
  llvm::FunctionCallee f = m_.getOrInsertFunction(name, llvm::FunctionType::get(f64, types, false));
  if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
    fn->setDoesNotThrow();
    fn->setDoesNotAccessMemory();
    fn->addFnAttr(llvm::Attribute::WillReturn);
  }
  std::vector<llvm::Value*> wide;
  for (llvm::Value* v : args) wide.push_back(t_ == f64 ? v : b_.CreateFPExt(v, f64));
  llvm::Value* r = b_.CreateCall(f, wide);
  return t_ == f64 ? r : b_.CreateFPTrunc(r, t_);
}

void OpLowering::make_constant_table(const std::vector<const Node*>& order, const std::string& name) {
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

void BodyEmitter::emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out) {
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
