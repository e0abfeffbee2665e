// TensorBody's plan: fusion, buffers and views, the workspace (last uses), and emit.
#include "compiler/codegen/tensor_body.hpp"

#include <algorithm>

#include "compiler/ops_tensor.hpp"
#include "support/diagnostics.hpp"

namespace gradc::codegen_detail {

void TensorBody::emit(const KernelSpec& spec, llvm::Value* in, llvm::Value* out) {
  entry_ = b_.GetInsertBlock();
  in_ = in;
  out_ = out;
  name_ = spec.name;
  order_ = reachable(spec.outputs);
  for (std::size_t p = 0; p < order_.size(); ++p) pos_.emplace(order_[p], p);
  for (const Node* n : order_)
    if (n->op == Op::Relu) relu_of_.emplace(n->arg(0), n);
  info_.assign(order_.size(), Info{});
  make_constant_table(order_, spec.name);
  workspace_ = new llvm::GlobalVariable(m_, llvm::ArrayType::get(t_, 0), /*isConstant=*/false,
                                        llvm::GlobalValue::InternalLinkage,
                                        llvm::ConstantAggregateZero::get(llvm::ArrayType::get(t_, 0)),
                                        spec.name + ".workspace");

  // Offsets of the inputs in `in` (a variable listed twice is read from its first slot).
  std::unordered_map<const Node*, std::int64_t> input_offset;
  std::int64_t at = 0;
  for (const Node* v : spec.inputs) {
    input_offset.emplace(v, at);
    at += v->shape.size();
  }
  // Output slots: the first slot of a computed node is its buffer; other slots are copies.
  std::vector<std::int64_t> out_offset;
  at = 0;
  for (const Node* o : spec.outputs) {
    out_offset.push_back(at);
    Info& oi = info_[pos_.at(o)];
    if (oi.out_count++ == 0) oi.first_out = at;
    at += o->shape.size();
  }

  analyze();

  // Workspace buffers (offset, size) by the step that reads them last.
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> frees(order_.size());
  for (std::size_t p = 0; p < order_.size(); ++p) {
    const Node* n = order_[p];
    Info& I = info_[p];
    Storage& s = I.st;
    if (n->shape.rank == 0) {
      s.kind = Kind::Scalar;
      if (n->op == Op::Var) {
        auto it = input_offset.find(n);
        if (it == input_offset.end())
          throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
        s.scalar = b_.CreateLoad(t_, b_.CreateConstInBoundsGEP1_64(t_, in, it->second), n->name);
      } else {
        s.scalar = scalar_node(n);
      }
    } else if (n->op == Op::Var) {
      auto it = input_offset.find(n);
      if (it == input_offset.end())
        throw std::logic_error("codegen: variable '" + n->name + "' is not a kernel input");
      s = contiguous(in, it->second, n->shape);
    } else if (n->op == Op::Tensor) {
      s = contiguous(tensor_global(n), 0, n->shape);
    } else if (I.materialize) {
      if (I.out_count > 0) {
        s = contiguous(out, I.first_out, n->shape);
      } else {
        std::int64_t off = allocate(n->shape.size());
        if (I.last_use < order_.size()) frees[I.last_use].emplace_back(off, n->shape.size());
        s = contiguous(workspace_, off, n->shape);
      }
      materialize(n, s);
    } else if (is_view_op(n->op)) {
      s = view_storage(n);
    } else {
      s.kind = Kind::Fused;
    }
    for (auto [off, size] : frees[p]) release(off, size);
  }

  // The outputs that are not their node's buffer: scalars, inputs, constants, views, and a
  // node's second slot.
  for (std::size_t j = 0; j < spec.outputs.size(); ++j) {
    const Node* o = spec.outputs[j];
    const Info& oi = info_[pos_.at(o)];
    if (o->shape.rank == 0) {
      b_.CreateStore(oi.st.scalar, b_.CreateConstInBoundsGEP1_64(t_, out, out_offset[j]));
      continue;
    }
    if (oi.materialize && oi.first_out == out_offset[j]) continue;
    Storage dst = contiguous(out, out_offset[j], o->shape);
    for_each_index(o->shape, [&](const Idx& idx) { store(dst, o->shape, idx, value(o, idx)); });
  }

  finish_workspace(spec.name);
}

// Operand i of n as the kernel reads it: n's own, except that step(x) reads relu(x) when the
// kernel computes that (before n): the two have the same sign, and the backward of relu,
// g * step(x), then reads the activation it keeps anyway (as PyTorch's threshold_backward
// does) instead of keeping x too. Without it x + b, read by relu and by step, gets a buffer
// and a loop of its own (2-16-16-1, f64: two passes over 1,024 x 16, ~2 us of a 26 us step).
const Node* TensorBody::operand(const Node* n, int i) const {
  if (n->op == Op::Step) {
    auto r = relu_of_.find(n->arg(0));
    if (r != relu_of_.end() && pos_.at(r->second) < pos_.at(n)) return r->second;
  }
  return n->arg(i);
}

// ---- Analysis: which nodes get a buffer, and when buffers die. Reverse topological order,
// so every consumer is decided before the nodes it reads.
void TensorBody::analyze() {
  const std::size_t end = order_.size();  // the output copies run after every step
  std::vector<std::vector<std::uint32_t>> users(order_.size());
  for (std::size_t p = 0; p < order_.size(); ++p) {
    const Node* n = order_[p];
    for (int i = 0; i < n->nargs; ++i) {
      if (i == 1 && n->arg(1) == n->arg(0)) continue;  // x*x reads x once per element
      users[pos_.at(operand(n, i))].push_back(static_cast<std::uint32_t>(p));
    }
  }
  riders(users);
  for (std::size_t p = order_.size(); p-- > 0;) {
    const Node* n = order_[p];
    Info& I = info_[p];
    I.sites = I.out_count;
    std::size_t last = I.out_count > 0 ? end : 0;
    for (std::uint32_t u : users[p]) {
      const Node* c = order_[u];
      const Info& C = info_[u];
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
    I.materialize = n->shape.rank > 0 &&
                    (has_own_loop(n) ||
                     (computed && (I.out_count > 0 || I.sites > 1 || I.repeated || I.matmul_operand)));
    // A matrix product read only by an elementwise expression that ends in a buffer of its
    // shape (relu(x @ W + b)) is computed into that buffer, and the expression is applied to
    // each register tile of it as the tile is finished: no pass over the product's result.
    if (I.packed) I.materialize = false;  // computed as its product packs it (riders)
    if (const Node* e = n->op == Op::MatMul && I.materialize && I.out_count == 0 && !I.column_sum ? epilogue(p, users)
                                                                                                  : nullptr) {
      info_[pos_.at(e)].epilogue_of = n;
      I.materialize = false;
    }
    bool fused = n->shape.rank > 0 && !I.materialize && n->op != Op::Var && n->op != Op::Tensor;
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
void TensorBody::riders(const std::vector<std::vector<std::uint32_t>>& users) {
  for (std::size_t p = 0; p < order_.size(); ++p) {
    const Node* mm = order_[p];
    if (mm->op != Op::MatMul || mm->shape.rank != 2 || is_outer_product(mm)) continue;
    const Node* bn = mm->arg(1);
    if (bn == mm->arg(0) || bn->shape.rank != 2 || !is_pointwise(bn)) continue;
    std::int64_t m = mm->shape[0], kk = bn->shape[0], cols = bn->shape[1];
    if (cols < kTinyTrip || parallel(m, kk, cols) || splits_sum(m, cols, kk) || !packs(m, kk, cols, cols, true)) continue;
    std::size_t pb = pos_.at(bn);
    const Node* sum = nullptr;
    bool negate = false, only = info_[pb].out_count == 0;
    auto column_sum = [](const Node* x) { return x->op == Op::Sum && x->axis == 0 && x->shape.rank == 1; };
    for (std::uint32_t u : users[pb]) {
      const Node* c = order_[u];
      if (c == mm) continue;
      if (!sum && column_sum(c)) {
        sum = c;
        continue;
      }
      if (!sum && c->op == Op::Neg && info_[u].out_count == 0 && users[u].size() == 1 &&
          column_sum(order_[users[u][0]])) {
        sum = order_[users[u][0]];
        negate = true;
        continue;
      }
      only = false;
    }
    if (!sum) continue;
    std::size_t ps = pos_.at(sum);
    bool read_after = ps < p && std::all_of(users[ps].begin(), users[ps].end(), [&](std::uint32_t u) { return u > p; });
    if (!read_after) continue;
    // Packing only for the sum's sake costs more than the sum's pass when B is small (the
    // regression network's layers: 1,024 x 16): ride on products that pack anyway, or that
    // compute B.
    if (!only && !packs(m, kk, cols, cols, false)) continue;
    info_[p].column_sum = sum;
    info_[p].negated_sum = negate;
    info_[ps].summed_by = mm;
    info_[pb].packed = only;
  }
}

// The buffered node that can finish the matrix product at position p in its register tiles:
// the product has one reader, a chain of fused elementwise nodes of its shape, each read once
// and directly, ends in a buffered elementwise node that finishes no other product; and the
// product takes matmul_tiles' plain path. Else nullptr. A node finishes at most one product:
// in A @ B + C @ D, the later product (analyzed first) writes the sum's buffer, and the other
// keeps a buffer of its own (both in one buffer would overwrite each other).
const Node* TensorBody::epilogue(std::size_t p, const std::vector<std::vector<std::uint32_t>>& users) const {
  const Node* mm = order_[p];
  if (mm->shape.rank != 2) return nullptr;  // a stack of products has a loop nest of its own
  std::int64_t m = mm->shape[0], kk = mm->arg(0)->shape[1], cols = mm->shape[1];
  if (is_outer_product(mm) || (cols < kTinyTrip && m >= kTinyTrip) || splits_sum(m, cols, kk) ||
      parallel(m, kk, cols))
    return nullptr;
  std::size_t at = p;
  while (users[at].size() == 1) {
    at = users[at][0];
    const Node* c = order_[at];
    if (is_view_op(c->op) || !c->info().elementwise || c->shape != mm->shape) return nullptr;
    if (info_[at].materialize) return info_[at].epilogue_of ? nullptr : c;
  }
  return nullptr;
}

// ---- Storage.
TensorBody::Storage TensorBody::contiguous(llvm::Value* base, std::int64_t offset, const Shape& s) {
  Storage st;
  st.kind = Kind::View;
  st.base = base;
  st.offset = offset;
  for (int d = 0; d < s.rank; ++d) st.stride[d] = row_major_stride(s, d);
  return st;
}

bool TensorBody::is_contiguous(const Storage& st, const Shape& s) {
  for (int d = 0; d < s.rank; ++d)
    if (s[d] != 1 && st.stride[d] != row_major_stride(s, d)) return false;
  return true;
}

// A view op over a strided buffer is a strided buffer; over a scalar or a fused expression,
// or a reshape that would need divisions, it stays an index map (Fused).
TensorBody::Storage TensorBody::view_storage(const Node* n) {
  const Node* x = n->arg(0);
  const Storage& a = info_[pos_.at(x)].st;
  Storage s;
  if (a.kind != Kind::View) return s;
  s = a;
  s.stride = {0, 0, 0};
  switch (n->op) {
    case Op::Detach:
      return a;
    case Op::Broadcast: {
      int shift = n->shape.rank - x->shape.rank;
      for (int d = 0; d < n->shape.rank; ++d) {
        int e = d - shift;
        s.stride[d] = e < 0 || x->shape[e] == 1 ? 0 : a.stride[e];
      }
      return s;
    }
    case Op::Transpose: {  // axis d of the view is axis p[d] of the operand
      auto p = tensor_ops::permutation(n->axis, x->shape.rank);
      for (int d = 0; d < n->shape.rank; ++d) s.stride[d] = a.stride[p[d]];
      return s;
    }
    case Op::Slice:
      s.stride = a.stride;
      s.offset += std::int64_t(n->index) * a.stride[n->axis];
      return s;
    case Op::Index:
      s.offset += std::int64_t(n->index) * a.stride[n->axis];
      for (int d = 0, e = 0; d < x->shape.rank; ++d)
        if (d != n->axis) s.stride[e++] = a.stride[d];
      return s;
    case Op::Reshape:
      if (is_contiguous(a, x->shape)) {
        for (int d = 0; d < n->shape.rank; ++d) s.stride[d] = row_major_stride(n->shape, d);
        return s;
      }
      if (reshape_moves_ones_only(x->shape, n->shape)) {
        for (int d = 0, e = 0; d < n->shape.rank; ++d) {
          if (n->shape[d] == 1) continue;
          while (x->shape[e] == 1) ++e;
          s.stride[d] = a.stride[e++];
        }
        return s;
      }
      return Storage{};
    default:
      throw std::logic_error("codegen: not a view op");
  }
}

llvm::GlobalVariable* TensorBody::tensor_global(const Node* n) {
  llvm::Constant* init;
  if (dtype_ == DType::F32) {
    std::vector<float> f(n->data->begin(), n->data->end());
    init = llvm::ConstantDataArray::get(m_.getContext(), f);
  } else {
    init = llvm::ConstantDataArray::get(m_.getContext(), *n->data);
  }
  auto* g = new llvm::GlobalVariable(m_, init->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::PrivateLinkage, init, "tensor");
  g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  g->setAlignment(llvm::Align(kBufferAlignBytes));
  return g;
}

// ---- The workspace: first-fit over free intervals (in elements), aligned offsets.
std::int64_t TensorBody::allocate(std::int64_t size) {
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

void TensorBody::release(std::int64_t off, std::int64_t size) {
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

// Gives the workspace its final size (its users addressed a placeholder).
void TensorBody::finish_workspace(const std::string& name) {
  if (top_ == 0) {
    workspace_->eraseFromParent();
    return;
  }
  auto* type = llvm::ArrayType::get(t_, static_cast<std::uint64_t>(top_));
  auto* ws = new llvm::GlobalVariable(m_, type, /*isConstant=*/false, llvm::GlobalValue::InternalLinkage,
                                      llvm::ConstantAggregateZero::get(type), "");
  ws->setAlignment(llvm::Align(kBufferAlignBytes));
  workspace_->replaceAllUsesWith(ws);
  workspace_->eraseFromParent();
  ws->setName(name + ".workspace");
}

}  // namespace gradc::codegen_detail
