// Shared pieces of the libFuzzer targets: which exceptions are the documented answer to bad
// input (anything else escaping is a bug), temporary files, and failing loudly.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "support/diagnostics.hpp"

namespace gradc::fuzz {

/// A broken invariant: prints what and why, then aborts so that libFuzzer (or the replay
/// driver) reports the input.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "\nfuzz: %.*s\n%.*s\n", int(what.size()), what.data(), int(detail.size()), detail.data());
  std::fflush(stderr);
  std::abort();
}

/// Runs f; the errors gradc reports to users (exit 1 or 2) end the input quietly. Any other
/// exception propagates: the CLI would report it as an internal error (exit 70).
template <class F>
bool expected_errors(F&& f) {
  try {
    f();
    return true;
  } catch (const Diagnostic&) {
  } catch (const InputError&) {
  } catch (const UsageError&) {
  }
  return false;
}

/// A private temporary file name that ends in `suffix` (one per process and suffix: libFuzzer
/// runs one input at a time).
std::string temp_path(std::string_view suffix);

/// Writes bytes to path, replacing it.
void write_bytes(const std::string& path, const std::uint8_t* data, std::size_t size);

}  // namespace gradc::fuzz
