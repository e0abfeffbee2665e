// The tensor ops' shape rules and evaluations, named by the rows of the op table (ops.cpp).
#pragma once
#include <array>
#include <span>
#include <string>
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
GRADC_TENSOR_OP_DECLS(slice)
GRADC_TENSOR_OP_DECLS(pad)
#undef GRADC_TENSOR_OP_DECLS

/// Transpose's permutation: Node::axis 0 is NumPy's default (the axes reversed; the swap of a
/// matrix); otherwise the permutation p written in base 4 from 1 (1 + p[0] + 4 p[1] + 16 p[2]).
/// out[i] = x[i permuted]: axis d of the result is axis perm[d] of the operand.
std::array<int, Shape::kMaxRank> permutation(int code, int rank);
int permutation_code(std::span<const int> perm);  // 0 for the reversal
/// A transpose's axes as NumPy writes them: "[0, 2, 1]".
std::string axes_text(const Node* transpose);

}  // namespace gradc::tensor_ops
