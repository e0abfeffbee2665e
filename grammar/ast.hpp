// The syntax tree of a .grad file, as the parser produces it. Operator chains are stored flat
// (a first operand and a list of steps), so a 1 MB expression is a long vector, not a deep
// tree: nothing that walks or destroys the AST recurses deeper than the parenthesis nesting,
// which the parser limits (kMaxNesting).
#pragma once
#include <string>
#include <vector>

#include "support/diagnostics.hpp"

namespace gradc::ast {

/// Parentheses (and call brackets) nested deeper than this are a syntax error.
inline constexpr int kMaxNesting = 256;

struct Expr;

/// One subscript of an index postfix: `:` (the whole axis) or an expression.
struct Subscript {
  Loc loc;
  bool all = false;            // `:`
  std::vector<Expr> index;     // exactly one expression unless `all`
};

/// postfix ::= '[' subscript (',' subscript)* ']'  |  '.' name
struct Postfix {
  enum Kind { Index, Member } kind = Index;
  Loc loc;                          // the '[' or the '.'
  std::vector<Subscript> subscripts;  // Index
  std::string member;                 // Member: the name after '.'
};

/// operand ::= (number | string | name | name '(' args ')' | '(' expr ')' | tensor) postfix*
/// args    ::= arg (',' arg)*         arg    ::= (name '=')? expr
/// tensor  ::= '[' expr (',' expr)* ']'      (nested tensors are tensor operands)
struct Operand {
  enum Kind { Number, Name, Call, Paren, Tensor, String } kind = Number;
  Loc loc;                 // first character of the operand (the name for a call, '(' for Paren)
  double number = 0;       // Number: its value (finite)
  std::string text;        // Number: as written; Name; Call: the callee's name; String: contents
  std::vector<Expr> args;  // Call: the arguments; Paren: exactly one expression; Tensor: elements
  std::vector<std::string> arg_names;  // Call: "" for a positional argument, else its name
  std::vector<Loc> arg_locs;           // Call: where each argument (or its name) starts
  std::vector<Postfix> postfix;        // applied left to right
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

/// term ::= unary (('*' | '/' | '@') unary)*  left-associative; '@' is the matrix product
struct Term {
  struct Step {
    Loc loc;  // the operator
    char op;  // '*', '/' or '@'
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

/// fn_param ::= ident ('[' expr (',' expr)* ']')?
///   a scalar parameter, or a tensor parameter of that shape (constant expressions)
struct FnParam {
  Loc loc;
  std::string name;
  std::vector<Expr> dims;  // empty for a scalar
};

/// function ::= 'fn' ident '(' (fn_param (',' fn_param)*)? ')' ( '=' expr | '{' assign* 'return' expr '}' )
/// Statements in a block are separated by newlines or ';'.
struct Function {
  Loc loc;  // the 'fn' keyword
  Ident name;
  std::vector<FnParam> params;
  std::vector<Assign> body;  // empty for the `= expr` form
  Loc result_loc;            // first character of the result expression
  Expr result;
};

/// at ::= 'at' binding (',' binding)*     binding ::= ident '=' expr (a constant expression)
struct At {
  Loc loc;  // the 'at' keyword
  std::vector<Assign> bindings;
};

/// param ::= 'param' name '[' expr (',' expr)* ']' '=' expr
///   a trainable tensor: its shape (constant expressions) and its initialiser
struct Param {
  Loc loc;  // the 'param' keyword
  Ident name;
  std::vector<Expr> dims;
  Expr init;
};

/// data ::= 'data' name '=' expr        a tensor literal, or csv("file", ...)
/// const ::= 'const' name '=' expr      a constant: a number, a tensor literal, csv(...), X.shape[i]
/// layer ::= 'layer' name '=' expr      linear(...), sequential(...), activations
struct Binding {
  Loc loc;  // the keyword
  Ident name;
  Expr value;
};

/// train ::= 'train' '{' (name '=' expr)* '}'     settings of the training run
struct Train {
  Loc loc;  // the 'train' keyword
  std::vector<Assign> settings;
};

/// program ::= (function | at | const | param | data | layer | train)*
struct Program {
  std::vector<Function> functions;
  std::vector<At> ats;
  std::vector<Param> params;
  std::vector<Binding> consts;
  std::vector<Binding> datas;
  std::vector<Binding> layers;
  std::vector<Train> trains;
};

}  // namespace gradc::ast
