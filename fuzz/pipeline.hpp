// The compiler pipeline as the fuzz targets drive it: source text -> parse -> lower ->
// differentiate (first and second order) -> simplify -> print (text and LaTeX) -> parse the
// printed text back; optionally JIT-compile and compare compiled values with the reference
// interpreter and with the printed derivatives read back.
#pragma once
#include <string_view>

namespace gradc::fuzz {

struct PipelineOptions {
  bool jit = false;  // also compile and evaluate (fuzz_jit)
};

/// Runs the pipeline on one input. Errors in the input (InputError, UsageError, Diagnostic)
/// end it quietly; a broken invariant aborts (see fail()); any other exception escapes.
void run_pipeline(std::string_view text, const PipelineOptions& opts);

}  // namespace gradc::fuzz
