// TensorBody's matrix products: register tiles, dot products, partial sums, threads.
#include "compiler/codegen/tensor_body.hpp"

namespace gradc::codegen_detail {

TensorBody::Storage TensorBody::operand_view(const Node* x, Temps& temps) {
  const Storage& s = info_[pos_.at(x)].st;
  if (s.kind == Kind::View) return s;
  Storage t = temporary(x->shape, temps);
  for_each_index(x->shape, [&](const Idx& idx) { store(t, x->shape, idx, value(x, idx)); });
  return t;
}

TensorBody::Storage TensorBody::temporary(const Shape& s, Temps& temps) {
  std::int64_t off = allocate(s.size());
  temps.emplace_back(off, s.size());
  return contiguous(workspace_, off, s);
}

// The same view with rows and columns swapped.
TensorBody::Storage TensorBody::transposed(Storage s) {
  std::swap(s.stride[0], s.stride[1]);
  return s;
}

// A contiguous copy of a strided matrix when its rows are not contiguous (the vectorized
// inner loop would be a gather).
TensorBody::Storage TensorBody::with_unit_columns(const Storage& s, const Shape& shape, Temps& temps) {
  if (s.stride[1] == 1 || shape[1] == 1) return s;
  Storage t = temporary(shape, temps);
  for_each_index(shape, [&](const Idx& idx) { store(t, shape, idx, load(s, shape, idx)); });
  return t;
}

// C = A @ B. Each element sums its terms in the interpreter's order (k increasing, starting
// from +0; `contract` makes each step an fma), except in two fixed orders that do not depend
// on the host: dot products in vectors (matmul_dots) for at most kTileRows columns, and
// partial sums (split_sum) for a small C over a long k. A product with fewer
// than kTinyTrip columns but more rows is computed transposed, C^T = B^T @ A^T, then copied:
// LLVM vectorizes a loop of fewer than 16 iterations only with masked loads and stores, and
// a masked store of a row of C followed by the next k's masked load of it stalls
// (bench/choices.md, "Narrow products transposed"). The swap changes no bit:
// products commute and the k order stays.
void TensorBody::matmul(const Node* n, const Storage& c, const Node* epilogue) {
  const Node* x = n->arg(0);
  const Node* y = n->arg(1);
  Temps temps;
  Storage a = operand_view(x, temps);
  std::int64_t m = x->shape[0], kk = x->shape[1], p = y->shape[1];
  const Info& I = info_[pos_.at(n)];
  if (I.column_sum) {  // the plain, packed path (riders)
    PackExtras extras{info_[pos_.at(y)].packed ? y : nullptr, &info_[pos_.at(I.column_sum)].st, I.negated_sum};
    Storage bm = extras.bnode ? contiguous(nullptr, 0, y->shape) : with_unit_columns(operand_view(y, temps), y->shape, temps);
    matmul_tiles(a, bm, c, m, kk, p, epilogue, extras);
    for (auto [off, size] : temps) release(off, size);
    return;
  }
  Storage bm = operand_view(y, temps);
  if (p <= kTileRows && m >= kTinyTrip && kk >= 2 * kDotLanes && a.stride[1] == 1) {
    Shape bt_shape{static_cast<std::int32_t>(p), static_cast<std::int32_t>(kk)};
    matmul_dots(a, with_unit_columns(transposed(bm), bt_shape, temps), c, m, kk, p);
  } else if (p < kTinyTrip && m >= kTinyTrip) {
    Shape ct_shape{static_cast<std::int32_t>(p), static_cast<std::int32_t>(m)};
    Shape at_shape{static_cast<std::int32_t>(kk), static_cast<std::int32_t>(m)};
    // With at most kTileRows rows of C^T, one block of rows covers them and matmul_tiles reads
    // each element of A^T once: read A with strides (a gather) rather than copy it transposed
    // first (a strided read and a store per element, then the product's read again).
    Storage at = p <= kTileRows ? transposed(a) : with_unit_columns(transposed(a), at_shape, temps);
    // A single column of C is laid out as its transpose: compute it in place.
    bool in_place = p == 1 && c.stride[0] == 1;
    Storage ct = in_place ? contiguous(c.base, c.offset, ct_shape) : temporary(ct_shape, temps);
    matmul_tiles(transposed(bm), at, ct, p, kk, m);
    if (!in_place)
      for_each_index(n->shape, [&](const Idx& idx) {
        store(c, n->shape, idx, load(ct, ct_shape, Idx{idx[1], idx[0], nullptr}));
      });
  } else {
    Storage b_rows = with_unit_columns(bm, y->shape, temps);
    if (parallel(m, kk, p))
      parallel_tiles(a, b_rows, c, m, kk, p);
    else
      matmul_tiles(a, b_rows, c, m, kk, p, epilogue);
  }
  for (auto [off, size] : temps) release(off, size);
}

// C[q] = A[q] @ B[q] for a stack of products: one loop nest, the columns innermost (it
// vectorizes), each element summing its terms in the interpreter's order (k increasing from
// +0). Simpler than matmul's tiles, whose offsets are constants per product.
void TensorBody::batched_matmul(const Node* n, const Storage& c) {
  const Node* x = n->arg(0);
  const Node* y = n->arg(1);
  const Shape& s = n->shape;
  Temps temps;
  Storage a = operand_view(x, temps);
  Storage bm = operand_view(y, temps);
  zero(c, s.size());
  scoped_nest([&](const AccScope& scope) {
    for_each_index(Shape{s[0], s[1]}, [&](const Idx& qi) {
      Loop kl = begin_loop(x->shape[2], "k");
      Loop jl = begin_loop(s[2], "j");
      llvm::Value* at = address(c, s, Idx{qi[0], qi[1], jl.iv});
      llvm::Value* t = b_.CreateFMul(load(a, x->shape, Idx{qi[0], qi[1], kl.iv}), load(bm, y->shape, Idx{qi[0], kl.iv, jl.iv}));
      scope.acc(b_.CreateStore(b_.CreateFAdd(scope.acc(b_.CreateLoad(t_, at)), t), at));
      end_loop(jl);
      end_loop(kl);
    });
  });
  for (auto [off, size] : temps) release(off, size);
}

// matmul_tiles split by rows over the threads: one function per block of rows (an internal
// function of the module taking the kernel's in and out), run by gradc_parallel on the Jit's
// pool, whichever thread takes it. Each element is computed as in the single-threaded kernel.
void TensorBody::parallel_tiles(const Storage& a, const Storage& bm, const Storage& c, std::int64_t m, std::int64_t kk,
                    std::int64_t p) {
  llvm::LLVMContext& ctx = m_.getContext();
  llvm::Type* ptr = b_.getPtrTy();
  auto* part_type = llvm::FunctionType::get(b_.getVoidTy(), {ptr, ptr}, false);
  std::vector<llvm::Constant*> parts;
  llvm::IRBuilderBase::InsertPoint saved = b_.saveIP();
  llvm::Function* saved_fn = fn_;
  llvm::BasicBlock* saved_entry = entry_;
  // Several parts per thread, each of at least 2 kTileRows rows: the pool hands them out one at
  // a time, so when a thread is not running (another process has its core) the others take its
  // share, and a thread descheduled in the middle of a part holds up only a small block.
  constexpr std::int64_t kPartsPerThread = 4;
  std::int64_t count = std::clamp<std::int64_t>(m / (2 * kTileRows), threads_, threads_ * kPartsPerThread);
  std::int64_t row0 = 0;
  for (std::int64_t t = 0; t < count; ++t) {
    // Blocks end at multiples of kTileRows, so that each is tiled like the whole.
    std::int64_t row1 = t + 1 == count ? m : m * (t + 1) / count / kTileRows * kTileRows;
    if (row1 == row0) continue;
    auto* f = llvm::Function::Create(part_type, llvm::GlobalValue::InternalLinkage, name_ + ".part", m_);
    f->setDoesNotThrow();
    for (unsigned i = 0; i < 2; ++i) f->addParamAttr(i, llvm::Attribute::NoAlias);
    fn_ = f;
    entry_ = llvm::BasicBlock::Create(ctx, "entry", f);
    b_.SetInsertPoint(entry_);
    part_in_ = f->getArg(0);
    part_out_ = f->getArg(1);
    Storage ab = a, cb = c;
    ab.offset += row0 * a.stride[0];
    cb.offset += row0 * c.stride[0];
    matmul_tiles(ab, bm, cb, row1 - row0, kk, p);
    b_.CreateRetVoid();
    parts.push_back(f);
    row0 = row1;
  }
  part_in_ = part_out_ = nullptr;
  fn_ = saved_fn;
  entry_ = saved_entry;
  b_.restoreIP(saved);
  auto* table_type = llvm::ArrayType::get(ptr, parts.size());
  auto* table = new llvm::GlobalVariable(m_, table_type, /*isConstant=*/true, llvm::GlobalValue::PrivateLinkage,
                                         llvm::ConstantArray::get(table_type, parts), name_ + ".parts");
  llvm::FunctionCallee run = m_.getOrInsertFunction(
      "gradc_parallel", llvm::FunctionType::get(b_.getVoidTy(), {ptr, ptr, i64_, ptr, ptr}, false));
  llvm::Constant* pool = m_.getOrInsertGlobal("gradc_pool", b_.getInt8Ty());
  b_.CreateCall(run, {pool, table, b_.getInt64(static_cast<std::int64_t>(parts.size())), in_, out_});
}

// C (m x p, contiguous) = A (m x kk, any strides) @ B (kk x p, unit column stride), loop
// order i-k-j: C zeroed, then C[i,j] += A[i,k] * B[k,j]. The j loop is contiguous in B and C
// and is left to the loop vectorizer. Register tiling: columns go in tiles of `tile_cols_`
// (a few vectors) and rows in blocks of kTileRows, so that the vectorized, fully unrolled j
// loop keeps the block of C in registers across the k loop and each load of B feeds
// kTileRows fmas (bench/choices.md, "Register tiles"). Leftover columns join the last tile
// (a short loop of their own would be masked, see matmul); leftover rows go kTileRows at a
// time (after a wider block), then one at a time.
// With `epilogue` (an elementwise node reading the product, see tensor_plan.cpp), each finished
// tile of C is replaced by the epilogue's value there.
void TensorBody::matmul_tiles(const Storage& a, const Storage& bm, const Storage& c, std::int64_t m, std::int64_t kk,
                  std::int64_t p, const Node* epilogue, const PackExtras& extras) {
  Shape as{static_cast<std::int32_t>(m), static_cast<std::int32_t>(kk)};
  Shape bs{static_cast<std::int32_t>(kk), static_cast<std::int32_t>(p)};
  Shape cs{static_cast<std::int32_t>(m), static_cast<std::int32_t>(p)};
  if (kk == 0) {
    zero(c, cs.size());
    if (epilogue)
      for_each_index(cs, [&](const Idx& idx) { store(c, cs, idx, value(epilogue, idx, /*compute=*/true)); });
    return;
  }
  if (splits_sum(m, p, kk)) {  // a small C over a long k: X^T @ dZ for a narrow X
    split_sum(c, m, p, kk, [&](llvm::Value* kv, llvm::Value* i, llvm::Value* j) {
      return b_.CreateFMul(load(a, as, Idx{i, kv, nullptr}), load(bm, bs, Idx{kv, j, nullptr}));
    });
    return;
  }
  struct Part {
    std::int64_t start, width, count;  // `count` tiles of `width`, the first at `start`
  };
  std::vector<Part> col_parts;
  std::int64_t cols = std::min(tile_cols_, p), full = p / cols, rest = p % cols;
  if (rest == 0) {
    col_parts.push_back({0, cols, full});
  } else if (rest >= kTinyTrip) {
    col_parts = {{0, cols, full}, {full * cols, rest, 1}};
  } else {
    if (full > 1) col_parts.push_back({0, cols, full - 1});
    col_parts.push_back({(full - 1) * cols, cols + rest, 1});
  }
  auto [rows, widest] = tile_geometry(m, p);
  // C does not overlap A or B (all are live at once): say so with a scope of its own,
  // so LICM can keep the block of C in registers across the k loop when A or B is in the
  // workspace too.
  AccScope acc_scope = new_acc_scope();
  auto mark_ab = [&](llvm::Value* v) { return acc_scope.reads(v); };
  std::vector<Part> row_parts{{0, rows, m / rows}};
  std::int64_t done = m / rows * rows;
  if (rows > kTileRows && m - done >= kTileRows) {
    row_parts.push_back({done, kTileRows, (m - done) / kTileRows});
    done += (m - done) / kTileRows * kTileRows;
  }
  if (m > done) row_parts.push_back({done, m - done, 1});  // the last rows, one block
  // B-panel packing: each block of rows walks the column strip of B (kk rows of a tile) down
  // again. When B's rows are 4 KiB or more apart, the strip's lines fall in few cache sets
  // and are evicted between blocks (X^T @ dZ of examples/gmm.grad; bench/choices.md,
  // "Packed strips"). Copying the strip once into a contiguous
  // buffer makes every later pass read consecutive lines; a strip longer than L1 holds is
  // also packed, and walked in blocks of k (TileRules::packs, k_block). Only the reads of B
  // move: each C element sums the same terms in the same order, so results are bit-identical.
  // Not in a part function (parallel_tiles): the parts run at once and the buffer is one global.
  bool pack = bm.stride[1] == 1 && packs(m, kk, p, bm.stride[0], extras.bnode != nullptr);
  if (extras.bnode && !pack) throw std::logic_error("codegen: a packed operand in a product that does not pack");
  // A long strip of a plain B in blocks of k (TileRules::k_block) is packed a block at a time,
  // just before the blocks of rows read it: the block is written to L1 and read there, where a
  // whole strip would go out to L2 and back (the 784-128-10 step's X @ W1: bench/choices.md,
  // "Blocks of k"). A computed B, or one with a column sum riding on it, is packed whole.
  const std::int64_t kc = pack ? k_block(kk, widest) : kk, blocks = (kk + kc - 1) / kc;
  const bool block_packs = blocks > 1 && !extras.bnode && !extras.colsum;
  std::int64_t packed_off = pack ? allocate((block_packs ? kc : kk) * widest) : 0;
  for (const Part& jp : col_parts) {
    std::vector<Loop> j_open;
    llvm::Value* j0 = nullptr;
    Storage bsrc = bm;
    Shape bsrc_shape = bs;
    llvm::Value* jb0 = nullptr;  // the tile's first column in bsrc
    if (pack) {
      // One loop over the column tiles around the row blocks, the strip copied at its top.
      if (jp.count > 1) j_open.push_back(begin_loop(jp.count));
      llvm::Value* jt = jp.count > 1 ? static_cast<llvm::Value*>(j_open.back().iv) : b_.getInt64(0);
      j0 = b_.CreateAdd(b_.CreateMul(jt, b_.getInt64(jp.width), "", true, true), b_.getInt64(jp.start), "", true,
                        true);
      bsrc_shape = Shape{static_cast<std::int32_t>(kk), static_cast<std::int32_t>(jp.width)};
      jb0 = b_.getInt64(0);
      if (block_packs) bsrc_shape = Shape{static_cast<std::int32_t>(kc), static_cast<std::int32_t>(jp.width)};
      bsrc = contiguous(workspace_, packed_off, bsrc_shape);
      if (!block_packs)
        scoped_nest([&](const AccScope& scope) {
          if (extras.bnode) {
            pack_computed(extras.bnode, bsrc, bsrc_shape, j0, jp.width, scope);
            return;
          }
          Loop kl = begin_loop(kk, "k");
          Loop jl = begin_loop(jp.width, "j");
          Idx at{kl.iv, b_.CreateAdd(j0, jl.iv, "", true, true), nullptr};
          scope.acc(store(bsrc, bsrc_shape, Idx{kl.iv, jl.iv, nullptr}, load(bm, bs, at)));
          end_loop(jl);
          end_loop(kl);
        });
      if (extras.colsum) {  // the column sums of the strip (riders), each from +0 with k increasing
        Shape ss{static_cast<std::int32_t>(p)};
        auto step = [&](llvm::Value* kv, bool first) {
          Loop jl = begin_loop(jp.width, "j");
          llvm::Value* at = address(*extras.colsum, ss, Idx{b_.CreateAdd(j0, jl.iv, "", true, true), nullptr, nullptr});
          llvm::Value* v = mark_ab(load(bsrc, bsrc_shape, Idx{kv, jl.iv, nullptr}));
          if (extras.negate) v = b_.CreateFNeg(v);
          llvm::Value* prev = first ? k(0) : acc_scope.acc(b_.CreateLoad(t_, at));
          acc_scope.acc(b_.CreateStore(b_.CreateFAdd(prev, v), at));
          end_loop(jl, /*unroll_vectorized=*/true);
        };
        step(b_.getInt64(0), true);
        Loop kl = begin_loop(kk - 1, "k");
        step(b_.CreateAdd(kl.iv, b_.getInt64(1), "", true, true), false);
        end_loop(kl);
      }
    }
    // The blocks of rows over k0 .. k0 + klen (k0 = 0 when first): C[i,j] = prev + A[i,k] *
    // B[k,j] over the j tile, prev = +0 at k = 0 (C is not zeroed first: no memset, no load of
    // the zeros) and C[i,j] after; the epilogue when the block of k is the last.
    auto row_blocks = [&](llvm::Value* k0, std::int64_t klen, bool first, bool last) {
      if (block_packs)
        scoped_nest([&](const AccScope& scope) {
          Loop kl = begin_loop(klen, "k");
          Loop jl = begin_loop(jp.width, "j");
          Idx at{b_.CreateAdd(k0, kl.iv, "", true, true), b_.CreateAdd(j0, jl.iv, "", true, true), nullptr};
          scope.acc(store(bsrc, bsrc_shape, Idx{kl.iv, jl.iv, nullptr}, load(bm, bs, at)));
          end_loop(jl);
          end_loop(kl);
        });
      for (const Part& ip : row_parts) {
        if (ip.count == 0) continue;
        std::vector<Loop> open;
        auto loop_or_zero = [&](std::int64_t extent) -> llvm::Value* {
          if (extent == 1) return b_.getInt64(0);
          open.push_back(begin_loop(extent));
          return open.back().iv;
        };
        auto tile_start = [&](const Part& part) {
          return b_.CreateAdd(b_.CreateMul(loop_or_zero(part.count), b_.getInt64(part.width), "", true, true),
                              b_.getInt64(part.start), "", true, true);
        };
        llvm::Value* jt0 = pack ? j0 : tile_start(jp);
        llvm::Value* jbt0 = pack ? jb0 : jt0;
        llvm::Value* i0 = tile_start(ip);
        std::vector<llvm::Value*> is;
        for (std::int64_t q = 0; q < ip.width; ++q)
          is.push_back(q == 0 ? i0 : b_.CreateAdd(i0, b_.getInt64(q), "", true, true));
        auto k_step = [&](llvm::Value* kv, bool zero_first) {
          std::vector<llvm::Value*> av;
          for (std::int64_t q = 0; q < ip.width; ++q) av.push_back(mark_ab(load(a, as, Idx{is[q], kv, nullptr})));
          Loop jl{};
          bool j_loop = jp.width > 1;
          llvm::Value* jv = b_.getInt64(0);
          if (j_loop) {
            jl = begin_loop(jp.width);
            jv = jl.iv;
          }
          llvm::Value* j = b_.CreateAdd(jt0, jv, "", true, true);
          llvm::Value* kb = block_packs ? b_.CreateSub(kv, k0, "", true, true) : kv;  // B's row in bsrc
          llvm::Value* bv = mark_ab(load(bsrc, bsrc_shape, Idx{kb, b_.CreateAdd(jbt0, jv, "", true, true), nullptr}));
          for (std::int64_t q = 0; q < ip.width; ++q) {
            llvm::Value* cp = address(c, cs, Idx{is[q], j, nullptr});
            llvm::Value* prev = zero_first ? k(0) : acc_scope.acc(b_.CreateLoad(t_, cp));
            acc_scope.acc(b_.CreateStore(b_.CreateFAdd(prev, b_.CreateFMul(av[q], bv)), cp));
          }
          if (j_loop) end_loop(jl, /*unroll_vectorized=*/true);
        };
        std::int64_t from = first ? 1 : 0;
        if (first) k_step(b_.getInt64(0), /*zero_first=*/true);
        if (klen > from) {
          Loop kl = begin_loop(klen - from);
          k_step(b_.CreateAdd(kl.iv, b_.CreateAdd(k0, b_.getInt64(from), "", true, true), "", true, true), false);
          end_loop(kl);
        }
        if (epilogue && last)  // reads the tile back (from registers, after store forwarding)
          for (std::int64_t q = 0; q < ip.width; ++q) {
            Loop jl = begin_loop(jp.width, "j");
            Idx idx{is[q], b_.CreateAdd(jt0, jl.iv, "", true, true), nullptr};
            store(c, cs, idx, value(epilogue, idx, /*compute=*/true));
            end_loop(jl, /*unroll_vectorized=*/true);
          }
        for (std::size_t l = open.size(); l-- > 0;) end_loop(open[l]);
      }
    };
    // A long packed strip in blocks of k (TileRules::k_block): each element still sums its
    // terms with k increasing, so the bits are those of one pass.
    if (blocks == 1) {
      row_blocks(b_.getInt64(0), kk, true, true);
    } else {
      row_blocks(b_.getInt64(0), kc, true, false);
      if (blocks > 2) {
        Loop kb = begin_loop(blocks - 2, "kb");
        row_blocks(b_.CreateMul(b_.CreateAdd(kb.iv, b_.getInt64(1), "", true, true), b_.getInt64(kc), "", true, true),
                   kc, false, false);
        end_loop(kb);
      }
      row_blocks(b_.getInt64((blocks - 1) * kc), kk - (blocks - 1) * kc, false, true);
    }
    for (std::size_t l = j_open.size(); l-- > 0;) end_loop(j_open[l]);
  }
  if (pack) release(packed_off, (block_packs ? kc : kk) * widest);
  if (extras.colsum && !pack) {  // not packed after all (B's layout): a loop of its own
    Shape ss{static_cast<std::int32_t>(p)};
    zero(*extras.colsum, p);
    for_each_index(bs, [&](const Idx& idx) {
      llvm::Value* at = address(*extras.colsum, ss, Idx{idx[1], nullptr, nullptr});
      llvm::Value* v = load(bm, bs, idx);
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(t_, at), extras.negate ? b_.CreateFNeg(v) : v), at);
    });
  }
}

// Packs the strip of columns j0 .. j0 + width of the elementwise node b (kk x p, not buffered)
// into dst, computing b there. When b's expression reads a [kk, G, d] tensor as [kk, G d]
// (the backward of a sum over groups of d columns), the strip is walked group by group: each
// column j = g d + r then carries its digits (regroup), so that reshape is no division, and
// whatever b reads per (k, g) is one load per group instead of a gather per column.
void TensorBody::pack_computed(const Node* b, const Storage& dst, const Shape& ds, llvm::Value* j0, std::int64_t width,
                               const AccScope& scope) {
  const std::int64_t kk = b->shape[0];
  Shape fine = loop_shape(b);
  std::int64_t d = fine.rank == 3 && fine[0] == kk ? fine[2] : 0;
  if (d < lanes_) {  // no groups, or too short to walk one by one
    Loop kl = begin_loop(kk, "k");
    Loop jl = begin_loop(width, "j");
    scope.acc(store(dst, ds, Idx{kl.iv, jl.iv, nullptr},
                    value(b, Idx{kl.iv, b_.CreateAdd(j0, jl.iv, "", true, true), nullptr})));
    end_loop(jl);
    end_loop(kl);
    return;
  }
  llvm::Value* g0 = b_.CreateUDiv(j0, b_.getInt64(d));
  llvm::Value* r0 = b_.CreateURem(j0, b_.getInt64(d));
  llvm::Value* w = b_.getInt64(width);
  // Segment s covers the strip's columns [s d - r0, (s + 1) d - r0) (from 0 for s = 0), of group g0 + s.
  for (std::int64_t seg = 0; seg < (width + d - 2) / d + 1; ++seg) {
    llvm::Value* start = seg == 0 ? b_.getInt64(0) : b_.CreateSub(b_.getInt64(seg * d), r0);
    llvm::Value* end = b_.CreateSub(b_.getInt64((seg + 1) * d), r0);
    end = b_.CreateSelect(b_.CreateICmpSLT(end, w), end, w);
    llvm::Value* len = b_.CreateSub(end, start);
    llvm::Value* rstart = seg == 0 ? r0 : b_.getInt64(0);
    llvm::Value* g = b_.CreateAdd(g0, b_.getInt64(seg));
    // (the last segment may be empty)
    Loop kl = begin_loop_upto(b_.CreateSelect(b_.CreateICmpSGT(len, b_.getInt64(0)), b_.getInt64(kk), b_.getInt64(0)), "k");
    Loop tl = begin_loop_upto(len, "t");
    llvm::Value* r = b_.CreateAdd(rstart, tl.iv, "", true, true);
    llvm::Value* j = b_.CreateAdd(b_.CreateMul(g, b_.getInt64(d), "", true, true), r, "", true, true);
    digits_.emplace(j, Digits{{g, fine[1]}, {r, d}});
    scope.acc(store(dst, ds, Idx{kl.iv, b_.CreateAdd(start, tl.iv, "", true, true), nullptr},
                    value(b, Idx{kl.iv, j, nullptr})));
    end_loop(tl, false, std::max<std::int64_t>(1, 32 / elem_bytes_));
    end_loop(kl);
  }
}

// C (m x p) = A @ B for p <= kTileRows with A's rows contiguous: each C[i,j] a dot product
// along k in vectors of kDotLanes (whatever the host's vector width, so that results do not
// depend on the host): lane l sums the terms with k = l mod kDotLanes, the lanes are added
// pairwise, ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), then the last kk mod kDotLanes
// terms one by one. Vectorizing along i instead (C^T = B^T @ A^T) reads A's columns with
// gathers, which cost more than the dot products' lane sums (bench/choices.md, "Dot products").
void TensorBody::matmul_dots(const Storage& a, const Storage& bt, const Storage& c, std::int64_t m, std::int64_t kk,
                 std::int64_t p) {
  Shape as{static_cast<std::int32_t>(m), static_cast<std::int32_t>(kk)};
  Shape bts{static_cast<std::int32_t>(p), static_cast<std::int32_t>(kk)};
  Shape cs{static_cast<std::int32_t>(m), static_cast<std::int32_t>(p)};
  auto* vt = llvm::FixedVectorType::get(t_, kDotLanes);
  auto vload = [&](const Storage& st, const Shape& sh, const Idx& idx) {
    return b_.CreateAlignedLoad(vt, address(st, sh, idx), llvm::Align(elem_bytes_));
  };
  llvm::IRBuilder<> eb(entry_, entry_->begin());
  std::vector<llvm::AllocaInst*> acc;
  for (std::int64_t j = 0; j < p; ++j) acc.push_back(eb.CreateAlloca(vt, nullptr, "dot"));
  std::int64_t chunks = kk / kDotLanes;
  Loop il = begin_loop(m);
  for (llvm::AllocaInst* v : acc) b_.CreateStore(llvm::Constant::getNullValue(vt), v);
  auto chunk = [&](llvm::Value* k0) {
    llvm::Value* av = vload(a, as, Idx{il.iv, k0, nullptr});
    for (std::int64_t j = 0; j < p; ++j) {
      llvm::Value* bv = vload(bt, bts, Idx{b_.getInt64(j), k0, nullptr});
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(vt, acc[j]), b_.CreateFMul(av, bv)), acc[j]);
    }
  };
  if (chunks <= kDotUnroll) {  // a short k (a 16-unit layer: 2 chunks) as straight-line code
    for (std::int64_t q = 0; q < chunks; ++q) chunk(b_.getInt64(q * kDotLanes));
  } else {
    Loop kl = begin_loop(chunks, "k");
    chunk(b_.CreateMul(kl.iv, b_.getInt64(kDotLanes), "", true, true));
    end_loop(kl);
  }
  for (std::int64_t j = 0; j < p; ++j) {
    llvm::Value* v = b_.CreateLoad(vt, acc[j]);
    for (std::int64_t half = kDotLanes / 2; half >= 1; half /= 2) {
      std::vector<int> lo, hi;
      for (std::int64_t l = 0; l < half; ++l) {
        lo.push_back(static_cast<int>(l));
        hi.push_back(static_cast<int>(l + half));
      }
      v = b_.CreateFAdd(b_.CreateShuffleVector(v, lo), b_.CreateShuffleVector(v, hi));
    }
    llvm::Value* sum = b_.CreateExtractElement(v, std::uint64_t(0));
    for (std::int64_t kv = chunks * kDotLanes; kv < kk; ++kv)
      sum = b_.CreateFAdd(sum, b_.CreateFMul(load(a, as, Idx{il.iv, b_.getInt64(kv), nullptr}),
                                             load(bt, bts, Idx{b_.getInt64(j), b_.getInt64(kv), nullptr})));
    store(c, cs, Idx{il.iv, b_.getInt64(j), nullptr}, sum);
  }
  end_loop(il);
}

}  // namespace gradc::codegen_detail
