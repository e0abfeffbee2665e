// The op table: for each op, its spelling, evaluation and reverse-mode derivative rule, side by
// side; for a tensor op also its shape rule and kind of code generation. The printers, the
// interpreter, the differentiation pass, the simplifier and the code generator all read it.
#include "compiler/ops.hpp"

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

#include "compiler/builder.hpp"
#include "compiler/ops_tensor.hpp"

namespace gradc {
namespace {

using B = Builder;
using N = const Node*;
using L = Lowering;
namespace T = tensor_ops;

// Kinks follow documented conventions: relu'(0) = 0, abs'(0) = sign(0) = 0, and at a tie
// max(a, b) and min(a, b) pass the adjoint to a.
double step(double x) { return x > 0 ? 1.0 : 0.0; }
double sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }

constexpr int kPrecAdd = 1, kPrecMul = 2, kPrecNeg = 3, kPrecPow = 4, kPrecAtom = 5;

// A rule with no contribution: constants, variables and piecewise-constant ops.
void no_grad(B&, N, N, N*) {}

// The adjoint of a branch not taken must contribute exactly 0, even where that branch's own
// partial is inf or nan (log(y) at y = 0 inside max(x, log(y))): select, do not multiply by 0
// (Enzyme's CheckedMul, CasADi's if_else_zero). So g * p becomes mask(g, p), which is 0 where
// g = 0, when g may be such a selected zero (it holds a step, sign or mask) and p may be inf or
// nan at a finite point; and mask(p, g) in the mirror case (relu's step(a) meeting an infinite
// adjoint, as in log(relu(x))). Elsewhere it stays a product, so that derivatives without
// kinks read as before.
N times(B& b, N g, N p) {
  if (g->selects && !p->everywhere_defined) return b.apply(Op::Mask, {g, p});
  if (p->selects && !g->everywhere_defined) return b.apply(Op::Mask, {p, g});
  return b.mul(g, p);
}

// g / q, guarded like times(g, 1/q); `safe_if`, when given, is a node whose finiteness makes q
// finite and nonzero (atan's 1 + a^2: a).
N over(B& b, N g, N q, N safe_if = nullptr) {
  if (g->selects && !(safe_if && safe_if->everywhere_defined)) return b.apply(Op::Mask, {g, b.div(b.constant(1), q)});
  return b.div(g, q);
}

constexpr std::array<OpInfo, kNumOps> kOps = {{
    {Op::Const, "", 0, Syntax::Leaf, kPrecAtom, "", nullptr, no_grad, true},
    {Op::Tensor, "", 0, Syntax::Leaf, kPrecAtom, "", nullptr, no_grad, true},
    {Op::Var, "", 0, Syntax::Leaf, kPrecAtom, "", nullptr, no_grad, true},

    // d/da (a + b) = 1, d/db (a + b) = 1
    {Op::Add, "+", 2, Syntax::Infix, kPrecAdd, "+",
     [](const double* a) { return a[0] + a[1]; },
     [](B& b, N n, N g, N* d) { d[0] = g; d[1] = g; }, true},
    // d/da (a - b) = 1, d/db (a - b) = -1
    {Op::Sub, "-", 2, Syntax::Infix, kPrecAdd, "-",
     [](const double* a) { return a[0] - a[1]; },
     [](B& b, N n, N g, N* d) { d[0] = g; d[1] = b.neg(g); }, true},
    // d/da (a * b) = b, d/db (a * b) = a
    {Op::Mul, "*", 2, Syntax::Infix, kPrecMul, "\\cdot",
     [](const double* a) { return a[0] * a[1]; },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, n->arg(1)); d[1] = times(b, g, n->arg(0)); }, true},
    // d/da (a / b) = 1/b, d/db (a / b) = -(a/b)/b
    {Op::Div, "/", 2, Syntax::Infix, kPrecMul, "\\frac",
     [](const double* a) { return a[0] / a[1]; },
     [](B& b, N n, N g, N* d) {
       N q = n->arg(1);
       d[0] = over(b, g, q);
       d[1] = b.neg(g->selects ? b.apply(Op::Mask, {g, b.div(n, q)}) : b.div(b.mul(g, n), q));
     }, false},
    // d/da a^b = b a^(b-1), d/db a^b = a^b ln(a)
    {Op::Pow, "^", 2, Syntax::Infix, kPrecPow, "^",
     [](const double* a) { return std::pow(a[0], a[1]); },
     [](B& b, N n, N g, N* d) {
       N a = n->arg(0), e = n->arg(1);
       // Named locals, made in a fixed order (argument order is unspecified in C++).
       N power = b.pow(a, b.sub(e, b.constant(1)));
       d[0] = times(b, times(b, g, e), power);
       N log_a = b.call(Op::Log, a);
       d[1] = times(b, times(b, g, n), log_a);
     }, false},
    // d/da (-a) = -1
    {Op::Neg, "-", 1, Syntax::Prefix, kPrecNeg, "-",
     [](const double* a) { return -a[0]; },
     [](B& b, N n, N g, N* d) { d[0] = b.neg(g); }, true},

    // sin' = cos
    {Op::Sin, "sin", 1, Syntax::Call, kPrecAtom, "\\sin",
     [](const double* a) { return std::sin(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Cos, n->arg(0))); }, true},
    // cos' = -sin
    {Op::Cos, "cos", 1, Syntax::Call, kPrecAtom, "\\cos",
     [](const double* a) { return std::cos(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = b.neg(times(b, g, b.call(Op::Sin, n->arg(0)))); }, true},
    // tan' = 1 + tan^2
    {Op::Tan, "tan", 1, Syntax::Call, kPrecAtom, "\\tan",
     [](const double* a) { return std::tan(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.add(1, b.pow(n, b.constant(2)))); }, false},
    // asin'(a) = 1/sqrt(1 - a^2)
    {Op::Asin, "asin", 1, Syntax::Call, kPrecAtom, "\\arcsin",
     [](const double* a) { return std::asin(a[0]); },
     [](B& b, N n, N g, N* d) {
       d[0] = over(b, g, b.call(Op::Sqrt, b.sub(1, b.pow(n->arg(0), b.constant(2)))));
     }, false},
    // acos'(a) = -1/sqrt(1 - a^2)
    {Op::Acos, "acos", 1, Syntax::Call, kPrecAtom, "\\arccos",
     [](const double* a) { return std::acos(a[0]); },
     [](B& b, N n, N g, N* d) {
       d[0] = b.neg(over(b, g, b.call(Op::Sqrt, b.sub(1, b.pow(n->arg(0), b.constant(2))))));
     }, false},
    // atan'(a) = 1/(1 + a^2)
    {Op::Atan, "atan", 1, Syntax::Call, kPrecAtom, "\\arctan",
     [](const double* a) { return std::atan(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = over(b, g, b.add(1, b.pow(n->arg(0), b.constant(2))), n->arg(0)); },
     true},
    // sinh' = cosh
    {Op::Sinh, "sinh", 1, Syntax::Call, kPrecAtom, "\\sinh",
     [](const double* a) { return std::sinh(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Cosh, n->arg(0))); }, true},
    // cosh' = sinh
    {Op::Cosh, "cosh", 1, Syntax::Call, kPrecAtom, "\\cosh",
     [](const double* a) { return std::cosh(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Sinh, n->arg(0))); }, true},
    // tanh' = 1 - tanh^2
    {Op::Tanh, "tanh", 1, Syntax::Call, kPrecAtom, "\\tanh",
     [](const double* a) { return std::tanh(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.sub(1, b.pow(n, b.constant(2)))); }, true},
    // exp' = exp
    {Op::Exp, "exp", 1, Syntax::Call, kPrecAtom, "\\exp",
     [](const double* a) { return std::exp(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, n); }, true},
    // log'(a) = 1/a
    {Op::Log, "log", 1, Syntax::Call, kPrecAtom, "\\ln",
     [](const double* a) { return std::log(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = over(b, g, n->arg(0)); }, false},
    // sqrt'(a) = 1/(2 sqrt(a))
    {Op::Sqrt, "sqrt", 1, Syntax::Call, kPrecAtom, "\\sqrt",
     [](const double* a) { return std::sqrt(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = over(b, g, b.mul(2, n)); }, false},
    // abs'(a) = sign(a)   (abs'(0) = 0)
    {Op::Abs, "abs", 1, Syntax::Call, kPrecAtom, "",
     [](const double* a) { return std::fabs(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Sign, n->arg(0))); }, true},
    // sigmoid' = sigmoid (1 - sigmoid)
    {Op::Sigmoid, "sigmoid", 1, Syntax::Call, kPrecAtom, "\\sigma",
     [](const double* a) { return sigmoid(a[0]); },
     [](B& b, N n, N g, N* d) {
       N one_minus = b.sub(1, n);
       d[0] = times(b, times(b, g, n), one_minus);
     }, true},
    // relu'(a) = step(a)   (relu'(0) = 0)
    {Op::Relu, "relu", 1, Syntax::Call, kPrecAtom, "\\operatorname{relu}",
     [](const double* a) { return a[0] > 0 ? a[0] : 0.0; },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Step, n->arg(0))); }, true},
    // softplus'(a) = sigmoid(a)
    {Op::Softplus, "softplus", 1, Syntax::Call, kPrecAtom, "\\operatorname{softplus}",
     [](const double* a) { return softplus(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Sigmoid, n->arg(0))); }, true},
    // min(a, b): d/da = [a <= b] = 1 - step(a - b), d/db = step(a - b)
    {Op::Min, "min", 2, Syntax::Call, kPrecAtom, "\\min",
     [](const double* a) { return a[0] <= a[1] ? a[0] : a[1]; },
     [](B& b, N n, N g, N* d) {
       N s = b.call(Op::Step, b.sub(n->arg(0), n->arg(1)));
       d[0] = times(b, g, b.sub(1, s));
       d[1] = times(b, g, s);
     }, true},
    // max(a, b): d/da = [a >= b] = 1 - step(b - a), d/db = step(b - a)
    {Op::Max, "max", 2, Syntax::Call, kPrecAtom, "\\max",
     [](const double* a) { return a[0] >= a[1] ? a[0] : a[1]; },
     [](B& b, N n, N g, N* d) {
       N s = b.call(Op::Step, b.sub(n->arg(1), n->arg(0)));
       d[0] = times(b, g, b.sub(1, s));
       d[1] = times(b, g, s);
     }, true},
    // step(a) = [a > 0]: piecewise constant, derivative 0
    {Op::Step, "step", 1, Syntax::Call, kPrecAtom, "\\operatorname{step}",
     [](const double* a) { return step(a[0]); }, no_grad, true},
    // sign(a): piecewise constant, derivative 0
    {Op::Sign, "sign", 1, Syntax::Call, kPrecAtom, "\\operatorname{sgn}",
     [](const double* a) { return sign(a[0]); }, no_grad, true},
    // mask(c, x) = c*x, but exactly 0 where c = 0, even where x is inf or nan (the guarded
    // product of `times` above). d/dc = x, d/dx = c (0 where c = 0)
    {Op::Mask, "mask", 2, Syntax::Call, kPrecAtom, "\\operatorname{mask}",
     [](const double* a) { return a[0] == 0 ? 0.0 : a[0] * a[1]; },
     [](B& b, N n, N g, N* d) {
       d[0] = times(b, g, n->arg(1));
       d[1] = b.apply(Op::Mask, {n->arg(0), g});
     }, true},

    // Tensor ops: no scalar eval; after `elementwise = false`, the shape rule and evaluation
    // (ops_tensor.cpp), the kind of code generation, and whether axis / index are read.
    // broadcast(x) to a larger shape: the adjoint sums over the broadcast axes
    {Op::Broadcast, "broadcast", 1, Syntax::Call, kPrecAtom, "\\operatorname{broadcast}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.sum_to(g, n->arg(0)->shape); }, true, false,
     T::broadcast_shape, T::broadcast_eval, L::View},
    // reshape(x): the adjoint takes x's shape back
    {Op::Reshape, "reshape", 1, Syntax::Call, kPrecAtom, "\\operatorname{reshape}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.reshape(g, n->arg(0)->shape); }, true, false,
     T::reshape_shape, T::reshape_eval, L::View},
    // sum(x, axis): every summand gets the adjoint of the sum
    {Op::Sum, "sum", 1, Syntax::Call, kPrecAtom, "\\sum", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.unreduce(g, n->arg(0)->shape, n->axis); }, true, false,
     T::sum_shape, T::reduce_eval, L::OwnLoop, true},
    // max(x, axis): the adjoint is shared equally by the elements equal to the maximum, 1/k each
    // at a k-way tie (PyTorch's amax; any other split is a subgradient too, but not the same)
    {Op::ReduceMax, "max", 1, Syntax::Call, kPrecAtom, "\\max", nullptr,
     [](B& b, N n, N g, N* d) {
       N x = n->arg(0);
       N hit = b.sub(1, b.call(Op::Step, b.sub(b.unreduce(n, x->shape, n->axis), x)));  // [x = max]
       N share = b.div(hit, b.unreduce(b.sum(hit, n->axis), x->shape, n->axis));
       d[0] = times(b, b.unreduce(g, x->shape, n->axis), share);
     }, true, false,
     T::reduce_max_shape, T::reduce_eval, L::OwnLoop, true},
    // A @ B: dA = G @ B^T, dB = A^T @ G (for stacks of matrices, each matrix transposed)
    {Op::MatMul, "@", 2, Syntax::Infix, kPrecMul, "", nullptr,
     [](B& b, N n, N g, N* d) {
       d[0] = b.matmul(g, b.transpose(n->arg(1)));
       d[1] = b.matmul(b.transpose(n->arg(0)), g);
     }, true, false,
     T::matmul_shape, T::matmul_eval, L::OwnLoop},
    // transpose(X, p) (X^T for a matrix): the adjoint is G transposed by the inverse of p
    {Op::Transpose, "transpose", 1, Syntax::Call, kPrecAtom, "^{\\top}", nullptr,
     [](B& b, N n, N g, N* d) {
       auto p = T::permutation(n->axis, n->shape.rank);
       int inverse[Shape::kMaxRank];
       for (int i = 0; i < n->shape.rank; ++i) inverse[p[i]] = i;
       d[0] = b.permute(g, std::span<const int>(inverse, n->shape.rank));
     }, true, false,
     T::transpose_shape, T::transpose_eval, L::View, true},
    // x[i] along an axis: the adjoint is placed back at i, zeros elsewhere
    {Op::Index, "index", 1, Syntax::Call, kPrecAtom, "", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.embed(g, n->axis, n->index, n->arg(0)->shape); }, true, false,
     T::index_shape, T::index_eval, L::View, true, true},
    // embed(x) at i along an axis (zeros elsewhere): the adjoint is G[i]
    {Op::Embed, "embed", 1, Syntax::Call, kPrecAtom, "\\operatorname{embed}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.index(g, n->axis, n->index); }, true, false,
     T::embed_shape, T::embed_eval, L::OwnLoop, true, true},
    // onehot(labels, classes): labels are data, not differentiable
    {Op::OneHot, "onehot", 1, Syntax::Call, kPrecAtom, "\\operatorname{onehot}", nullptr, no_grad, true, false,
     T::onehot_shape, T::onehot_eval, L::OwnLoop, false, true},
    // detach(x) = x with no derivative (JAX's stop_gradient)
    {Op::Detach, "detach", 1, Syntax::Call, kPrecAtom, "", nullptr, no_grad, true, false,
     T::detach_shape, T::detach_eval, L::View},
    // slice(x) along an axis: the adjoint is placed back, zeros elsewhere
    {Op::Slice, "slice", 1, Syntax::Call, kPrecAtom, "", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.pad(g, n->axis, n->index, n->arg(0)->shape); }, true, false,
     T::slice_shape, T::slice_eval, L::View, true, true},
    // pad(x) with zeros along an axis: the adjoint is the slice of G where x went
    {Op::Pad, "pad", 1, Syntax::Call, kPrecAtom, "\\operatorname{pad}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.slice(g, n->axis, n->index, n->arg(0)->shape[n->axis]); }, true, false,
     T::pad_shape, T::pad_eval, L::OwnLoop, true, true},
}};

constexpr bool table_in_enum_order() {
  for (int i = 0; i < kNumOps; ++i)
    if (static_cast<int>(kOps[i].op) != i) return false;
  return true;
}
static_assert(table_in_enum_order(), "kOps rows must follow GRADC_FOR_EACH_OP order");

constexpr bool arities_match() {
  constexpr int arity[] = {
#define GRADC_OP_ARITY(name, ar) ar,
      GRADC_FOR_EACH_OP(GRADC_OP_ARITY)
#undef GRADC_OP_ARITY
  };
  for (int i = 0; i < kNumOps; ++i)
    if (kOps[i].arity != arity[i]) return false;
  return true;
}
static_assert(arities_match(), "kOps arity must match GRADC_FOR_EACH_OP");

constexpr bool tensor_ops_complete() {
  for (const OpInfo& info : kOps)
    if (!info.elementwise && (!info.shape || !info.evaluate)) return false;
  return true;
}
static_assert(tensor_ops_complete(), "every tensor op needs a shape rule and an evaluation");

}  // namespace

const OpInfo& op_info(Op op) { return kOps[static_cast<int>(op)]; }

const char* op_id(Op op) {
  static const char* const kIds[] = {
#define GRADC_OP_ID(name, arity) #name,
      GRADC_FOR_EACH_OP(GRADC_OP_ID)
#undef GRADC_OP_ID
  };
  return kIds[static_cast<int>(op)];
}

const OpInfo* find_function(std::string_view name) {
  if (name == "ln") name = "log";
  if (name == "pow") return &op_info(Op::Pow);
  for (const OpInfo& info : kOps)
    if (info.syntax == Syntax::Call && info.elementwise && name == info.name) return &info;
  return nullptr;
}

}  // namespace gradc
