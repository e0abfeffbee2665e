// class TensorBody (tensor kernels), defined in tensor_plan.cpp, tensor_loops.cpp, matmul.cpp.
#pragma once

#include "compiler/codegen/op_lowering.hpp"

#include <functional>
#include <utility>

namespace gradc::codegen_detail {

/// Emits the body of a tensor kernel.
///
/// Each node is (a) a scalar SSA value if it has rank 0, (b) a buffer, or (c) fused into the
/// loop of the node that consumes it. Buffers: the inputs (a slice of `in`), Tensor constants
/// (private constant globals), and materialized nodes, which live in their output slot when
/// they are an output and in the workspace otherwise. Materialized: MatMul (but an outer
/// product, inner dimension 1, is fused like an elementwise op), Sum, ReduceMax, Embed and
/// OneHot results, and an elementwise node that is an output, is evaluated at more than one
/// place (counting through the views over it), is read through a Broadcast that repeats it (its
/// value would be recomputed per repetition), or is a matrix product's operand. A product read
/// only by the fused expression of one buffered elementwise node is computed in that node's
/// buffer, the expression applied to each register tile (see analyze). A column sum of a
/// product's right operand B rides on the product's packed strips, and an elementwise B read by
/// nothing else is computed as it is packed, without a buffer (see riders).
/// Broadcast, Reshape, Transpose, Index and Detach are index maps, never copies: over a buffer
/// they are strided views of it (a broadcast axis has stride 0); over a fused expression they
/// remap the loop index. So `tanh(x @ W + b)` is the product's loop nest writing a buffer and
/// one loop computing tanh(buf[i,j] + b[j]), and sum(exp(x - m)) computes exp in the sum's loop.
///
/// Workspace buffers are allocated first-fit in one internal zero-initialised global and freed
/// after the step that reads them last, so they reuse memory; since their offsets are constants
/// and every buffer is live while a loop reads or writes it, the loops of one step never touch
/// overlapping memory through different buffers.
class TensorBody : OpLowering {
 public:
  TensorBody(llvm::Module& m, llvm::IRBuilder<>& b, DType dtype, llvm::Function* fn, const TargetInfo& target)
      : OpLowering(m, b, dtype), fn_(fn), i64_(b.getInt64Ty()) {
    elem_bytes_ = dtype == DType::F32 ? 4 : 8;
    align_elems_ = kBufferAlignBytes / elem_bytes_;
    // The matrix product's register tile: about half the vector registers hold the block of
    // C (kTileRows rows of tile_cols_), the rest the B vectors and A broadcasts.
    std::int64_t lanes = std::max<std::int64_t>(1, std::max(target.vector_bits, target.wide_vector_bits) / 8 / elem_bytes_);
    std::int64_t accumulators = std::max<std::int64_t>(kTileRows, target.vector_registers / 2);
    tile_cols_ = lanes * std::max<std::int64_t>(1, accumulators / kTileRows);
    lanes_ = lanes;
    accumulators_ = accumulators;
    threads_ = std::max(1u, target.threads);
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
  struct Info {
    Storage st;
    bool materialize = false;
    int out_count = 0;            // how many output slots show this node
    std::int64_t first_out = -1;  // offset of the first one in `out`
    std::int64_t sites = 0;       // evaluations per element (through views)
    bool repeated = false;        // read through a Broadcast that repeats it
    bool matmul_operand = false;  // a matrix product's operand (through views)
    std::size_t eval_pos = 0;     // the step whose code reads this node's value
    std::size_t last_use = 0;     // the last step that reads this node's buffer
    const Node* epilogue_of = nullptr;  // a matrix product this node finishes (see analyze)
    // Column sums that ride on a product (see riders): on the sum, the product that fills
    // its buffer; on the product, the sum and whether it sums the negated operand.
    const Node* summed_by = nullptr;
    const Node* column_sum = nullptr;
    bool negated_sum = false;
    bool packed = false;  // an elementwise B computed as its product packs it (not buffered)
  };

  const Node* operand(const Node* n, int i) const;

  void analyze();

  const Node* epilogue(std::size_t p, const std::vector<std::vector<std::uint32_t>>& users) const;
  void riders(const std::vector<std::vector<std::uint32_t>>& users);
  struct TileGeometry {
    std::int64_t rows, widest;
  };
  TileGeometry tile_geometry(std::int64_t m, std::int64_t p) const;
  bool packs(std::int64_t m, std::int64_t kk, std::int64_t p, std::int64_t b_row_stride, bool computed_b) const;

  Storage contiguous(llvm::Value* base, std::int64_t offset, const Shape& s);

  static bool is_contiguous(const Storage& st, const Shape& s);

  Storage view_storage(const Node* n);

  llvm::GlobalVariable* tensor_global(const Node* n);

  std::int64_t allocate(std::int64_t size);
  void release(std::int64_t off, std::int64_t size);
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

  bool parallel(std::int64_t m, std::int64_t kk, std::int64_t p) const;

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

  bool splits_sum(std::int64_t rows, std::int64_t cols, std::int64_t kk) const;

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

  static constexpr std::int64_t kSplit = 4;  // partial sums (combine_partials is written for 4)
  static constexpr std::int64_t kSplitMinTerms = 64;
  static constexpr std::int64_t kDotLanes = 8;  // matmul_dots' vector (its lane sums are written for 8)
  static constexpr std::int64_t kDotUnroll = 4;  // chunks of a dot product written out, not looped
  // Below, splitting lost more than it gained (2-16-16-1: 1,024 x 16 x 16 products, 2.6e5 fmas: the
  // f64 step took 23.2 us on 2 threads, 20.8 us on one); 784-128-10 has two of 6.4e6.
  static constexpr std::int64_t kParallelMacs = std::int64_t(1) << 20;
  static constexpr std::int64_t kTileRows = 4;
  static constexpr std::int64_t kMaxTileRows = 16;
  // matmul_tiles packs B's column strip when B's rows are at least this far apart, and the
  // strip is at most kPackMaxBytes (it then stays in L2).
  static constexpr std::int64_t kPackStrideBytes = 4096, kPackMaxBytes = 1 << 20;
  // LLVM's TinyTripCountVectorThreshold: shorter loops are vectorized only by predication.
  static constexpr std::int64_t kTinyTrip = 16;

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
  std::vector<const Node*> order_;
  std::unordered_map<const Node*, std::size_t> pos_;
  std::unordered_map<const Node*, const Node*> relu_of_;  // x -> relu(x)
  std::unordered_map<llvm::Value*, Digits> digits_;
  std::vector<Info> info_;
  llvm::GlobalVariable* workspace_ = nullptr;
  std::vector<std::pair<std::int64_t, std::int64_t>> free_;  // (offset, length), sorted
  std::int64_t top_ = 0;
};

}  // namespace gradc::codegen_detail
