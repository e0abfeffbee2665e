// The tensor ops' shape rules and evaluations, named by the rows of the op table (ops.cpp).
#pragma once
#include <vector>

#include "compiler/ir.hpp"

namespace gradc::tensor_ops {

using Values = const std::vector<double>* const*;

#define GRADC_TENSOR_OP_DECLS(name)                                  \
  Shape name##_shape(const Node* const* args, const Attrs& at);      \
  void name##_eval(const Node* n, Values a, std::vector<double>& r);
GRADC_TENSOR_OP_DECLS(broadcast)
GRADC_TENSOR_OP_DECLS(reshape)
Shape sum_shape(const Node* const* args, const Attrs& at);
Shape reduce_max_shape(const Node* const* args, const Attrs& at);
void reduce_eval(const Node* n, Values a, std::vector<double>& r);  // Sum and ReduceMax
GRADC_TENSOR_OP_DECLS(matmul)
GRADC_TENSOR_OP_DECLS(transpose)
GRADC_TENSOR_OP_DECLS(index)
GRADC_TENSOR_OP_DECLS(embed)
GRADC_TENSOR_OP_DECLS(onehot)
GRADC_TENSOR_OP_DECLS(detach)
#undef GRADC_TENSOR_OP_DECLS

}  // namespace gradc::tensor_ops
