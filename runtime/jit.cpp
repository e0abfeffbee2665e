// The JIT session (KaleidoscopeJIT style): one LLJIT for the host, and per request a fresh
// context and module that is generated, optimized with the new pass manager, added to the main
// JITDylib under a unique symbol name and looked up.
#include "runtime/jit.hpp"
#include "runtime/jit_pipeline.hpp"

#include <llvm/Analysis/TargetTransformInfo.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/IRCompileLayer.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectTransformLayer.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/Config/llvm-config.h>

#include <mutex>
#include <stdexcept>

#include "runtime/object_cache.hpp"
#include "runtime/threads.hpp"
#include "support/special.hpp"

namespace gradc {
namespace {

[[noreturn]] void fail(const char* what, llvm::Error err) {
  throw std::runtime_error(std::string("jit: ") + what + ": " + llvm::toString(std::move(err)));
}

// Compile time must stay about linear in the graph size (a 250,000-node chain compiles in
// seconds, not minutes). A kernel body is one long basic block, and at -O2/-O3 the loop
// vectorizer, the instruction schedulers and the greedy register allocator (each live value
// against each libm call) are superlinear in it. Modules above this many instructions are
// therefore not vectorized and go through the -O0 backend; the IR pipeline still runs.
constexpr unsigned kHugeModule = 20000;

/// Object code for a module from the optimizing target machine, or for a huge module from
/// the -O0 one. Runs inside LLJIT's compile layer (under Jit's mutex).
class TieredCompiler : public llvm::orc::IRCompileLayer::IRCompiler {
 public:
  TieredCompiler(std::unique_ptr<llvm::TargetMachine> optimizing,
                 std::unique_ptr<llvm::TargetMachine> fast)
      : IRCompiler(llvm::orc::irManglingOptionsFromTargetOptions(optimizing->Options)),
        optimizing_(std::move(optimizing)),
        fast_(std::move(fast)) {}

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module& m) override {
    return llvm::orc::SimpleCompiler(huge_module(m) ? *fast_ : *optimizing_)(m);
  }

 private:
  std::unique_ptr<llvm::TargetMachine> optimizing_, fast_;
};

// Whether the kernel calls the C library (every math intrinsic but sqrt and fabs becomes a libm
// call). Without a vector math library those calls stay scalar, and vectorizing the batch loop
// around them gained nothing while it took a large part of the compile time of a small kernel;
// for pure arithmetic it pays (bench/choices.md, "Batch loops and libm"). This rule is for the
// batch loop of a scalar kernel only: a tensor kernel's loops (matrix products, sums,
// broadcasts) are the point of vectorizing, and the vectorizer's cost model leaves the loops
// around libm calls scalar.
bool calls_libm(const llvm::Module& m) {
  for (const llvm::Function& f : m)
    if (f.isDeclaration() && f.getIntrinsicID() != llvm::Intrinsic::sqrt &&
        f.getIntrinsicID() != llvm::Intrinsic::fabs)
      return true;
  return false;
}

template <class T>
T unwrap(llvm::Expected<T> value, const char* what) {
  if (!value) fail(what, value.takeError());
  return std::move(*value);
}

}  // namespace

bool huge_module(const llvm::Module& m) { return m.getInstructionCount() > kHugeModule; }

TargetInfo target_info(llvm::TargetMachine& tm) {
  // The vector registers as the vectorizer's cost model sees them (it asks per function).
  llvm::LLVMContext ctx;
  llvm::Module m("probe", ctx);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), false),
                                   llvm::Function::ExternalLinkage, "probe", m);
  llvm::TargetTransformInfo tti = tm.getTargetTransformInfo(*f);
  TargetInfo target;
  target.vector_bits = static_cast<unsigned>(
      tti.getRegisterBitWidth(llvm::TargetTransformInfo::RGK_FixedWidthVector).getFixedValue());
  target.vector_registers = tti.getNumberOfRegisters(tti.getRegisterClassForType(/*Vector=*/true));
  return target;
}

std::unique_ptr<llvm::Module> build_module(llvm::LLVMContext& ctx, const KernelSpec& spec, llvm::TargetMachine& tm,
                                           const TargetInfo& target, bool optimize,
                                           const std::function<void(llvm::Module&)>& edit) {
  std::unique_ptr<llvm::Module> m = codegen(ctx, spec, target);
  m->setDataLayout(tm.createDataLayout());
  m->setTargetTriple(tm.getTargetTriple().str());
  if (edit) edit(*m);
  if (!optimize) return m;
  llvm::PipelineTuningOptions tuning;
  // The batch loop of a scalar kernel, the loop nests of a tensor kernel: for the host's
  // vector width (see calls_libm for when a scalar kernel's batch loop is left alone).
  bool tensor = is_tensor_kernel(spec);
  tuning.LoopVectorization = !huge_module(*m) && (tensor || !calls_libm(*m));
  tuning.SLPVectorization = false;  // most of the pipeline's time on big bodies (bench/choices.md)
  // Tensor kernels: no general loop unrolling. It quadrupled the code of a small training
  // step and doubled its compile time (bench/choices.md) for no measured speed; the
  // matrix product marks the one loop that needs it (its vectorized register tile).
  tuning.LoopUnrolling = !tensor;
  // Declared in this order so they are destroyed module-first, as LLVM requires.
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2).run(*m, mam);
  return m;
}

struct Jit::Impl {
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  std::unique_ptr<llvm::TargetMachine> tm;  // the host machine, for the IR pipeline's cost model
  TargetInfo target;  // the host's vector registers, for the shape of the loop nests
  bool optimize;
  std::unique_ptr<ThreadPool> pool;  // with Options::threads > 1
  std::mutex mutex;  // compile() may be called from several threads
  std::uint64_t next_id = 0;
  std::unique_ptr<ObjectCache> cache;  // with Options::cache_dir
  std::string cache_context;  // the key's part that is the Jit's: target, tier, versions
  std::optional<CacheKey> to_store;  // the kernel being compiled, whose object goes to the cache
  CacheStats stats;

  std::unique_ptr<llvm::Module> build(llvm::LLVMContext& ctx, const KernelSpec& spec) {
    return build_module(ctx, spec, *tm, target, optimize);
  }
};

std::unique_ptr<Jit> Jit::create(Options opts) {
  // Registering the native target is process-wide and idempotent: done once, never per Jit.
  static std::once_flag once;
  static bool target_ok = false;
  std::call_once(once, [] {
    target_ok = !llvm::InitializeNativeTarget() && !llvm::InitializeNativeTargetAsmPrinter();
  });
  if (!target_ok) throw std::runtime_error("jit: cannot initialize the native target");

  auto jtmb = unwrap(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host");
  jtmb.setCodeGenOptLevel(opts.optimize ? llvm::CodeGenOptLevel::Aggressive
                                        : llvm::CodeGenOptLevel::None);
  auto impl = std::make_unique<Impl>();
  impl->optimize = opts.optimize;
  impl->tm = unwrap(jtmb.createTargetMachine(), "creating the target machine");
  impl->target = target_info(*impl->tm);
  auto make_compiler = [](llvm::orc::JITTargetMachineBuilder optimizing)
      -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
    llvm::orc::JITTargetMachineBuilder fast = optimizing;
    fast.setCodeGenOptLevel(llvm::CodeGenOptLevel::None);
    auto opt_tm = optimizing.createTargetMachine();
    if (!opt_tm) return opt_tm.takeError();
    auto fast_tm = fast.createTargetMachine();
    if (!fast_tm) return fast_tm.takeError();
    return std::make_unique<TieredCompiler>(std::move(*opt_tm), std::move(*fast_tm));
  };
  // LLJIT links the process's symbols (libm's tan, log1p, ...) into the main JITDylib by default.
  impl->lljit = unwrap(llvm::orc::LLJITBuilder()
                           .setJITTargetMachineBuilder(std::move(jtmb))
                           .setCompileFunctionCreator(make_compiler)
                           .create(),
                       "creating the JIT");
  {
    // gradc's special functions, which generated code calls by name.
    llvm::orc::LLJIT& j = *impl->lljit;
    llvm::orc::SymbolMap symbols;
    auto callable = llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable;
    symbols[j.mangleAndIntern(kDigammaSymbol)] = {llvm::orc::ExecutorAddr::fromPtr(&gradc_digamma), callable};
    symbols[j.mangleAndIntern(kPolygammaSymbol)] = {llvm::orc::ExecutorAddr::fromPtr(&gradc_polygamma), callable};
    if (llvm::Error err = j.getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols))))
      fail("defining the special functions' symbols", std::move(err));
  }
  if (opts.threads > 1) {
    impl->pool = std::make_unique<ThreadPool>(opts.threads);
    impl->target.threads = static_cast<unsigned>(opts.threads);
    llvm::orc::LLJIT& j = *impl->lljit;
    llvm::orc::SymbolMap symbols;
    symbols[j.mangleAndIntern("gradc_parallel")] = {llvm::orc::ExecutorAddr::fromPtr(&gradc_parallel),
                                                    llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable};
    symbols[j.mangleAndIntern("gradc_pool")] = {llvm::orc::ExecutorAddr::fromPtr(impl->pool.get()),
                                                llvm::JITSymbolFlags::Exported};
    if (llvm::Error err = j.getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols))))
      fail("defining the thread pool's symbols", std::move(err));
  }
  impl->target.contract = opts.contract;
  if (!opts.cache_dir.empty()) {
    impl->cache = std::make_unique<ObjectCache>(opts.cache_dir);
    impl->cache_context = impl->tm->getTargetTriple().str() + " " + impl->tm->getTargetCPU().str() + " " +
                          impl->tm->getTargetFeatureString().str() + (opts.optimize ? " O2" : " O0") +
                          " LLVM " LLVM_VERSION_STRING " " + kGradcVersion + " " + runtime_build_id();
    // Every object the compile layer makes passes here on its way to the linker.
    Impl* self = impl.get();
    impl->lljit->getObjTransformLayer().setTransform(
        [self](std::unique_ptr<llvm::MemoryBuffer> obj) -> llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> {
          if (self->to_store && self->cache->store(*self->to_store, obj->getBuffer())) ++self->stats.stores;
          self->to_store.reset();
          return obj;
        });
  }
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

Jit::Jit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jit::~Jit() = default;

Kernel Jit::compile(const KernelSpec& spec) {
  std::lock_guard lock(impl_->mutex);
  // Each kernel has its own JITDylib (which sees the main one's symbols), so every kernel can
  // have the same symbol: its object code does not depend on the process, and the object cache
  // can hand it to another. The name is no C library function's (say, a user's `sincos`, which
  // the backend may call for sin and cos).
  llvm::orc::LLJIT& j = *impl_->lljit;
  auto made = j.createJITDylib("gradc.k" + std::to_string(impl_->next_id++));
  if (!made) fail("creating the kernel's JITDylib", made.takeError());
  llvm::orc::JITDylib& dylib = *made;
  dylib.addToLinkOrder(j.getMainJITDylib());
  KernelSpec unique = spec;
  unique.name = "gradc.kernel";
  const std::string& symbol = unique.name;
  std::optional<CacheKey> key;
  std::optional<std::string> cached;
  if (impl_->cache) {
    key = cache_key(unique, impl_->target, impl_->cache_context);
    cached = impl_->cache->load(*key);
    ++(cached ? impl_->stats.hits : impl_->stats.misses);
  }
  if (cached) {
    if (llvm::Error err = j.addObjectFile(dylib, llvm::MemoryBuffer::getMemBufferCopy(*cached, "gradc.kernel.o")))
      fail("adding the cached object", std::move(err));
  } else {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    std::unique_ptr<llvm::Module> m = impl_->build(*ctx, unique);
    if (llvm::Error err = j.addIRModule(dylib, llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
      fail("adding the module", std::move(err));
    impl_->to_store = key;  // compiled (and stored) by the first lookup
  }

  Kernel k;
  auto lookup = [&](const std::string& name) {
    auto addr = j.lookup(dylib, name);
    impl_->to_store.reset();
    return unwrap(std::move(addr), "compiling");
  };
  llvm::orc::ExecutorAddr single = lookup(symbol);
  llvm::orc::ExecutorAddr batch;
  if (spec.batch) batch = lookup(symbol + "_batch");
  if (spec.dtype == DType::F32) {
    k.single_f32 = single.toPtr<void (*)(const float*, float*)>();
    if (spec.batch) k.batch_f32 = batch.toPtr<void (*)(const float*, float*, std::int64_t)>();
  } else {
    k.single = single.toPtr<void (*)(const double*, double*)>();
    if (spec.batch) k.batch = batch.toPtr<void (*)(const double*, double*, std::int64_t)>();
  }
  k.num_inputs = static_cast<std::size_t>(element_count(spec.inputs));
  k.num_outputs = static_cast<std::size_t>(element_count(spec.outputs));
  return k;
}

std::string Jit::llvm_ir(const KernelSpec& spec) {
  std::lock_guard lock(impl_->mutex);
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = impl_->build(ctx, spec);
  std::string text;
  llvm::raw_string_ostream os(text);
  m->print(os, nullptr);
  os.flush();
  return text;
}

Jit::CacheStats Jit::cache_stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

Jit::Vectors Jit::vectors() const {
  std::string features = impl_->tm->getTargetFeatureString().str();
  auto has = [&](const char* f) { return (',' + features + ',').find(std::string(",+") + f + ',') != std::string::npos; };
  std::string isa = "scalar";
  for (const char* f : {"avx512f", "avx2", "avx", "sse4.2", "sse2", "sve2", "sve", "neon"})
    if (has(f)) {
      isa = f;
      break;
    }
  if (isa == "avx512f") isa = "avx512";
  return Vectors{isa, impl_->target.vector_bits};
}

TargetInfo Jit::target() const { return impl_->target; }

JitHost jit_host() {
  return JitHost{LLVM_VERSION_STRING, llvm::sys::getProcessTriple(), llvm::sys::getHostCPUName().str()};
}

}  // namespace gradc
