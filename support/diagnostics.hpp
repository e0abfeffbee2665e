// User-facing errors and the documented exit codes (README, "Exit codes"). Two families, as in
// Halide: errors in the user's input (InputError located in a source, UsageError for the
// command line) and internal errors (a bug in gradc, exit 70).
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include "support/source.hpp"

namespace gradc {

/// Documented process exit codes (README, "Exit codes").
enum ExitCode : int {
  kExitOk = 0,
  kExitInputError = 1,    // an error in the user's .grad file or data
  kExitUsage = 2,         // bad command-line usage
  kExitCheckFailed = 3,   // `gradc check`: compiled gradient disagrees with finite differences
  kExitDiverged = 4,      // `gradc train`: the loss became nan or inf
  kExitInternal = 70,     // a bug in gradc (EX_SOFTWARE): please report it
  kExitInterrupted = 130, // stopped by SIGINT or SIGTERM after saving the work (128 + SIGINT)
};

/// Diagnostics in clang's colours (bold location and message, red `error:`, magenta
/// `warning:`, bold `note:`, green caret). Off unless the driver turns it on: standard error is
/// a terminal and NO_COLOR is unset, or --color=always. Messages are built with the setting in
/// force, so it is set once, before anything is compiled.
void set_colour(bool on);
bool colour();
/// `who: severity: ` (who is `gradc` or a file name), coloured as clang does when colour is on.
std::string message_prefix(std::string_view who, std::string_view severity);
/// The message text itself: bold when colour is on.
std::string message_text(std::string_view text);
/// A whole one-line message: prefix, text, newline.
inline std::string message(std::string_view who, std::string_view severity, std::string_view text) {
  return message_prefix(who, severity) + message_text(text) + "\n";
}

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

/// A valid program past a documented resource limit (README, "Limits"), found where no source
/// position is at hand (code generation's workspace). Exit code 1, printed as `FILE: error: ...`.
struct LimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

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
