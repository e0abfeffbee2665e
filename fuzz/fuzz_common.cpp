// Temporary files for the targets that read paths.
#include "fuzz/fuzz_common.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace gradc::fuzz {

std::string temp_path(std::string_view suffix) {
  auto dir = std::filesystem::temp_directory_path();
  return (dir / ("gradc-fuzz-" + std::to_string(::getpid()) + std::string(suffix))).string();
}

void write_bytes(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) fail("cannot write the temporary file", path);
}

}  // namespace gradc::fuzz
