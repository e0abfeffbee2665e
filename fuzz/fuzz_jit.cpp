// libFuzzer target: fuzz_program's pipeline, then the JIT: each scalar function's compiled value,
// gradient and Hessian against the interpreter and against the printed derivatives read back,
// and a training program's compiled loss and gradients against the interpreter.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gradc::fuzz::run_pipeline(std::string_view(reinterpret_cast<const char*>(data), size), {.jit = true});
  return 0;
}
