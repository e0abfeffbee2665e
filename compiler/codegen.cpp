// LLVM code generation. A scalar kernel (every node rank 0) is straight-line code: every
// reachable node becomes one SSA value, emitted in id (topological) order, so the walk is a loop
// (a 250,000-node chain needs no recursion) and a shared node is computed once. Each op's
// lowering copies its eval function in ops.cpp, including which operand a comparison returns
// for nan, because the JIT is tested against the interpreter.
//
// A tensor kernel is a sequence of loop nests, one per materialized node, in id order (see
// compiler/codegen/tensor_plan.cpp for the rules). No walk recurses over the graph: the
// analysis and the emission are loops over the topological order, and the fused expression of
// one element is evaluated with an explicit stack.
//
// The batch entry of a scalar kernel computes V*W rows at a time (W = batch_lanes, V vectors per
// iteration: kBatchVectors): the body once more on vectors of V*W lanes, one lane per row, short
// rows read and written as whole vectors and shuffled, long ones by gathers and scatters
// (BodyEmitter::load_input). The last rows (fewer than V*W) go through the same
// vector code on a zero-padded copy, so a row's results do not depend on where it is in the batch.
// The parts live in compiler/codegen/: op_lowering.hpp (the scalar ops, scalar kernels),
// tensor_plan.hpp (the LLVM-free plan: fusion, buffers, last uses) and tensor_body.hpp with
// tensor_emit.cpp, tensor_loops.cpp and matmul.cpp (the tensor kernels' LLVM).
#include "compiler/codegen.hpp"
#include "compiler/codegen/op_lowering.hpp"
#include "compiler/codegen/body_split.hpp"
#include "compiler/codegen/tensor_body.hpp"

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <stdexcept>
#include <string>
#include <tuple>

namespace gradc {
using namespace codegen_detail;
namespace {

// Bodies up to this many instructions are inlined into both entry points; beyond, a call per
// row costs nothing next to the body, and one copy halves the backend's work.
constexpr unsigned kInlineLimit = 5000;

// The batch entry's vectors per iteration: each value is this many vectors, each SLEEF call
// this many independent calls in a row, which the CPU overlaps (one call is a long dependent
// chain; lecture function, f64 value: 12.9 ns per point with 1 vector, 7.5 with 4). Bodies
// beyond kSmallBody instructions take 1: the split and joined vectors cost compile time
// (2,002-node function: 120 ms with 1, 380 with 4), and a long body has independent calls of
// its own to overlap.
constexpr unsigned kBatchVectors = 4;
constexpr unsigned kSmallBody = 400;
// How many iterations ahead the batch entry prefetches its rows.
constexpr std::uint64_t kPrefetchAhead = 16;

std::unique_ptr<llvm::Module> emit_module(llvm::LLVMContext& ctx, const KernelSpec& spec, const TargetInfo& target,
                                          const BodySplit* split);

void check_name(const std::string& name, DType dtype) {
  if (name.empty()) throw std::invalid_argument("codegen: empty kernel name");
  if (name.starts_with("llvm."))
    throw std::invalid_argument("codegen: kernel name '" + name + "' is reserved by LLVM");
  if (is_declared_function(name, dtype))
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

void verify(const llvm::Module& m) {
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (llvm::verifyModule(m, &os)) throw std::runtime_error("codegen: invalid LLVM IR: " + os.str());
}

// void name_batch(const T* in, T* out, int64_t rows), W = width * vectors rows per iteration:
//   for (r = 0; r < rows; r += W) {
//     full = rows - r >= W;
//     src = full ? in + r*nin : pad_in (rows - r rows copied there, the rest zeros);
//     dst = full ? out + r*nout : pad_out;
//     vector body (src, dst);
//     if (!full) copy rows - r rows from pad_out to out + r*nout;
//   }
void emit_vector_batch(llvm::Module& m, llvm::IRBuilder<>& b, const KernelSpec& spec, llvm::Function* batch,
                       unsigned width, unsigned vectors, bool avx512) {
  const unsigned lanes = width * vectors;
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* elem = spec.dtype == DType::F32 ? b.getFloatTy() : b.getDoubleTy();
  const std::uint64_t bytes = spec.dtype == DType::F32 ? 4 : 8;
  const auto nin = static_cast<std::uint64_t>(element_count(spec.inputs));
  const auto nout = static_cast<std::uint64_t>(element_count(spec.outputs));
  // Vectors wider than the host's preferred width stay whole (LLVM would split a <8 x double>
  // argument of a SLEEF function into two halves otherwise, which is not SLEEF's ABI).
  batch->addFnAttr("min-legal-vector-width", std::to_string(width * bytes * 8));
  llvm::Value* in = batch->getArg(0);
  llvm::Value* out = batch->getArg(1);
  llvm::Value* rows = batch->getArg(2);
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", batch);
  auto* loop = llvm::BasicBlock::Create(ctx, "rows", batch);
  auto* pad = llvm::BasicBlock::Create(ctx, "pad", batch);
  auto* body = llvm::BasicBlock::Create(ctx, "body", batch);
  auto* unpad = llvm::BasicBlock::Create(ctx, "unpad", batch);
  auto* next_block = llvm::BasicBlock::Create(ctx, "next", batch);
  auto* done = llvm::BasicBlock::Create(ctx, "done", batch);
  b.SetInsertPoint(entry);
  llvm::Align align(64);
  auto* pad_in = b.CreateAlloca(llvm::ArrayType::get(elem, std::max<std::uint64_t>(nin * lanes, 1)), nullptr, "pad_in");
  pad_in->setAlignment(align);
  auto* pad_out = b.CreateAlloca(llvm::ArrayType::get(elem, nout * lanes), nullptr, "pad_out");
  pad_out->setAlignment(align);
  b.CreateCondBr(b.CreateICmpSGT(rows, b.getInt64(0)), loop, done);

  b.SetInsertPoint(loop);
  llvm::PHINode* r = b.CreatePHI(i64, 2, "r");
  r->addIncoming(b.getInt64(0), entry);
  llvm::Value* left = b.CreateSub(rows, r, "left");
  llvm::Value* full = b.CreateICmpSGE(left, b.getInt64(lanes), "full");
  llvm::Value* row_in = b.CreateInBoundsGEP(elem, in, b.CreateMul(r, b.getInt64(nin)));
  llvm::Value* row_out = b.CreateInBoundsGEP(elem, out, b.CreateMul(r, b.getInt64(nout)));
  // The rows kPrefetchAhead iterations on, one prefetch per cache line (for writing: out):
  // the hardware prefetcher alone left the loads of a 10^6-row batch waiting on memory
  // (lecture function, f64 value: 7.8 -> 7.4 ns per point, bench/batch.md).
  llvm::Function* prefetch = llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::prefetch, {in->getType()});
  for (auto [p, count, write] : {std::tuple{row_in, nin, 0}, std::tuple{row_out, nout, 1}})
    for (std::uint64_t at = 0; at < lanes * count * bytes; at += 64)
      b.CreateCall(prefetch, {b.CreateGEP(b.getInt8Ty(), p, b.getInt64(kPrefetchAhead * lanes * count * bytes + at)),
                              b.getInt32(write), b.getInt32(3), b.getInt32(1)});
  b.CreateCondBr(full, body, pad);

  b.SetInsertPoint(pad);
  if (nin > 0) {
    b.CreateMemSet(pad_in, b.getInt8(0), nin * lanes * bytes, align);
    b.CreateMemCpy(pad_in, align, row_in, llvm::Align(bytes), b.CreateMul(left, b.getInt64(nin * bytes)));
  }
  b.CreateBr(body);

  b.SetInsertPoint(body);
  llvm::PHINode* src = b.CreatePHI(in->getType(), 2, "src");
  src->addIncoming(row_in, loop);
  src->addIncoming(pad_in, pad);
  llvm::PHINode* dst = b.CreatePHI(out->getType(), 2, "dst");
  dst->addIncoming(row_out, loop);
  dst->addIncoming(pad_out, pad);
  BodyEmitter(m, b, spec.dtype, lanes, width, avx512).emit(spec, src, dst);
  b.CreateCondBr(full, next_block, unpad);

  b.SetInsertPoint(unpad);
  b.CreateMemCpy(row_out, llvm::Align(bytes), pad_out, align, b.CreateMul(left, b.getInt64(nout * bytes)));
  b.CreateBr(next_block);

  b.SetInsertPoint(next_block);
  llvm::Value* next = b.CreateNSWAdd(r, b.getInt64(lanes), "r.next");
  r->addIncoming(next, next_block);
  b.CreateCondBr(b.CreateICmpSLT(next, rows), loop, done);
  b.SetInsertPoint(done);
  b.CreateRetVoid();
}

}  // namespace

unsigned batch_lanes(const KernelSpec& spec, const TargetInfo& target) {
  unsigned bits = target.batch_vector_bits;
  if (!spec.batch || (bits != 128 && bits != 256 && bits != 512) || is_tensor_kernel(spec)) return 1;
  return bits / (spec.dtype == DType::F32 ? 32 : 64);
}

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

std::string split_part_name(const std::string& kernel, std::size_t part) {
  return kernel + ".part" + std::to_string(part);
}

std::unique_ptr<llvm::Module> codegen_parts(llvm::LLVMContext& ctx, const KernelSpec& spec, const BodySplit& split,
                                            std::size_t first, std::size_t last, const TargetInfo& target) {
  check_name(spec.name, spec.dtype);
  auto m = std::make_unique<llvm::Module>(split_part_name(spec.name, first), ctx);
  llvm::IRBuilder<> b(ctx);
  llvm::FastMathFlags fmf;
  fmf.setAllowContract(target.contract);
  b.setFastMathFlags(fmf);
  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  auto* type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr}, false);
  for (std::size_t p = first; p < last; ++p) {
    const std::string name = split_part_name(spec.name, p);
    llvm::Function* f = define(*m, type, llvm::Function::ExternalLinkage, name);
    f->addParamAttr(1, llvm::Attribute::NoAlias);  // the scratch buffer
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
    BodyEmitter(*m, b, spec.dtype).emit_part(spec, split, p, f->getArg(0), f->getArg(1), name);
    b.CreateRetVoid();
  }
  verify(*m);
  return m;
}

std::unique_ptr<llvm::Module> codegen_split(llvm::LLVMContext& ctx, const KernelSpec& spec, const BodySplit& split,
                                            const TargetInfo& target) {
  return emit_module(ctx, spec, target, &split);
}

std::unique_ptr<llvm::Module> codegen(llvm::LLVMContext& ctx, const KernelSpec& spec, const TargetInfo& target) {
  return emit_module(ctx, spec, target, nullptr);
}

namespace {

std::unique_ptr<llvm::Module> emit_module(llvm::LLVMContext& ctx, const KernelSpec& spec, const TargetInfo& target,
                                          const BodySplit* split) {
  check_name(spec.name, spec.dtype);
  for (const Node* v : spec.inputs)
    if (v->dtype == DType::F32 && spec.dtype != DType::F32)
      throw std::logic_error("codegen: the f32 variable '" + v->name + "' in an f64 kernel");
  bool tensor = is_tensor_kernel(spec);
  auto m = std::make_unique<llvm::Module>(spec.name, ctx);
  llvm::IRBuilder<> b(ctx);
  // Only `contract` (fma formation): nan and inf must survive, they report domain errors.
  llvm::FastMathFlags fmf;
  fmf.setAllowContract(target.contract);
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
  if (split) {
    std::vector<llvm::Function*> parts;
    for (std::size_t p = 0; p < split->parts(); ++p)
      parts.push_back(define(*m, body_type, llvm::Function::ExternalLinkage, split_part_name(spec.name, p)));
    BodyEmitter(*m, b, spec.dtype).emit_split(spec, *split, parts, body->getArg(0), body->getArg(1));
  } else if (tensor) {
    // Tensor kernels read `in` and write `out` in separate loops: they may not overlap.
    body->addParamAttr(0, llvm::Attribute::NoAlias);
    body->addParamAttr(1, llvm::Attribute::NoAlias);
    TensorBody(*m, b, spec.dtype, body, target).emit(spec, body->getArg(0), body->getArg(1));
  } else {
    BodyEmitter(*m, b, spec.dtype).emit(spec, body->getArg(0), body->getArg(1));
  }
  b.CreateRetVoid();
  // A split body stays one call: its parts are scalar code.
  body->addFnAttr(!split && body->getInstructionCount() <= kInlineLimit ? llvm::Attribute::AlwaysInline
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

  llvm::Function* batch = define(*m, llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64}, false),
                                 llvm::Function::ExternalLinkage, spec.name + "_batch");
  // W rows at a time, unless the body is too large to copy (then a call per row costs nothing
  // next to it, and a second copy would double the compile time of a huge kernel).
  unsigned lanes = batch_lanes(spec, target);
  if (lanes > 1 && body->hasFnAttribute(llvm::Attribute::AlwaysInline)) {
    emit_vector_batch(*m, b, spec, batch, lanes, body->getInstructionCount() <= kSmallBody ? kBatchVectors : 1,
                      target.avx512);
    verify(*m);
    return m;
  }

  // void name_batch(const T* in, T* out, int64_t rows): for (r = 0; r < rows; ++r)
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

}  // namespace

}  // namespace gradc
