// Whole-file reads and atomic writes, with `-` for the standard streams.
#include "io/file.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "support/diagnostics.hpp"

namespace gradc {
namespace {
std::FILE* data_out = nullptr;  // set_standard_output's stream; stdout when null
}  // namespace

void set_standard_output(int fd) {
  std::FILE* f = ::fdopen(fd, "wb");
  if (!f) throw UsageError(fmt::format("cannot write to standard output: {}", std::strerror(errno)));
  data_out = f;
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (path != "-" && std::filesystem::is_directory(path, ec))
    throw UsageError(fmt::format("'{}' is a directory, not a file", path));
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) throw UsageError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  std::string bytes;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
  bool failed = std::ferror(f);
  int err = errno;
  if (f != stdin) std::fclose(f);
  if (failed) throw UsageError(fmt::format("cannot read '{}': {}", path, std::strerror(err)));
  return bytes;
}

SourceFile load_source(const std::string& path) {
  std::string bytes = read_file(path);
  // A UTF-8 byte-order mark (Windows editors, Excel's "CSV UTF-8") is invisible: drop it, so
  // that the first name and every column number are as the user sees them.
  if (bytes.rfind("\xef\xbb\xbf", 0) == 0) bytes.erase(0, 3);
  return text_source(path == "-" ? "<stdin>" : path, std::move(bytes));
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  if (path == "-") {
    std::FILE* out = data_out ? data_out : stdout;
    std::fflush(stdout);
    if (std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size() || std::fflush(out) != 0)
      throw UsageError(fmt::format("cannot write to standard output: {}", std::strerror(errno)));
    return;
  }
  std::string tmp = fmt::format("{}.tmp{}", path, ::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw UsageError(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fflush(f) == 0) && ok;
  ok = (::fsync(fileno(f)) == 0) && ok;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw UsageError(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
  }
}

}  // namespace gradc
