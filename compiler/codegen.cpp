// LLVM code generation: every reachable node becomes one SSA value, emitted in id (topological)
// order, so the walk is a loop (a 250,000-node chain needs no recursion) and a shared node is
// computed once. Each op's lowering copies its eval function in ops.cpp, including which
// operand a comparison returns for nan, because the JIT is tested against the interpreter.
#include "compiler/codegen.hpp"

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <stdexcept>
#include <string>
#include <unordered_map>

namespace gradc {
namespace {

// The C library function the generated code declares by name (the other math ops are LLVM
// intrinsics, which LLVM 19 lowers to libm calls itself). A kernel may not take this name.
constexpr const char* kDeclaredLibm = "log1p";

// Bodies up to this many instructions are inlined into both entry points; beyond, a call per
// row costs nothing next to the body, and one copy halves the backend's work.
constexpr unsigned kInlineLimit = 5000;

// Distinct constants emitted as immediates; beyond, they are loaded from a table (see emit).
constexpr std::size_t kMaxImmediates = 1000;

void check_name(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("codegen: empty kernel name");
  if (name.starts_with("llvm."))
    throw std::invalid_argument("codegen: kernel name '" + name + "' is reserved by LLVM");
  if (name == kDeclaredLibm)
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

/// Emits the straight-line body: loads the inputs it uses from `in` and stores the outputs to
/// `out` after the last load (so a single call may write its outputs over its inputs).
class BodyEmitter {
 public:
  BodyEmitter(llvm::Module& m, llvm::IRBuilder<>& b) : m_(m), b_(b), f64_(b.getDoubleTy()) {}

  void emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out) {
    std::unordered_map<const Node*, std::uint64_t> input_index;
    for (std::size_t i = 0; i < spec.inputs.size(); ++i) input_index.emplace(spec.inputs[i], i);

    std::vector<const Node*> order = reachable(spec.outputs);
    values_.reserve(order.size());
    // Thousands of distinct constants as immediates make the backend quadratic (its constant
    // pool is searched linearly per constant): past kMaxImmediates they are loaded from a
    // table instead, which is external and writable so that LLVM cannot fold the loads back.
    std::vector<double> table;
    for (const Node* n : order) {
      if (n->op != Op::Const) continue;
      table_index_.emplace(n, table.size());
      table.push_back(n->value);
    }
    llvm::GlobalVariable* consts = nullptr;
    if (table.size() > kMaxImmediates) {
      auto* type = llvm::ArrayType::get(f64_, table.size());
      consts = new llvm::GlobalVariable(m_, type, /*isConstant=*/false, llvm::GlobalValue::ExternalLinkage,
                                        llvm::ConstantDataArray::get(m_.getContext(), table),
                                        spec.name + ".consts");
    }
    for (const Node* n : order) {
      llvm::Value* v;
      if (consts && n->op == Op::Const) {
        v = b_.CreateLoad(f64_, b_.CreateConstInBoundsGEP2_64(consts->getValueType(), consts, 0, table_index_.at(n)));
      } else if (n->op == Op::Var) {
        auto it = input_index.find(n);
        if (it == input_index.end())
          throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
        v = b_.CreateLoad(f64_, b_.CreateConstInBoundsGEP1_64(f64_, in, it->second), n->name);
      } else {
        v = lower(n);
      }
      values_.emplace(n, v);
    }
    for (std::size_t j = 0; j < spec.outputs.size(); ++j)
      b_.CreateStore(values_.at(spec.outputs[j]), b_.CreateConstInBoundsGEP1_64(f64_, out, j));
  }

 private:
  llvm::Value* lower(const Node* n) {
    llvm::Value* a = n->nargs > 0 ? values_.at(n->arg(0)) : nullptr;
    llvm::Value* c = n->nargs > 1 ? values_.at(n->arg(1)) : nullptr;
    auto call = [&](llvm::Intrinsic::ID id, llvm::Value* x) {
      return b_.CreateUnaryIntrinsic(id, x);
    };
    auto unary = [&](llvm::Intrinsic::ID id) { return call(id, a); };
    // No default: a new op in GRADC_FOR_EACH_OP without a lowering is a -Wswitch warning.
    switch (n->op) {
      case Op::Const: return k(n->value);
      case Op::Var: break;  // loaded by emit()
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
        return b_.CreateFAdd(pos, b_.CreateCall(libm(kDeclaredLibm), {e}));
      }
      // min(a, b) = a <= b ? a : b, max(a, b) = a >= b ? a : b: ties pick a, nan picks b.
      case Op::Min: return b_.CreateSelect(b_.CreateFCmpOLE(a, c), a, c);
      case Op::Max: return b_.CreateSelect(b_.CreateFCmpOGE(a, c), a, c);
      // step(x) = x > 0 ? 1 : 0; sign(x) = x > 0 ? 1 : (x < 0 ? -1 : 0); both 0 at nan
      case Op::Step: return b_.CreateSelect(b_.CreateFCmpOGT(a, k(0)), k(1), k(0));
      case Op::Sign:
        return b_.CreateSelect(b_.CreateFCmpOGT(a, k(0)), k(1),
                               b_.CreateSelect(b_.CreateFCmpOLT(a, k(0)), k(-1), k(0)));
    }
    throw std::logic_error("codegen: no lowering for op " +
                           std::to_string(static_cast<int>(n->op)));
  }

  // x^2 and x^3 as multiplies (within an ulp of pow, and what instcombine would do for x^2);
  // every other exponent, 0.5 included (pow(-0, 0.5) = +0 but sqrt(-0) = -0), calls pow.
  llvm::Value* pow(const Node* n, llvm::Value* a, llvm::Value* c) {
    if (n->arg(1)->is_const(2)) return b_.CreateFMul(a, a);
    if (n->arg(1)->is_const(3)) return b_.CreateFMul(b_.CreateFMul(a, a), a);
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a, c);
  }

  llvm::Constant* k(double v) { return llvm::ConstantFP::get(f64_, v); }

  llvm::FunctionCallee libm(const char* name) {
    llvm::FunctionCallee f =
        m_.getOrInsertFunction(name, llvm::FunctionType::get(f64_, {f64_}, false));
    if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
      // errno is ignored: let LLVM treat the call as a pure function (like -fno-math-errno).
      fn->setDoesNotThrow();
      fn->setDoesNotAccessMemory();
      fn->addFnAttr(llvm::Attribute::WillReturn);
    }
    return f;
  }

  llvm::Module& m_;
  llvm::IRBuilder<>& b_;
  llvm::Type* f64_;
  std::unordered_map<const Node*, llvm::Value*> values_;
  std::unordered_map<const Node*, std::uint64_t> table_index_;
};

void verify(const llvm::Module& m) {
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (llvm::verifyModule(m, &os)) throw std::runtime_error("codegen: invalid LLVM IR: " + os.str());
}

}  // namespace

std::unique_ptr<llvm::Module> codegen(llvm::LLVMContext& ctx, const KernelSpec& spec) {
  check_name(spec.name);
  auto m = std::make_unique<llvm::Module>(spec.name, ctx);
  llvm::IRBuilder<> b(ctx);
  // Only `contract` (fma formation): nan and inf must survive, they report domain errors.
  llvm::FastMathFlags fmf;
  fmf.setAllowContract(true);
  b.setFastMathFlags(fmf);

  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type* i64 = b.getInt64Ty();
  auto* body_type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr}, false);

  // The body, once; `name` and `name_batch` call it and the inliner copies it into both
  // unless it is large.
  llvm::Function* body =
      define(*m, body_type, llvm::Function::InternalLinkage, spec.name + ".body");
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", body));
  BodyEmitter(*m, b).emit(spec, body->getArg(0), body->getArg(1));
  b.CreateRetVoid();
  body->addFnAttr(body->getInstructionCount() <= kInlineLimit ? llvm::Attribute::AlwaysInline
                                                              : llvm::Attribute::NoInline);

  // void name(const double* in, double* out)
  llvm::Function* single = define(*m, body_type, llvm::Function::ExternalLinkage, spec.name);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", single));
  b.CreateCall(body, {single->getArg(0), single->getArg(1)});
  b.CreateRetVoid();

  if (!spec.batch) {
    verify(*m);
    return m;
  }

  // void name_batch(const double* in, double* out, int64_t rows): for (r = 0; r < rows; ++r)
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
  llvm::Value* row_in =
      b.CreateInBoundsGEP(b.getDoubleTy(), in, b.CreateMul(r, b.getInt64(spec.inputs.size())));
  llvm::Value* row_out =
      b.CreateInBoundsGEP(b.getDoubleTy(), out, b.CreateMul(r, b.getInt64(spec.outputs.size())));
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
