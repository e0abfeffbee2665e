// `gradc emit --stage ast`: the syntax tree as S-expressions with line:col positions.
#pragma once
#include <string>

#include "grammar/ast.hpp"

namespace gradc {
std::string dump_ast(const SourceFile& src, const ast::Program& prog);
}
