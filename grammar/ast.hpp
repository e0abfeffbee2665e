// The syntax tree of a .grad file, as the parser produces it. Operator chains are stored flat
// (a first operand and a list of steps), so a 1 MB expression is a long vector, not a deep
// tree: nothing that walks or destroys the AST recurses deeper than the parenthesis nesting,
// which the parser limits (kMaxNesting).
#pragma once
#include <string>
#include <vector>

#include "grammar/source.hpp"

namespace gradc::ast {

/// Parentheses (and call brackets) nested deeper than this are a syntax error.
inline constexpr int kMaxNesting = 256;

struct Expr;

/// operand ::= number | name | name '(' args ')' | '(' expr ')'
struct Operand {
  enum Kind { Number, Name, Call, Paren } kind = Number;
  Loc loc;                 // first character of the operand (the name for a call, '(' for Paren)
  double number = 0;       // Number: its value (finite)
  std::string text;        // Number: as written; Name; Call: the callee's name
  std::vector<Expr> args;  // Call: the arguments; Paren: exactly one expression
};

/// power ::= operand ('^' signs operand)*      right-associative:
/// a ^ -b ^ c  is  a ^ (-(b ^ c))
struct Power {
  struct Step {
    Loc loc;            // the '^'
    std::string signs;  // unary '-' / '+' written after '^', in order
    Operand operand;
  };
  Operand base;
  std::vector<Step> steps;
};

/// unary ::= ('-' | '+')* power               -x^2 is -(x^2)
struct Unary {
  Loc loc;            // first sign, or the power's first character
  std::string signs;  // in order of appearance, e.g. "--"
  Power power;
};

/// term ::= unary (('*' | '/') unary)*        left-associative
struct Term {
  struct Step {
    Loc loc;  // the operator
    char op;  // '*' or '/'
    Unary operand;
  };
  Unary first;
  std::vector<Step> steps;
};

/// expr ::= term (('+' | '-') term)*          left-associative
struct Expr {
  struct Step {
    Loc loc;  // the operator
    char op;  // '+' or '-'
    Term operand;
  };
  Term first;
  std::vector<Step> steps;
};

/// param, local variable or binding name with its position
struct Ident {
  Loc loc;
  std::string name;
};

/// assign ::= ident '=' expr
struct Assign {
  Ident target;
  Expr value;
};

/// function ::= 'fn' ident '(' ident (',' ident)* ')' ( '=' expr | '{' assign* 'return' expr '}' )
/// Statements in a block are separated by newlines or ';'.
struct Function {
  Loc loc;  // the 'fn' keyword
  Ident name;
  std::vector<Ident> params;
  std::vector<Assign> body;  // empty for the `= expr` form
  Loc result_loc;            // first character of the result expression
  Expr result;
};

/// at ::= 'at' binding (',' binding)*     binding ::= ident '=' expr (a constant expression)
struct At {
  Loc loc;  // the 'at' keyword
  std::vector<Assign> bindings;
};

/// program ::= (function | at)*
struct Program {
  std::vector<Function> functions;
  std::vector<At> ats;
};

}  // namespace gradc::ast
