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
// The parts live in compiler/codegen/: op_lowering.hpp (the scalar ops, scalar kernels),
// tensor_plan.hpp (the LLVM-free plan: fusion, buffers, last uses) and tensor_body.hpp with
// tensor_emit.cpp, tensor_loops.cpp and matmul.cpp (the tensor kernels' LLVM).
#include "compiler/codegen.hpp"
#include "compiler/codegen/op_lowering.hpp"
#include "compiler/codegen/tensor_body.hpp"

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <stdexcept>
#include <string>

namespace gradc {
using namespace codegen_detail;
namespace {

// Bodies up to this many instructions are inlined into both entry points; beyond, a call per
// row costs nothing next to the body, and one copy halves the backend's work.
constexpr unsigned kInlineLimit = 5000;

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
