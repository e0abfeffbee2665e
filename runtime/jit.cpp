// The JIT session (KaleidoscopeJIT style): one LLJIT for the host, and per request a fresh
// context and module that is generated, optimized with the new pass manager, added to the main
// JITDylib under a unique symbol name and looked up.
#include "runtime/jit.hpp"
#include "runtime/jit_pipeline.hpp"

#include <llvm/Analysis/TargetTransformInfo.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
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
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/Config/llvm-config.h>

#include <dlfcn.h>
#include <sleef.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <stdexcept>
#include <string>

#include "compiler/codegen/body_split.hpp"
#include "runtime/object_cache.hpp"
#include "compiler/ir.hpp"
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

// The module flag that sends a module of the fast tier to the -O0 backend.
constexpr const char* kFastTierFlag = "gradc.fast_tier";

const llvm::orc::JITTargetMachineBuilder& detected_host();

/// Object code for a module from the optimizing target machine, or for a module of the fast
/// tier or a huge module from the -O0 one (FastISel). Runs inside LLJIT's compile layer
/// (under Jit's mutex).
class TieredCompiler : public llvm::orc::IRCompileLayer::IRCompiler {
 public:
  // jtmb: LLJIT's, with the code and relocation models its JIT linker needs (small, PIC); the
  // host's CPU and features are added when a target machine is made.
  TieredCompiler(llvm::orc::JITTargetMachineBuilder jtmb, llvm::orc::IRSymbolMapper::ManglingOptions mangling)
      : IRCompiler(std::move(mangling)), jtmb_(std::move(jtmb)) {}

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module& m) override {
    bool fast = m.getModuleFlag(kFastTierFlag) != nullptr || huge_module(m);
    // Each target machine is made when first needed: a Jit that only ever compiles the fast
    // tier (a one-point `gradc eval`) never pays for the optimizing one.
    std::unique_ptr<llvm::TargetMachine>& tm = fast ? fast_ : optimizing_;
    if (!tm) {
      llvm::orc::JITTargetMachineBuilder b = jtmb_;
      b.setCPU(detected_host().getCPU());
      b.addFeatures(detected_host().getFeatures().getFeatures());
      b.setCodeGenOptLevel(fast ? llvm::CodeGenOptLevel::None : llvm::CodeGenOptLevel::Aggressive);
      auto made = b.createTargetMachine();
      if (!made) return made.takeError();
      tm = std::move(*made);
    }
    return llvm::orc::SimpleCompiler(*tm)(m);
  }

 private:
  llvm::orc::JITTargetMachineBuilder jtmb_;
  std::unique_ptr<llvm::TargetMachine> optimizing_, fast_;
};

// The host as the JIT targets it: its CPU and features, detected once per process and only when
// a module is compiled (LLVM's detection runs about twenty cpuid instructions, each a trap to
// the hypervisor in a virtual machine: 0.2 ms, which a run whose kernels are all in the object
// cache does not pay; bench/process.md).
struct Host {
  std::optional<llvm::orc::JITTargetMachineBuilder> jtmb;
  std::string error;  // if detection failed
};

// The data layout of the process's triple (the CPU and its features do not change it), and
// whether the native target could be initialized.
struct Layout {
  std::optional<llvm::DataLayout> layout;
  std::string error;
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

// Whether a tensor kernel's matrix products are large enough for the widest vectors to pay.
// 512-bit tiles cut the 784-128-10 step by a third and the 2-16-16-1 and 2-32-32-2 steps by a
// quarter to a half on Sapphire Rapids; the 2-8-1 step on 4 rows (products of at most 64
// multiply-adds) ran 5% slower with them (bench/peak.md).
constexpr std::int64_t kWideMacs = 1 << 12;

bool wide_vectors_pay(const KernelSpec& spec) {
  for (const Node* n : reachable(spec.outputs))
    if (n->op == Op::MatMul && n->shape.rank == 2 &&
        std::int64_t(n->shape[0]) * n->arg(0)->shape[1] * n->shape[1] >= kWideMacs)
      return true;
  return false;
}

// SLEEF's vector functions (the batch entry's transcendentals) from the libsleef gradc is linked
// with, found by name in that library: the process's global symbols do not have them when gradc
// is a Python module loaded with RTLD_LOCAL. The library is looked up when a kernel first asks
// for a Sleef_ symbol (dladdr walks the symbol tables: 0.05 ms that a scalar kernel, or one from
// the object cache, need not pay).
class SleefGenerator : public llvm::orc::DefinitionGenerator {
 public:
  explicit SleefGenerator(char prefix) : prefix_(prefix) {}

  llvm::Error tryToGenerate(llvm::orc::LookupState& ls, llvm::orc::LookupKind kind, llvm::orc::JITDylib& dylib,
                            llvm::orc::JITDylibLookupFlags flags, const llvm::orc::SymbolLookupSet& symbols) override {
    if (std::none_of(symbols.begin(), symbols.end(), [](const auto& s) { return is_sleef(s.first); }))
      return llvm::Error::success();
    if (!library_) {
      Dl_info info;
      if (!dladdr(reinterpret_cast<void*>(&Sleef_sin_u10), &info) || !info.dli_fname)
        return llvm::make_error<llvm::StringError>("cannot find the SLEEF library", llvm::inconvertibleErrorCode());
      auto found = llvm::orc::DynamicLibrarySearchGenerator::Load(info.dli_fname, prefix_, is_sleef);
      if (!found) return found.takeError();
      library_ = std::move(*found);
    }
    return library_->tryToGenerate(ls, kind, dylib, flags, symbols);
  }

 private:
  static bool is_sleef(const llvm::orc::SymbolStringPtr& name) { return (*name).starts_with("Sleef_"); }
  char prefix_;
  std::unique_ptr<llvm::orc::DynamicLibrarySearchGenerator> library_;
};

template <class T>
T unwrap(llvm::Expected<T> value, const char* what) {
  if (!value) fail(what, value.takeError());
  return std::move(*value);
}

}  // namespace

bool huge_module(const llvm::Module& m) { return m.getInstructionCount() > kHugeModule; }

namespace {

// The O2 IR pipeline with these tuning options.
void run_pipeline(llvm::Module& m, llvm::TargetMachine& tm, const llvm::PipelineTuningOptions& tuning) {
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
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2).run(m, mam);
}

}  // namespace

TargetInfo target_info(llvm::TargetMachine& tm) {
  // The vector registers as the vectorizer's cost model sees them (it asks per function).
  llvm::LLVMContext ctx;
  llvm::Module m("probe", ctx);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), false),
                                   llvm::Function::ExternalLinkage, "probe", m);
  TargetInfo target;
  {
    llvm::TargetTransformInfo tti = tm.getTargetTransformInfo(*f);
    target.vector_bits = static_cast<unsigned>(
        tti.getRegisterBitWidth(llvm::TargetTransformInfo::RGK_FixedWidthVector).getFixedValue());
    target.vector_registers = tti.getNumberOfRegisters(tti.getRegisterClassForType(/*Vector=*/true));
  }
  // The widest vectors the CPU has, whatever width LLVM's tuning prefers for loops (256 bits on
  // most AVX-512 CPUs): the batch entry computes that many points at a time, and the matrix
  // products of large tensor kernels use them (see wide_tensor_functions).
  f->addFnAttr("prefer-vector-width", "512");
  llvm::TargetTransformInfo wide = tm.getTargetTransformInfo(*f);
  target.batch_vector_bits = static_cast<unsigned>(
      wide.getRegisterBitWidth(llvm::TargetTransformInfo::RGK_FixedWidthVector).getFixedValue());
  target.wide_vector_bits = target.batch_vector_bits;
  target.avx512 = tm.getTargetTriple().isX86() && tm.getMCSubtargetInfo()->checkFeatures("+avx512f");
  return target;
}

TargetInfo kernel_target(const KernelSpec& spec, const TargetInfo& host) {
  TargetInfo t = host;
  if (!is_tensor_kernel(spec) || !wide_vectors_pay(spec)) t.wide_vector_bits = std::min(host.vector_bits, host.wide_vector_bits);
  return t;
}

std::unique_ptr<llvm::Module> build_module(llvm::LLVMContext& ctx, const KernelSpec& spec, llvm::TargetMachine& tm,
                                           const TargetInfo& target, bool optimize,
                                           const std::function<void(llvm::Module&)>& edit) {
  bool tensor = is_tensor_kernel(spec);
  TargetInfo shape = kernel_target(spec, target);
  std::unique_ptr<llvm::Module> m = codegen(ctx, spec, shape);
  m->setDataLayout(tm.createDataLayout());
  m->setTargetTriple(tm.getTargetTriple().str());
  if (edit) edit(*m);
  if (shape.wide_vector_bits > shape.vector_bits) {
    // The loop nests were shaped for the widest vectors (TensorBody's register tiles): let
    // the vectorizer and the backend use them too.
    std::string bits = std::to_string(target.wide_vector_bits);
    for (llvm::Function& f : *m)
      if (!f.isDeclaration()) {
        f.addFnAttr("prefer-vector-width", bits);
        f.addFnAttr("min-legal-vector-width", bits);
      }
  }
  if (!optimize) return m;
  llvm::PipelineTuningOptions tuning;
  // The loop nests of a tensor kernel, for the host's vector width; the batch loop of a scalar
  // kernel when it is not already W rows at a time (see calls_libm for when it is left alone).
  tuning.LoopVectorization = !huge_module(*m) && (tensor || (!calls_libm(*m) && batch_lanes(spec, target) == 1));
  tuning.SLPVectorization = false;  // most of the pipeline's time on big bodies (bench/choices.md)
  // Tensor kernels: no general loop unrolling. It quadrupled the code of a small training
  // step and doubled its compile time (bench/choices.md) for no measured speed; the
  // matrix product marks the one loop that needs it (its vectorized register tile).
  tuning.LoopUnrolling = !tensor;
  run_pipeline(*m, tm, tuning);
  return m;
}

namespace {

const Layout& process_layout() {
  static const Layout l = [] {
    Layout l;
    // Registering the native target is process-wide and idempotent: done once, never per Jit.
    if (llvm::InitializeNativeTarget() || llvm::InitializeNativeTargetAsmPrinter()) {
      l.error = "cannot initialize the native target";
      return l;
    }
    // A target machine for the plain CPU has the layout without parsing the host's features.
    llvm::orc::JITTargetMachineBuilder plain{llvm::Triple(llvm::sys::getProcessTriple())};
    auto tm = plain.createTargetMachine();
    if (!tm) {
      l.error = "creating the target machine: " + llvm::toString(tm.takeError());
      return l;
    }
    l.layout = (*tm)->createDataLayout();
    return l;
  }();
  return l;
}

const Host& host() {
  static const Host h = [] {
    Host h;
    if (!process_layout().layout) {
      h.error = process_layout().error;
      return h;
    }
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) {
      h.error = "detecting the host: " + llvm::toString(jtmb.takeError());
      return h;
    }
    jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    h.jtmb = std::move(*jtmb);
    return h;
  }();
  return h;
}

const llvm::orc::JITTargetMachineBuilder& detected_host() {
  if (!host().jtmb) throw std::runtime_error("jit: " + host().error);
  return *host().jtmb;
}

// A split kernel's values crossing from one part to another wait in a buffer on the stack of
// this many elements at most (64 KB of f64); a kernel that needs more is not split.
constexpr std::size_t kMaxSplitSlots = 8192;
// Parts per module (see compile_split).
constexpr std::size_t kSplitModuleParts = 8;

// A split kernel's objects (its entry's, then its parts' modules') are one record in the object
// cache: this magic, the number of parts, the number of objects, each length, then the objects.
// An object file starts with ELF's magic, so a record is never mistaken for one.
constexpr char kSplitMagic[8] = {'g', 'r', 'a', 'd', 'c', 's', 'p', 'l'};

std::string pack_objects(std::size_t parts, const std::vector<std::unique_ptr<llvm::MemoryBuffer>>& objects) {
  std::string record(kSplitMagic, sizeof kSplitMagic);
  auto put = [&](std::uint64_t v) { record.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(parts);
  put(objects.size());
  for (const auto& o : objects) put(o->getBufferSize());
  for (const auto& o : objects) record.append(o->getBufferStart(), o->getBufferSize());
  return record;
}

// The objects of a record, or nullopt when it is one object (or a malformed record); `parts` is
// set to the kernel's number of parts.
std::optional<std::vector<std::string_view>> unpack_objects(std::string_view record, std::size_t& parts) {
  if (record.size() < sizeof kSplitMagic + 8 || record.substr(0, sizeof kSplitMagic) != std::string_view(kSplitMagic, sizeof kSplitMagic))
    return std::nullopt;
  std::size_t at = sizeof kSplitMagic;
  auto get = [&](std::uint64_t& v) {
    if (record.size() - at < sizeof v) return false;
    std::memcpy(&v, record.data() + at, sizeof v);
    at += sizeof v;
    return true;
  };
  std::uint64_t count = 0, part_count = 0;
  if (!get(part_count) || !get(count) || count > (record.size() - at) / 8) return std::nullopt;
  std::vector<std::uint64_t> lengths(count);
  for (std::uint64_t& l : lengths)
    if (!get(l)) return std::nullopt;
  std::vector<std::string_view> objects;
  for (std::uint64_t l : lengths) {
    if (l > record.size() - at) return std::nullopt;
    objects.push_back(record.substr(at, l));
    at += l;
  }
  if (at != record.size()) return std::nullopt;
  parts = static_cast<std::size_t>(part_count);
  return objects;
}

// The objects of a split kernel: its entry module's (item 0) and each part's, every module
// built, optimized (with `optimize`, the IR pipeline only: huge kernels use the -O0 backend in
// both tiers) and compiled by FastISel on one of `threads` threads, each with its own target
// machine, each module in its own context (made, compiled and freed on that thread).
std::vector<std::unique_ptr<llvm::MemoryBuffer>> compile_split(const llvm::orc::JITTargetMachineBuilder& jtmb,
                                                               const KernelSpec& spec, const BodySplit& split,
                                                               const TargetInfo& target, bool optimize,
                                                               unsigned threads) {
  // Modules of several parts: a module's fixed costs (its context, the backend's pass pipeline,
  // an object to link) stay small next to its code.
  const std::size_t per_module = kSplitModuleParts;
  const std::size_t modules = (split.parts() + per_module - 1) / per_module;
  const std::size_t items = modules + 1;
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects(items);
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto work = [&] {
    try {
      llvm::orc::JITTargetMachineBuilder b = jtmb;
      b.setCodeGenOptLevel(llvm::CodeGenOptLevel::None);
      std::unique_ptr<llvm::TargetMachine> tm = unwrap(b.createTargetMachine(), "creating the target machine");
      for (std::size_t i; (i = next++) < items;) {
        auto ctx = std::make_unique<llvm::LLVMContext>();
        std::unique_ptr<llvm::Module> m =
            i == 0 ? codegen_split(*ctx, spec, split, target)
                   : codegen_parts(*ctx, spec, split, (i - 1) * per_module, std::min(i * per_module, split.parts()), target);
        m->setDataLayout(tm->createDataLayout());
        m->setTargetTriple(tm->getTargetTriple().str());
        if (optimize) {
          llvm::PipelineTuningOptions tuning;
          tuning.LoopVectorization = false;  // straight-line parts; the entry's loop calls the body
          tuning.SLPVectorization = false;
          run_pipeline(*m, *tm, tuning);
        }
        auto object = llvm::orc::SimpleCompiler(*tm)(*m);
        if (!object) fail("compiling a part of a split kernel", object.takeError());
        objects[i] = std::move(*object);
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      next = items;
    }
  };
  std::vector<std::thread> helpers;
  for (unsigned t = 1; t < std::min<std::size_t>(threads, items); ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  if (error) std::rethrow_exception(error);
  return objects;
}

// The host's vector registers, probed once per process (building the subtarget behind the cost
// model took half of Jit::create; a compile that finds its object in the cache never needs it).
const TargetInfo& host_target(llvm::TargetMachine& tm) {
  static const TargetInfo t = target_info(tm);
  return t;
}

}  // namespace

struct Jit::Impl {
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  Tier tier;  // of compile(spec)
  unsigned threads = 1;
  bool contract = true;
  std::unique_ptr<ThreadPool> pool;  // with Options::threads > 1
  mutable std::mutex mutex;  // compile() may be called from several threads
  std::uint64_t next_id = 0;
  std::unique_ptr<ObjectCache> cache;  // with Options::cache_dir
  std::string cache_context;  // the key's part that is the Jit's: target, versions (compile() adds the tier)
  std::optional<CacheKey> to_store;  // the kernel being compiled, whose object goes to the cache
  CacheStats stats;
  unsigned widest_bits = 0;  // the widest vectors of the kernels compiled so far (vectors())
  std::size_t split_above = 0, split_ops = 0;  // Options'
  std::optional<llvm::orc::JITTargetMachineBuilder> compile_jtmb;  // the compile layer's
  unsigned compile_threads = 1;

  // Creates the LLJIT and defines gradc's symbols in it: when the Jit is created without a cache,
  // else when the first kernel is compiled, with the data layout stored with its cached object if
  // it is one (then no target machine is made at all: initializing the native target and creating
  // one to learn the layout took 0.2 ms of a cached `gradc eval`; bench/process.md).
  void start(const llvm::DataLayout* cached_layout);

  // The host machine, for the IR pipeline's cost model, and the shape of the loop nests: made
  // when the first module is built (under the mutex), not for objects from the cache.
  llvm::TargetMachine& machine() {
    if (!tm_) tm_ = unwrap(llvm::orc::JITTargetMachineBuilder(detected_host()).createTargetMachine(), "creating the target machine");
    return *tm_;
  }
  TargetInfo target() {
    TargetInfo t = host_target(machine());
    t.threads = threads;
    t.contract = contract;
    return t;
  }

  std::unique_ptr<llvm::Module> build(llvm::LLVMContext& ctx, const KernelSpec& spec, Tier t) {
    if (t == Tier::Optimized) return build_module(ctx, spec, machine(), target(), true);
    std::unique_ptr<llvm::Module> m = build_module(ctx, spec, machine(), fast_target(), false);
    m->addModuleFlag(llvm::Module::Warning, kFastTierFlag, 1);
    return m;
  }

  TargetInfo fast_target() {
    // No contraction: FastISel would leave most a*b + c unfused anyway, but not all (a block
    // it hands to SelectionDAG may fuse), and the fast tier's bits must not depend on that.
    TargetInfo plain = target();
    plain.contract = false;
    // The scalar batch loop: the vector batch made the lecture kernel's fast compile
    // several times slower (bench/batch.md), and the fast tier runs small batches
    // (TieredKernel moves to the optimized tier before a large one).
    plain.batch_vector_bits = 0;
    return plain;
  }

  // A huge scalar kernel split into parts (compile_split), its objects added to dylib and stored
  // in the cache under `key`.
  void add_split(llvm::orc::JITDylib& dylib, const KernelSpec& spec, const BodySplit& split, Tier t,
                 const std::optional<CacheKey>& key) {
    TargetInfo shape = t == Tier::Optimized ? target() : fast_target();
    shape.batch_vector_bits = 0;  // the batch entry calls the body once per row
    llvm::orc::JITTargetMachineBuilder b = *compile_jtmb;  // LLJIT's, plus the host (as TieredCompiler)
    b.setCPU(detected_host().getCPU());
    b.addFeatures(detected_host().getFeatures().getFeatures());
    auto objects = compile_split(b, spec, split, shape, t == Tier::Optimized, compile_threads);
    if (key && cache->store(*key, pack_objects(split.parts(), objects), lljit->getDataLayout().getStringRepresentation()))
      ++stats.stores;
    for (auto& o : objects)
      if (llvm::Error err = lljit->addObjectFile(dylib, std::move(o))) fail("adding a split kernel's object", std::move(err));
  }

 private:
  std::unique_ptr<llvm::TargetMachine> tm_;
};

std::unique_ptr<Jit> Jit::create(Options opts) {
  auto impl = std::make_unique<Impl>();
  impl->tier = opts.optimize ? Tier::Optimized : Tier::Fast;
  impl->contract = opts.contract;
  impl->split_above = opts.split_above;
  impl->split_ops = opts.split_ops;
  impl->compile_threads = opts.compile_threads ? opts.compile_threads : std::max(1u, std::thread::hardware_concurrency());
  if (opts.threads > 1) {
    impl->pool = std::make_unique<ThreadPool>(opts.threads);
    impl->threads = static_cast<unsigned>(opts.threads);
  }
  if (!opts.cache_dir.empty()) {
    impl->cache = std::make_unique<ObjectCache>(opts.cache_dir);
    // What the target machine is made from: the host's vector registers (TargetInfo) follow from
    // it. The CPU is named by its cpuid words where the C library has them (host_cpu_signature),
    // which LLVM's detected CPU and features are a function of, without detecting them.
    std::string cpu = host_cpu_signature();
    if (cpu.empty()) cpu = detected_host().getCPU() + " " + detected_host().getFeatures().getString();
    impl->cache_context = llvm::sys::getProcessTriple() + " " + cpu + " LLVM " LLVM_VERSION_STRING " " + kGradcVersion +
                          " " + runtime_build_id();
  } else {
    impl->start(nullptr);  // set-up errors here, as documented
  }
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

void Jit::Impl::start(const llvm::DataLayout* cached_layout) {
  const llvm::DataLayout* layout = cached_layout;
  if (!layout) {
    const Layout& l = process_layout();
    if (!l.layout) throw std::runtime_error("jit: " + l.error);
    layout = &*l.layout;
  }
  auto make_compiler = [this](llvm::orc::JITTargetMachineBuilder b)
      -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
    // As LLJIT set it up (the small code model and PIC for its linker): split kernels' parts are
    // compiled outside the compile layer (the large code model that a plain JIT target machine
    // defaults to makes FastISel give every block to SelectionDAG).
    compile_jtmb = b;
    // The mangling options come from the target options, which are JITTargetMachineBuilder's
    // defaults here (no target machine needed to know them).
    auto mangling = llvm::orc::irManglingOptionsFromTargetOptions(b.getOptions());
    return std::make_unique<TieredCompiler>(std::move(b), mangling);
  };
  // The triple alone: the compiler detects the CPU when it first compiles a module.
  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple(llvm::sys::getProcessTriple())};
  // LLJIT links the process's symbols (libm's tan, log1p, ...) into the main JITDylib by default.
  // No platform: kernels have no static initializers, atexit handlers or thread-locals, and the
  // default (GenericLLVMIRPlatform) took a third of LLJIT's construction (bench/process.md).
  lljit = unwrap(llvm::orc::LLJITBuilder()
                     .setJITTargetMachineBuilder(std::move(jtmb))
                     .setDataLayout(*layout)
                     .setCompileFunctionCreator(make_compiler)
                     .setPlatformSetUp(llvm::orc::setUpInactivePlatform)
                     .create(),
                 "creating the JIT");
  llvm::orc::LLJIT& j = *lljit;
  // gradc's special functions, which generated code calls by name.
  llvm::orc::SymbolMap symbols;
  auto callable = llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable;
  symbols[j.mangleAndIntern(kDigammaSymbol)] = {llvm::orc::ExecutorAddr::fromPtr(&gradc_digamma), callable};
  symbols[j.mangleAndIntern(kPolygammaSymbol)] = {llvm::orc::ExecutorAddr::fromPtr(&gradc_polygamma), callable};
  if (pool) {
    symbols[j.mangleAndIntern("gradc_parallel")] = {llvm::orc::ExecutorAddr::fromPtr(&gradc_parallel), callable};
    symbols[j.mangleAndIntern("gradc_pool")] = {llvm::orc::ExecutorAddr::fromPtr(pool.get()),
                                                llvm::JITSymbolFlags::Exported};
  }
  if (llvm::Error err = j.getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols))))
    fail("defining gradc's symbols", std::move(err));
  j.getMainJITDylib().addGenerator(std::make_unique<SleefGenerator>(j.getDataLayout().getGlobalPrefix()));
  if (cache) {
    // Every object the compile layer makes passes here on its way to the linker.
    j.getObjTransformLayer().setTransform(
        [this](std::unique_ptr<llvm::MemoryBuffer> obj) -> llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> {
          if (to_store && cache->store(*to_store, obj->getBuffer(), lljit->getDataLayout().getStringRepresentation()))
            ++stats.stores;
          to_store.reset();
          return obj;
        });
  }
}

Jit::Jit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jit::~Jit() = default;

Kernel Jit::compile(const KernelSpec& spec) { return compile(spec, impl_->tier); }

Kernel Jit::compile(const KernelSpec& spec, Tier tier) {
  std::lock_guard lock(impl_->mutex);
  // Each kernel has its own JITDylib (which sees the main one's symbols), so every kernel can
  // have the same symbol: its object code does not depend on the process, and the object cache
  // can hand it to another. The name is no C library function's (say, a user's `sincos`, which
  // the backend may call for sin and cos).
  KernelSpec unique = spec;
  unique.name = "gradc.kernel";
  const std::string& symbol = unique.name;
  std::optional<CacheKey> key;
  std::optional<std::string> cached;
  std::optional<llvm::DataLayout> cached_layout;
  if (impl_->cache) {
    TargetInfo options;  // the key's part of the target: the host's is in cache_context
    options.threads = impl_->threads;
    options.contract = impl_->contract;
    key = cache_key(unique, options, impl_->cache_context + (tier == Tier::Optimized ? " O2" : " O0"));
    std::string layout;
    cached = impl_->cache->load(*key, &layout);
    if (cached && !impl_->lljit) {
      // The key names the triple and LLVM's version, which the layout is a function of.
      auto parsed = llvm::DataLayout::parse(layout);
      if (parsed && !layout.empty()) cached_layout = std::move(*parsed);
      else llvm::consumeError(parsed.takeError()), cached.reset();
    }
    ++(cached ? impl_->stats.hits : impl_->stats.misses);
  }
  if (!impl_->lljit) impl_->start(cached_layout ? &*cached_layout : nullptr);
  llvm::orc::LLJIT& j = *impl_->lljit;
  auto made = j.createJITDylib("gradc.k" + std::to_string(impl_->next_id++));
  if (!made) fail("creating the kernel's JITDylib", made.takeError());
  llvm::orc::JITDylib& dylib = *made;
  dylib.addToLinkOrder(j.getMainJITDylib());
  Kernel k;
  if (cached) {
    auto objects = unpack_objects(*cached, k.parts);
    for (std::string_view o : objects ? *objects : std::vector<std::string_view>{*cached})
      if (llvm::Error err = j.addObjectFile(dylib, llvm::MemoryBuffer::getMemBufferCopy(o, "gradc.kernel.o")))
        fail("adding the cached object", std::move(err));
  } else if (auto split = BodySplit::make(unique, impl_->split_above, impl_->split_ops, kMaxSplitSlots)) {
    impl_->add_split(dylib, unique, *split, tier, key);
    k.parts = split->parts();
  } else {
    auto ctx = std::make_unique<llvm::LLVMContext>();
    std::unique_ptr<llvm::Module> m = impl_->build(*ctx, unique, tier);
    if (llvm::Error err = j.addIRModule(dylib, llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
      fail("adding the module", std::move(err));
    impl_->to_store = key;  // compiled (and stored) by the first lookup
  }

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
  // Its widest vectors: the batch entry's rows at a time (the optimized tier's), or the matrix
  // products' tiles.
  TargetInfo host = impl_->target();
  if (tier != Tier::Optimized) host.batch_vector_bits = 0;  // fast_target's scalar batch loop
  unsigned lanes = batch_lanes(spec, host);
  unsigned bits = is_tensor_kernel(spec) ? std::max(host.vector_bits, kernel_target(spec, host).wide_vector_bits)
                  : lanes > 1            ? lanes * (spec.dtype == DType::F32 ? 32u : 64u)
                                         : host.vector_bits;
  impl_->widest_bits = std::max(impl_->widest_bits, bits);
  return k;
}

std::string Jit::llvm_ir(const KernelSpec& spec) {
  std::lock_guard lock(impl_->mutex);
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = impl_->build(ctx, spec, impl_->tier);
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
  std::string features = detected_host().getFeatures().getString();
  auto has = [&](const char* f) { return (',' + features + ',').find(std::string(",+") + f + ',') != std::string::npos; };
  std::string isa = "scalar";
  for (const char* f : {"avx512f", "avx2", "avx", "sse4.2", "sse2", "sve2", "sve", "neon"})
    if (has(f)) {
      isa = f;
      break;
    }
  if (isa == "avx512f") isa = "avx512";
  std::lock_guard lock(impl_->mutex);
  return Vectors{isa, impl_->widest_bits ? impl_->widest_bits : impl_->target().vector_bits};
}

TargetInfo Jit::target() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->target();
}

JitHost jit_host() {
  return JitHost{LLVM_VERSION_STRING, llvm::sys::getProcessTriple(), llvm::sys::getHostCPUName().str()};
}

}  // namespace gradc
