// The .grad parser (Boost.Spirit X3). Errors are thrown as InputError with the position of the
// offending token.
#pragma once
#include "grammar/ast.hpp"

namespace gradc {

/// Parses a whole .grad file. An empty file (nothing but blanks and comments) is an error.
ast::Program parse_program(const SourceFile& src);

/// Parses `src.text` as one expression (used for --at values and for printed derivatives that
/// are read back).
ast::Expr parse_expression(const SourceFile& src);

/// Keywords that cannot be names.
bool is_keyword(std::string_view name);

}  // namespace gradc
