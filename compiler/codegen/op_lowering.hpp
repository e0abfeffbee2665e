// OpLowering (the scalar lowering of the elementwise ops) and BodyEmitter (scalar kernels).
#pragma once

#include "compiler/codegen/detail.hpp"

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

namespace gradc::codegen_detail {

/// The lowering of the elementwise ops on scalar values of the element type (shared by the
/// straight-line body and the loop bodies of tensor kernels).
class OpLowering {
 public:
  OpLowering(llvm::Module& m, llvm::IRBuilder<>& b, DType dtype)
      : m_(m), b_(b), dtype_(dtype), t_(dtype == DType::F32 ? b.getFloatTy() : b.getDoubleTy()) {}

 protected:
  // op(a, c) for an elementwise op (c is null for a unary one): the table in op_lowering.cpp.
  llvm::Value* elementwise(const Node* n, llvm::Value* a, llvm::Value* c);

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

  llvm::FunctionCallee libm(const char* name);
  llvm::Value* special(const char* name, std::initializer_list<llvm::Value*> args);

  // Scalar constants (Const nodes): immediates, or past kMaxImmediates loads from a table.
  // Thousands of distinct constants as immediates make the backend quadratic (its constant
  // pool is searched linearly per constant): the table is external and writable so that LLVM
  // cannot fold the loads back.
  void make_constant_table(const std::vector<const Node*>& order, const std::string& name);
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

  void emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out);

 private:
  llvm::Value* lower(const Node* n);

  std::unordered_map<const Node*, llvm::Value*> values_;
};

}  // namespace gradc::codegen_detail
