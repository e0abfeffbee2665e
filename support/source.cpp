// Source positions and their rendering.
#include "support/source.hpp"

#include "support/diagnostics.hpp"

#include <fmt/format.h>


namespace gradc {

SourceFile::LineCol SourceFile::line_col(Loc loc) const {
  std::size_t end = std::min<std::size_t>(loc.offset, text.size());
  unsigned line = 1, col = 1;
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

std::string_view SourceFile::line_text(Loc loc) const {
  std::size_t at = std::min<std::size_t>(loc.offset, text.size());
  std::size_t begin = text.rfind('\n', at == 0 ? 0 : at - 1);
  begin = (begin == std::string::npos || (at == 0)) ? 0 : begin + 1;
  if (at > 0 && text[at - 1] == '\n') begin = at;
  std::size_t end = text.find('\n', at);
  if (end == std::string::npos) end = text.size();
  return std::string_view(text).substr(begin, end - begin);
}

std::string SourceFile::format(Loc loc, std::string_view severity, std::string_view message) const {
  auto [line, col] = line_col(loc);
  std::string_view src = line_text(loc);
  // Long lines (a 1 MB expression) are cut around the caret so the message stays readable.
  std::size_t caret = col - 1;
  std::string shown;
  constexpr std::size_t kWindow = 100;
  if (src.size() > 2 * kWindow) {
    std::size_t from = caret > kWindow ? caret - kWindow : 0;
    std::size_t len = std::min<std::size_t>(2 * kWindow, src.size() - from);
    shown = std::string(src.substr(from, len));
    caret -= from;
  } else {
    shown = std::string(src);
  }
  std::string pad;
  for (std::size_t i = 0; i < caret && i < shown.size(); ++i) pad += shown[i] == '\t' ? '\t' : ' ';
  std::string caret_line = colour() ? fmt::format("{}\x1b[0;1;32m^\x1b[0m", pad) : pad + "^";
  return fmt::format("{}{}\n{}\n{}\n", message_prefix(fmt::format("{}:{}:{}", path, line, col), severity),
                     message_text(message), shown, caret_line);
}

SourceFile text_source(std::string path, std::string text) {
  SourceFile src{std::move(path), std::move(text)};
  for (std::size_t i = 0; i < src.text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(src.text[i]);
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
      // No source line and caret: echoing binary bytes to a terminal helps nobody.
      auto lc = src.line_col(Loc{static_cast<std::uint32_t>(i)});
      throw Diagnostic(message(fmt::format("{}:{}:{}", src.path, lc.line, lc.col), "error",
                               fmt::format("file is not text (byte 0x{:02x} at offset {})", c, i)),
                       kExitInputError);
    }
  }
  return src;
}

std::uint32_t skip_blank(std::string_view text, std::uint32_t offset) {
  while (offset < text.size()) {
    char c = text[offset];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++offset;
    } else if (c == '#') {
      while (offset < text.size() && text[offset] != '\n') ++offset;
    } else {
      break;
    }
  }
  return offset;
}

}  // namespace gradc
