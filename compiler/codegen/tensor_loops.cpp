// TensorBody's loop builder: loops, element access, fused expressions, the non-matmul steps.
#include "compiler/codegen/tensor_body.hpp"

#include <limits>
#include <unordered_set>

#include "compiler/ops_tensor.hpp"

namespace gradc::codegen_detail {

TensorBody::Loop TensorBody::begin_loop(std::int64_t n, const char* name) {
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  auto* body = llvm::BasicBlock::Create(m_.getContext(), "loop", fn_);
  b_.CreateBr(body);
  b_.SetInsertPoint(body);
  llvm::PHINode* iv = b_.CreatePHI(i64_, 2, name);
  iv->addIncoming(b_.getInt64(0), pre);
  return {body, iv, n};
}

// A loop of n iterations, n > 0 or not, n known at run time.
TensorBody::Loop TensorBody::begin_loop_upto(llvm::Value* n, const char* name) {
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  auto* body = llvm::BasicBlock::Create(m_.getContext(), "loop", fn_);
  llvm::BranchInst* guard = b_.CreateCondBr(b_.CreateICmpSGT(n, b_.getInt64(0)), body, body);
  b_.SetInsertPoint(body);
  llvm::PHINode* iv = b_.CreatePHI(i64_, 2, name);
  iv->addIncoming(b_.getInt64(0), pre);
  return {body, iv, 0, n, guard};
}

// With `unroll_vectorized`, the loop the vectorizer makes of it is unrolled completely (the
// JIT runs no other unrolling on tensor kernels; see runtime/jit.cpp).
void TensorBody::end_loop(const Loop& l, bool unroll_vectorized, std::int64_t vector_width) {
  llvm::Value* next = b_.CreateAdd(l.iv, b_.getInt64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
  auto* exit = llvm::BasicBlock::Create(m_.getContext(), "next", fn_);
  l.iv->addIncoming(next, b_.GetInsertBlock());
  llvm::Value* more = l.limit ? b_.CreateICmpSLT(next, l.limit) : b_.CreateICmpULT(next, b_.getInt64(l.n));
  llvm::Instruction* br = b_.CreateCondBr(more, l.body, exit);
  if (l.guard) l.guard->setSuccessor(1, exit);
  if (unroll_vectorized) {
    llvm::LLVMContext& ctx = m_.getContext();
    llvm::Metadata* full[] = {llvm::MDString::get(ctx, "llvm.loop.unroll.full")};
    llvm::Metadata* followup[] = {llvm::MDString::get(ctx, "llvm.loop.vectorize.followup_vectorized"),
                                  llvm::MDNode::get(ctx, full)};
    // and so is its scalar remainder (a tile of 18 columns: 2 after the vectors), whose
    // accesses then have constant addresses too: a loop over them would keep LICM from
    // holding any of the tile in registers across k.
    llvm::Metadata* followup_rest[] = {llvm::MDString::get(ctx, "llvm.loop.vectorize.followup_epilogue"),
                                       llvm::MDNode::get(ctx, full)};
    llvm::Metadata* ops[] = {nullptr, llvm::MDNode::get(ctx, followup), llvm::MDNode::get(ctx, followup_rest)};
    llvm::MDNode* id = llvm::MDNode::getDistinct(ctx, ops);
    id->replaceOperandWith(0, id);
    br->setMetadata(llvm::LLVMContext::MD_loop, id);
  } else if (vector_width > 0) {  // one vector per iteration, not several (a short loop)
    llvm::LLVMContext& ctx = m_.getContext();
    auto hint = [&](const char* name, std::int64_t v) {
      llvm::Metadata* md[] = {llvm::MDString::get(ctx, name),
                              llvm::ConstantAsMetadata::get(b_.getInt32(static_cast<std::uint32_t>(v)))};
      return llvm::MDNode::get(ctx, md);
    };
    llvm::Metadata* ops[] = {nullptr, hint("llvm.loop.vectorize.width", vector_width),
                             hint("llvm.loop.interleave.count", 1)};
    llvm::MDNode* id = llvm::MDNode::getDistinct(ctx, ops);
    id->replaceOperandWith(0, id);
    br->setMetadata(llvm::LLVMContext::MD_loop, id);
  }
  b_.SetInsertPoint(exit);
}

TensorBody::AccScope TensorBody::new_acc_scope() {
  llvm::MDBuilder mdb(b_.getContext());
  llvm::MDNode* domain = mdb.createAnonymousAliasScopeDomain("acc");
  return AccScope{llvm::MDNode::get(b_.getContext(), {mdb.createAnonymousAliasScope(domain, "acc")})};
}

// ---- Element access.
llvm::Value* TensorBody::address(const Storage& st, const Shape& s, const Idx& idx) {
  std::int64_t c = st.offset;
  llvm::Value* lin = nullptr;
  for (int d = 0; d < s.rank; ++d) {
    if (st.stride[d] == 0) continue;
    if (auto* ci = llvm::dyn_cast<llvm::ConstantInt>(idx[d])) {
      c += ci->getSExtValue() * st.stride[d];
      continue;
    }
    llvm::Value* term = st.stride[d] == 1 ? idx[d]
                                          : b_.CreateMul(idx[d], b_.getInt64(st.stride[d]), "",
                                                         /*HasNUW=*/true, /*HasNSW=*/true);
    lin = lin ? b_.CreateAdd(lin, term, "", true, true) : term;
  }
  if (c != 0 || !lin) lin = lin ? b_.CreateAdd(lin, b_.getInt64(c), "", true, true) : b_.getInt64(c);
  llvm::Value* base = st.base;
  if (base == in_ && part_in_) base = part_in_;  // inside a part function (parallel_tiles)
  if (base == out_ && part_out_) base = part_out_;
  return b_.CreateInBoundsGEP(t_, base, lin);
}

llvm::Value* TensorBody::load(const Storage& st, const Shape& s, const Idx& idx) {
  return b_.CreateLoad(t_, address(st, s, idx));
}

llvm::StoreInst* TensorBody::store(const Storage& st, const Shape& s, const Idx& idx, llvm::Value* v) {
  return b_.CreateStore(v, address(st, s, idx));
}

void TensorBody::zero(const Storage& st, std::int64_t size) {
  b_.CreateMemSet(address(st, Shape{}, Idx{}), b_.getInt8(0), b_.getInt64(size * elem_bytes_),
                  llvm::MaybeAlign(elem_bytes_));
}

// The index of a view op's operand for the element `idx` of the view.
TensorBody::Idx TensorBody::map_index(const Node* n, const Idx& idx) {
  const Shape& xs = n->arg(0)->shape;
  const Shape& s = n->shape;
  Idx r{nullptr, nullptr, nullptr};
  switch (n->op) {
    case Op::Detach:
      return idx;
    case Op::Broadcast: {
      int shift = s.rank - xs.rank;
      for (int d = 0; d < xs.rank; ++d) r[d] = xs[d] == 1 ? b_.getInt64(0) : idx[d + shift];
      return r;
    }
    case Op::Transpose: {
      auto p = tensor_ops::permutation(n->axis, xs.rank);
      for (int d = 0; d < s.rank; ++d) r[p[d]] = idx[d];
      return r;
    }
    case Op::Slice:
      r = idx;
      r[n->axis] = b_.CreateAdd(idx[n->axis], b_.getInt64(n->index), "", /*HasNUW=*/true, /*HasNSW=*/true);
      return r;
    case Op::Index:
      for (int d = 0, e = 0; d < xs.rank; ++d) r[d] = d == n->axis ? b_.getInt64(n->index) : idx[e++];
      return r;
    case Op::Reshape: {
      if (reshape_moves_ones_only(s, xs)) {
        for (int d = 0, e = 0; d < xs.rank; ++d) {
          if (xs[d] == 1) {
            r[d] = b_.getInt64(0);
            continue;
          }
          while (s[e] == 1) ++e;
          r[d] = idx[e++];
        }
        return r;
      }
      if (regroup(s, xs, idx, r)) return r;
      // The flat position, then the operand's index by division: in 32 bits when the tensor
      // is that small, since a vector of 64-bit divisions by a constant is done lane by lane
      // (x86 has no 64-bit multiply-high in vectors) and 32-bit ones are a few vector ops.
      bool narrow = s.size() <= std::numeric_limits<std::int32_t>::max();
      llvm::Type* it = narrow ? b_.getInt32Ty() : i64_;
      auto konst = [&](std::int64_t v) { return llvm::ConstantInt::get(it, static_cast<std::uint64_t>(v)); };
      llvm::Value* lin = konst(0);
      for (int d = 0; d < s.rank; ++d) {
        llvm::Value* i = narrow ? b_.CreateTrunc(idx[d], it) : idx[d];
        lin = b_.CreateAdd(lin, b_.CreateMul(i, konst(row_major_stride(s, d)), "", true, true), "", true, true);
      }
      for (int d = 0; d < xs.rank; ++d) {
        llvm::Value* q = b_.CreateUDiv(lin, konst(row_major_stride(xs, d)));
        r[d] = d == 0 ? q : b_.CreateURem(q, konst(xs[d]));
        if (narrow) r[d] = b_.CreateZExt(r[d], i64_);
      }
      return r;
    }
    default:
      throw std::logic_error("codegen: not a view op");
  }
}

// r = the index of xs for the element idx of s when the reshape s -> xs only groups digits:
// s's indices, each split into its digits (an index without digits is one digit), are taken in
// order, and each axis of xs is a run of them whose extents multiply to its extent. Merging
// axes ([n, K, d] -> [n, K d]) is then k d + r, and splitting an index that was merged before
// gives back its digits: no division. False when the runs do not line up.
bool TensorBody::regroup(const Shape& s, const Shape& xs, const Idx& idx, Idx& r) {
  Digits dg;
  for (int d = 0; d < s.rank; ++d) {
    if (s[d] == 1) continue;
    auto it = digits_.find(idx[d]);
    if (it != digits_.end())
      dg.insert(dg.end(), it->second.begin(), it->second.end());
    else
      dg.emplace_back(idx[d], s[d]);
  }
  Idx out{nullptr, nullptr, nullptr};
  std::size_t at = 0;
  for (int e = 0; e < xs.rank; ++e) {
    if (xs[e] == 1) {
      out[e] = b_.getInt64(0);
      continue;
    }
    std::size_t from = at;
    std::int64_t extent = 1;
    llvm::Value* v = nullptr;
    while (extent < xs[e] && at < dg.size()) {
      auto [digit, size] = dg[at++];
      v = v ? b_.CreateAdd(b_.CreateMul(v, b_.getInt64(size), "", true, true), digit, "", true, true) : digit;
      extent *= size;
    }
    if (extent != xs[e]) return false;
    if (at - from > 1 && llvm::isa<llvm::Instruction>(v))
      digits_.emplace(v, Digits(dg.begin() + std::ptrdiff_t(from), dg.begin() + std::ptrdiff_t(at)));
    out[e] = v;
  }
  if (at != dg.size()) return false;
  r = out;
  return true;
}

// The loop nest that fills the elementwise node n: n's shape, or a finer one when n's fused
// expression reads a reshape of n's shape from a finer operand (the backward of a sum over
// the groups of [n, K d] reads [n, K, d] as [n, K d]): looping over the finer shape, that
// reshape takes digits apart instead of dividing.
Shape TensorBody::loop_shape(const Node* n) const {
  const Shape& s = n->shape;
  std::vector<const Node*> stack{n};
  std::unordered_set<const Node*> seen;
  while (!stack.empty()) {
    const Node* x = stack.back();
    stack.pop_back();
    if (!seen.insert(x).second) continue;
    for (int i = 0; i < x->nargs; ++i) {
      const Node* a = operand(x, i);
      if (a->shape != s || info_[pos_.at(a)].st.kind != Kind::Fused) continue;
      if (a->op == Op::Reshape) {
        const Shape& xs = a->arg(0)->shape;
        // xs refines s: every axis of s is a run of xs's axes (ones aside)
        std::size_t e = 0;
        bool refines = xs.rank > s.rank;
        for (int d = 0; d < s.rank && refines; ++d) {
          std::int64_t extent = 1;
          while (extent < s[d] && e < std::size_t(xs.rank)) extent *= xs[int(e++)];
          refines = extent == s[d];
        }
        if (refines) return xs;
      } else if (is_pointwise(a) || a->op == Op::Detach) {
        stack.push_back(a);
      }
    }
  }
  return s;
}

// Follows fused index maps down to a node that has a value of its own at the mapped index:
// a scalar, a buffer, or a fused elementwise node.
std::pair<const Node*, TensorBody::Idx> TensorBody::resolve(const Node* n, Idx idx) {
  while (true) {
    const Storage& s = info_[pos_.at(n)].st;
    if (s.kind != Kind::Fused || !is_view_op(n->op)) return {n, idx};
    idx = map_index(n, idx);
    n = n->arg(0);
  }
}

// The value of n at idx (inside the current loop). With `compute`, n's own op is applied to
// its operands even though n has a buffer (this is how a materialized node is filled).
// Iterative: the fused expression is walked with an explicit stack, each (node, index)
// computed once.
llvm::Value* TensorBody::value(const Node* root, const Idx& root_idx, bool compute) {
  std::unordered_map<Key, llvm::Value*, KeyHash> memo;
  // A leaf's value (scalar or load), or nullptr when the node must be computed.
  auto leaf = [&](const Node* n, const Idx& idx) -> llvm::Value* {
    const Storage& s = info_[pos_.at(n)].st;
    if (s.kind == Kind::Scalar) return s.scalar;
    if (s.kind == Kind::View) return load(s, n->shape, idx);
    if (!is_pointwise(n)) throw std::logic_error("codegen: a fused node that is not elementwise");
    return nullptr;
  };
  Key top{root, root_idx};
  if (!compute) {
    auto [n, idx] = resolve(root, root_idx);
    if (llvm::Value* v = leaf(n, idx)) return v;
    top = Key{n, idx};
  }
  struct Frame {
    Key key;
    bool expanded;
    Key args[2];
  };
  std::vector<Frame> stack{Frame{top, false, {}}};
  while (!stack.empty()) {
    if (memo.count(stack.back().key)) {
      stack.pop_back();
      continue;
    }
    Frame& f = stack.back();
    const Node* n = f.key.n;
    if (!f.expanded) {
      f.expanded = true;
      std::vector<Key> pending;
      for (int i = 0; i < n->nargs; ++i) {
        Idx idx = f.key.idx;
        if (is_outer_product(n)) idx = i == 0 ? Idx{idx[0], b_.getInt64(0), nullptr} : Idx{b_.getInt64(0), idx[1], nullptr};
        auto [a, ai] = resolve(operand(n, i), idx);
        f.args[i] = Key{a, ai};
        if (memo.count(f.args[i])) continue;
        if (llvm::Value* v = leaf(a, ai))
          memo.emplace(f.args[i], v);
        else
          pending.push_back(f.args[i]);
      }
      for (const Key& k : pending) stack.push_back(Frame{k, false, {}});  // invalidates f
      continue;
    }
    llvm::Value* a = memo.at(f.args[0]);
    llvm::Value* c = n->nargs > 1 ? memo.at(f.args[1]) : nullptr;
    memo.emplace(f.key, is_outer_product(n) ? b_.CreateFMul(a, c) : elementwise(n, a, c));
    stack.pop_back();
  }
  return memo.at(top);
}

// ---- Steps.
// A rank-0 node: straight-line code at the top level (a reduction to a scalar is a loop with
// an accumulator).
llvm::Value* TensorBody::scalar_node(const Node* n) {
  auto scalar = [&](const Node* x) { return info_[pos_.at(x)].st.scalar; };
  switch (n->op) {
    case Op::Const:
      return constant(n);
    case Op::Tensor:
      return k(n->data->at(0));
    case Op::Sum:
    case Op::ReduceMax: {
      const Node* x = n->arg(0);
      bool max = n->op == Op::ReduceMax;
      llvm::IRBuilder<> eb(entry_, entry_->begin());
      llvm::AllocaInst* acc = eb.CreateAlloca(t_, nullptr, "acc");
      b_.CreateStore(k(max ? -std::numeric_limits<double>::infinity() : 0.0), acc);
      if (!max && x->shape[0] >= kSplitMinTerms) return split_total(x);
      for_each_index(x->shape, [&](const Idx& idx) {
        llvm::Value* v = value(x, idx);
        llvm::Value* cur = b_.CreateLoad(t_, acc);
        b_.CreateStore(max ? max_step(cur, v) : b_.CreateFAdd(cur, v), acc);
      });
      return b_.CreateLoad(t_, acc);
    }
    default:
      if (is_view_op(n->op)) return value(n->arg(0), map_index(n, Idx{nullptr, nullptr, nullptr}));
      if (!n->info().elementwise || n->nargs == 0)
        throw std::logic_error(std::string("codegen: no scalar lowering for op ") + op_id(n->op));
      return elementwise(n, scalar(operand(n, 0)), n->nargs > 1 ? scalar(n->arg(1)) : nullptr);
  }
}

// Fills the buffer `dst` of a materialized node.
void TensorBody::materialize(const Node* n, const Storage& dst) {
  if (info_[pos_.at(n)].summed_by) return;  // filled by its product (riders)
  const Shape& s = n->shape;
  const Node* x = n->arg(0);
  switch (n->op) {
    case Op::Sum:
    case Op::ReduceMax: {
      // The column sums of a tall matrix (a bias gradient over a batch): partial sums.
      if (n->op == Op::Sum && n->axis == 0 && x->shape.rank == 2 && splits_sum(1, s[0], x->shape[0])) {
        split_sum(contiguous(dst.base, dst.offset, Shape{1, s[0]}), 1, s[0], x->shape[0],
                  [&](llvm::Value* kv, llvm::Value*, llvm::Value* j) { return value(x, Idx{kv, j, nullptr}); });
        return;
      }
      // Otherwise accumulate in the buffer, walking the operand row-major: each output element
      // sums its terms in the interpreter's order, and when the reduced axis is not the last
      // the inner loop runs over contiguous outputs (it vectorizes without reassociation).
      bool max = n->op == Op::ReduceMax;
      if (max)
        for_each_index(s, [&](const Idx& idx) { store(dst, s, idx, k(-std::numeric_limits<double>::infinity())); });
      else
        zero(dst, s.size());
      for_each_index(x->shape, [&](const Idx& idx) {
        Idx o{nullptr, nullptr, nullptr};
        for (int d = 0, e = 0; d < x->shape.rank; ++d)
          if (d != n->axis) o[e++] = idx[d];
        llvm::Value* v = value(x, idx);
        llvm::Value* cur = load(dst, s, o);
        store(dst, s, o, max ? max_step(cur, v) : b_.CreateFAdd(cur, v));
      });
      return;
    }
    case Op::Embed:  // zeros, and the operand at `index` along `axis`
      zero(dst, s.size());
      for_each_index(x->shape, [&](const Idx& idx) {
        Idx o{nullptr, nullptr, nullptr};
        for (int d = 0, e = 0; d < s.rank; ++d) o[d] = d == n->axis ? b_.getInt64(n->index) : idx[e++];
        store(dst, s, o, value(x, idx));
      });
      return;
    case Op::Pad:  // zeros, and the operand at `index` along `axis`
      zero(dst, s.size());
      for_each_index(x->shape, [&](const Idx& idx) {
        Idx o = idx;
        o[n->axis] = b_.CreateAdd(idx[n->axis], b_.getInt64(n->index), "", true, true);
        store(dst, s, o, value(x, idx));
      });
      return;
    case Op::OneHot: {  // row i: 1 at column label[i] if that is a class index, else zeros
      zero(dst, s.size());
      Shape row{s[1]};
      for_each_index(x->shape, [&](const Idx& idx) {
        llvm::Value* c = value(x, idx);
        llvm::Value* valid = b_.CreateAnd(
            b_.CreateAnd(b_.CreateFCmpOGE(c, k(0)), b_.CreateFCmpOLT(c, k(n->index))),
            b_.CreateFCmpOEQ(c, b_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, c)));
        // An invalid label writes 0 over the row's first 0: no branch in the loop.
        llvm::Value* col = b_.CreateFPToSI(b_.CreateSelect(valid, c, k(0)), i64_);
        store(dst, s, Idx{idx[0], col, nullptr}, b_.CreateSelect(valid, k(1), k(0)));
      });
      return;
    }
    case Op::MatMul:
      if (s.rank == 3) return batched_matmul(n, dst);
      if (!is_outer_product(n)) return matmul(n, dst);
      [[fallthrough]];
    default:  // an elementwise node or an outer product
      if (const Node* mm = info_[pos_.at(n)].epilogue_of) {
        info_[pos_.at(mm)].st = dst;  // the product's elements, as each tile finishes
        return matmul(mm, dst, n);
      }
      scoped_nest([&](const AccScope& scope) {
        Shape loop = loop_shape(n);
        for_each_index(loop, [&](const Idx& at) {
          Idx idx = at;
          if (loop != s && !regroup(loop, s, at, idx)) throw std::logic_error("codegen: a loop shape that does not refine");
          scope.acc(store(dst, s, idx, value(n, idx, /*compute=*/true)));
        });
      });
      return;
  }
}

// The sum of every element of x (x's first axis has at least kSplitMinTerms rows) as kSplit
// partial sums over its rows (partial r takes the rows i = r mod kSplit, a leftover row goes
// to partial 0; within a row, the interpreter's order), added as (s0 + s1) + (s2 + s3): one
// running sum would be a chain of dependent adds (bench/choices.md, "Split sums").
llvm::Value* TensorBody::split_total(const Node* x) {
  llvm::IRBuilder<> eb(entry_, entry_->begin());
  std::vector<llvm::AllocaInst*> acc;
  for (std::int64_t r = 0; r < kSplit; ++r) {
    acc.push_back(eb.CreateAlloca(t_, nullptr, "part"));
    b_.CreateStore(k(0), acc.back());
  }
  Shape rest = x->shape.without(0);
  auto add_row = [&](llvm::Value* row, std::int64_t r) {
    for_each_index(rest, [&](const Idx& idx) {
      llvm::Value* v = value(x, Idx{row, idx[0], idx[1]});
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t_, acc[r]), v), acc[r]);
    });
  };
  split_loop(x->shape[0], add_row);
  return combine_partials([&](std::int64_t r) { return b_.CreateLoad(t_, acc[r]); });
}

}  // namespace gradc::codegen_detail
