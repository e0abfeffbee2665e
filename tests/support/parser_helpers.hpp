// Helpers shared by the parser's unit tests: a SourceFile from text, a Loc as "line:col", and
// the "line:col: message" of the InputError that parsing text throws.
#pragma once
#include <string>

#include "grammar/parser.hpp"

namespace gradc::test {

inline SourceFile source(std::string text) { return SourceFile{"test.grad", std::move(text)}; }

/// "line:col" of a Loc in src.
inline std::string where(const SourceFile& src, Loc loc) {
  auto [line, col] = src.line_col(loc);
  return std::to_string(line) + ":" + std::to_string(col);
}

/// "line:col: message" of the InputError that parsing `text` as a program throws.
inline std::string program_error(const std::string& text) {
  SourceFile src = source(text);
  try {
    parse_program(src);
  } catch (const InputError& e) {
    return where(src, e.loc) + ": " + e.what();
  }
  return "no error";
}

/// The same for `text` parsed as a lone expression.
inline std::string expression_error(const std::string& text) {
  SourceFile src = source(text);
  try {
    parse_expression(src);
  } catch (const InputError& e) {
    return where(src, e.loc) + ": " + e.what();
  }
  return "no error";
}

}  // namespace gradc::test
