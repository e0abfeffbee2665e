// libFuzzer target: .grad source -> parse -> lower -> first and second derivatives -> simplify
// -> text and LaTeX -> the printed text parsed and lowered back.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gradc::fuzz::run_pipeline(std::string_view(reinterpret_cast<const char*>(data), size), {.jit = false});
  return 0;
}
