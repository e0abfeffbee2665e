// Every IR operation, listed once. The enum comes from GRADC_FOR_EACH_OP; everything else about
// an op (spelling, LaTeX, evaluation, derivative rules; for a tensor op its shape rule and kind
// of code generation) sits together in its row of ops.cpp.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace gradc {

//   X(Enum, arity). Leaves: Const (a scalar), Tensor (constant data), Var (an input).
//   Elementwise ops apply per element to operands of equal shape (the Builder inserts
//   Broadcast for NumPy-style broadcasting). The last row holds the tensor ops.
#define GRADC_FOR_EACH_OP(X)                                                                 \
  X(Const, 0) X(Tensor, 0) X(Var, 0)                                                         \
  X(Add, 2) X(Sub, 2) X(Mul, 2) X(Div, 2) X(Pow, 2) X(Neg, 1)                                \
  X(Sin, 1) X(Cos, 1) X(Tan, 1) X(Asin, 1) X(Acos, 1) X(Atan, 1)                             \
  X(Sinh, 1) X(Cosh, 1) X(Tanh, 1) X(Exp, 1) X(Log, 1) X(Sqrt, 1) X(Abs, 1)                  \
  X(Sigmoid, 1) X(Relu, 1) X(Softplus, 1) X(Min, 2) X(Max, 2) X(Step, 1) X(Sign, 1)          \
  X(Mask, 2) X(Lgamma, 1) X(Log1p, 1) X(Expm1, 1) X(Digamma, 1) X(Polygamma, 2)               \
  X(Broadcast, 1) X(Reshape, 1) X(Sum, 1) X(ReduceMax, 1) X(MatMul, 2) X(Transpose, 1)       \
  X(Index, 1) X(Embed, 1) X(OneHot, 1) X(Detach, 1) X(Slice, 1) X(Pad, 1)

enum class Op : std::uint8_t {
#define GRADC_OP_ENUM(name, arity) name,
  GRADC_FOR_EACH_OP(GRADC_OP_ENUM)
#undef GRADC_OP_ENUM
};

inline constexpr int kNumOps = 0
#define GRADC_OP_COUNT(name, arity) +1
    GRADC_FOR_EACH_OP(GRADC_OP_COUNT)
#undef GRADC_OP_COUNT
    ;

/// How an op is written in text.
enum class Syntax : std::uint8_t { Leaf, Infix, Prefix, Call };

class Builder;
struct Node;
struct Shape;
struct Attrs;

/// How the tensor code generator (compiler/codegen/) computes an op's result.
enum class Lowering : std::uint8_t {
  Pointwise,  // each element from the operands' elements at the same index: fused into its reader
  View,       // an index map over the operand: a strided view of its buffer, or fused
  OwnLoop,    // a buffer filled by a loop nest of its own (reductions, products, placements)
};

/// A tensor op's shape rule: the result shape of op(args) with attrs, or throws ShapeError
/// (whose message the user sees, located at the call).
using ShapeRule = Shape (*)(const Node* const* args, const Attrs& at);
/// A tensor op's evaluation (the reference interpreter): fills r, already sized and zeroed, from
/// the operands' values (row-major).
using TensorEval = void (*)(const Node* n, const std::vector<double>* const* args, std::vector<double>& r);

/// Reverse-mode rule: given the node n = op(args), its adjoint `adj`, writes to d[i] the
/// adjoint contribution adj * ∂n/∂args[i] (nullptr when there is none).
using GradRule = void (*)(Builder& b, const Node* n, const Node* adj, const Node** d);

/// Forward-mode rule: given the node n = op(args) and t[i], the tangent of args[i] (of its
/// shape; nullptr for a zero tangent, and never all of them nullptr), returns n's tangent
/// Σ ∂n/∂args[i] · t[i] (nullptr when it is zero).
using JvpRule = const Node* (*)(Builder& b, const Node* n, const Node* const* t);

struct OpInfo {
  Op op;
  const char* name;   // text spelling: "+", "sin", ...
  int arity;
  Syntax syntax;
  int prec;           // printing precedence (higher binds tighter)
  const char* latex;  // LaTeX spelling: "\\sin", "\\frac", ...
  double (*eval)(const double* args);
  GradRule grad;
  JvpRule jvp;
  // Defined and finite for every finite argument (ignoring overflow): x*0 may fold to 0 only
  // when every op inside x has this property, so a hidden log(-1) or 1/0 is never erased.
  bool everywhere_defined;
  // Applies per element (eval is the scalar function); false for the tensor ops, which have
  // the three fields below.
  bool elementwise = true;
  ShapeRule shape = nullptr;     // tensor ops: the result shape (ops_tensor.cpp)
  TensorEval evaluate = nullptr;  // tensor ops: the interpreter's evaluation (ops_tensor.cpp)
  Lowering lowering = Lowering::Pointwise;
  // Attributes the op reads (Node::axis, Node::index); the others stay 0 so that hash-consing
  // does not tell apart nodes that differ only in an attribute nobody reads.
  bool uses_axis = false, uses_index = false;
};

const OpInfo& op_info(Op op);

/// The op's identifier as in GRADC_FOR_EACH_OP ("Add", "Sin"), for listings and test names.
const char* op_id(Op op);

/// The op called `name` in .grad source (`sin`, `ln`, `pow`, `max`, ...), or nullptr.
const OpInfo* find_function(std::string_view name);

}  // namespace gradc
