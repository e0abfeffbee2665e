// The lowerings of the NumPy-named built-ins where, clip, norm, diag, tril and triu (entries of
// the registry in builtins.cpp).
#pragma once
#include "compiler/builtins.hpp"

namespace gradc::builtins_math {

const Node* where(BuiltinCall& c);
const Node* clip(BuiltinCall& c);
const Node* norm(BuiltinCall& c);
const Node* diag(BuiltinCall& c);
const Node* triangle(BuiltinCall& c);  // tril and triu

}  // namespace gradc::builtins_math
