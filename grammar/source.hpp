// Source text, positions and user-facing diagnostics (`file:line:col: error: ...` with a caret).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gradc {

/// Documented process exit codes (README, "Exit codes").
enum ExitCode : int {
  kExitOk = 0,
  kExitInputError = 1,   // an error in the user's .grad file or data
  kExitUsage = 2,        // bad command-line usage
  kExitCheckFailed = 3,  // `gradc check`: compiled gradient disagrees with finite differences
};

/// A byte offset into a SourceFile's text.
struct Loc {
  std::uint32_t offset = 0;
};

/// A loaded source file. `path` is what diagnostics print.
struct SourceFile {
  std::string path;
  std::string text;

  struct LineCol {
    unsigned line, col;  // 1-based; col counts bytes
  };
  LineCol line_col(Loc loc) const;
  std::string_view line_text(Loc loc) const;  // the whole line holding loc, without '\n'

  /// `path:line:col: severity: message`, the source line and a caret under the column.
  std::string format(Loc loc, std::string_view severity, std::string_view message) const;
};

/// Reads a file. Throws UsageError if it cannot be read, InputError if it is not text.
SourceFile load_source(const std::string& path);

/// An error in the user's input, located in a source file. Exit code 1.
struct InputError : std::runtime_error {
  Loc loc;
  InputError(Loc l, const std::string& message) : std::runtime_error(message), loc(l) {}
};

/// Bad command-line usage (unknown function, malformed --at, ...). Exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Skips spaces, tabs, newlines and `#` comments starting at offset; returns the new offset.
std::uint32_t skip_blank(std::string_view text, std::uint32_t offset);

}  // namespace gradc
