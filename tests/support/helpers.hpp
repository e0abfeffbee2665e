// Test helpers: compile .grad text in memory, evaluate through the interpreter and the JIT,
// and finite differences as an independent reference.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/builder.hpp"
#include "compiler/diff.hpp"
#include "compiler/interp.hpp"
#include "compiler/lower.hpp"
#include "compiler/print.hpp"
#include "io/csv.hpp"
#include "runtime/jit.hpp"
#include "latex_log.hpp"

namespace gradc::test {

inline std::unique_ptr<Module> compile_text(const std::string& text, bool simplify = true) {
  return compile_module(SourceFile{"test.grad", text}, simplify, read_csv);
}

/// The message of the InputError that compiling text throws, as `line:col: message`; `path` is
/// the file's name (csv paths resolve against its folder).
inline std::string compile_error(const std::string& text, const std::string& path = "test.grad") {
  SourceFile src{path, text};
  try {
    compile_module(src, true, read_csv);
  } catch (const InputError& e) {
    auto lc = src.line_col(e.loc);
    return std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + e.what();
  }
  return "no error";
}

/// Central difference with Richardson extrapolation (error O(h^4)) of f along coordinate i.
inline double finite_difference(const std::function<double(const std::vector<double>&)>& f,
                                std::vector<double> x, std::size_t i, double h = 1e-3) {
  double x0 = x[i];
  auto central = [&](double hh) {
    x[i] = x0 + hh;
    double up = f(x);
    x[i] = x0 - hh;
    double down = f(x);
    return (up - down) / (2 * hh);
  };
  return (4 * central(h / 2) - central(h)) / 3;
}

inline double rel_err(double a, double b) {
  return std::fabs(a - b) / std::max({1.0, std::fabs(a), std::fabs(b)});
}

inline Jit& shared_jit() {
  static std::unique_ptr<Jit> jit = Jit::create();
  return *jit;
}

}  // namespace gradc::test
