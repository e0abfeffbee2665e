// The training step's object: the step and predict kernels as the JIT builds them (build_module,
// the same bits), linked into one module with the C API written here in IR. The update follows
// runtime/update.cpp operation by operation with no fast-math flags, so nothing is contracted
// into an fma and every element rounds as the trainer's does.
#include "runtime/aot_step.hpp"

#include <fmt/format.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <functional>
#include <limits>
#include <numbers>
#include <optional>
#include <stdexcept>

#include "runtime/aot_internal.hpp"
#include "runtime/jit_pipeline.hpp"
#include "support/diagnostics.hpp"
#include "support/special.hpp"

namespace gradc {
namespace {

constexpr std::uint64_t kHeader = 64;  // bytes before the arrays: the step counter (int64) and room

struct Layout {
  std::int64_t in = 0, out = 0, buf = 0, m1 = 0, m2 = 0, end = 0;  // offsets in elements after the header
};

Layout layout(const StepSpec& s) {
  Layout l;
  std::int64_t data = 0;
  for (std::int64_t d : s.data_sizes) data += d;
  l.in = 0;
  l.out = l.in + s.params + data;
  l.buf = l.out + 1 + s.params;
  std::int64_t at = l.buf;
  const Optimizer& o = s.optimizer;
  if (o.kind == Optimizer::Sgd && o.momentum > 0) at += s.params;
  l.m1 = at;
  if (o.kind == Optimizer::Adam) at += s.params;
  l.m2 = at;
  if (o.kind == Optimizer::Adam) at += s.params;
  l.end = at;
  return l;
}

// The driver functions, added to the step kernel's module before it is optimized.
struct Driver {
  const StepSpec& s;
  llvm::Module& m;
  llvm::LLVMContext& ctx;
  llvm::Type* T;
  llvm::Type* ptr;
  llvm::Type* i64;
  llvm::Type* f64;
  llvm::Type* size_type;
  std::uint64_t elem;
  Layout l;

  Driver(const StepSpec& spec, llvm::Module& mod)
      : s(spec),
        m(mod),
        ctx(mod.getContext()),
        T(spec.step.dtype == DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx)),
        ptr(llvm::PointerType::getUnqual(ctx)),
        i64(llvm::Type::getInt64Ty(ctx)),
        f64(llvm::Type::getDoubleTy(ctx)),
        size_type(mod.getDataLayout().getIntPtrType(ctx)),
        elem(spec.step.dtype == DType::F32 ? 4 : 8),
        l(layout(spec)) {}

  std::uint64_t state_bytes() const { return (kHeader + static_cast<std::uint64_t>(l.end) * elem + 63) / 64 * 64; }

  llvm::Function* function(const std::string& name, llvm::Type* ret, std::vector<llvm::Type*> args) {
    auto* f = llvm::Function::Create(llvm::FunctionType::get(ret, args, false), llvm::Function::ExternalLinkage,
                                     s.name + "_" + name, m);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    return f;
  }
  // The array at element offset `at` of the state.
  llvm::Value* array(llvm::IRBuilder<>& b, llvm::Value* state, std::int64_t at) {
    return b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), state, kHeader + static_cast<std::uint64_t>(at) * elem);
  }
  llvm::Value* bytes(std::int64_t elements) {
    return llvm::ConstantInt::get(i64, static_cast<std::uint64_t>(elements) * elem);
  }
  llvm::Constant* t_const(double v) { return llvm::ConstantFP::get(T, v); }  // rounded to nearest, as static_cast<T>
  llvm::Constant* d_const(double v) { return llvm::ConstantFP::get(f64, v); }
  // A libm call the optimizer must leave as written (no pow -> exp2 rewrites).
  llvm::Value* libm(llvm::IRBuilder<>& b, const char* name, std::vector<llvm::Value*> args) {
    std::vector<llvm::Type*> types(args.size(), f64);
    llvm::FunctionCallee f = m.getOrInsertFunction(name, llvm::FunctionType::get(f64, types, false));
    llvm::CallInst* c = b.CreateCall(f, args);
    c->addFnAttr(llvm::Attribute::NoBuiltin);
    c->addFnAttr(llvm::Attribute::NoUnwind);
    return c;
  }

  // for (k = 0; k < n; ++k) body(k)
  void loop(llvm::IRBuilder<>& b, llvm::Value* n, const std::function<void(llvm::Value*)>& body) {
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::BasicBlock* pre = b.GetInsertBlock();
    auto* head = llvm::BasicBlock::Create(ctx, "loop", f);
    auto* done = llvm::BasicBlock::Create(ctx, "done", f);
    b.CreateCondBr(b.CreateICmpSGT(n, llvm::ConstantInt::get(n->getType(), 0)), head, done);
    b.SetInsertPoint(head);
    llvm::PHINode* k = b.CreatePHI(n->getType(), 2, "k");
    k->addIncoming(llvm::ConstantInt::get(n->getType(), 0), pre);
    body(k);
    llvm::Value* next = b.CreateAdd(k, llvm::ConstantInt::get(n->getType(), 1), "", true, true);
    k->addIncoming(next, b.GetInsertBlock());
    b.CreateCondBr(b.CreateICmpSLT(next, n), head, done);
    b.SetInsertPoint(done);
  }

  // double NAME_ENTRY(NAME_state*, const T* data...): a minibatch of each data set (`sizes`
  // elements) through `kernel`, then the update.
  void step_function(const std::string& entry, llvm::FunctionCallee kernel, const std::vector<std::int64_t>& sizes) {
    llvm::IRBuilder<> b(ctx);
    auto at = [&](llvm::Value* base, llvm::Value* k) { return b.CreateInBoundsGEP(T, base, k); };
    std::vector<llvm::Type*> args{ptr};
    for (std::size_t i = 0; i < sizes.size(); ++i) args.push_back(ptr);
    llvm::Function* f = function(entry, f64, args);
    llvm::Value* state = f->getArg(0);
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
    llvm::Value* in = array(b, state, l.in);
    llvm::Value* out = array(b, state, l.out);
    std::int64_t off = s.params;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      b.CreateMemCpy(at(in, b.getInt64(static_cast<std::uint64_t>(off))), llvm::Align(elem), f->getArg(1 + i),
                     llvm::Align(elem), bytes(sizes[i]));
      off += sizes[i];
    }
    b.CreateCall(kernel, {in, out});
    llvm::Value* loss = b.CreateFPExt(b.CreateLoad(T, out), f64);  // (none for double)
    // A loss that is not finite leaves the state as it was (gradc train stops there, keeping
    // the last finite parameters and their optimizer state).
    llvm::Value* finite = b.CreateFCmpOLT(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, loss),
                                          d_const(std::numeric_limits<double>::infinity()));
    auto* update = llvm::BasicBlock::Create(ctx, "update", f);
    auto* skip = llvm::BasicBlock::Create(ctx, "skip", f);
    b.CreateCondBr(finite, update, skip);
    b.SetInsertPoint(skip);
    b.CreateRet(loss);
    b.SetInsertPoint(update);
    llvm::Value* taken = b.CreateLoad(i64, state);  // steps before this one
    llvm::Value* step = b.CreateAdd(taken, b.getInt64(1));
    b.CreateStore(step, state);
    // The learning rate of this step's epoch (Trainer::run_typed's schedule, in double).
    const Optimizer& o = s.optimizer;
    const Schedule& sc = s.schedule;
    llvm::Value* e =
        b.CreateSIToFP(b.CreateSDiv(taken, b.getInt64(static_cast<std::uint64_t>(s.steps_per_epoch))), f64);
    llvm::Value* lr = d_const(o.lr);
    switch (sc.kind) {
      case Schedule::Constant:
        break;
      case Schedule::Step:
        lr = b.CreateFMul(lr, libm(b, "pow",
                                   {d_const(sc.gamma),
                                    b.CreateUnaryIntrinsic(llvm::Intrinsic::floor,
                                                           b.CreateFDiv(e, d_const(static_cast<double>(sc.every))))}));
        break;
      case Schedule::Exponential:
        lr = b.CreateFMul(lr, libm(b, "pow", {d_const(sc.gamma), e}));
        break;
      case Schedule::Cosine: {
        llvm::Value* angle =
            b.CreateFDiv(b.CreateFMul(d_const(std::numbers::pi), e), d_const(static_cast<double>(s.epochs)));
        llvm::Value* c = b.CreateFAdd(d_const(1), libm(b, "cos", {angle}));
        lr = b.CreateFAdd(d_const(sc.min_lr), b.CreateFDiv(b.CreateFMul(d_const(o.lr - sc.min_lr), c), d_const(2)));
        break;
      }
    }
    llvm::Value* lr_t = T == f64 ? lr : b.CreateFPTrunc(lr, T);
    llvm::Constant* wd = t_const(o.weight_decay);
    llvm::Value* w = in;
    llvm::Value* g = at(out, b.getInt64(1));
    llvm::Value* n = b.getInt64(static_cast<std::uint64_t>(s.params));
    // gk = g + wd w
    auto decayed = [&](llvm::Value* k, llvm::Value*& wk) {
      wk = b.CreateLoad(T, at(w, k));
      return b.CreateFAdd(b.CreateLoad(T, at(g, k)), b.CreateFMul(wd, wk));
    };
    if (o.kind == Optimizer::Sgd && !(o.momentum > 0)) {
      loop(b, n, [&](llvm::Value* k) {  // w -= lr (g + wd w)
        llvm::Value* wk;
        llvm::Value* gk = decayed(k, wk);
        b.CreateStore(b.CreateFSub(wk, b.CreateFMul(lr_t, gk)), at(w, k));
      });
    } else if (o.kind == Optimizer::Sgd) {
      llvm::Value* buf = array(b, state, l.buf);
      llvm::Value* first = b.CreateICmpEQ(taken, b.getInt64(0));
      llvm::Constant* mu = t_const(o.momentum);
      loop(b, n, [&](llvm::Value* k) {
        llvm::Value* wk;
        llvm::Value* gk = decayed(k, wk);
        llvm::Value* bk = b.CreateSelect(first, gk, b.CreateFAdd(b.CreateFMul(mu, b.CreateLoad(T, at(buf, k))), gk));
        b.CreateStore(bk, at(buf, k));
        llvm::Value* d = o.nesterov ? b.CreateFAdd(gk, b.CreateFMul(mu, bk)) : bk;
        b.CreateStore(b.CreateFSub(wk, b.CreateFMul(lr_t, d)), at(w, k));
      });
    } else {
      // adam_constants: in double, each rounded once to T.
      llvm::Value* t = b.CreateSIToFP(step, f64);
      auto to_t = [&](llvm::Value* v) { return T == f64 ? v : b.CreateFPTrunc(v, T); };
      llvm::Value* step_size = to_t(b.CreateFDiv(lr, b.CreateFSub(d_const(1), libm(b, "pow", {d_const(o.beta1), t}))));
      llvm::Value* c2_sqrt = to_t(b.CreateUnaryIntrinsic(
          llvm::Intrinsic::sqrt, b.CreateFSub(d_const(1), libm(b, "pow", {d_const(o.beta2), t}))));
      llvm::Constant *b1 = t_const(o.beta1), *c1 = t_const(1 - o.beta1), *b2 = t_const(o.beta2),
                     *c2 = t_const(1 - o.beta2), *eps = t_const(o.eps);
      llvm::Value* m1 = array(b, state, l.m1);
      llvm::Value* m2 = array(b, state, l.m2);
      loop(b, n, [&](llvm::Value* k) {
        llvm::Value* wk;
        llvm::Value* gk = decayed(k, wk);
        llvm::Value* a = b.CreateFAdd(b.CreateFMul(b1, b.CreateLoad(T, at(m1, k))), b.CreateFMul(c1, gk));
        b.CreateStore(a, at(m1, k));
        llvm::Value* v =
            b.CreateFAdd(b.CreateFMul(b2, b.CreateLoad(T, at(m2, k))), b.CreateFMul(b.CreateFMul(c2, gk), gk));
        b.CreateStore(v, at(m2, k));
        llvm::Value* denom = b.CreateFAdd(b.CreateFDiv(b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, v), c2_sqrt), eps);
        b.CreateStore(b.CreateFSub(wk, b.CreateFDiv(b.CreateFMul(step_size, a), denom)), at(w, k));
      });
    }
    b.CreateRet(loss);
  }

  void build(llvm::FunctionCallee step_kernel, llvm::FunctionCallee predict_kernel,
             std::optional<llvm::FunctionCallee> tail_kernel) {
    const std::uint64_t size = state_bytes();
    llvm::IRBuilder<> b(ctx);
    auto at = [&](llvm::Value* base, llvm::Value* k) { return b.CreateInBoundsGEP(T, base, k); };

    // The initial parameters, rounded to T as the trainer's load() does.
    std::vector<llvm::Constant*> init;
    for (double v : s.init) init.push_back(t_const(v));
    auto* init_type = llvm::ArrayType::get(T, s.init.size());
    auto* init_table = new llvm::GlobalVariable(m, init_type, true, llvm::GlobalValue::InternalLinkage,
                                                llvm::ConstantArray::get(init_type, init), s.name + ".init");
    // predict's input row after a copy of the parameters, per thread (predict leaves the state alone).
    auto* scratch_type = llvm::ArrayType::get(T, static_cast<std::uint64_t>(s.params + s.features));
    auto* scratch = new llvm::GlobalVariable(m, scratch_type, false, llvm::GlobalValue::InternalLinkage,
                                             llvm::ConstantAggregateZero::get(scratch_type), s.name + ".predict_in");
    scratch->setThreadLocalMode(llvm::GlobalValue::GeneralDynamicTLSModel);
    scratch->setAlignment(llvm::Align(64));

    {  // size_t NAME_state_size(void)
      llvm::Function* f = function("state_size", size_type, {});
      b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
      b.CreateRet(llvm::ConstantInt::get(size_type, size));
    }
    {  // void NAME_init(NAME_state*): zeros (step 0, no optimizer state), then the parameters
      llvm::Function* f = function("init", b.getVoidTy(), {ptr});
      b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
      b.CreateMemSet(f->getArg(0), b.getInt8(0), size, llvm::Align(8));
      b.CreateMemCpy(array(b, f->getArg(0), l.in), llvm::Align(8), init_table, llvm::Align(8), bytes(s.params));
      b.CreateRetVoid();
    }
    {  // void NAME_set_params(NAME_state*, const T*)
      llvm::Function* f = function("set_params", b.getVoidTy(), {ptr, ptr});
      b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
      b.CreateMemCpy(array(b, f->getArg(0), l.in), llvm::Align(8), f->getArg(1), llvm::Align(elem), bytes(s.params));
      b.CreateRetVoid();
    }
    {  // void NAME_params(const NAME_state*, T*)
      llvm::Function* f = function("params", b.getVoidTy(), {ptr, ptr});
      b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
      b.CreateMemCpy(f->getArg(1), llvm::Align(elem), array(b, f->getArg(0), l.in), llvm::Align(8), bytes(s.params));
      b.CreateRetVoid();
    }
    {  // void NAME_predict(const NAME_state*, size_t rows, const T* x, T* out)
      llvm::Function* f = function("predict", b.getVoidTy(), {ptr, size_type, ptr, ptr});
      b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
      llvm::Value* in = b.CreateThreadLocalAddress(scratch);
      b.CreateMemCpy(in, llvm::Align(64), array(b, f->getArg(0), l.in), llvm::Align(8), bytes(s.params));
      llvm::Value* rows = b.CreateZExtOrTrunc(f->getArg(1), i64);
      llvm::Value* row_in = at(in, b.getInt64(static_cast<std::uint64_t>(s.params)));
      loop(b, rows, [&](llvm::Value* r) {
        llvm::Value* x = at(f->getArg(2), b.CreateMul(r, b.getInt64(static_cast<std::uint64_t>(s.features))));
        b.CreateMemCpy(row_in, llvm::Align(elem), x, llvm::Align(elem), bytes(s.features));
        llvm::Value* y = at(f->getArg(3), b.CreateMul(r, b.getInt64(static_cast<std::uint64_t>(s.outputs))));
        b.CreateCall(predict_kernel, {in, y});
      });
      b.CreateRetVoid();
    }
    step_function("step", step_kernel, s.data_sizes);
    if (tail_kernel) step_function("step_tail", *tail_kernel, s.tail_sizes);
  }
};

// Said of the step or predict, not of their internal kernels' names (as make_c_surface would).
void refuse_gradc_functions(const llvm::Module& m, const char* what) {
  for (const char* special : {kDigammaSymbol, kPolygammaSymbol})
    if (m.getFunction(special))
      throw LimitError(fmt::format(
          "{0} uses {1} (as the gradient of lgamma or digamma does), which gradc computes with its own library; a "
          "compiled object depends on libm only, so it cannot contain {1}",
          what, special == kDigammaSymbol ? "digamma" : "polygamma"));
}

}  // namespace

StepObject compile_step_object(const StepSpec& spec, const AotTarget& target) {
  init_targets();
  StepObject obj;
  auto tm = target_machine(target, llvm::CodeGenOptLevel::Aggressive, obj.triple, obj.cpu);
  TargetInfo info = target_info(*tm);
  info.batch_vector_bits = 0;  // no SLEEF in objects (see compile_object)
  llvm::LLVMContext ctx;
  std::uint64_t state_bytes = 0;
  auto kernel_entry = [](llvm::Module& m, const std::string& name) {
    llvm::Function* f = m.getFunction(name);
    f->setLinkage(llvm::GlobalValue::InternalLinkage);
    return f;
  };
  std::unique_ptr<llvm::Module> m = build_module(ctx, spec.step, *tm, info, true, [&](llvm::Module& mod) {
    refuse_gradc_functions(mod, "the training step");
    make_c_surface(mod, spec.step);
    llvm::Function* step = kernel_entry(mod, spec.step.name);
    // Kept whole, as the JIT compiles it; only the driver around it is new.
    step->addFnAttr(llvm::Attribute::NoInline);
    // The other kernels come from modules of their own, linked in below.
    auto declare = [&](const std::string& name) {
      llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
      return mod.getOrInsertFunction(name, llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, ptr}, false));
    };
    std::optional<llvm::FunctionCallee> tail;
    if (spec.tail_rows > 0) tail = declare(spec.tail.name);
    Driver d(spec, mod);
    d.build(step, declare(spec.predict.name), tail);
    state_bytes = d.state_bytes();
  });
  std::unique_ptr<llvm::Module> p = build_module(ctx, spec.predict, *tm, info, true, [&](llvm::Module& mod) {
    refuse_gradc_functions(mod, "the network (predict)");
    make_c_surface(mod, spec.predict);
  });
  if (llvm::Linker::linkModules(*m, std::move(p))) throw std::runtime_error("aot: cannot link the predict kernel");
  kernel_entry(*m, spec.predict.name);
  if (spec.tail_rows > 0) {
    std::unique_ptr<llvm::Module> t = build_module(ctx, spec.tail, *tm, info, true, [&](llvm::Module& mod) {
      refuse_gradc_functions(mod, "the training step");
      make_c_surface(mod, spec.tail);
    });
    if (llvm::Linker::linkModules(*m, std::move(t)))
      throw std::runtime_error("aot: cannot link the last step's kernel");
    kernel_entry(*m, spec.tail.name);
  }
  std::string err;
  llvm::raw_string_ostream es(err);
  if (llvm::verifyModule(*m, &es)) throw std::runtime_error("aot: the step module is invalid: " + err);
  for (llvm::GlobalVariable& g : m->globals())
    if (g.isThreadLocal()) obj.thread_bytes += m->getDataLayout().getTypeAllocSize(g.getValueType());
  obj.state_bytes = state_bytes;
  if (huge_module(*m)) tm = target_machine(target, llvm::CodeGenOptLevel::None, obj.triple, obj.cpu);
  obj.bytes = emit_object(*tm, *m);
  return obj;
}

}  // namespace gradc
