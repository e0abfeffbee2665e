// The tensor kernel's plan: fusion, buffers and views, the workspace (last uses). No LLVM.
//
// Each node is (a) a scalar if it has rank 0, (b) a buffer, or (c) fused into the loop of the
// node that consumes it. Buffers: the inputs (a slice of `in`), Tensor constants, and
// materialized nodes, which live in their output slot when they are an output and in the
// workspace otherwise. Materialized: MatMul (but an outer product, inner dimension 1, is fused
// like an elementwise op), Sum, ReduceMax, Embed and OneHot results, and an elementwise node
// that is an output, is evaluated at more than one place (counting through the views over
// it), is read through a Broadcast that repeats it (its value would be recomputed per
// repetition), or is a matrix product's operand. A product read only by the fused expression
// of one buffered elementwise node is computed in that node's buffer, the expression applied
// to each register tile (see analyze). A column sum of a product's right operand B rides on
// the product's packed strips, and an elementwise B read by nothing else is computed as it is
// packed, without a buffer (see riders).
// Broadcast, Reshape, Transpose, Index and Detach are index maps, never copies: over a buffer
// they are strided views of it (a broadcast axis has stride 0); over a fused expression they
// remap the loop index. So `tanh(x @ W + b)` is the product's loop nest writing a buffer and
// one loop computing tanh(buf[i,j] + b[j]), and sum(exp(x - m)) computes exp in the sum's loop.
//
// Workspace buffers are allocated first-fit and freed after the step that reads them last, so
// they reuse memory; since their offsets are constants and every buffer is live while a loop
// reads or writes it, the loops of one step never touch overlapping memory through different
// buffers.
#include "compiler/codegen/tensor_plan.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/detail.hpp"
#include "compiler/ops_tensor.hpp"
#include "compiler/print.hpp"
#include "support/diagnostics.hpp"

namespace gradc {

using namespace codegen_detail;

// ---- Tile rules.
TileRules TileRules::for_target(const TargetInfo& target, DType dtype) {
  TileRules r;
  r.elem_bytes = dtype == DType::F32 ? 4 : 8;
  // The matrix product's register tile: about half the vector registers hold the block of
  // C (kTileRows rows of tile_cols), the rest the B vectors and A broadcasts.
  // The widest vectors the host has (runtime/jit.cpp asks for them when the products are large).
  r.lanes = std::max<std::int64_t>(1, std::max(target.vector_bits, target.wide_vector_bits) / 8 / r.elem_bytes);
  r.accumulators = std::max<std::int64_t>(kTileRows, target.vector_registers / 2);
  r.tile_cols = r.lanes * std::max<std::int64_t>(1, r.accumulators / kTileRows);
  r.threads = std::max(1u, target.threads);
  return r;
}

TileRules::Geometry TileRules::tile_geometry(std::int64_t m, std::int64_t p) const {
  std::int64_t cols = std::min(tile_cols, p), rest = p % cols, widest = cols;
  if (rest != 0 && rest < kTinyTrip) widest = cols + rest;  // leftover columns join the last tile
  std::int64_t vectors = (widest + lanes - 1) / lanes;
  // Rows per block: kTileRows, or more (as many as fill the accumulators, up to kMaxTileRows)
  // when the column tiles are only a vector or two wide (a 16-column layer): kTileRows rows of
  // one vector are too few independent fma chains to hide the fma latency (bench/choices.md,
  // "Register tiles").
  return {std::min(std::clamp(accumulators / vectors, kTileRows, kMaxTileRows), m), widest};
}

bool TileRules::packs(std::int64_t m, std::int64_t kk, std::int64_t p, std::int64_t b_row_stride,
                      bool computed_b) const {
  Geometry g = tile_geometry(m, p);
  // Blocks of k pay for the copy when B's rows are longer than the strip (a strip as wide as B
  // is contiguous already: the 2-16-16-1 network's X^T @ dZ took 11% longer packed).
  bool blocked = k_block(kk, g.widest) < kk && b_row_stride > g.widest;
  return (computed_b || blocked || b_row_stride * elem_bytes >= kPackStrideBytes) && m > g.rows && kk >= kTileRows &&
         kk * g.widest * elem_bytes <= kPackMaxBytes;
}

std::int64_t TileRules::k_block(std::int64_t kk, std::int64_t width) const {
  std::int64_t rows = std::max<std::int64_t>(kTileRows, kBlockBytes / (width * elem_bytes));
  return kk <= rows + rows / 2 ? kk : rows;  // no short block of its own for a little over one
}

// Each thread gets at least 2 kTileRows rows, and the whole is large enough that the hand-off
// pays.
bool TileRules::parallel(std::int64_t m, std::int64_t kk, std::int64_t p) const {
  return threads > 1 && m >= 2 * kTileRows * threads && m * kk * p >= kParallelMacs;
}

// The terms are many, the outputs too few vectors to keep both fma pipes busy (2 pipes x 4
// cycles latency), and kSplit copies of them fit in the accumulator registers. The choice
// changes the order of the sums, so it is made for one notional machine (512-bit vectors, 16
// accumulators: the AVX-512 host's), not the host: results do not depend on the host's vector
// width.
bool TileRules::splits_sum(std::int64_t rows, std::int64_t cols, std::int64_t kk) const {
  const std::int64_t notional_lanes = 64 / elem_bytes, notional_accumulators = 16;
  std::int64_t vectors = rows * ((cols + notional_lanes - 1) / notional_lanes);
  return kk >= kSplitMinTerms && vectors < 8 && vectors * kSplit <= notional_accumulators;
}

// ---- The workspace.
Workspace::Workspace(std::int64_t elem_bytes)
    : elem_bytes_(elem_bytes), align_elems_(kBufferAlignBytes / elem_bytes) {}

std::int64_t Workspace::allocate(std::int64_t size) {
  std::int64_t need = (size + align_elems_ - 1) / align_elems_ * align_elems_;
  for (std::size_t i = 0; i < free_.size(); ++i) {
    auto& [off, len] = free_[i];
    if (len < need) continue;
    std::int64_t at = off;
    off += need;
    len -= need;
    if (len == 0) free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
    return at;
  }
  // Grow at the top, absorbing a free interval that ends there.
  std::int64_t at = top_;
  if (!free_.empty() && free_.back().first + free_.back().second == top_) {
    at = free_.back().first;
    free_.pop_back();
  }
  top_ = at + need;
  if (top_ * elem_bytes_ > kMaxWorkspaceBytes)
    throw LimitError("the compiled kernel's intermediate tensors need more than " +
                     std::to_string(kMaxWorkspaceBytes >> 20) + " MiB (README, \"Limits\")");
  return at;
}

void Workspace::release(std::int64_t off, std::int64_t size) {
  std::int64_t len = (size + align_elems_ - 1) / align_elems_ * align_elems_;
  auto it = std::lower_bound(free_.begin(), free_.end(), std::pair{off, std::int64_t(0)});
  it = free_.insert(it, {off, len});
  auto next = it + 1;
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = it - 1;
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

// ---- The plan.
const Node* TensorPlan::operand(const Node* n, int i) const {
  // The backward of relu, g * step(x), then reads the activation it keeps anyway (as
  // PyTorch's threshold_backward does) instead of keeping x too: without it x + b, read by
  // relu and by step, gets a buffer and a loop of its own (bench/choices.md, "step(x) reads
  // relu(x)").
  if (n->op == Op::Step) {
    auto r = relu_of.find(n->arg(0));
    if (r != relu_of.end() && pos.at(r->second) < pos.at(n)) return r->second;
  }
  return n->arg(i);
}

namespace {

using Users = std::vector<std::vector<std::uint32_t>>;

class Planner {
 public:
  Planner(TensorPlan& plan, const TileRules& rules) : P(plan), rules_(rules) {}

  void analyze();
  void place();

 private:
  void riders(const Users& users);
  const Node* epilogue(std::size_t p, const Users& users) const;
  void view(std::size_t p);
  NodePlan& at(const Node* n) { return P.nodes[P.pos.at(n)]; }

  TensorPlan& P;
  const TileRules& rules_;
  std::vector<bool> materialize_;
};

// Reverse topological order, so every consumer is decided before the nodes it reads.
void Planner::analyze() {
  const std::vector<const Node*>& order = P.order;
  const std::size_t end = order.size();  // the output copies run after every step
  Users users(order.size());
  for (std::size_t p = 0; p < order.size(); ++p) {
    const Node* n = order[p];
    for (int i = 0; i < n->nargs; ++i) {
      if (i == 1 && n->arg(1) == n->arg(0)) continue;  // x*x reads x once per element
      users[P.pos.at(P.operand(n, i))].push_back(static_cast<std::uint32_t>(p));
    }
  }
  riders(users);
  materialize_.assign(order.size(), false);
  for (std::size_t p = order.size(); p-- > 0;) {
    const Node* n = order[p];
    NodePlan& I = P.nodes[p];
    I.sites = I.out_count;
    std::size_t last = I.out_count > 0 ? end : 0;
    for (std::uint32_t u : users[p]) {
      const Node* c = order[u];
      const NodePlan& C = P.nodes[u];
      if (c->shape.rank > 0 && is_view_op(c->op)) {  // fused index map over n
        I.sites += C.sites;
        I.repeated |= C.repeated || (c->op == Op::Broadcast && c->shape.size() > n->shape.size());
        I.matmul_operand |= C.matmul_operand;
      } else {
        I.sites += 1;
        I.matmul_operand |= c->op == Op::MatMul && !is_outer_product(c);
        I.repeated |= is_outer_product(c);  // each element is read once per row or column
      }
      last = std::max(last, C.eval_pos);
    }
    I.last_use = last;
    bool computed = n->shape.rank > 0 && is_pointwise(n);
    bool materialize = n->shape.rank > 0 &&
                       (has_own_loop(n) ||
                        (computed && (I.out_count > 0 || I.sites > 1 || I.repeated || I.matmul_operand)));
    // A matrix product read only by an elementwise expression that ends in a buffer of its
    // shape (relu(x @ W + b)) is computed into that buffer, and the expression is applied to
    // each register tile of it as the tile is finished: no pass over the product's result.
    if (I.packed) materialize = false;  // computed as its product packs it (riders)
    materialize_[p] = materialize;
    if (const Node* e = n->op == Op::MatMul && materialize && I.out_count == 0 && !I.column_sum ? epilogue(p, users)
                                                                                                 : nullptr) {
      at(e).epilogue_of = n;
      materialize_[p] = materialize = false;
      I.why = Why::Epilogue;
    }
    bool fused = n->shape.rank > 0 && !materialize && n->op != Op::Var && n->op != Op::Tensor;
    I.eval_pos = fused ? last : p;
  }
}

// Column sums that ride on a matrix product. The backward of x @ W + b over a batch reads the
// batch's cotangent dZ twice: W's gradient x^T @ dZ, and b's, sum(dZ, axis 0) (or of -dZ for
// x @ W - b). When the product packs dZ's column strips (matmul_tiles), the strip is in cache
// and the column sums are one more row of the product: sum(±dZ) is taken from each strip
// instead of in a pass of its own (each sum adds its terms in the same order, k increasing
// from +0, so the bits are those of the sum's own loop). When dZ is elementwise and read by
// nothing else, it gets no buffer either: the product computes it as it packs it (gmm.grad at
// d = 20, K = 200: dZ is [1000, 4000], 32 MB written and read twice).
// The sum is filled at the product's step: it must come before the product and be read only
// after it.
void Planner::riders(const Users& users) {
  const std::vector<const Node*>& order = P.order;
  for (std::size_t p = 0; p < order.size(); ++p) {
    const Node* mm = order[p];
    if (mm->op != Op::MatMul || mm->shape.rank != 2 || is_outer_product(mm)) continue;
    const Node* bn = mm->arg(1);
    if (bn == mm->arg(0) || bn->shape.rank != 2 || !is_pointwise(bn)) continue;
    std::int64_t m = mm->shape[0], kk = bn->shape[0], cols = bn->shape[1];
    // A column sum that its own loop takes as partial sums (split_sum) keeps that order: riding,
    // it would add its terms in one chain, and whether it rides depends on the host's tiles.
    if (cols < TileRules::kTinyTrip || rules_.parallel(m, kk, cols) || rules_.splits_sum(m, cols, kk) ||
        rules_.splits_sum(1, cols, kk) || !rules_.packs(m, kk, cols, cols, true))
      continue;
    std::size_t pb = P.pos.at(bn);
    const Node* sum = nullptr;
    bool negate = false, only = P.nodes[pb].out_count == 0;
    auto column_sum = [](const Node* x) { return x->op == Op::Sum && x->axis == 0 && x->shape.rank == 1; };
    for (std::uint32_t u : users[pb]) {
      const Node* c = order[u];
      if (c == mm) continue;
      if (!sum && column_sum(c)) {
        sum = c;
        continue;
      }
      if (!sum && c->op == Op::Neg && P.nodes[u].out_count == 0 && users[u].size() == 1 &&
          column_sum(order[users[u][0]])) {
        sum = order[users[u][0]];
        negate = true;
        continue;
      }
      only = false;
    }
    if (!sum) continue;
    std::size_t ps = P.pos.at(sum);
    bool read_after = ps < p && std::all_of(users[ps].begin(), users[ps].end(), [&](std::uint32_t u) { return u > p; });
    if (!read_after) continue;
    // Packing only for the sum's sake costs more than the sum's pass when B is small (the
    // regression network's layers: 1,024 x 16): ride on products that pack anyway, or that
    // compute B.
    if (!only && !rules_.packs(m, kk, cols, cols, false)) continue;
    P.nodes[p].column_sum = sum;
    P.nodes[p].negated_sum = negate;
    P.nodes[ps].summed_by = mm;
    P.nodes[pb].packed = only;
  }
}

// The buffered node that can finish the matrix product at position p in its register tiles:
// the product has one reader, a chain of fused elementwise nodes of its shape, each read once
// and directly, ends in a buffered elementwise node that finishes no other product; and the
// product takes matmul_tiles' plain path. Else nullptr. A node finishes at most one product:
// in A @ B + C @ D, the later product (analyzed first) writes the sum's buffer, and the other
// keeps a buffer of its own (both in one buffer would overwrite each other).
const Node* Planner::epilogue(std::size_t p, const Users& users) const {
  const Node* mm = P.order[p];
  if (mm->shape.rank != 2) return nullptr;  // a stack of products has a loop nest of its own
  std::int64_t m = mm->shape[0], kk = mm->arg(0)->shape[1], cols = mm->shape[1];
  if (is_outer_product(mm) || (cols < TileRules::kTinyTrip && m >= TileRules::kTinyTrip) ||
      rules_.splits_sum(m, cols, kk) || rules_.parallel(m, kk, cols))
    return nullptr;
  std::size_t at = p;
  while (users[at].size() == 1) {
    at = users[at][0];
    const Node* c = P.order[at];
    if (is_view_op(c->op) || !c->info().elementwise || c->shape != mm->shape) return nullptr;
    if (materialize_[at]) return P.nodes[at].epilogue_of ? nullptr : c;
  }
  return nullptr;
}

void contiguous(NodePlan& I, std::int64_t offset, const Shape& s) {
  I.offset = offset;
  for (int d = 0; d < s.rank; ++d) I.stride[d] = row_major_stride(s, d);
}

bool is_contiguous(const NodePlan& I, const Shape& s) {
  for (int d = 0; d < s.rank; ++d)
    if (s[d] != 1 && I.stride[d] != row_major_stride(s, d)) return false;
  return true;
}

bool has_buffer(Place p) { return p != Place::Scalar && p != Place::Fused; }

// A view op over a strided buffer is a strided buffer; over a scalar or a fused expression,
// or a reshape that would need divisions, it stays an index map (Fused).
void Planner::view(std::size_t p) {
  const Node* n = P.order[p];
  const Node* x = n->arg(0);
  const NodePlan& a = at(x);
  NodePlan& s = P.nodes[p];
  s.place = Place::Fused;
  s.why = Why::IndexMap;
  if (!has_buffer(a.place)) return;
  auto strided = [&] {
    s.place = Place::View;
    s.why = Why::StridedView;
    s.base = a.place == Place::View ? a.base : static_cast<std::int32_t>(P.pos.at(x));
    s.offset = a.offset;
    s.stride = {0, 0, 0};
  };
  switch (n->op) {
    case Op::Detach:
      strided();
      s.stride = a.stride;
      return;
    case Op::Broadcast: {
      strided();
      int shift = n->shape.rank - x->shape.rank;
      for (int d = 0; d < n->shape.rank; ++d) {
        int e = d - shift;
        s.stride[d] = e < 0 || x->shape[e] == 1 ? 0 : a.stride[e];
      }
      return;
    }
    case Op::Transpose: {  // axis d of the view is axis p[d] of the operand
      strided();
      auto perm = tensor_ops::permutation(n->axis, x->shape.rank);
      for (int d = 0; d < n->shape.rank; ++d) s.stride[d] = a.stride[perm[d]];
      return;
    }
    case Op::Slice:
      strided();
      s.stride = a.stride;
      s.offset += std::int64_t(n->index) * a.stride[n->axis];
      return;
    case Op::Index:
      strided();
      s.offset += std::int64_t(n->index) * a.stride[n->axis];
      for (int d = 0, e = 0; d < x->shape.rank; ++d)
        if (d != n->axis) s.stride[e++] = a.stride[d];
      return;
    case Op::Reshape:
      if (is_contiguous(a, x->shape)) {
        strided();
        for (int d = 0; d < n->shape.rank; ++d) s.stride[d] = row_major_stride(n->shape, d);
        return;
      }
      if (reshape_moves_ones_only(x->shape, n->shape)) {
        strided();
        for (int d = 0, e = 0; d < n->shape.rank; ++d) {
          if (n->shape[d] == 1) continue;
          while (x->shape[e] == 1) ++e;
          s.stride[d] = a.stride[e++];
        }
      }
      return;
    default:
      throw std::logic_error("codegen: not a view op");
  }
}

// Places the nodes in order: the workspace buffers of the materialized nodes, freed after the
// step that reads them last.
void Planner::place() {
  const std::vector<const Node*>& order = P.order;
  Workspace ws(P.elem_bytes);
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> frees(order.size());
  auto input = [&](const Node* n) {
    auto it = P.input_offset.find(n);
    if (it == P.input_offset.end()) throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
    return it->second;
  };
  for (std::size_t p = 0; p < order.size(); ++p) {
    const Node* n = order[p];
    NodePlan& I = P.nodes[p];
    if (n->shape.rank == 0) {
      I.place = Place::Scalar;
      I.why = Why::Rank0;
      if (n->op == Op::Var) I.offset = input(n);
    } else if (n->op == Op::Var) {
      I.place = Place::Input;
      I.why = Why::Input;
      contiguous(I, input(n), n->shape);
    } else if (n->op == Op::Tensor) {
      I.place = Place::Constant;
      I.why = Why::Constant;
      contiguous(I, 0, n->shape);
    } else if (materialize_[p]) {
      I.why = has_own_loop(n)     ? Why::OwnLoop
              : I.out_count > 0   ? Why::Output
              : I.sites > 1       ? Why::Shared
              : I.repeated        ? Why::Repeated
                                  : Why::MatmulOperand;
      if (I.out_count > 0) {
        I.place = Place::Output;
        contiguous(I, I.first_out, n->shape);
      } else {
        I.place = Place::Workspace;
        contiguous(I, ws.allocate(n->shape.size()), n->shape);
        if (I.last_use < order.size()) frees[I.last_use].emplace_back(I.offset, n->shape.size());
      }
    } else if (is_view_op(n->op)) {
      view(p);
    } else {
      I.place = Place::Fused;
      if (I.packed) I.why = Why::Packed;
      else if (I.why != Why::Epilogue) I.why = is_outer_product(n) ? Why::OuterProduct : Why::SingleUse;
    }
    for (auto [off, size] : frees[p]) ws.release(off, size);
  }
  P.workspace_elems = ws.top();
}

}  // namespace

TensorPlan plan_tensor_kernel(const KernelSpec& spec, const TileRules& rules) {
  TensorPlan P;
  P.elem_bytes = rules.elem_bytes;
  P.order = reachable(spec.outputs);
  for (std::size_t p = 0; p < P.order.size(); ++p) P.pos.emplace(P.order[p], p);
  for (const Node* n : P.order)
    if (n->op == Op::Relu) P.relu_of.emplace(n->arg(0), n);
  P.nodes.assign(P.order.size(), NodePlan{});
  // Offsets of the inputs in `in` (a variable listed twice is read from its first slot).
  std::int64_t at = 0;
  for (const Node* v : spec.inputs) {
    P.input_offset.emplace(v, at);
    at += v->shape.size();
  }
  // Output slots: the first slot of a computed node is its buffer; other slots are copies.
  at = 0;
  for (const Node* o : spec.outputs) {
    P.out_offset.push_back(at);
    NodePlan& oi = P.nodes[P.pos.at(o)];
    if (oi.out_count++ == 0) oi.first_out = at;
    at += o->shape.size();
  }
  Planner planner(P, rules);
  planner.analyze();
  planner.place();
  return P;
}

const char* place_name(Place p) {
  switch (p) {
    case Place::Scalar: return "scalar";
    case Place::Input: return "input";
    case Place::Constant: return "constant";
    case Place::Output: return "output";
    case Place::Workspace: return "workspace";
    case Place::View: return "view";
    case Place::Fused: return "fused";
  }
  return "?";
}

const char* why_name(Why w) {
  switch (w) {
    case Why::Rank0: return "rank 0";
    case Why::Input: return "an input";
    case Why::Constant: return "a tensor literal";
    case Why::OwnLoop: return "a loop nest of its own";
    case Why::Output: return "an output";
    case Why::Shared: return "read at several places";
    case Why::Repeated: return "read repeatedly (broadcast or outer product)";
    case Why::MatmulOperand: return "a matrix product's operand";
    case Why::Epilogue: return "computed in its reader's buffer, tile by tile";
    case Why::Packed: return "computed as its product packs it";
    case Why::StridedView: return "strides over a buffer";
    case Why::IndexMap: return "an index map";
    case Why::SingleUse: return "read at one place";
    case Why::OuterProduct: return "an outer product, elementwise";
  }
  return "?";
}

std::string format_plan(const TensorPlan& plan, const KernelSpec& spec, std::span<const std::string> labels) {
  std::string listing = print_listing(spec.outputs, labels);
  std::unordered_map<const Node*, const Node*> finisher;  // product -> the node finishing it
  for (std::size_t p = 0; p < plan.order.size(); ++p)
    if (plan.nodes[p].epilogue_of) finisher.emplace(plan.nodes[p].epilogue_of, plan.order[p]);
  auto num = [&](const Node* n) { return plan.pos.at(n); };
  bool tensors = std::any_of(plan.order.begin(), plan.order.end(), [](const Node* n) { return n->shape.rank > 0; });
  std::string out =
      tensors ? fmt::format("# {} kernel '{}': the nodes' buffers take {} elements of the workspace ({} bytes)\n",
                            spec.dtype == DType::F32 ? "f32" : "f64", spec.name, plan.workspace_elems,
                            plan.workspace_elems * plan.elem_bytes)
              : fmt::format("# {} kernel '{}': scalars only, straight-line code without loops or buffers\n",
                            spec.dtype == DType::F32 ? "f32" : "f64", spec.name);
  std::size_t p = 0, line_start = 0;
  while (line_start < listing.size()) {
    std::size_t nl = listing.find('\n', line_start);
    std::string line = listing.substr(line_start, nl - line_start);
    line_start = nl + 1;
    if (line.empty() || line[0] != '%' || p >= plan.order.size()) {
      out += line + "\n";
      continue;
    }
    const Node* n = plan.order[p];
    const NodePlan& I = plan.nodes[p++];
    std::string where;
    auto strides = [&] {
      std::string s;
      for (int d = 0; d < n->shape.rank; ++d) s += fmt::format("{}{}", d ? ", " : "", I.stride[d]);
      return s;
    };
    switch (I.place) {
      case Place::Scalar: where = n->op == Op::Var ? fmt::format("scalar, in @{}", I.offset) : "scalar"; break;
      case Place::Input: where = fmt::format("in @{}", I.offset); break;
      case Place::Constant: where = "constant"; break;
      case Place::Output: where = fmt::format("out @{}", I.offset); break;
      case Place::Workspace:
        where = I.last_use < plan.order.size() ? fmt::format("workspace @{}, free after %{}", I.offset, I.last_use)
                                               : fmt::format("workspace @{}, read by the output copies", I.offset);
        break;
      case Place::View:
        where = fmt::format("view of %{} @{}, strides ({})", I.base, I.offset, strides());
        break;
      case Place::Fused:
        if (I.why == Why::Epilogue) where = fmt::format("in %{}'s buffer", num(finisher.at(n)));
        else if (I.why == Why::Packed) where = "packed by its product";
        else if (I.eval_pos >= plan.order.size()) where = "fused into the output copy";
        else where = fmt::format("fused into %{}", I.eval_pos);
        break;
    }
    if (I.summed_by) where += fmt::format(", filled by %{} (rides on its packed strips)", num(I.summed_by));
    if (I.epilogue_of) where += fmt::format(", finishes %{}'s tiles", num(I.epilogue_of));
    constexpr std::size_t kColumn = 40;
    if (line.size() < kColumn) line.resize(kColumn, ' ');
    out += fmt::format("{}  # {} ({})\n", line, where, why_name(I.why));
  }
  return out;
}

}  // namespace gradc
