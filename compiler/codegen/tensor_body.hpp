// class TensorBody (tensor kernels), defined in tensor_emit.cpp, tensor_loops.cpp, matmul.cpp.
#pragma once

#include "compiler/codegen/op_lowering.hpp"
#include "compiler/codegen/tensor_plan.hpp"

#include <functional>
#include <utility>

namespace gradc::codegen_detail {

/// Emits the body of a tensor kernel, as its plan (tensor_plan.hpp: which node is a scalar, a
/// buffer, a view or fused, and where each buffer is) says.
class TensorBody : OpLowering {
 public:
  TensorBody(llvm::Module& m, llvm::IRBuilder<>& b, DType dtype, llvm::Function* fn, const TargetInfo& target)
      : OpLowering(m, b, dtype),
        fn_(fn),
        i64_(b.getInt64Ty()),
        rules_(TileRules::for_target(target, dtype)),
        ws_(rules_.elem_bytes) {
    elem_bytes_ = rules_.elem_bytes;
    align_elems_ = kBufferAlignBytes / elem_bytes_;
    tile_cols_ = rules_.tile_cols;
    lanes_ = rules_.lanes;
    accumulators_ = rules_.accumulators;
    threads_ = rules_.threads;
  }

  void emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out);

 private:
  using Idx = std::array<llvm::Value*, Shape::kMaxRank>;  // per axis of a node's shape

  enum class Kind : std::uint8_t { Scalar, View, Fused };
  struct Storage {
    Kind kind = Kind::Fused;
    llvm::Value* scalar = nullptr;  // Scalar: the value
    llvm::Value* base = nullptr;    // View: element (offset + Σ idx[d] stride[d]) of base
    std::int64_t offset = 0;
    std::array<std::int64_t, Shape::kMaxRank> stride{0, 0, 0};
  };
  // A node's plan, and where its value is in this function.
  struct Info : NodePlan {
    Storage st;
  };

  const Node* operand(const Node* n, int i) const { return plan_.operand(n, i); }

  using TileGeometry = TileRules::Geometry;
  TileGeometry tile_geometry(std::int64_t m, std::int64_t p) const { return rules_.tile_geometry(m, p); }
  std::int64_t k_block(std::int64_t kk, std::int64_t width) const { return rules_.k_block(kk, width); }
  // Not in a part function (parallel_tiles): the parts run at once and the packed strip is one
  // buffer.
  bool packs(std::int64_t m, std::int64_t kk, std::int64_t p, std::int64_t b_row_stride, bool computed_b) const {
    return part_in_ == nullptr && rules_.packs(m, kk, p, b_row_stride, computed_b);
  }

  Storage contiguous(llvm::Value* base, std::int64_t offset, const Shape& s);

  llvm::GlobalVariable* tensor_global(const Node* n);

  std::int64_t allocate(std::int64_t size) { return ws_.allocate(size); }
  void release(std::int64_t off, std::int64_t size) { ws_.release(off, size); }
  void finish_workspace(const std::string& name);

  // ---- Loops. Counted do-while loops (every extent is at least 1), i64 induction variables.
  struct Loop {
    llvm::BasicBlock* body;
    llvm::PHINode* iv;
    std::int64_t n;
    llvm::Value* limit = nullptr;        // a trip count known only at run time (begin_loop_upto)
    llvm::BranchInst* guard = nullptr;   // skips the loop when that count is 0
  };
  Loop begin_loop(std::int64_t n, const char* name = "i");
  Loop begin_loop_upto(llvm::Value* n, const char* name = "i");
  // vector_width > 0: vectorize by that many lanes, one vector per iteration (a loop known to
  // be short, which LLVM would otherwise give a wide, unrolled body that it never enters).
  void end_loop(const Loop& l, bool unroll_vectorized = false, std::int64_t vector_width = 0);
  // ---- Accumulators kept in registers. A loop nest that accumulates into a small buffer (a
  // block of a matrix product, partial sums) tags that buffer's loads and stores with an alias
  // scope of its own and its other loads as not aliasing it (true: the buffer is live while
  // they are read, so they never share workspace bytes); LICM can then keep the buffer in
  // registers across the loop even when the operands are in the workspace too.
  struct AccScope {
    llvm::MDNode* list;
    llvm::Value* acc(llvm::Value* v) const { return tag(v, llvm::LLVMContext::MD_alias_scope); }
    llvm::Value* reads(llvm::Value* v) const { return tag(v, llvm::LLVMContext::MD_noalias); }
    llvm::Value* tag(llvm::Value* v, unsigned kind) const {
      if (auto* i = llvm::dyn_cast<llvm::Instruction>(v)) i->setMetadata(kind, list);
      return v;
    }
  };
  AccScope new_acc_scope();
  // Emits body(scope), a loop nest that passes its accesses to its destination through
  // scope.acc; every other load it emits (the fused expression of an element may load from
  // several buffers) is then tagged as a read. Without this, a loop reading a value that is
  // invariant in it (x[i] in a loop over j) from the workspace while storing to the workspace
  // is not vectorized: LLVM cannot tell the two apart.
  template <class Body>
  void scoped_nest(Body&& body) {
    AccScope scope = new_acc_scope();
    llvm::BasicBlock* first = b_.GetInsertBlock();
    llvm::Instruction* last = first->empty() ? nullptr : &first->back();
    body(scope);
    auto tag = [&](llvm::Instruction& i) {
      if (llvm::isa<llvm::LoadInst>(i) && !i.getMetadata(llvm::LLVMContext::MD_alias_scope)) scope.reads(&i);
    };
    for (auto it = last ? std::next(last->getIterator()) : first->begin(); it != first->end(); ++it) tag(*it);
    for (auto bb = std::next(first->getIterator()); bb != fn_->end(); ++bb)
      for (llvm::Instruction& i : *bb) tag(i);
  }

  // Nested loops over `s`, row-major (the last axis innermost); an axis of extent 1 has the
  // index 0 and no loop. body(idx) emits the innermost code.
  template <class F>
  void for_each_index(const Shape& s, F&& body) {
    Idx idx{nullptr, nullptr, nullptr};
    std::vector<Loop> loops;
    for (int d = 0; d < s.rank; ++d) {
      if (s[d] == 1) {
        idx[d] = b_.getInt64(0);
      } else {
        loops.push_back(begin_loop(s[d]));
        idx[d] = loops.back().iv;
      }
    }
    body(idx);
    for (auto it = loops.rbegin(); it != loops.rend(); ++it) end_loop(*it);
  }

  llvm::Value* address(const Storage& st, const Shape& s, const Idx& idx);
  llvm::Value* load(const Storage& st, const Shape& s, const Idx& idx);
  llvm::StoreInst* store(const Storage& st, const Shape& s, const Idx& idx, llvm::Value* v);
  void zero(const Storage& st, std::int64_t size);

  Idx map_index(const Node* n, const Idx& idx);

  // An index that a reshape computes from several others (k d + r, for [n, K, d] read as
  // [n, K d]) keeps them as its digits: (value, extent), most significant first. A reshape
  // back splits it into its digits again instead of dividing (see regroup).
  using Digits = std::vector<std::pair<llvm::Value*, std::int64_t>>;
  bool regroup(const Shape& s, const Shape& xs, const Idx& idx, Idx& r);
  Shape loop_shape(const Node* n) const;

  std::pair<const Node*, Idx> resolve(const Node* n, Idx idx);

  struct Key {
    const Node* n;
    Idx idx;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      std::size_t h = std::hash<const void*>()(k.n);
      for (llvm::Value* v : k.idx) h = h * 1000003u ^ std::hash<const void*>()(v);
      return h;
    }
  };

  llvm::Value* value(const Node* root, const Idx& root_idx, bool compute = false);

  llvm::Value* scalar_node(const Node* n);

  void materialize(const Node* n, const Storage& dst);

  // A matrix operand as a strided buffer: its own storage when it has one, else a contiguous
  // copy in a temporary (an index map that needs divisions, a broadcast scalar).
  using Temps = std::vector<std::pair<std::int64_t, std::int64_t>>;
  Storage operand_view(const Node* x, Temps& temps);
  Storage temporary(const Shape& s, Temps& temps);
  static Storage transposed(Storage s);
  Storage with_unit_columns(const Storage& s, const Shape& shape, Temps& temps);

  void matmul(const Node* n, const Storage& c, const Node* epilogue = nullptr);
  void batched_matmul(const Node* n, const Storage& c);

  bool parallel(std::int64_t m, std::int64_t kk, std::int64_t p) const { return rules_.parallel(m, kk, p); }

  void parallel_tiles(const Storage& a, const Storage& bm, const Storage& c, std::int64_t m, std::int64_t kk,
                      std::int64_t p);

  // Extras of matmul_tiles' packed path: B computed as it is packed (bnode, fused), and a
  // column sum of B (or of -B) written to `colsum` from each packed strip.
  struct PackExtras {
    const Node* bnode;
    const Storage* colsum;
    bool negate;
  };
  void matmul_tiles(const Storage& a, const Storage& bm, const Storage& c, std::int64_t m, std::int64_t kk,
                    std::int64_t p, const Node* epilogue = nullptr, const PackExtras& extras = {nullptr, nullptr, false});

  void pack_computed(const Node* b, const Storage& dst, const Shape& ds, llvm::Value* j0, std::int64_t width,
                     const AccScope& scope);

  void matmul_dots(const Storage& a, const Storage& bt, const Storage& c, std::int64_t m, std::int64_t kk,
                   std::int64_t p);

  llvm::Value* split_total(const Node* x);

  // The loop of a sum split kSplit ways: body(k, r) adds term k to partial r, for k = q kSplit
  // + r in a loop over q, then for the leftover k (fewer than kSplit) to partial 0.
  template <class Body>
  void split_loop(std::int64_t kk, Body&& body) {
    std::int64_t blocks = kk / kSplit;
    Loop ql = begin_loop(blocks, "k");
    for (std::int64_t r = 0; r < kSplit; ++r)
      body(b_.CreateAdd(b_.CreateMul(ql.iv, b_.getInt64(kSplit), "", true, true), b_.getInt64(r), "", true, true), r);
    end_loop(ql);
    for (std::int64_t k = blocks * kSplit; k < kk; ++k) body(b_.getInt64(k), 0);
  }
  // (s0 + s1) + (s2 + s3) of partial(r).
  template <class Partial>
  llvm::Value* combine_partials(Partial&& partial) {
    return b_.CreateFAdd(b_.CreateFAdd(partial(0), partial(1)), b_.CreateFAdd(partial(2), partial(3)));
  }

  bool splits_sum(std::int64_t rows, std::int64_t cols, std::int64_t kk) const {
    return rules_.splits_sum(rows, cols, kk);
  }

  // dst (rows x cols, contiguous) = the sum over k < kk of term(k, i, j), as kSplit interleaved
  // partial sums (partial r takes the terms with k = r mod kSplit, a leftover k goes to partial
  // 0) added as (s0 + s1) + (s2 + s3) at the end. One running sum per output would be a chain of
  // kk dependent adds, latency bound: 2-16-16-1's bias gradients and its 2x16 and 1x16 weight
  // gradients each sum 1,024 rows. The partials stay in registers across the k loop.
  template <class Term>
  void split_sum(const Storage& dst, std::int64_t rows, std::int64_t cols, std::int64_t kk, Term&& term) {
    Shape ps{static_cast<std::int32_t>(kSplit * rows), static_cast<std::int32_t>(cols)};
    Shape ds{static_cast<std::int32_t>(rows), static_cast<std::int32_t>(cols)};
    Temps temps;
    Storage part = temporary(ps, temps);
    zero(part, ps.size());
    scoped_nest([&](const AccScope& scope) {
      split_loop(kk, [&](llvm::Value* kv, std::int64_t r) {
        for (std::int64_t i = 0; i < rows; ++i) {
          Loop jl{};
          llvm::Value* j = b_.getInt64(0);
          if (cols > 1) {
            jl = begin_loop(cols, "j");
            j = jl.iv;
          }
          llvm::Value* at = address(part, ps, Idx{b_.getInt64(r * rows + i), j, nullptr});
          llvm::Value* t = term(kv, b_.getInt64(i), j);
          scope.acc(b_.CreateStore(b_.CreateFAdd(scope.acc(b_.CreateLoad(t_, at)), t), at));
          if (cols > 1) end_loop(jl, /*unroll_vectorized=*/true);
        }
      });
    });
    for_each_index(ds, [&](const Idx& idx) {
      store(dst, ds, idx, combine_partials([&](std::int64_t r) {
              return load(part, ps, Idx{b_.CreateAdd(idx[0], b_.getInt64(r * rows), "", true, true), idx[1], nullptr});
            }));
    });
    for (auto [off, size] : temps) release(off, size);
  }

  static constexpr std::int64_t kSplit = TileRules::kSplit;  // combine_partials is written for 4
  static_assert(kSplit == 4);
  static constexpr std::int64_t kDotLanes = 8;  // matmul_dots' vector (its lane sums are written for 8)
  static constexpr std::int64_t kDotUnroll = 4;  // chunks of a dot product written out, not looped
  static constexpr std::int64_t kTileRows = TileRules::kTileRows;
  static constexpr std::int64_t kMaxTileRows = TileRules::kMaxTileRows;
  static constexpr std::int64_t kTinyTrip = TileRules::kTinyTrip;
  static constexpr std::int64_t kSplitMinTerms = TileRules::kSplitMinTerms;

  llvm::Function* fn_;
  llvm::Type* i64_;
  unsigned threads_ = 1;
  llvm::Value* in_ = nullptr;        // the kernel's arguments
  llvm::Value* out_ = nullptr;
  llvm::Value* part_in_ = nullptr;   // inside a part function: its arguments, standing for them
  llvm::Value* part_out_ = nullptr;
  std::string name_;
  std::int64_t elem_bytes_ = 8, align_elems_ = 8, tile_cols_ = 16, lanes_ = 4, accumulators_ = 8;
  llvm::BasicBlock* entry_ = nullptr;
  TileRules rules_;
  TensorPlan plan_;
  const std::unordered_map<const Node*, std::size_t>& pos_ = plan_.pos;
  std::unordered_map<llvm::Value*, Digits> digits_;
  std::vector<Info> info_;
  llvm::GlobalVariable* workspace_ = nullptr;
  Workspace ws_;  // the plan's buffers again, and the temporaries of the steps
};

}  // namespace gradc::codegen_detail
