// TensorBody::emit: the plan's nodes in order (scalars, buffers, views), and the workspace global.
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
  plan_ = plan_tensor_kernel(spec, rules_);
  const std::vector<const Node*>& order = plan_.order;
  info_.assign(order.size(), Info{});
  for (std::size_t p = 0; p < order.size(); ++p) static_cast<NodePlan&>(info_[p]) = plan_.nodes[p];
  make_constant_table(order, spec.name);
  workspace_ = new llvm::GlobalVariable(m_, llvm::ArrayType::get(t_, 0), /*isConstant=*/false,
                                        llvm::GlobalValue::InternalLinkage,
                                        llvm::ConstantAggregateZero::get(llvm::ArrayType::get(t_, 0)),
                                        spec.name + ".workspace");

  // The plan's workspace buffers again (offset, size), by the step that reads them last; the
  // steps' temporaries come and go in between.
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> frees(order.size());
  for (std::size_t p = 0; p < order.size(); ++p) {
    const Node* n = order[p];
    Info& I = info_[p];
    Storage& s = I.st;
    switch (I.place) {
      case Place::Scalar:
        s.kind = Kind::Scalar;
        s.scalar = n->op == Op::Var ? b_.CreateLoad(t_, b_.CreateConstInBoundsGEP1_64(t_, in, I.offset), n->name)
                                    : scalar_node(n);
        break;
      case Place::Input:
        s = contiguous(in, I.offset, n->shape);
        break;
      case Place::Constant:
        s = contiguous(tensor_global(n), 0, n->shape);
        break;
      case Place::Output:
        s = contiguous(out, I.offset, n->shape);
        materialize(n, s);
        break;
      case Place::Workspace: {
        std::int64_t off = allocate(n->shape.size());
        if (off != I.offset) throw std::logic_error("codegen: a workspace buffer is not where the plan put it");
        if (I.last_use < order.size()) frees[I.last_use].emplace_back(off, n->shape.size());
        s = contiguous(workspace_, off, n->shape);
        materialize(n, s);
        break;
      }
      case Place::View:
        s.kind = Kind::View;
        s.base = info_[static_cast<std::size_t>(I.base)].st.base;
        s.offset = I.offset;
        s.stride = I.stride;
        break;
      case Place::Fused:
        s.kind = Kind::Fused;
        break;
    }
    for (auto [off, size] : frees[p]) release(off, size);
  }

  // The outputs that are not their node's buffer: scalars, inputs, constants, views, and a
  // node's second slot.
  for (std::size_t j = 0; j < spec.outputs.size(); ++j) {
    const Node* o = spec.outputs[j];
    const Info& oi = info_[pos_.at(o)];
    if (o->shape.rank == 0) {
      b_.CreateStore(oi.st.scalar, b_.CreateConstInBoundsGEP1_64(t_, out, plan_.out_offset[j]));
      continue;
    }
    if (oi.place == Place::Output && oi.first_out == plan_.out_offset[j]) continue;
    Storage dst = contiguous(out, plan_.out_offset[j], o->shape);
    for_each_index(o->shape, [&](const Idx& idx) { store(dst, o->shape, idx, value(o, idx)); });
  }

  finish_workspace(spec.name);
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

// Gives the workspace its final size (its users addressed a placeholder).
void TensorBody::finish_workspace(const std::string& name) {
  if (ws_.top() == 0) {
    workspace_->eraseFromParent();
    return;
  }
  auto* type = llvm::ArrayType::get(t_, static_cast<std::uint64_t>(ws_.top()));
  auto* ws = new llvm::GlobalVariable(m_, type, /*isConstant=*/false, llvm::GlobalValue::InternalLinkage,
                                      llvm::ConstantAggregateZero::get(type), "");
  ws->setAlignment(llvm::Align(kBufferAlignBytes));
  workspace_->replaceAllUsesWith(ws);
  workspace_->eraseFromParent();
  ws->setName(name + ".workspace");
}

}  // namespace gradc::codegen_detail
