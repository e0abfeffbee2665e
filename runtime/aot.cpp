// Ahead-of-time objects: the JIT's module (build_module) with its exported surface changed for
// C callers, emitted by TargetMachine::addPassesToEmitFile.
#include "runtime/aot.hpp"

#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/ReplaceConstant.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/SubtargetFeature.h>
#include <llvm/TargetParser/Triple.h>

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <utility>
#include <vector>
#include <optional>

#include "runtime/aot_internal.hpp"
#include "runtime/jit_pipeline.hpp"
#include "support/diagnostics.hpp"
#include "support/special.hpp"

namespace gradc {
namespace {

// The host's features (AVX2, FMA, ...) exactly as the JIT detects them: the same instructions,
// so the same roundings (an fma rounds once).
std::string host_features() {
  llvm::SubtargetFeatures features;
  for (auto& [name, on] : llvm::sys::getHostCPUFeatures()) features.AddFeature(name, on);
  return features.getString();
}

}  // namespace

std::unique_ptr<llvm::TargetMachine> target_machine(const AotTarget& t, llvm::CodeGenOptLevel level,
                                                    std::string& triple, std::string& cpu) {
  bool host = t.triple.empty();
  triple = host ? llvm::sys::getProcessTriple() : llvm::Triple::normalize(t.triple);
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) throw UsageError(fmt::format("--target: {}", error));
  cpu = !t.cpu.empty() ? t.cpu : host ? llvm::sys::getHostCPUName().str() : "generic";
  // The host's features only for the host's own CPU; a named CPU brings its own.
  std::string features = host && t.cpu.empty() ? host_features() : "";
  // Checked before the target machine is made, which would print a warning of its own.
  std::unique_ptr<llvm::MCSubtargetInfo> sti(target->createMCSubtargetInfo(triple, "", ""));
  if (!sti || !sti->isCPUStringValid(cpu))
    throw UsageError(fmt::format("--cpu: '{}' is not a CPU of {} (llc -mtriple={} -mcpu=help lists them)", cpu,
                                 triple, triple));
  // Position-independent: the object links into a PIE executable or a shared library.
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpu, features, llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt, level));
  if (!tm) throw UsageError(fmt::format("--target: LLVM cannot generate code for '{}'", triple));
  return tm;
}

namespace {

// C's lgamma stores the sign of Γ(x) in the global `signgam`, a data race between threads;
// lgamma_r (POSIX, in every libm gradc targets) stores it where it is told and computes the
// same value. Each call gets a slot for the sign in its function's frame.
void reentrant_lgamma(llvm::Module& m) {
  for (auto [plain, reentrant] : {std::pair{"lgamma", "lgamma_r"}, std::pair{"lgammaf", "lgammaf_r"}}) {
    llvm::Function* f = m.getFunction(plain);
    if (!f) continue;
    llvm::LLVMContext& ctx = m.getContext();
    llvm::Type* t = f->getReturnType();
    llvm::Type* i32 = llvm::Type::getInt32Ty(ctx);
    llvm::FunctionCallee r = m.getOrInsertFunction(
        reentrant, llvm::FunctionType::get(t, {t, llvm::PointerType::getUnqual(ctx)}, false));
    std::vector<llvm::CallInst*> calls;
    for (llvm::User* u : f->users())
      if (auto* call = llvm::dyn_cast<llvm::CallInst>(u)) calls.push_back(call);
    for (llvm::CallInst* call : calls) {
      llvm::BasicBlock& entry = call->getFunction()->getEntryBlock();
      llvm::IRBuilder<> at_entry(&entry, entry.begin());
      llvm::Value* sign = at_entry.CreateAlloca(i32, nullptr, "lgamma.sign");
      llvm::IRBuilder<> b(call);
      llvm::CallInst* replacement = b.CreateCall(r, {call->getArgOperand(0), sign});
      replacement->addFnAttr(llvm::Attribute::NoUnwind);
      call->replaceAllUsesWith(replacement);
      call->eraseFromParent();
    }
    if (f->use_empty()) f->eraseFromParent();
  }
}

}  // namespace

// The JIT's module, made callable from C: `NAME_batch(size_t n, in, out)` wraps the kernel's
// `(in, out, int64 rows)` loop, the workspace is per thread, and only the entries are exported.
// Each function reads the thread's workspace address from a call at its entry, made with the
// ordinary calling convention. Left to itself, LLVM's x86 backend keeps vector registers live
// across the __tls_get_addr call of a thread-local access, as glibc's __tls_get_addr preserves
// them; AddressSanitizer's interceptor of it does not, and a tensor kernel loaded into a
// program built with -fsanitize=address computed wrong values (xmm16-18 clobbered; test_aot
// under make test-sanitize). The callee is hidden and not internal, so no interprocedural pass
// replaces the call by the address it returns.
static void workspace_by_call(llvm::Module& m, llvm::GlobalVariable& ws) {
  llvm::LLVMContext& ctx = m.getContext();
  auto* get = llvm::Function::Create(llvm::FunctionType::get(llvm::PointerType::getUnqual(ctx), false),
                                     llvm::GlobalValue::ExternalLinkage, ws.getName() + "_address", m);
  get->setVisibility(llvm::GlobalValue::HiddenVisibility);
  get->addFnAttr(llvm::Attribute::NoInline);
  get->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", get));
  b.CreateRet(b.CreateThreadLocalAddress(&ws));
  llvm::convertUsersOfConstantsToInstructions({&ws});
  std::map<llvm::Function*, llvm::Value*> base;
  for (llvm::Use& u : llvm::make_early_inc_range(ws.uses())) {
    auto* inst = llvm::dyn_cast<llvm::Instruction>(u.getUser());
    if (!inst || inst->getFunction() == get) continue;
    llvm::Function* f = inst->getFunction();
    auto [it, fresh] = base.try_emplace(f, nullptr);
    if (fresh) {
      llvm::IRBuilder<> eb(&*f->getEntryBlock().getFirstInsertionPt());
      it->second = eb.CreateCall(get);
    }
    u.set(it->second);
  }
}

void make_c_surface(llvm::Module& m, const KernelSpec& spec) {
  for (const char* special : {kDigammaSymbol, kPolygammaSymbol})
    if (m.getFunction(special))
      throw LimitError(fmt::format(
          "'{}' uses {}, which gradc computes with its own library; a compiled object depends on libm "
          "only, so it cannot contain {}",
          spec.name, special == kDigammaSymbol ? "digamma" : "polygamma",
          special == kDigammaSymbol ? "digamma" : "polygamma"));
  for (llvm::GlobalVariable& g : m.globals()) {
    if (g.isDeclaration()) continue;
    if (g.hasExternalLinkage()) {
      // The constant table of a large scalar kernel stays external, as in the JIT, so the
      // optimizer does not fold 100,000 constants into immediates (the backend's constant pool
      // is quadratic in them); hidden, so a shared library does not export it.
      g.setVisibility(llvm::GlobalValue::HiddenVisibility);
      continue;
    }
    g.setLinkage(llvm::GlobalValue::InternalLinkage);
    // General dynamic: valid in an executable (the linker relaxes it) and in a shared
    // library, also one loaded by dlopen.
    if (!g.isConstant() && g.getName().ends_with(".workspace")) {
      g.setThreadLocalMode(llvm::GlobalValue::GeneralDynamicTLSModel);
      workspace_by_call(m, g);
    }
  }
  reentrant_lgamma(m);
  if (!spec.batch) return;
  llvm::Function* rows = m.getFunction(spec.name + "_batch");
  rows->setName(spec.name + ".rows");
  rows->setLinkage(llvm::GlobalValue::InternalLinkage);
  llvm::LLVMContext& ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type* size_t_type = m.getDataLayout().getIntPtrType(ctx);
  auto* batch = llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), {size_t_type, ptr, ptr}, false),
                                       llvm::Function::ExternalLinkage, spec.name + "_batch", m);
  batch->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned a : {1u, 2u}) batch->addParamAttr(a, llvm::Attribute::NoCapture);
  batch->addParamAttr(1, llvm::Attribute::ReadOnly);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", batch));
  // size_t is unsigned: a count past INT64_MAX cannot describe memory anyway.
  llvm::Value* n = b.CreateZExtOrTrunc(batch->getArg(0), b.getInt64Ty());
  b.CreateCall(rows, {batch->getArg(1), batch->getArg(2), n});
  b.CreateRetVoid();
}

void init_targets() {
  // Every target LLVM was built with, for --target; process-wide and idempotent, so once.
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  });
}

std::string emit_object(llvm::TargetMachine& tm, llvm::Module& m) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw std::runtime_error("aot: the target cannot emit an object file");
  pm.run(m);
  return std::string(buffer.begin(), buffer.end());
}

AotObject compile_object(const KernelSpec& spec, const AotTarget& target) {
  init_targets();
  AotObject obj;
  auto tm = target_machine(target, llvm::CodeGenOptLevel::Aggressive, obj.triple, obj.cpu);
  llvm::LLVMContext ctx;
  // By default the batch entry one row at a time, as the single entry computes it: the object
  // needs no library beyond libm, and its batch rows equal single calls bit for bit.
  TargetInfo info = target_info(*tm);
  if (!target.simd) info.batch_vector_bits = 0;
  std::unique_ptr<llvm::Module> m =
      build_module(ctx, spec, *tm, info, /*optimize=*/true, [&](llvm::Module& mod) {
        make_c_surface(mod, spec);
      });
  if (llvm::GlobalVariable* ws = m->getNamedGlobal(spec.name + ".workspace"))
    obj.workspace_bytes = m->getDataLayout().getTypeAllocSize(ws->getValueType());
  // A huge module takes the -O0 backend, as in the JIT.
  if (huge_module(*m)) tm = target_machine(target, llvm::CodeGenOptLevel::None, obj.triple, obj.cpu);
  obj.bytes = emit_object(*tm, *m);
  return obj;
}

}  // namespace gradc
