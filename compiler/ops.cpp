// The op table: for each op, its spelling, evaluation and derivative rules (reverse mode: the
// adjoint passed to each argument; forward mode: the tangent from the arguments'), side by side;
// for a tensor op also its shape rule and kind of code generation. The printers, the
// interpreter, the differentiation passes, the simplifier and the code generator all read it.
#include "compiler/ops.hpp"

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

#include "compiler/builder.hpp"
#include "compiler/ops_tensor.hpp"
#include "support/special.hpp"

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

// n + 1 for polygamma's order n: a constant stays a constant (printed as 2, not 1 + 1).
N next_order(B& b, N order) {
  if (order->op == Op::Const) return b.constant(order->value + 1);
  if (order->op == Op::Broadcast && order->arg(0)->op == Op::Const)
    return b.broadcast_to(b.constant(order->arg(0)->value + 1), order->shape);
  return b.add(order, b.constant(1));
}

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

// Forward mode: a nullptr tangent is an exact zero, so that constants cost nothing.
N plus(B& b, N x, N y) { return !x ? y : !y ? x : b.add(x, y); }
N minus(B& b, N x, N y) { return !y ? x : !x ? b.neg(y) : b.sub(x, y); }
// The tangent t times the partial p, guarded as in times (t may be a branch not taken).
N dot(B& b, N t, N p) { return t ? times(b, t, p) : nullptr; }
// The tangent of leaves (Var tangents are the pass's seeds), data and piecewise-constant ops.
N no_jvp(B&, N, const N*) { return nullptr; }

constexpr std::array<OpInfo, kNumOps> kOps = {{
    {Op::Const, "", 0, Syntax::Leaf, kPrecAtom, "", nullptr, no_grad, no_jvp, true},
    {Op::Tensor, "", 0, Syntax::Leaf, kPrecAtom, "", nullptr, no_grad, no_jvp, true},
    {Op::Var, "", 0, Syntax::Leaf, kPrecAtom, "", nullptr, no_grad, no_jvp, true},

    // d/da (a + b) = 1, d/db (a + b) = 1
    {Op::Add, "+", 2, Syntax::Infix, kPrecAdd, "+",
     [](const double* a) { return a[0] + a[1]; },
     [](B& b, N n, N g, N* d) { d[0] = g; d[1] = g; },
     [](B& b, N n, const N* t) { return plus(b, t[0], t[1]); }, true},
    // d/da (a - b) = 1, d/db (a - b) = -1
    {Op::Sub, "-", 2, Syntax::Infix, kPrecAdd, "-",
     [](const double* a) { return a[0] - a[1]; },
     [](B& b, N n, N g, N* d) { d[0] = g; d[1] = b.neg(g); },
     [](B& b, N n, const N* t) { return minus(b, t[0], t[1]); }, true},
    // d/da (a * b) = b, d/db (a * b) = a
    {Op::Mul, "*", 2, Syntax::Infix, kPrecMul, "\\cdot",
     [](const double* a) { return a[0] * a[1]; },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, n->arg(1)); d[1] = times(b, g, n->arg(0)); },
     [](B& b, N n, const N* t) {
       N da = dot(b, t[0], n->arg(1));
       return plus(b, da, dot(b, t[1], n->arg(0)));
     }, true},
    // d/da (a / b) = 1/b, d/db (a / b) = -(a/b)/b
    {Op::Div, "/", 2, Syntax::Infix, kPrecMul, "\\frac",
     [](const double* a) { return a[0] / a[1]; },
     [](B& b, N n, N g, N* d) {
       N q = n->arg(1);
       d[0] = over(b, g, q);
       d[1] = b.neg(g->selects ? b.apply(Op::Mask, {g, b.div(n, q)}) : b.div(b.mul(g, n), q));
     },
     [](B& b, N n, const N* t) {
       N q = n->arg(1);
       N da = t[0] ? over(b, t[0], q) : nullptr;
       N db = !t[1] ? nullptr : t[1]->selects ? b.apply(Op::Mask, {t[1], b.div(n, q)}) : b.div(b.mul(t[1], n), q);
       return minus(b, da, db);
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
     },
     [](B& b, N n, const N* t) {
       N a = n->arg(0), e = n->arg(1);
       N da = nullptr, de = nullptr;  // no log(a) unless the exponent varies: x^2 at x < 0 stays finite
       if (t[0]) da = times(b, times(b, t[0], e), b.pow(a, b.sub(e, b.constant(1))));
       if (t[1]) de = times(b, times(b, t[1], n), b.call(Op::Log, a));
       return plus(b, da, de);
     }, false},
    // d/da (-a) = -1
    {Op::Neg, "-", 1, Syntax::Prefix, kPrecNeg, "-",
     [](const double* a) { return -a[0]; },
     [](B& b, N n, N g, N* d) { d[0] = b.neg(g); },
     [](B& b, N n, const N* t) { return b.neg(t[0]); }, true},

    // sin' = cos
    {Op::Sin, "sin", 1, Syntax::Call, kPrecAtom, "\\sin",
     [](const double* a) { return std::sin(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Cos, n->arg(0))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.call(Op::Cos, n->arg(0))); }, true},
    // cos' = -sin
    {Op::Cos, "cos", 1, Syntax::Call, kPrecAtom, "\\cos",
     [](const double* a) { return std::cos(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = b.neg(times(b, g, b.call(Op::Sin, n->arg(0)))); },
     [](B& b, N n, const N* t) { return b.neg(times(b, t[0], b.call(Op::Sin, n->arg(0)))); }, true},
    // tan' = 1 + tan^2
    {Op::Tan, "tan", 1, Syntax::Call, kPrecAtom, "\\tan",
     [](const double* a) { return std::tan(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.add(1, b.pow(n, b.constant(2)))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.add(1, b.pow(n, b.constant(2)))); }, false},
    // asin'(a) = 1/sqrt(1 - a^2)
    {Op::Asin, "asin", 1, Syntax::Call, kPrecAtom, "\\arcsin",
     [](const double* a) { return std::asin(a[0]); },
     [](B& b, N n, N g, N* d) {
       d[0] = over(b, g, b.call(Op::Sqrt, b.sub(1, b.pow(n->arg(0), b.constant(2)))));
     },
     [](B& b, N n, const N* t) {
       return over(b, t[0], b.call(Op::Sqrt, b.sub(1, b.pow(n->arg(0), b.constant(2)))));
     }, false},
    // acos'(a) = -1/sqrt(1 - a^2)
    {Op::Acos, "acos", 1, Syntax::Call, kPrecAtom, "\\arccos",
     [](const double* a) { return std::acos(a[0]); },
     [](B& b, N n, N g, N* d) {
       d[0] = b.neg(over(b, g, b.call(Op::Sqrt, b.sub(1, b.pow(n->arg(0), b.constant(2))))));
     },
     [](B& b, N n, const N* t) {
       return b.neg(over(b, t[0], b.call(Op::Sqrt, b.sub(1, b.pow(n->arg(0), b.constant(2))))));
     }, false},
    // atan'(a) = 1/(1 + a^2)
    {Op::Atan, "atan", 1, Syntax::Call, kPrecAtom, "\\arctan",
     [](const double* a) { return std::atan(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = over(b, g, b.add(1, b.pow(n->arg(0), b.constant(2))), n->arg(0)); },
     [](B& b, N n, const N* t) { return over(b, t[0], b.add(1, b.pow(n->arg(0), b.constant(2))), n->arg(0)); },
     true},
    // sinh' = cosh
    {Op::Sinh, "sinh", 1, Syntax::Call, kPrecAtom, "\\sinh",
     [](const double* a) { return std::sinh(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Cosh, n->arg(0))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.call(Op::Cosh, n->arg(0))); }, true},
    // cosh' = sinh
    {Op::Cosh, "cosh", 1, Syntax::Call, kPrecAtom, "\\cosh",
     [](const double* a) { return std::cosh(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Sinh, n->arg(0))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.call(Op::Sinh, n->arg(0))); }, true},
    // tanh' = 1 - tanh^2
    {Op::Tanh, "tanh", 1, Syntax::Call, kPrecAtom, "\\tanh",
     [](const double* a) { return std::tanh(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.sub(1, b.pow(n, b.constant(2)))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.sub(1, b.pow(n, b.constant(2)))); }, true},
    // exp' = exp
    {Op::Exp, "exp", 1, Syntax::Call, kPrecAtom, "\\exp",
     [](const double* a) { return std::exp(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, n); },
     [](B& b, N n, const N* t) { return times(b, t[0], n); }, true},
    // log'(a) = 1/a
    {Op::Log, "log", 1, Syntax::Call, kPrecAtom, "\\ln",
     [](const double* a) { return std::log(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = over(b, g, n->arg(0)); },
     [](B& b, N n, const N* t) { return over(b, t[0], n->arg(0)); }, false},
    // sqrt'(a) = 1/(2 sqrt(a))
    {Op::Sqrt, "sqrt", 1, Syntax::Call, kPrecAtom, "\\sqrt",
     [](const double* a) { return std::sqrt(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = over(b, g, b.mul(2, n)); },
     [](B& b, N n, const N* t) { return over(b, t[0], b.mul(2, n)); }, false},
    // abs'(a) = sign(a)   (abs'(0) = 0)
    {Op::Abs, "abs", 1, Syntax::Call, kPrecAtom, "",
     [](const double* a) { return std::fabs(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Sign, n->arg(0))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.call(Op::Sign, n->arg(0))); }, true},
    // sigmoid' = sigmoid (1 - sigmoid)
    {Op::Sigmoid, "sigmoid", 1, Syntax::Call, kPrecAtom, "\\sigma",
     [](const double* a) { return sigmoid(a[0]); },
     [](B& b, N n, N g, N* d) {
       N one_minus = b.sub(1, n);
       d[0] = times(b, times(b, g, n), one_minus);
     },
     [](B& b, N n, const N* t) {
       N one_minus = b.sub(1, n);
       return times(b, times(b, t[0], n), one_minus);
     }, true},
    // relu'(a) = step(a)   (relu'(0) = 0)
    {Op::Relu, "relu", 1, Syntax::Call, kPrecAtom, "\\operatorname{relu}",
     [](const double* a) { return a[0] > 0 ? a[0] : 0.0; },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Step, n->arg(0))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.call(Op::Step, n->arg(0))); }, true},
    // softplus'(a) = sigmoid(a)
    {Op::Softplus, "softplus", 1, Syntax::Call, kPrecAtom, "\\operatorname{softplus}",
     [](const double* a) { return softplus(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Sigmoid, n->arg(0))); },
     [](B& b, N n, const N* t) { return times(b, t[0], b.call(Op::Sigmoid, n->arg(0))); }, true},
    // min(a, b): d/da = [a <= b] = 1 - step(a - b), d/db = step(a - b)
    {Op::Min, "min", 2, Syntax::Call, kPrecAtom, "\\min",
     [](const double* a) { return a[0] <= a[1] ? a[0] : a[1]; },
     [](B& b, N n, N g, N* d) {
       N s = b.call(Op::Step, b.sub(n->arg(0), n->arg(1)));
       d[0] = times(b, g, b.sub(1, s));
       d[1] = times(b, g, s);
     },
     [](B& b, N n, const N* t) {
       N s = b.call(Op::Step, b.sub(n->arg(0), n->arg(1)));
       N da = t[0] ? times(b, t[0], b.sub(1, s)) : nullptr;
       return plus(b, da, dot(b, t[1], s));
     }, true},
    // max(a, b): d/da = [a >= b] = 1 - step(b - a), d/db = step(b - a)
    {Op::Max, "max", 2, Syntax::Call, kPrecAtom, "\\max",
     [](const double* a) { return a[0] >= a[1] ? a[0] : a[1]; },
     [](B& b, N n, N g, N* d) {
       N s = b.call(Op::Step, b.sub(n->arg(1), n->arg(0)));
       d[0] = times(b, g, b.sub(1, s));
       d[1] = times(b, g, s);
     },
     [](B& b, N n, const N* t) {
       N s = b.call(Op::Step, b.sub(n->arg(1), n->arg(0)));
       N da = t[0] ? times(b, t[0], b.sub(1, s)) : nullptr;
       return plus(b, da, dot(b, t[1], s));
     }, true},
    // step(a) = [a > 0]: piecewise constant, derivative 0
    {Op::Step, "step", 1, Syntax::Call, kPrecAtom, "\\operatorname{step}",
     [](const double* a) { return step(a[0]); }, no_grad, no_jvp, true},
    // sign(a): piecewise constant, derivative 0
    {Op::Sign, "sign", 1, Syntax::Call, kPrecAtom, "\\operatorname{sgn}",
     [](const double* a) { return sign(a[0]); }, no_grad, no_jvp, true},
    // mask(c, x) = c*x, but exactly 0 where c = 0, even where x is inf or nan (the guarded
    // product of `times` above). d/dc = x, d/dx = c (0 where c = 0)
    {Op::Mask, "mask", 2, Syntax::Call, kPrecAtom, "\\operatorname{mask}",
     [](const double* a) { return a[0] == 0 ? 0.0 : a[0] * a[1]; },
     [](B& b, N n, N g, N* d) {
       d[0] = times(b, g, n->arg(1));
       d[1] = b.apply(Op::Mask, {n->arg(0), g});
     },
     // d mask(c, x) = dc*x + mask(c, dx): where c = 0 (a branch not taken) the second term is
     // exactly 0 whatever dx is
     [](B& b, N n, const N* t) {
       N dc = dot(b, t[0], n->arg(1));
       return plus(b, dc, t[1] ? b.apply(Op::Mask, {n->arg(0), t[1]}) : nullptr);
     }, true},
    // lgamma(a) = ln|Γ(a)| (C's lgamma; inf at the poles 0, -1, -2, ...). lgamma' = digamma
    {Op::Lgamma, "lgamma", 1, Syntax::Call, kPrecAtom, "\\ln\\Gamma",
     [](const double* a) { return std::lgamma(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Digamma, n->arg(0))); },
     [](B& b, N n, const N* t) { return dot(b, t[0], b.call(Op::Digamma, n->arg(0))); }, false},
    // log1p(a) = ln(1 + a), exact for tiny a. log1p'(a) = 1/(1 + a)
    {Op::Log1p, "log1p", 1, Syntax::Call, kPrecAtom, "\\operatorname{log1p}",
     [](const double* a) { return std::log1p(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = over(b, g, b.add(1, n->arg(0))); },
     [](B& b, N n, const N* t) { return t[0] ? over(b, t[0], b.add(1, n->arg(0))) : nullptr; }, false},
    // expm1(a) = e^a - 1, exact for tiny a. expm1'(a) = e^a
    {Op::Expm1, "expm1", 1, Syntax::Call, kPrecAtom, "\\operatorname{expm1}",
     [](const double* a) { return std::expm1(a[0]); },
     [](B& b, N n, N g, N* d) { d[0] = times(b, g, b.call(Op::Exp, n->arg(0))); },
     [](B& b, N n, const N* t) { return dot(b, t[0], b.call(Op::Exp, n->arg(0))); }, true},
    // digamma(a) = ψ(a) = Γ'(a)/Γ(a) (support/special.cpp). ψ'(a) = ψ⁽¹⁾(a) = polygamma(1, a)
    {Op::Digamma, "digamma", 1, Syntax::Call, kPrecAtom, "\\psi",
     [](const double* a) { return gradc_digamma(a[0]); },
     [](B& b, N n, N g, N* d) {
       d[0] = times(b, g, b.apply(Op::Polygamma, {b.constant(1), n->arg(0)}));
     },
     [](B& b, N n, const N* t) { return dot(b, t[0], b.apply(Op::Polygamma, {b.constant(1), n->arg(0)})); }, false},
    // polygamma(k, a) = ψ⁽ᵏ⁾(a), the k-th derivative of ψ, for an integer order k >= 0 (a
    // constant: source checks it, derivatives only add 1). d/da = polygamma(k + 1, a); the
    // order is not a variable, so it gets no adjoint.
    {Op::Polygamma, "polygamma", 2, Syntax::Call, kPrecAtom, "\\psi",
     [](const double* a) { return gradc_polygamma(a[0], a[1]); },
     [](B& b, N n, N g, N* d) {
       d[1] = times(b, g, b.apply(Op::Polygamma, {next_order(b, n->arg(0)), n->arg(1)}));
     },
     // the order's tangent is ignored: it is a constant
     [](B& b, N n, const N* t) {
       return t[1] ? times(b, t[1], b.apply(Op::Polygamma, {next_order(b, n->arg(0)), n->arg(1)})) : nullptr;
     }, false},

    // Tensor ops: no scalar eval; after `elementwise = false`, the shape rule and evaluation
    // (ops_tensor.cpp), the kind of code generation, and whether axis / index are read. Each is
    // linear in its arguments (but ReduceMax and MatMul), so its tangent is the op applied to the
    // tangents.
    // broadcast(x) to a larger shape: the adjoint sums over the broadcast axes
    {Op::Broadcast, "broadcast", 1, Syntax::Call, kPrecAtom, "\\operatorname{broadcast}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.sum_to(g, n->arg(0)->shape); },
     [](B& b, N n, const N* t) { return b.broadcast_to(t[0], n->shape); }, true, false,
     T::broadcast_shape, T::broadcast_eval, L::View},
    // reshape(x): the adjoint takes x's shape back
    {Op::Reshape, "reshape", 1, Syntax::Call, kPrecAtom, "\\operatorname{reshape}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.reshape(g, n->arg(0)->shape); },
     [](B& b, N n, const N* t) { return b.reshape(t[0], n->shape); }, true, false,
     T::reshape_shape, T::reshape_eval, L::View},
    // sum(x, axis): every summand gets the adjoint of the sum
    {Op::Sum, "sum", 1, Syntax::Call, kPrecAtom, "\\sum", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.unreduce(g, n->arg(0)->shape, n->axis); },
     [](B& b, N n, const N* t) { return b.sum(t[0], n->axis); }, true, false,
     T::sum_shape, T::reduce_eval, L::OwnLoop, true},
    // max(x, axis): the adjoint is shared equally by the elements equal to the maximum, 1/k each
    // at a k-way tie (PyTorch's amax; any other split is a subgradient too, but not the same)
    {Op::ReduceMax, "max", 1, Syntax::Call, kPrecAtom, "\\max", nullptr,
     [](B& b, N n, N g, N* d) {
       N x = n->arg(0);
       N hit = b.sub(1, b.call(Op::Step, b.sub(b.unreduce(n, x->shape, n->axis), x)));  // [x = max]
       N share = b.div(hit, b.unreduce(b.sum(hit, n->axis), x->shape, n->axis));
       d[0] = times(b, b.unreduce(g, x->shape, n->axis), share);
     },
     // the tangent is the mean of the tied maxima's tangents (the same 1/k split)
     [](B& b, N n, const N* t) {
       N x = n->arg(0);
       N hit = b.sub(1, b.call(Op::Step, b.sub(b.unreduce(n, x->shape, n->axis), x)));  // [x = max]
       N share = b.div(hit, b.unreduce(b.sum(hit, n->axis), x->shape, n->axis));
       return b.sum(times(b, t[0], share), n->axis);
     }, true, false,
     T::reduce_max_shape, T::reduce_eval, L::OwnLoop, true},
    // A @ B: dA = G @ B^T, dB = A^T @ G (for stacks of matrices, each matrix transposed)
    {Op::MatMul, "@", 2, Syntax::Infix, kPrecMul, "", nullptr,
     [](B& b, N n, N g, N* d) {
       d[0] = b.matmul(g, b.transpose(n->arg(1)));
       d[1] = b.matmul(b.transpose(n->arg(0)), g);
     },
     // d(A @ B) = dA @ B + A @ dB
     [](B& b, N n, const N* t) {
       N da = t[0] ? b.matmul(t[0], n->arg(1)) : nullptr;
       return plus(b, da, t[1] ? b.matmul(n->arg(0), t[1]) : nullptr);
     }, true, false,
     T::matmul_shape, T::matmul_eval, L::OwnLoop},
    // transpose(X, p) (X^T for a matrix): the adjoint is G transposed by the inverse of p
    {Op::Transpose, "transpose", 1, Syntax::Call, kPrecAtom, "^{\\top}", nullptr,
     [](B& b, N n, N g, N* d) {
       auto p = T::permutation(n->axis, n->shape.rank);
       int inverse[Shape::kMaxRank];
       for (int i = 0; i < n->shape.rank; ++i) inverse[p[i]] = i;
       d[0] = b.permute(g, std::span<const int>(inverse, n->shape.rank));
     },
     // the tangent is transposed alike
     [](B& b, N n, const N* t) { return b.apply(Op::Transpose, {t[0]}, n->attrs()); }, true, false,
     T::transpose_shape, T::transpose_eval, L::View, true},
    // x[i] along an axis: the adjoint is placed back at i, zeros elsewhere
    {Op::Index, "index", 1, Syntax::Call, kPrecAtom, "", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.embed(g, n->axis, n->index, n->arg(0)->shape); },
     [](B& b, N n, const N* t) { return b.index(t[0], n->axis, n->index); }, true, false,
     T::index_shape, T::index_eval, L::View, true, true},
    // embed(x) at i along an axis (zeros elsewhere): the adjoint is G[i]
    {Op::Embed, "embed", 1, Syntax::Call, kPrecAtom, "\\operatorname{embed}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.index(g, n->axis, n->index); },
     [](B& b, N n, const N* t) { return b.embed(t[0], n->axis, n->index, n->shape); }, true, false,
     T::embed_shape, T::embed_eval, L::OwnLoop, true, true},
    // onehot(labels, classes): labels are data, not differentiable
    {Op::OneHot, "onehot", 1, Syntax::Call, kPrecAtom, "\\operatorname{onehot}", nullptr, no_grad, no_jvp, true, false,
     T::onehot_shape, T::onehot_eval, L::OwnLoop, false, true},
    // detach(x) = x with no derivative (JAX's stop_gradient)
    {Op::Detach, "detach", 1, Syntax::Call, kPrecAtom, "", nullptr, no_grad, no_jvp, true, false,
     T::detach_shape, T::detach_eval, L::View},
    // slice(x) along an axis: the adjoint is placed back, zeros elsewhere
    {Op::Slice, "slice", 1, Syntax::Call, kPrecAtom, "", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.pad(g, n->axis, n->index, n->arg(0)->shape); },
     // the tangent is sliced alike
     [](B& b, N n, const N* t) { return b.slice(t[0], n->axis, n->index, n->shape[n->axis]); }, true, false,
     T::slice_shape, T::slice_eval, L::View, true, true},
    // pad(x) with zeros along an axis: the adjoint is the slice of G where x went
    {Op::Pad, "pad", 1, Syntax::Call, kPrecAtom, "\\operatorname{pad}", nullptr,
     [](B& b, N n, N g, N* d) { d[0] = b.slice(g, n->axis, n->index, n->arg(0)->shape[n->axis]); },
     // the tangent is padded alike
     [](B& b, N n, const N* t) { return b.pad(t[0], n->axis, n->index, n->shape); }, true, false,
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

// That every tensor op has a shape rule and an evaluation is checked by the test
// OpTable.EveryTensorOpHasShapeRuleAndEvaluation: comparing function pointers with null is not a
// constant expression under AddressSanitizer, so it cannot be a static_assert.

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
