// Each op's C spelling, one row per op, following compiler/codegen/op_lowering.cpp's lowering
// (the JIT's) so that the generated C computes the same bits.
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <stdexcept>

#include "compiler/codegen_c.hpp"
#include "compiler/codegen_c/detail.hpp"

namespace gradc::codegen_c_detail {
namespace {

constexpr CSpelling kTable[] = {
    {Op::Const, {"", ""}, true},  // a literal (emit.cpp prints it exactly)
    {Op::Tensor, {"", ""}, true},
    {Op::Var, {"", ""}, true},
    {Op::Add, {"$a + $b", "$a + $b"}},
    {Op::Sub, {"$a - $b", "$a - $b"}},
    {Op::Mul, {"$a * $b", "$a * $b"}},
    {Op::Div, {"$a / $b", "$a / $b"}},
    // x^2 and x^3 are multiplies (c_elementwise), every other exponent calls pow.
    {Op::Pow, {"pow($a, $b)", "powf($a, $b)"}},
    {Op::Neg, {"-$a", "-$a"}},
    {Op::Sin, {"sin($a)", "sinf($a)"}},
    {Op::Cos, {"cos($a)", "cosf($a)"}},
    {Op::Tan, {"tan($a)", "tanf($a)"}},
    {Op::Asin, {"asin($a)", "asinf($a)"}},
    {Op::Acos, {"acos($a)", "acosf($a)"}},
    {Op::Atan, {"atan($a)", "atanf($a)"}},
    {Op::Sinh, {"sinh($a)", "sinhf($a)"}},
    {Op::Cosh, {"cosh($a)", "coshf($a)"}},
    {Op::Tanh, {"tanh($a)", "tanhf($a)"}},
    {Op::Exp, {"exp($a)", "expf($a)"}},
    {Op::Log, {"log($a)", "logf($a)"}},
    {Op::Sqrt, {"sqrt($a)", "sqrtf($a)"}},
    {Op::Abs, {"fabs($a)", "fabsf($a)"}},
    // sigmoid(x) = 1 / (1 + exp(-x))
    {Op::Sigmoid, {"$1 / ($1 + exp(-$a))", "$1 / ($1 + expf(-$a))"}},
    // relu(x) = x > 0 ? x : 0 (relu(nan) = 0)
    {Op::Relu, {"$a > $0 ? $a : $0", "$a > $0 ? $a : $0"}},
    // softplus(x) = (x < 0 ? 0 : x) + log1p(exp(-|x|))
    {Op::Softplus, {"($a < $0 ? $0 : $a) + log1p(exp(-fabs($a)))", "($a < $0 ? $0 : $a) + log1pf(expf(-fabsf($a)))"}},
    // min(a, b) = a <= b ? a : b, max(a, b) = a >= b ? a : b: ties pick a, nan picks b
    {Op::Min, {"$a <= $b ? $a : $b", "$a <= $b ? $a : $b"}},
    {Op::Max, {"$a >= $b ? $a : $b", "$a >= $b ? $a : $b"}},
    // step(x) = x > 0 ? 1 : 0; sign(x) = x > 0 ? 1 : (x < 0 ? -1 : 0); both 0 at nan
    {Op::Step, {"$a > $0 ? $1 : $0", "$a > $0 ? $1 : $0"}},
    {Op::Sign, {"$a > $0 ? $1 : ($a < $0 ? $m1 : $0)", "$a > $0 ? $1 : ($a < $0 ? $m1 : $0)"}},
    // mask(c, x) = c == 0 ? 0 : c*x (x = inf or nan does not leak through c = 0)
    {Op::Mask, {"$a == $0 ? $0 : $a * $b", "$a == $0 ? $0 : $a * $b"}},
    // lgamma_r where the C library has it: lgamma writes the global signgam (a data race)
    {Op::Lgamma, {"gradc_c_lgamma($a)", "gradc_c_lgammaf($a)"}},
    {Op::Log1p, {"log1p($a)", "log1pf($a)"}},
    {Op::Expm1, {"expm1($a)", "expm1f($a)"}},
    // gradc's special functions in f64; an f32 kernel widens the argument and rounds the result
    {Op::Digamma, {"gradc_c_digamma($a)", "(float)gradc_c_digamma((double)$a)"}},
    {Op::Polygamma,
     {"gradc_c_polygamma($a, $b)", "(float)gradc_c_polygamma((double)$a, (double)$b)"}},
    {Op::Broadcast, {"", ""}, true},
    {Op::Reshape, {"", ""}, true},
    {Op::Sum, {"", ""}, true},
    {Op::ReduceMax, {"", ""}, true},
    {Op::MatMul, {"", ""}, true},
    {Op::Transpose, {"", ""}, true},
    {Op::Index, {"", ""}, true},
    {Op::Embed, {"", ""}, true},
    {Op::OneHot, {"", ""}, true},
    {Op::Detach, {"", ""}, true},
    {Op::Slice, {"", ""}, true},
    {Op::Pad, {"", ""}, true},
};

// The table by op (a row missing or out of order leaves nullptr: has_c_spelling is false).
const std::array<const CSpelling*, kNumOps> kByOp = [] {
  std::array<const CSpelling*, kNumOps> by{};
  for (const CSpelling& s : kTable) by[static_cast<int>(s.op)] = &s;
  return by;
}();

// The constant behind a splat: c, broadcast(c), reshape(c), detach(c); else nullptr.
const Node* splat_constant(const Node* n) {
  while (n->op == Op::Broadcast || n->op == Op::Reshape || n->op == Op::Detach) n = n->arg(0);
  return n->op == Op::Const ? n : nullptr;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
}

}  // namespace

const CSpelling* c_spelling(Op op) { return kByOp[static_cast<int>(op)]; }


namespace {

// The exponent N of a power-of-two base 2^N (or 2^-N) as LLVM's library-call simplifier
// rewrites pow(2^N, y) into exp2(y * N); 0 when the base is not one.
double exp2_exponent(const Node* n, bool f32) {
  const Node* base = splat_constant(n->arg(0));
  if (!base) return 0;
  // The constant as the kernel holds it (an f32 kernel rounds it to float).
  double v = f32 ? static_cast<float>(base->value) : base->value;
  if (!(v > 0) || std::isinf(v)) return 0;
  for (double sign : {1.0, -1.0}) {
    double m = sign > 0 ? v : 1 / v;  // an exact power of two has an exact reciprocal
    int e;
    if (std::frexp(m, &e) == 0.5 && e >= 2 && e - 1 < 64) return sign * (e - 1);
  }
  return 0;
}

double exponent(const Node* n, bool f32) {
  const Node* e = splat_constant(n->arg(1));
  if (!e) return std::nan("");
  return f32 ? static_cast<float>(e->value) : e->value;
}

}  // namespace

bool reads_operand(const Node* n, int i, bool f32) {
  if (n->op != Op::Pow) return i < n->nargs;
  double e = exponent(n, f32);
  if (e == 2 || exponent(n, false) == 3 || e == 0.5 || e == -1) return i == 0;
  if (exp2_exponent(n, f32) != 0) return i == 1;
  return true;
}

std::string c_elementwise(const Node* n, const std::string& a, const std::string& b, bool f32) {
  // Pow follows the JIT's lowering (x^2 and x^3 as multiplies) and then LLVM's simplifier, which
  // rewrites these forms even without fast-math flags (their results can differ from pow's in
  // the last bit): pow(x, 0.5) = x == -inf ? inf : |sqrt(x)|, pow(x, -1) = 1 / x, and
  // pow(2^N, y) = exp2(y * N).
  if (n->op == Op::Pow) {
    const char* f = f32 ? "f" : "";
    double e = exponent(n, f32);
    if (e == 2) return a + " * " + a;
    if (exponent(n, false) == 3) return "(" + a + " * " + a + ") * " + a;  // the JIT tests the constant as written
    if (e == 0.5)
      return fmt::format("{0} == -INFINITY ? {1} : fabs{2}(sqrt{2}({0}))", a, f32 ? "INFINITY" : "(double)INFINITY", f);
    if (e == -1) return fmt::format("{} / {}", f32 ? "1.0f" : "1.0", a);
    if (double N = exp2_exponent(n, f32); N == 1) return fmt::format("exp2{}({})", f, b);
    else if (N != 0) return fmt::format("exp2{}({} * {}{})", f, b, fmt::format("{:.1f}", N), f32 ? "f" : "");
  }
  const CSpelling* s = c_spelling(n->op);
  if (!s || s->tensor) throw std::logic_error(std::string("codegen_c: no elementwise spelling for op ") + op_id(n->op));
  std::string e = s->expr[f32];
  // $m1 before $1, which it contains.
  replace_all(e, "$m1", f32 ? "-1.0f" : "-1.0");
  replace_all(e, "$0", f32 ? "0.0f" : "0.0");
  replace_all(e, "$1", f32 ? "1.0f" : "1.0");
  replace_all(e, "$a", a);
  replace_all(e, "$b", b);
  return e;
}

}  // namespace gradc::codegen_c_detail

namespace gradc {
bool has_c_spelling(Op op) {
  const codegen_c_detail::CSpelling* s = codegen_c_detail::c_spelling(op);
  return s && s->op == op;
}
}  // namespace gradc
