// Source text and positions: a loaded file, byte offsets, line and column, and the
// `file:line:col: severity: message` rendering with the source line and a caret.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace gradc {

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

/// Makes a SourceFile of text read elsewhere. Throws Diagnostic (exit 1) if it is not text
/// (a NUL or control byte), pointing at the first such byte.
SourceFile text_source(std::string path, std::string text);

/// Skips spaces, tabs, newlines and `#` comments starting at offset; returns the new offset.
std::uint32_t skip_blank(std::string_view text, std::uint32_t offset);

}  // namespace gradc
