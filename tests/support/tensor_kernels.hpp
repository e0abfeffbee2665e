// Tensor kernels against the IR interpreter: the harness of test_tensor_jit and
// test_tensor_fusion (compile and run a kernel, compare with evaluate_tensors in f64 and f32).
// f64 must agree to 1e-12 relative (for sums and products, relative to the sum of |terms|);
// f32 to 1e-4 relative to the f64 interpreter.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/interp.hpp"
#include "runtime/jit.hpp"

namespace gradc::tensor_kernels {

using Nodes = std::vector<const Node*>;
inline constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();

inline double tolerance(DType t) { return t == DType::F64 ? 1e-12 : 1e-4; }
inline const char* dtype_name(DType t) { return t == DType::F64 ? "f64" : "f32"; }

inline Jit& shared_jit() {
  static std::unique_ptr<Jit> jit = Jit::create();
  return *jit;
}

inline std::vector<double> random_data(std::int64_t n, std::uint32_t seed, double lo = -2, double hi = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (double& x : v) x = dist(rng);
  return v;
}

inline Tensor random_tensor(const Shape& s, std::uint32_t seed, double lo = -2, double hi = 2) {
  return Tensor{s, random_data(s.size(), seed, lo, hi)};
}

// Compiles out(in) and runs it once on `values`; returns each output's data (as double).
// Checks that the kernel writes exactly its outputs (a sentinel follows them).
inline std::vector<std::vector<double>> run_kernel(Jit& jit, const Nodes& in, const Nodes& out,
                                            const std::vector<Tensor>& values, DType dtype) {
  Kernel k = jit.compile(KernelSpec{"t", in, out, /*batch=*/false, dtype});
  std::vector<double> flat;
  for (const Tensor& t : values) flat.insert(flat.end(), t.data.begin(), t.data.end());
  EXPECT_EQ(k.num_inputs, flat.size());
  std::vector<double> result(k.num_outputs);
  constexpr double kSentinel = -777.25;
  if (dtype == DType::F64) {
    EXPECT_NE(k.single, nullptr);
    EXPECT_EQ(k.single_f32, nullptr);
    std::vector<double> o(k.num_outputs + 1, kSentinel);
    k.single(flat.data(), o.data());
    EXPECT_EQ(o.back(), kSentinel) << "wrote past its outputs";
    std::copy(o.begin(), o.end() - 1, result.begin());
  } else {
    EXPECT_NE(k.single_f32, nullptr);
    EXPECT_EQ(k.single, nullptr);
    std::vector<float> f(flat.begin(), flat.end());
    std::vector<float> o(k.num_outputs + 1, static_cast<float>(kSentinel));
    k.single_f32(f.data(), o.data());
    EXPECT_EQ(o.back(), static_cast<float>(kSentinel)) << "wrote past its outputs";
    std::copy(o.begin(), o.end() - 1, result.begin());
  }
  std::vector<std::vector<double>> split;
  std::size_t at = 0;
  for (const Node* n : out) {
    std::size_t size = static_cast<std::size_t>(n->shape.size());
    split.emplace_back(result.begin() + at, result.begin() + at + size);
    at += size;
  }
  return split;
}

// got ≈ ref elementwise: nan where ref is nan, equal infinities, else |got - ref| <= rel *
// max(|ref|, mag) with mag the sum of |terms| (or 0 for an elementwise result).
inline ::testing::AssertionResult close(const std::vector<double>& ref, const std::vector<double>& got, double rel,
                                 const std::vector<double>* mag = nullptr) {
  if (ref.size() != got.size())
    return ::testing::AssertionFailure() << "size " << got.size() << ", expected " << ref.size();
  for (std::size_t e = 0; e < ref.size(); ++e) {
    double r = ref[e], g = got[e];
    bool ok;
    if (std::isnan(r) || std::isnan(g))
      ok = std::isnan(r) && std::isnan(g);
    else if (std::isinf(r) || std::isinf(g))
      ok = r == g;
    else
      ok = r == g || std::fabs(g - r) <= rel * std::max(std::fabs(r), mag ? (*mag)[e] : 0.0);
    if (!ok)
      return ::testing::AssertionFailure()
             << "element " << e << ": expected " << r << ", got " << g << " (tolerance " << rel << ")";
  }
  return ::testing::AssertionSuccess();
}

// Compiles and runs out(in) in `dtype` and compares with the interpreter. mags[j], when given
// and not null, is the sum of |terms| of output j (a reduction's scale).
inline void expect_matches(const Nodes& in, const Nodes& out, const std::vector<Tensor>& values, DType dtype,
                    const std::vector<const Node*>& mag_nodes = {}) {
  std::vector<Tensor> ref = evaluate_tensors(out, in, values);
  std::vector<std::vector<double>> got = run_kernel(shared_jit(), in, out, values, dtype);
  std::vector<Tensor> mags;
  Nodes present;
  for (const Node* m : mag_nodes)
    if (m) present.push_back(m);
  if (!present.empty()) mags = evaluate_tensors(present, in, values);
  for (std::size_t j = 0, mi = 0; j < out.size(); ++j) {
    const std::vector<double>* mag = nullptr;
    if (j < mag_nodes.size() && mag_nodes[j]) mag = &mags[mi++].data;
    EXPECT_TRUE(close(ref[j].data, got[j], tolerance(dtype), mag))
        << dtype_name(dtype) << ", output " << j << " of shape " << out[j]->shape.str();
  }
}

class TensorJit : public ::testing::TestWithParam<DType> {
 protected:
  DType dt() const { return GetParam(); }
};

}  // namespace gradc::tensor_kernels
