// gradc's own vector sin, cos, log and tanh (see vector_math.hpp): generic LLVM vector IR, so one
// emitter serves every width and target, and objects need no extra library for them.
//
// f64: error analysis in the comments of each function; tests/test_vector_math.cpp measures the
// maximum error against long double on millions of points (bench/batch.md lists it).
// f32 sin, cos, log and tanh: f32 arithmetic on 16 lanes, compensated where a rounding would reach
// 1 ulp (sin and cos: an exact three-part reduction by pi/2 and two kernels; the f64 evaluation
// they replace was correctly rounded but for ties, and needed twice the vectors and conversions).
//
// Coefficient sources: log's Lg1..Lg7 are fdlibm's (Sun Microsystems 1993, as in musl's log.c:
// "Permission to use, copy, modify, and distribute this software is freely granted, provided
// that this notice is preserved"); the sin, exp and all f32 polynomials are fitted by
// scripts/fit_vector_math.py (mpmath), which prints them.
#include "compiler/codegen/vector_math.hpp"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace gradc::codegen_detail {

namespace {

using llvm::Value;

// pi = kPi0 + kPiMid + kPiLow (+ 4e-43): kPiMid is the rest rounded to 33 bits, so that n kPiMid
// is exact for the 2n < 2^20 of sin_cos64's reduction; kPiLow the double nearest what is left.
constexpr double kPi0 = 3.141592653589793, kInvPi = 0.3183098861837907;  // and 1/pi
constexpr double kPiMid = 1.224646799076922e-16, kPiLow = 7.0431197303664e-27;
// ln 2 = kLn2[0] + kLn2[1], 1/ln 2
constexpr double kLn2[2] = {0.6931471805599453, 2.3190468138462996e-17};
constexpr double kInvLn2 = 1.4426950408889634;
// x + kShifter rounds x to an integer (|x| < 2^51) and leaves it in the low bits of the result.
constexpr double kShifter = 6755399441055744.0;  // 0x1.8p52
// |x| up to this: sin and cos reduce by the 3-part pi (the remainder kept as a double-double);
// beyond, and for inf and nan, SLEEF's function computes the lane.
constexpr double kSinFastLimit = 1048576.0;  // 2^20
// tanh(x) rounds to +-1 (f64) from |x| > 19.1: the argument of exp is clamped to 2*20.
constexpr double kTanhClamp = 40.0;

// fdlibm's log: log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f/(2+f); ln 2 split so that
// k*kLn2Hi is exact.
constexpr double kLg[7] = {6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
                           2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
                           1.479819860511658591e-01};
constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
// exp(r) = 1 + r + r^2/2 + r^3 P(r), |r| <= ln2/2: relative error 2^-61.1 (fit_vector_math.py,
// exp64)
const std::initializer_list<double> kExp64Tail = {
    0.16666666666666685,   0.041666666666666685, 0.008333333333316316, 0.0013888888888872995,
    0.0001984126989792604, 2.480158734968952e-05, 2.755723349537905e-06, 2.755725147654292e-07,
    2.511246639457876e-08, 2.0921855023429074e-09};
// sin(r) = r (1 + S1 r^2 + r^4 Q(r^2)), S1 = -1/6 rounded, |r| <= pi/2: relative error 2^-61.2
// (fit_vector_math.py, sinpi64)
constexpr double kSinPi64S1 = -0.16666666666666666;
const std::initializer_list<double> kSinPi64 = {0.008333333333333212,    -0.00019841269841215238, 2.7557319212123565e-06,
                                                -2.5052106959418843e-08, 1.605894389206604e-10,   -7.643096453023031e-13,
                                                2.7222418207018076e-15};
// cos r = 1 + kCosSlope r^2 within 0.039 for |r| <= pi/2 (the line through 1 closest to it;
// fit_vector_math.py, cosline): exact at r = 0, where sin_cos64's rl may exceed rh's ulp
constexpr double kCosSlope = -0.421;
// f32 sin, cos: pi/2 = kPio2f[0] + kPio2f[1] + kPio2f[2] (+ 2^-76; kPio2f[0] rounded down, so that
// n*kPio2f[1] is +0 for n = +0 and sin(-0) stays -0), the float nearest 2/pi;
// sin r = r + r^3 S(r^2) (2^-27.9, sinf) and cos r = 1 - r^2/2 + r^4 C(r^2) (2^-31.6, cosf) on
// |r| <= 0.83, float coefficients
constexpr float kPio2f[3] = {1.570796251296997f, 7.549790126404332e-08f, -1.7151245100058819e-15f};
constexpr float kTwoOverPif = 0.6366197466850281f;
const std::initializer_list<double> kSinf = {-0.1666666716337204, 0.008333328180015087, -0.0001983884139917791, 2.713846015467425e-06};
const std::initializer_list<double> kCosf = {0.04166663810610771, -0.0013886961387470365, 2.439346644678153e-05};
// f32 arithmetic on 16 lanes (tanh, log): ln 2 = kLn2f[0] + kLn2f[1] (floats), x + kShifter32 rounds x
// to an integer (|x| < 2^22) held in the low bits of the result.
constexpr float kLn2f[2] = {0.6931471824645996f, -1.9046542121259336e-09f};
constexpr float kShifter32 = 12582912.0f;  // 0x1.8p23
// expm1(r) = r + r^2 P(r), |r| <= ln2/2, float coefficients: relative error 2^-25.7 (fit_vector_math.py,
// expm1f)
const std::initializer_list<double> kExpm1f = {0.5, 0.16666515171527863, 0.04166626185178757, 0.008369223214685917,
                                               0.0013946561375632882};
// tanh(a) = a + a^3 T(a^2), a <= kTanhPolyf: 2^-27.9 (tanhf)
constexpr float kTanhPolyf = 0.55f;
const std::initializer_list<double> kTanhf = {-0.33333316445350647, 0.1333257555961609, -0.05385123938322067,
                                              0.02106749266386032, -0.006268463563174009};
// log1p(f) = f + f^2 L(f), f in [sqrt2/2 - 1, sqrt2 - 1]: 2^-27.3 (log1pf)
const std::initializer_list<double> kLog1pf = {-0.49999988079071045, 0.3333333730697632, -0.2500157952308655,
                                               0.20001180469989777,  -0.1660851389169693, 0.14196477830410004,
                                               -0.13262511789798737, 0.12821254134178162, -0.0747416540980339};
// v as vectors of `width` lanes (v's lanes a multiple of width), and back.
std::vector<Value*> split(llvm::IRBuilder<>& b, Value* v, unsigned width) {
  unsigned lanes = llvm::cast<llvm::FixedVectorType>(v->getType())->getNumElements();
  if (lanes == width) return {v};
  std::vector<Value*> parts;
  for (unsigned at = 0; at < lanes; at += width) {
    std::vector<int> pick;
    for (unsigned l = 0; l < width; ++l) pick.push_back(static_cast<int>(at + l));
    parts.push_back(b.CreateShuffleVector(v, pick));
  }
  return parts;
}
Value* join(llvm::IRBuilder<>& b, std::vector<Value*> parts) {
  while (parts.size() > 1) {
    std::vector<Value*> joined;
    for (std::size_t i = 0; i < parts.size(); i += 2) {
      unsigned n = llvm::cast<llvm::FixedVectorType>(parts[i]->getType())->getNumElements();
      std::vector<int> all;
      for (unsigned l = 0; l < 2 * n; ++l) all.push_back(static_cast<int>(l));
      joined.push_back(b.CreateShuffleVector(parts[i], parts[i + 1], all));
    }
    parts = std::move(joined);
  }
  return parts[0];
}

// Vector arithmetic on <lanes x double> (and the matching <lanes x i64>), no fast-math flags:
// the exact-error steps (Fast2Sum, FMA residuals) must be evaluated as written.
struct Emit {
  llvm::IRBuilder<>& b;
  unsigned lanes;
  bool rcp14;
  bool f32 = false;  // <lanes x float> and <lanes x i32>
  llvm::Type* t = llvm::FixedVectorType::get(f32 ? b.getFloatTy() : b.getDoubleTy(), lanes);
  llvm::Type* it = llvm::FixedVectorType::get(f32 ? b.getInt32Ty() : b.getInt64Ty(), lanes);

  Value* k(double v) { return llvm::ConstantFP::get(t, v); }
  Value* ki(std::uint64_t v) { return llvm::ConstantInt::get(it, v); }
  Value* add(Value* a, Value* c) { return b.CreateFAdd(a, c); }
  Value* sub(Value* a, Value* c) { return b.CreateFSub(a, c); }
  Value* mul(Value* a, Value* c) { return b.CreateFMul(a, c); }
  Value* fma(Value* a, Value* c, Value* d) { return b.CreateIntrinsic(llvm::Intrinsic::fma, {t}, {a, c, d}); }
  Value* abs(Value* a) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a); }
  Value* bits(Value* a) { return b.CreateBitCast(a, it); }
  Value* real(Value* i) { return b.CreateBitCast(i, t); }
  Value* sel(Value* c, Value* a, Value* d) { return b.CreateSelect(c, a, d); }
  // c[0] + x (c[1] + x (c[2] + ...))
  Value* poly(Value* x, std::initializer_list<double> c) {
    auto it_ = c.end();
    Value* r = k(*--it_);
    while (it_ != c.begin()) r = fma(r, x, k(*--it_));
    return r;
  }
  // 2^n for the integer n held in the low bits of kd = n + kShifter (kShifter32) (|n| < 1023, 127).
  Value* pow2(Value* kd) {
    return f32 ? real(b.CreateShl(b.CreateAdd(bits(kd), ki(127)), ki(23)))
               : real(b.CreateShl(b.CreateAdd(bits(kd), ki(1023)), ki(52)));
  }
  // 1/d (d > 0 finite): vrcp14pd (relative error < 2^-14) and `newton` Newton steps, each
  // squaring the error; without AVX-512 a division (the slowest instruction here: vdivpd zmm is
  // one per 16 cycles on Sapphire Rapids).
  // f32: vrcp14ps on 16 lanes.
  Value* recip(Value* d, int newton) {
    const unsigned w = f32 ? 16 : 8;
    if (!rcp14 || lanes % w != 0) return b.CreateFDiv(k(1), d);
    auto* vw = llvm::FixedVectorType::get(f32 ? b.getFloatTy() : b.getDoubleTy(), w);
    std::vector<Value*> parts;
    for (Value* part : split(b, d, w))
      parts.push_back(f32 ? b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_rcp14_ps_512, {},
                                              {part, llvm::Constant::getNullValue(vw), b.getInt16(0xffff)})
                          : b.CreateIntrinsic(llvm::Intrinsic::x86_avx512_rcp14_pd_512, {},
                                              {part, llvm::Constant::getNullValue(vw), b.getInt8(0xff)}));
    Value* y = join(b, parts);
    for (int i = 0; i < newton; ++i) y = fma(y, fma(b.CreateFNeg(d), y, k(1)), y);
    return y;
  }
};

// ---- sin and cos ----------------------------------------------------------------------------
// Reduced by pi, not pi/2, so that one polynomial serves (fdlibm's two kernels on every lane and
// a select cost ~45 instructions per vector; this 26 and 2 for the sign). n = nearest integer to x/pi (cos: to
// x/pi - 1/2, and n + 1/2 in place of n), r = x - n pi in [-pi/2, pi/2] as a double-double
// rh + rl: a = x - n*kPi0 is exact (sin: n = 0 or |x| > 1.5, x and n*kPi0 multiples of 2^-52
// and |a| < 2; cos: where |x| < 1 it is not, and its rounding error, exact by Fast2Sum, goes into
// rl), p = n*kPiMid is exact, rh = a - p by Fast2Sum, n*kPiLow rounded is far below rh's ulp.
// sin x = (-1)^n sin r, cos x = (-1)^(n+1/2+1/2) sin r.
// sin r = rh u + rh (S1 ze + ue + z^2 Q(z)) + rl cos rh, z = rh^2 (+ its error ze by FMA),
// u = 1 + S1 z (+ its error ue): the terms near 1 are exact but for one final rounding (by FMA),
// the rest is below 0.08 and within ~4 of its own ulp, so that the error stays under 1 ulp
// where sin r is near 1 (the r^3 term is up to 0.65 there; 0.5 + ~0.35 ulp bound). cos rh in
// rl's term is a line in z (within 0.039; |rl| <= ulp(rh) but where rh is near 0 and the line
// exact; cos, |x| < 1: 2 ulp(rh), 0.08 ulp).
// nrl = -rl, so that rl's term is added with its own sign: sin(-0) = -0.
Value* sin_cos64(Emit& e, Value* x, bool cos) {
  Value* kd = cos ? e.add(e.fma(x, e.k(kInvPi), e.k(-0.5)), e.k(kShifter)) : e.fma(x, e.k(kInvPi), e.k(kShifter));
  Value* n = e.sub(kd, e.k(kShifter));
  if (cos) n = e.add(n, e.k(0.5));
  Value* a = e.fma(n, e.k(-kPi0), x);
  Value* p = e.mul(n, e.k(kPiMid));
  Value* rh = e.sub(a, p);
  Value* nrl = e.fma(n, e.k(kPiLow), e.sub(p, e.sub(a, rh)));
  // cos: x - n kPi0 = a + ae; ae = 0 where a is exact (a + n kPi0 rounds to x)
  if (cos) nrl = e.sub(nrl, e.sub(x, e.fma(n, e.k(kPi0), a)));
  Value* z = e.mul(rh, rh);
  Value* ze = e.fma(rh, rh, e.b.CreateFNeg(z));
  Value* u = e.fma(z, e.k(kSinPi64S1), e.k(1));
  Value* ue = e.fma(z, e.k(kSinPi64S1), e.sub(e.k(1), u));  // 1 - u exact (u in [0.58, 1])
  Value* tail = e.fma(e.mul(z, z), e.poly(z, kSinPi64), e.fma(ze, e.k(kSinPi64S1), ue));
  Value* cosr = e.fma(z, e.k(kCosSlope), e.k(1));
  Value* s = e.fma(rh, u, e.fma(nrl, e.b.CreateFNeg(cosr), e.mul(rh, tail)));
  Value* sign = e.b.CreateShl(e.b.CreateAdd(e.bits(kd), e.ki(cos ? 1 : 0)), e.ki(63));
  return e.real(e.b.CreateXor(e.bits(s), sign));
}

// f32 sin and cos in f32 arithmetic on 16 lanes (|x| <= 2^20): n = nearest integer to x 2/pi,
// r = x - n pi/2 = rh + rl with pi/2 in three floats: a = x - n*kPio2f[0] is exact (for |x| >= 1 both
// are multiples of 2^-23 and |a| < 1; below, n = 0 or Sterbenz's lemma), n*kPio2f[1] is split
// exactly by FMA, so rh + rl carries r to ~48 bits. |r| <= 0.83 (n from a rounded 2/pi), where
// sin r = r + r^3 S(r^2) has a tail below 0.12 of the result, so its roundings stay small, and
// cos r = 1 - r^2/2 + r^4 C(r^2) is kept exact through 1 - rh^2/2 (FMA, and 1 - w exact as
// w >= 0.66). The quadrant n mod 4 (cos: n+1) picks the kernel and the sign.
Value* sin_cos32(Emit& e, Value* x, bool cos) {
  Value* kd = e.fma(x, e.k(kTwoOverPif), e.k(kShifter32));
  Value* n = e.sub(kd, e.k(kShifter32));
  Value* a = e.fma(n, e.k(-kPio2f[0]), x);
  Value* p = e.mul(n, e.k(kPio2f[1]));
  Value* pe = e.fma(n, e.k(kPio2f[1]), e.b.CreateFNeg(p));
  Value* rh = e.sub(a, p);
  // -rl, so that sin = rh - (-tail) keeps sin(-0) = -0
  Value* nrl = e.add(e.add(e.sub(rh, a), p), e.fma(n, e.k(kPio2f[2]), pe));
  Value* z = e.mul(rh, rh);
  Value* hr = e.mul(e.k(0.5), rh);
  Value* w = e.fma(e.b.CreateFNeg(hr), rh, e.k(1));
  // sin(rh + rl) = sin rh + rl cos rh, cos rh ~ w = 1 - rh^2/2 (rl alone: up to 0.17 ulp off)
  Value* s = e.sub(rh, e.fma(e.b.CreateFNeg(e.mul(rh, z)), e.poly(z, kSinf), e.mul(nrl, w)));
  Value* we = e.fma(e.b.CreateFNeg(hr), rh, e.sub(e.k(1), w));  // 1 - rh^2/2 = w + we
  // cos(rh + rl) = cos rh - rl sin rh, sin rh ~ rh (the difference below 2^-28 of the result)
  Value* c = e.add(w, e.fma(e.mul(z, z), e.poly(z, kCosf), e.fma(rh, nrl, we)));
  Value* q = e.b.CreateAdd(e.bits(kd), e.ki(cos ? 1 : 0));
  Value* odd = e.b.CreateICmpNE(e.b.CreateAnd(q, e.ki(1)), e.ki(0));
  Value* sign = e.b.CreateShl(e.b.CreateAnd(q, e.ki(2)), e.ki(30));
  return e.real(e.b.CreateXor(e.bits(e.sel(odd, c, s)), sign));
}

// ---- log ------------------------------------------------------------------------------------
// f64 (f32 log is SLEEF's). x = 2^k m, m in [sqrt2/2, sqrt2), f = m - 1 exact. For positive
// normal x; SLEEF's function computes the other lanes (0, negative, subnormal, inf, nan).
struct LogParts {
  Value* f;
  Value* dk;
};
LogParts log_reduce(Emit& e, Value* x) {
  Value* ix = e.b.CreateAdd(e.bits(x), e.ki(0x3ff0000000000000 - 0x3fe6a09e667f3bcd));
  Value* k = e.b.CreateSub(e.b.CreateAShr(ix, e.ki(52)), e.ki(1023));
  Value* m = e.real(e.b.CreateAdd(e.b.CreateAnd(ix, e.ki(0x000fffffffffffff)), e.ki(0x3fe6a09e667f3bcd)));
  return {e.sub(m, e.k(1)), e.b.CreateSIToFP(k, e.t)};
}

// fdlibm's formula (error < 1 ulp): s = f/(2+f) by a reciprocal within ~1 ulp, whose error only
// reaches the result through s (f^2/2 + R), below 0.05 ulp.
Value* log64(Emit& e, Value* x) {
  auto [f, dk] = log_reduce(e, x);
  Value* hfsq = e.mul(e.mul(e.k(0.5), f), f);
  Value* s = e.mul(f, e.recip(e.add(e.k(2), f), 2));
  Value* z = e.mul(s, s);
  Value* w = e.mul(z, z);
  Value* t1 = e.mul(w, e.poly(w, {kLg[1], kLg[3], kLg[5]}));
  Value* t2 = e.mul(z, e.poly(w, {kLg[0], kLg[2], kLg[4], kLg[6]}));
  Value* r = e.add(t2, t1);
  Value* v = e.add(e.mul(s, e.add(hfsq, r)), e.mul(dk, e.k(kLn2Lo)));
  return e.add(e.add(e.sub(v, hfsq), f), e.mul(dk, e.k(kLn2Hi)));
}

// ---- tanh -----------------------------------------------------------------------------------
// tanh|x| = m/(m+2), m = expm1(t), t = 2|x| (clamped to kTanhClamp; nan stays nan). One formula
// for all |x|: m keeps its relative accuracy down to the smallest t, as n = 0 there.
// expm1(t) = 2^n (1 + r + r^2 P(r)) - 1, n = nearest integer to t/ln2, r = t - n ln2.
// f64: r and m as double-doubles (rh + rl: t - n*kLn2[0] is exact, t and n*kLn2[0] being
// multiples of 2^-54 below 1); the quotient from a reciprocal (within 2^-28: vrcp14pd and one
// Newton step) and one FMA residual correction, which leaves ~2^-56 of it.
Value* tanh64(Emit& e, Value* x) {
  Value* t = e.mul(e.k(2), e.abs(x));
  t = e.sel(e.b.CreateFCmpOGT(t, e.k(kTanhClamp)), e.k(kTanhClamp), t);
  Value* kd = e.fma(t, e.k(kInvLn2), e.k(kShifter));
  Value* n = e.sub(kd, e.k(kShifter));
  // r = rh + rl, not normalized (rl = -n*kLn2[1] is below 2^-49; the formulas below do not
  // need |rl| <= ulp(rh)/2)
  Value* rh = e.fma(n, e.k(-kLn2[0]), t);
  Value* rl = e.mul(n, e.k(-kLn2[1]));
  // exp(rh + rl) - 1 - rh = u + rl (1 + rh), u = rh^2/2 + rh^3 P(rh) with the rounding error of
  // rh^2 (r2e, by FMA) added back: u within ~2^-53 of itself, where 2^n u is a third of m
  // (n = 1, r near -ln2/2; without r2e, 0.74 ulp measured there)
  Value* r2 = e.mul(rh, rh);
  Value* r2e = e.fma(rh, rh, e.b.CreateFNeg(r2));
  Value* u = e.fma(r2, e.fma(rh, e.poly(rh, kExp64Tail), e.k(0.5)), e.mul(e.k(0.5), r2e));
  Value* cc = e.add(u, e.fma(rl, rh, rl));
  Value* sc = e.pow2(kd);
  Value* A = e.sub(sc, e.k(1));
  Value* B = e.mul(sc, rh);
  Value* s = e.add(A, B);
  Value* c = e.fma(sc, cc, e.add(e.sub(A, s), B));
  Value* mh = e.add(s, c);
  Value* ml = e.add(e.sub(s, mh), c);
  // d = m + 2 by Fast2Sum of the larger and the smaller
  Value* big = e.b.CreateMaxNum(mh, e.k(2));
  Value* small = e.b.CreateMinNum(mh, e.k(2));
  Value* dh = e.add(big, small);
  Value* dl = e.add(e.add(e.sub(big, dh), small), ml);
  Value* inv = e.recip(dh, 1);
  Value* qh = e.mul(mh, inv);
  // (m - qh d) / d: the residual mh - qh dh is exact by FMA
  Value* res = e.add(e.fma(e.b.CreateFNeg(qh), dh, mh), e.sub(ml, e.mul(qh, dl)));
  Value* q = e.fma(res, inv, qh);
  return e.b.CreateCopySign(q, x);
}

// f32 log in f32 arithmetic: x = 2^k m, m in [sqrt2/2, sqrt2), f = m - 1 exact; log x =
// k ln2 + f + f^2 L(f). lg = f + (f^2 L + k kLn2f[1]) rounds once (the tail at most 0.2 |f|), and
// k kLn2f[0] + lg once more by FMA (exact where they cancel: k = 1, f < 0): ~0.5 ulp + the tail's.
Value* log32(Emit& e, Value* x) {
  Value* ix = e.b.CreateAdd(e.bits(x), e.ki(0x3f800000 - 0x3f3504f3));
  Value* k = e.b.CreateSub(e.b.CreateAShr(ix, e.ki(23)), e.ki(127));
  Value* m = e.real(e.b.CreateAdd(e.b.CreateAnd(ix, e.ki(0x007fffff)), e.ki(0x3f3504f3)));
  Value* f = e.sub(m, e.k(1));
  Value* dk = e.b.CreateSIToFP(k, e.t);
  Value* tail = e.fma(e.mul(f, f), e.poly(f, kLog1pf), e.mul(dk, e.k(kLn2f[1])));
  return e.fma(dk, e.k(kLn2f[0]), e.add(f, tail));
}

// f32 tanh in f32 arithmetic, a = |x|: a + a^3 T(a^2) below kTanhPolyf; above, m/(m+2) with
// m = expm1(2a) = 2^n - 1 + 2^n E(r) (r = 2a - n ln2 by a 2-part ln2, E = expm1 r; 2a clamped to 20,
// where tanh rounds to 1): m's rounding reaches the result times 2/(m+2) <= 1/2 (m >= 2 there);
// d = m + 2's rounding error dl is exact and goes into the residual of the quotient, whose
// reciprocal (vrcp14ps, 2^-14) one FMA residual correction squares.
Value* tanh32(Emit& e, Value* x) {
  Value* a = e.abs(x);
  Value* t = e.add(a, a);
  t = e.sel(e.b.CreateFCmpOGT(t, e.k(20)), e.k(20), t);
  Value* kd = e.fma(t, e.k(1.4426950216293335), e.k(kShifter32));
  Value* n = e.sub(kd, e.k(kShifter32));
  Value* r = e.fma(n, e.k(-kLn2f[1]), e.fma(n, e.k(-kLn2f[0]), t));
  Value* E = e.fma(e.mul(r, r), e.poly(r, kExpm1f), r);
  Value* sc = e.pow2(kd);
  Value* mh = e.fma(sc, E, e.sub(sc, e.k(1)));
  Value* d = e.add(mh, e.k(2));
  Value* dl = e.sub(e.k(2), e.sub(d, mh));
  Value* y = e.recip(d, 0);
  Value* qh = e.mul(mh, y);
  Value* nq = e.b.CreateFNeg(qh);
  Value* res = e.fma(nq, dl, e.fma(nq, d, mh));
  Value* q = e.fma(res, y, qh);
  Value* z = e.mul(a, a);
  Value* p = e.fma(e.mul(a, z), e.poly(z, kTanhf), a);
  return e.b.CreateCopySign(e.sel(e.b.CreateFCmpOLT(a, e.k(kTanhPolyf)), p, q), x);
}

}  // namespace

bool has_own_vector_math(Op op, DType) {
  return op == Op::Sin || op == Op::Cos || op == Op::Tanh || op == Op::Log;
}

llvm::Function* own_vector_function(llvm::Module& m, Op op, DType dtype, unsigned lanes, unsigned call_lanes,
                                    bool rcp14, llvm::FunctionCallee fallback) {
  const bool f32 = dtype == DType::F32;
  std::string name = std::string("gradc.vm.") + op_info(op).name + (f32 ? ".f32x" : ".f64x") + std::to_string(lanes);
  if (llvm::Function* f = m.getFunction(name)) return f;
  llvm::LLVMContext& ctx = m.getContext();
  auto* vt = llvm::FixedVectorType::get(f32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx), lanes);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(vt, {vt}, false), llvm::Function::InternalLinkage, name, m);
  f->setDoesNotThrow();
  f->setDoesNotAccessMemory();
  f->addFnAttr(llvm::Attribute::WillReturn);
  f->addFnAttr(llvm::Attribute::AlwaysInline);
  // Whole vectors in registers (X86 splits wider-than-preferred vectors otherwise).
  f->addFnAttr("min-legal-vector-width", std::to_string(call_lanes * (f32 ? 32 : 64)));
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  Emit e{b, lanes, rcp14};
  Emit ef{b, lanes, rcp14, true};
  Value* x = f->getArg(0);
  Value* r = nullptr;
  switch (op) {
    case Op::Sin: case Op::Cos: r = f32 ? sin_cos32(ef, x, op == Op::Cos) : sin_cos64(e, x, op == Op::Cos); break;
    case Op::Log: r = f32 ? log32(ef, x) : log64(e, x); break;
    case Op::Tanh: r = f32 ? tanh32(ef, x) : tanh64(e, x); break;
    default: throw std::logic_error("codegen: gradc has no vector function for op " + std::string(op_info(op).name));
  }
  // The lanes the fast path does not compute: SLEEF's function, called only for a vector that
  // has one (sin, cos: |x| > kSinFastLimit, inf, nan; log: all but positive normal x).
  Value* slow;
  if (op == Op::Sin || op == Op::Cos) {
    Emit& em = f32 ? ef : e;
    slow = b.CreateFCmpUGT(em.abs(x), em.k(kSinFastLimit));
  } else if (op == Op::Log) {
    llvm::Constant* smallest = llvm::ConstantFP::get(vt, f32 ? 0x1p-126 : 0x1p-1022);
    slow = b.CreateOr(b.CreateFCmpULT(x, smallest), b.CreateFCmpUEQ(x, llvm::ConstantFP::getInfinity(vt)));
  } else {
    b.CreateRet(r);
    return f;
  }
  Value* any = b.CreateICmpNE(b.CreateBitCast(slow, b.getIntNTy(lanes)), b.getIntN(lanes, 0));
  llvm::BasicBlock* fast_end = b.GetInsertBlock();
  auto* call = llvm::BasicBlock::Create(ctx, "sleef", f);
  auto* done = llvm::BasicBlock::Create(ctx, "done", f);
  b.CreateCondBr(any, call, done);
  b.SetInsertPoint(call);
  std::vector<Value*> parts;
  for (Value* part : split(b, x, call_lanes)) parts.push_back(b.CreateCall(fallback, {part}));
  Value* mixed = b.CreateSelect(slow, join(b, parts), r);
  b.CreateBr(done);
  b.SetInsertPoint(done);
  llvm::PHINode* phi = b.CreatePHI(vt, 2);
  phi->addIncoming(r, fast_end);
  phi->addIncoming(mixed, call);
  b.CreateRet(phi);
  return f;
}

}  // namespace gradc::codegen_detail
