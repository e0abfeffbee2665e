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
  kExitDiverged = 4,     // `gradc train`: the loss became nan or inf
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

/// Reads a file. Throws UsageError if it cannot be read, Diagnostic if it is not text.
SourceFile load_source(const std::string& path);

/// An error in the user's input, located in a source file. Exit code 1.
/// `exit_code` is kExitUsage when a command-line choice is at fault (a missing --at value,
/// --wrt naming a non-parameter) but the message still points into the file.
struct InputError : std::runtime_error {
  Loc loc;
  int exit_code;
  InputError(Loc l, const std::string& message, int code = kExitInputError)
      : std::runtime_error(message), loc(l), exit_code(code) {}
};

/// Bad command-line usage (unknown function, malformed --at, ...). Exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Skips spaces, tabs, newlines and `#` comments starting at offset; returns the new offset.
std::uint32_t skip_blank(std::string_view text, std::uint32_t offset);

}  // namespace gradc

namespace gradc {

/// A fully formatted error (`file:line:col: error: ...`, source line, caret), ready to print.
struct Diagnostic : std::runtime_error {
  int exit_code;
  Diagnostic(const std::string& text, int code) : std::runtime_error(text), exit_code(code) {}
};

/// Runs f; an InputError it throws becomes a Diagnostic located in src. `code` overrides the
/// exit code when non-zero (errors in command-line text are usage errors).
template <class F>
auto located_in(const SourceFile& src, F&& f, int code = 0) -> decltype(f()) {
  try {
    return f();
  } catch (const InputError& e) {
    throw Diagnostic(src.format(e.loc, "error", e.what()), code ? code : e.exit_code);
  }
}

}  // namespace gradc
