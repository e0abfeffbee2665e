// OpLowering (the lowering of the elementwise ops, on scalars or on vectors of W points) and
// BodyEmitter (the body of a scalar kernel: one point, or W points for the batch entry).
#pragma once

#include "compiler/codegen/body_split.hpp"
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
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace gradc::codegen_detail {

/// The lowering of the elementwise ops on values of the element type (shared by the
/// straight-line body and the loop bodies of tensor kernels), or with lanes > 1 on vectors of
/// that many points (the batch entry of a scalar kernel): the same instructions on vectors, and
/// the transcendental functions gradc's own (vector_math.hpp: sin, cos, log, tanh) or SLEEF's
/// (kVectorMath in op_lowering.cpp).
class OpLowering {
 public:
  // call_lanes: the width of SLEEF's functions, lanes a multiple of it (0: lanes); avx512: see
  // TargetInfo::avx512.
  OpLowering(llvm::Module& m, llvm::IRBuilder<>& b, DType dtype, unsigned lanes = 1, unsigned call_lanes = 0,
             bool avx512 = false)
      : m_(m),
        b_(b),
        dtype_(dtype),
        lanes_(lanes),
        call_lanes_(call_lanes ? call_lanes : lanes),
        avx512_(avx512),
        s_(dtype == DType::F32 ? b.getFloatTy() : b.getDoubleTy()),
        t_(lanes > 1 ? static_cast<llvm::Type*>(llvm::FixedVectorType::get(s_, lanes)) : s_) {}

 protected:
  // The vectors side by side (their count a power of 2, their lengths equal): one vector.
  llvm::Value* join(std::vector<llvm::Value*> parts);
  // op(a, c) for an elementwise op (c is null for a unary one): the table in op_lowering.cpp.
  llvm::Value* elementwise(const Node* n, llvm::Value* a, llvm::Value* c);

  // x^2 and x^3 as multiplies (within an ulp of pow, and what instcombine would do for x^2);
  // every other exponent, 0.5 included (pow(-0, 0.5) = +0 but sqrt(-0) = -0), calls pow.
  llvm::Value* pow(const Node* n, llvm::Value* a, llvm::Value* c) {
    const Node* e = splat_constant(n->arg(1));
    if (e && e->is_const(2)) return b_.CreateFMul(a, a);
    if (e && e->is_const(3)) return b_.CreateFMul(b_.CreateFMul(a, a), a);
    return math(Op::Pow, {a, c});
  }

  // The ReduceMax step: acc stays once it is nan; else v replaces it when v > acc or v is nan
  // (the interpreter's rule; with acc starting at -inf it also covers the first element).
  llvm::Value* max_step(llvm::Value* acc, llvm::Value* v) {
    return b_.CreateSelect(b_.CreateFCmpUNO(acc, acc), acc,
                           b_.CreateSelect(b_.CreateFCmpUGT(v, acc), v, acc));
  }

  llvm::Constant* k(double v) { return llvm::ConstantFP::get(t_, v); }

  // A math function of the op (Sin, ..., Lgamma, Pow) on t_ values: the LLVM intrinsic or C
  // library function, on vectors gradc's own function (vector_math.hpp) or SLEEF's (kVectorMath),
  // else the scalar one lane by lane.
  llvm::Value* math(Op op, std::initializer_list<llvm::Value*> args);
  llvm::Value* scalar_math(Op op, const std::vector<llvm::Value*>& args);
  llvm::FunctionCallee libm(const char* name);
  llvm::Value* special(const char* name, std::initializer_list<llvm::Value*> args);
  // f(args) for scalar f applied to each lane of vector args.
  llvm::Value* per_lane(const std::vector<llvm::Value*>& args,
                        const std::function<llvm::Value*(const std::vector<llvm::Value*>&)>& f);

  // Scalar constants (Const nodes): immediates, or past kMaxImmediates loads from a table.
  // Thousands of distinct constants as immediates make the backend quadratic (its constant
  // pool is searched linearly per constant): the table is external and writable so that LLVM
  // cannot fold the loads back.
  // `immediates`: at most this many constants stay immediates.
  void make_constant_table(const std::vector<const Node*>& order, const std::string& name,
                           std::size_t immediates = kMaxImmediates);
  // A Const node's value: an immediate or a load from the table.
  llvm::Value* constant(const Node* n) {
    if (!consts_) return k(n->value);
    llvm::Value* v =
        b_.CreateLoad(s_, b_.CreateConstInBoundsGEP2_64(consts_->getValueType(), consts_, 0, table_index_.at(n)));
    return lanes_ > 1 ? b_.CreateVectorSplat(lanes_, v) : v;
  }

  llvm::Module& m_;
  llvm::IRBuilder<>& b_;
  DType dtype_;
  unsigned lanes_;  // 1: scalar values; else vectors of this many points
  unsigned call_lanes_;  // SLEEF's functions take this many: a value of lanes_ is several calls
  bool avx512_;
  llvm::Type* s_;   // the element type
  llvm::Type* t_;   // the type of a value: s_, or a vector of lanes_ s_
  std::unordered_map<const Node*, std::uint64_t> table_index_;
  llvm::GlobalVariable* consts_ = nullptr;
};

/// Emits the straight-line body of a scalar kernel: loads the inputs it uses from `in` and
/// stores the outputs to `out` after the last load (so a single call may write its outputs over
/// its inputs). With lanes > 1, `in` and `out` hold that many rows (row-major) and each value
/// is a vector with one lane per row.
class BodyEmitter : OpLowering {
 public:
  // Rows of up to this many inputs (outputs) are read (written) as whole vectors and shuffled,
  // longer ones by gathers (scatters).
  static constexpr std::uint64_t kShuffleStride = 4;

  using OpLowering::OpLowering;

  void emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out);
  // Part p of a split body (one row): its operations, reading the values of earlier parts from
  // `scratch` and leaving there those that later parts or the outputs need.
  // Its constant table is `name`.consts.
  void emit_part(const KernelSpec& spec, const BodySplit& split, std::size_t p, llvm::Value* in, llvm::Value* scratch,
                 const std::string& name);
  // The body of a split kernel (one row): the scratch buffer, a call of each part in order, then
  // the outputs, stored after every load of `in`.
  void emit_split(const KernelSpec& spec, const BodySplit& split, std::span<llvm::Function* const> parts,
                  llvm::Value* in, llvm::Value* out);

 private:
  // A leaf (an input, a constant, a scalar tensor literal) where it is used.
  llvm::Value* leaf(const Node* n, const std::unordered_map<const Node*, std::uint64_t>& input_index,
                    std::size_t num_inputs, llvm::Value* in);
  llvm::Value* lower(const Node* n);
  llvm::Value* load_input(llvm::Value* in, std::uint64_t index, std::uint64_t stride, const std::string& name);
  void store_outputs(const std::vector<llvm::Value*>& outs, llvm::Value* out);
  llvm::Value* lane_pointers(llvm::Value* p, std::uint64_t index, std::uint64_t stride);
  llvm::Value* pick_lanes(const std::vector<std::pair<llvm::Value*, unsigned>>& pick);
  llvm::Type* part_type() const;

  std::unordered_map<const Node*, llvm::Value*> values_;
  std::vector<llvm::Value*> rows_in_;  // the batch's rows as whole vectors (load_input)
};

}  // namespace gradc::codegen_detail
