// The .grad parser: a Boost.Spirit X3 grammar that builds the flat AST of grammar/ast.hpp and
// reports the first syntax error as an InputError located at the offending token.
//
// Layout: lexical helpers and the bracket-depth pre-scan, the token parsers (position, name,
// keyword, number, string, member '.', argument name), the grammar rules (each with its
// production), then the entry points that turn X3's expectation failures into user-facing
// messages.
#include "grammar/parser.hpp"

#include <fmt/format.h>

#include <boost/fusion/include/adapt_struct.hpp>
#include <boost/fusion/include/at_c.hpp>
#include <boost/spirit/home/x3.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace gradc::parser_detail {
/// One call argument as parsed: `name = expr` or a positional `expr` (no name).
struct Arg {
  Loc loc;           // the name, or the expression's first character
  std::string name;  // "" when positional
  ast::Expr value;
};
}  // namespace gradc::parser_detail

// Operator chains map one-to-one onto X3 sequences and kleene stars; the structs that need
// more than that (Operand, Postfix, Subscript, Function, Train, Program) are built by semantic
// actions instead.
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Expr::Step, loc, op, operand)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Expr, first, steps)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Term::Step, loc, op, operand)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Term, first, steps)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Unary, loc, signs, power)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Power::Step, loc, signs, operand)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Power, base, steps)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Assign, target, value)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::At, loc, bindings)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Param, loc, name, dims, init)
BOOST_FUSION_ADAPT_STRUCT(gradc::ast::Binding, loc, name, value)
BOOST_FUSION_ADAPT_STRUCT(gradc::parser_detail::Arg, loc, name, value)

namespace gradc {

bool is_keyword(std::string_view name) {
  return name == "fn" || name == "at" || name == "return" || name == "const" || name == "param" ||
         name == "data" || name == "layer" || name == "train";
}

namespace {

namespace x3 = boost::spirit::x3;
using Iterator = const char*;

//===------------------------------------------------------------------------------------===//
// Lexical helpers
//===------------------------------------------------------------------------------------===//

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

/// The end of the name (or keyword) that starts at p; p itself if none starts there.
Iterator scan_word(Iterator p, Iterator end) {
  if (p == end || !is_name_start(*p)) return p;
  while (++p != end && is_name_char(*p)) {
  }
  return p;
}

/// Whether some token can start at text[at] (blanks and comments are already skipped).
/// Anything else is reported as "unexpected character" rather than "expected ...".
bool can_start_token(std::string_view text, std::size_t at) {
  char c = text[at];
  if (is_name_char(c)) return true;
  if (c == '.') return at + 1 < text.size() && is_digit(text[at + 1]);  // .5
  return std::string_view("+-*/@^(){}[],;:=\"").find(c) != std::string_view::npos;
}

/// The character at text[at] as an error message shows it: printable ASCII as is, a UTF-8
/// sequence whole, anything else as \xNN.
std::string shown_char(std::string_view text, std::size_t at) {
  auto c = static_cast<unsigned char>(text[at]);
  if (c >= 0x20 && c < 0x7f) return std::string(1, static_cast<char>(c));
  std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
  bool utf8 = len > 0 && at + len <= text.size();
  for (std::size_t i = 1; utf8 && i < len; ++i) utf8 = (static_cast<unsigned char>(text[at + i]) & 0xc0) == 0x80;
  if (utf8) return std::string(text.substr(at, len));
  return fmt::format("\\x{:02x}", c);
}

/// If text[i] starts a comment or a string, moves i to its last character (the end of the
/// comment's line, or the closing quote; an unterminated string ends at the end of its line) and
/// returns true. Both scans below read comments and strings the way the grammar does.
bool skip_comment_or_string(std::string_view text, std::size_t& i) {
  if (text[i] == '#') {
    while (i < text.size() && text[i] != '\n') ++i;
    return true;
  }
  if (text[i] != '"') return false;
  while (++i < text.size() && text[i] != '"' && text[i] != '\n')
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] != '\n') ++i;
  return true;
}

/// Rejects brackets nested deeper than ast::kMaxNesting before X3 runs, so the recursive
/// descent below never recurses deeper than that (100,000 '(' would overflow the stack).
/// Parentheses, call brackets, tensor literals and index postfixes all count: '(' and '['.
/// Comments and strings are skipped the way the parser reads them (a '#' or a bracket inside a
/// string is text; a string ends at its closing quote or, unterminated, at the end of the line).
void check_nesting(std::string_view text) {
  int depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (skip_comment_or_string(text, i)) {
      continue;
    } else if (c == '(' || c == '[') {
      if (++depth > ast::kMaxNesting)
        throw InputError(Loc{static_cast<std::uint32_t>(i)},
                         fmt::format("expression nested too deeply (more than {} levels)", ast::kMaxNesting));
    } else if ((c == ')' || c == ']') && depth > 0) {
      --depth;
    }
  }
}

//===------------------------------------------------------------------------------------===//
// Token parsers
//===------------------------------------------------------------------------------------===//

/// The parsers find the start of the text under this tag (x3::with), to turn iterators into Locs.
struct text_begin_tag;

template <typename Context>
Loc loc_of(Iterator p, Context const& ctx) {
  return Loc{static_cast<std::uint32_t>(p - x3::get<text_begin_tag>(ctx))};
}

[[noreturn]] void throw_keyword_error(Loc loc, std::string_view word) {
  throw InputError(loc, fmt::format("'{}' is a keyword and cannot be used as a name", word));
}

/// blank ::= ' ' | '\t' | '\r' | '\n' | '#' <anything up to the end of the line>
/// The skipper, written with skip_blank so that error positions skip exactly the same blanks.
struct blank_parser : x3::parser<blank_parser> {
  using attribute_type = x3::unused_type;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const&, RContext&, Attribute&) const {
    Iterator start = first;
    first += skip_blank(std::string_view(first, last - first), 0);
    return first != start;
  }
};

/// loc: matches the empty string; its attribute is the position of the next token.
struct loc_parser : x3::parser<loc_parser> {
  using attribute_type = Loc;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute& attr) const {
    x3::skip_over(first, last, ctx);
    x3::traits::move_to(loc_of(first, ctx), attr);
    return true;
  }
};

/// keyword ::= 'fn' | 'at' | 'return' | 'const' | 'param' | 'data' | 'layer' | 'train'
/// as a whole word: `fnx` and `dataset` are names.
struct keyword_parser : x3::parser<keyword_parser> {
  using attribute_type = x3::unused_type;
  std::string_view word;
  constexpr explicit keyword_parser(std::string_view w) : word(w) {}
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute&) const {
    x3::skip_over(first, last, ctx);
    Iterator end = scan_word(first, last);
    if (std::string_view(first, end - first) != word) return false;
    first = end;
    return true;
  }
};

/// name ::= [A-Za-z_][A-Za-z0-9_]*   (not a keyword)
/// A keyword where a name is required is the keyword error. Where a keyword may follow instead
/// (a block's statements, before 'return'), `keyword_is_error` is false and the parse fails.
struct name_parser : x3::parser<name_parser> {
  using attribute_type = ast::Ident;
  bool keyword_is_error;
  constexpr explicit name_parser(bool error) : keyword_is_error(error) {}
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute& attr) const {
    x3::skip_over(first, last, ctx);
    Iterator end = scan_word(first, last);
    std::string_view word(first, end - first);
    if (word.empty()) return false;
    if (is_keyword(word)) {
      if (keyword_is_error) throw_keyword_error(loc_of(first, ctx), word);
      return false;
    }
    x3::traits::move_to(ast::Ident{loc_of(first, ctx), std::string(word)}, attr);
    first = end;
    return true;
  }
};

/// A statement that starts with a keyword other than 'return' and goes on with '=' (`fn = 1`)
/// uses the keyword as a name: that is the keyword error. Otherwise this never matches.
struct keyword_target_parser : x3::parser<keyword_target_parser> {
  using attribute_type = x3::unused_type;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute&) const {
    Iterator start = first;
    x3::skip_over(start, last, ctx);
    Iterator end = scan_word(start, last);
    std::string_view word(start, end - start);
    if (!is_keyword(word)) return false;
    x3::skip_over(end, last, ctx);
    if (end != last && *end == '=') throw_keyword_error(loc_of(start, ctx), word);
    return false;
  }
};

/// number   ::= digits ('.' digits?)? exponent? | '.' digits exponent?
/// exponent ::= ('e' | 'E') ('+' | '-')? digits
/// Its attribute is a Number operand. `nan`, `inf` and `infinity` are names, never numbers.
/// A number glued to a letter, digit, '_' or '.' (`1.2.3`, `1e+`, `2x`) is malformed, and one
/// that overflows a double (`1e999`) is out of range: both are errors right away.
struct number_parser : x3::parser<number_parser> {
  using attribute_type = ast::Operand;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute& attr) const {
    x3::skip_over(first, last, ctx);
    Iterator p = first;
    auto digits = [&] {
      Iterator from = p;
      while (p != last && is_digit(*p)) ++p;
      return p != from;
    };
    if (!digits() && !(p != last && *p == '.' && p + 1 != last && is_digit(p[1]))) return false;
    if (p != last && *p == '.') {
      ++p;
      digits();
    }
    if (p != last && (*p == 'e' || *p == 'E')) {
      Iterator q = p + 1;
      if (q != last && (*q == '+' || *q == '-')) ++q;
      if (q != last && is_digit(*q)) {
        p = q;
        digits();
      }
    }
    Loc loc = loc_of(first, ctx);
    if (p != last && (is_name_char(*p) || *p == '.')) {
      // The malformed text: the whole run of number-like characters, with a sign after e/E.
      Iterator q = first;
      while (q != last && (is_name_char(*q) || *q == '.' ||
                           ((*q == '+' || *q == '-') && (q[-1] == 'e' || q[-1] == 'E'))))
        ++q;
      throw InputError(loc, fmt::format("malformed number '{}'", std::string_view(first, q - first)));
    }
    std::string text(first, p);
    double value = 0;
    if (std::from_chars(first, p, value).ec == std::errc::result_out_of_range)
      value = std::strtod(text.c_str(), nullptr);  // tells overflow (inf) from underflow (0)
    if (std::isinf(value)) throw InputError(loc, fmt::format("number '{}' is out of range", text));
    ast::Operand number;
    number.kind = ast::Operand::Number;
    number.loc = loc;
    number.number = value;
    number.text = std::move(text);
    x3::traits::move_to(std::move(number), attr);
    first = p;
    return true;
  }
};

/// string ::= '"' (<any character but '"', '\' or a line break> | '\"' | '\\')* '"'
/// Its attribute is a String operand holding the contents with the escapes resolved. A line
/// break or the end of the file before the closing quote is "unterminated string" (at the
/// opening quote); a backslash before anything but '"' or '\' is an unknown escape.
struct string_parser : x3::parser<string_parser> {
  using attribute_type = ast::Operand;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute& attr) const {
    x3::skip_over(first, last, ctx);
    if (first == last || *first != '"') return false;
    Loc loc = loc_of(first, ctx);
    auto ends_line = [&](Iterator q) { return q == last || *q == '\n' || *q == '\r'; };
    std::string contents;
    Iterator p = first + 1;
    for (; !ends_line(p) && *p != '"'; ++p) {
      if (*p == '\\') {
        if (ends_line(p + 1)) throw InputError(loc, "unterminated string");
        if (p[1] != '"' && p[1] != '\\') {
          Iterator begin = x3::get<text_begin_tag>(ctx);
          throw InputError(loc_of(p, ctx),
                           fmt::format("unknown escape '\\{}' in string (only \\\" and \\\\ are allowed)",
                                       shown_char(std::string_view(begin, last - begin), p + 1 - begin)));
        }
        ++p;
      }
      contents += *p;
    }
    if (ends_line(p)) throw InputError(loc, "unterminated string");
    ast::Operand string;
    string.kind = ast::Operand::String;
    string.loc = loc;
    string.text = std::move(contents);
    x3::traits::move_to(std::move(string), attr);
    first = p + 1;
    return true;
  }
};

/// arg_name ::= (name '=')?     the name of a named call argument, "" if there is none.
/// Always matches: with no `name =` ahead it consumes nothing (a name not followed by '=' starts
/// the positional argument's expression). `fn = 1` is the keyword error.
struct arg_name_parser : x3::parser<arg_name_parser> {
  using attribute_type = std::string;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute& attr) const {
    Iterator start = first;
    x3::skip_over(start, last, ctx);
    Iterator end = scan_word(start, last);
    std::string_view word(start, end - start);
    if (word.empty()) return true;
    Iterator after = end;
    x3::skip_over(after, last, ctx);
    if (after == last || *after != '=') return true;
    if (is_keyword(word)) throw_keyword_error(loc_of(start, ctx), word);
    x3::traits::move_to(std::string(word), attr);
    first = after + 1;
    return true;
  }
};

/// member_dot ::= '.'   written right after the operand it applies to: no blank is skipped
/// before it, so `x . y` is no member access and `x .5` leaves `.5` to be read as a number.
/// Its attribute is the position of the '.'.
struct member_dot_parser : x3::parser<member_dot_parser> {
  using attribute_type = Loc;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext&, Attribute& attr) const {
    if (first == last || *first != '.') return false;
    x3::traits::move_to(loc_of(first, ctx), attr);
    ++first;
    return true;
  }
};

/// member_name ::= name | digits &member_dot    the index of a layer in a sequential, as in
/// `net.0.W`, always followed by another member (so `x.5` stays an error of the parser).
struct member_name_parser : x3::parser<member_name_parser> {
  using attribute_type = ast::Ident;
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext& rctx, Attribute& attr) const {
    Iterator end = first;
    while (end != last && *end >= '0' && *end <= '9') ++end;
    if (end == first) return name_parser(true).parse(first, last, ctx, rctx, attr);
    if (end == last || *end != '.') return false;
    x3::traits::move_to(ast::Ident{loc_of(first, ctx), std::string(first, end)}, attr);
    first = end;
    return true;
  }
};

/// expected(what, p): p must match here; otherwise parsing stops with "expected <what>"
/// (an x3::expectation_failure whose which() is `what`, at the position p was tried).
template <typename Subject>
struct expected_parser : x3::unary_parser<Subject, expected_parser<Subject>> {
  using base_type = x3::unary_parser<Subject, expected_parser<Subject>>;
  static bool const is_pass_through_unary = true;
  char const* what;
  constexpr expected_parser(Subject const& subject, char const* w) : base_type(subject), what(w) {}
  template <typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext& rctx, Attribute& attr) const {
    if (this->subject.parse(first, last, ctx, rctx, attr)) return true;
    throw x3::expectation_failure<Iterator>(first, what);
  }
};

template <typename Subject>
constexpr auto expected(char const* what, Subject const& subject) {
  using Parser = std::decay_t<decltype(x3::as_parser(subject))>;
  return expected_parser<Parser>(x3::as_parser(subject), what);
}

//===------------------------------------------------------------------------------------===//
// Semantic actions for the structs that are not plain sequences
//===------------------------------------------------------------------------------------===//

/// store(&S::field): moves the matched attribute into that field of the rule's value.
template <typename Struct, typename Field>
auto store(Field Struct::*field) {
  return [field](auto& ctx) { x3::_val(ctx).*field = std::move(x3::_attr(ctx)); };
}

/// append(&S::field): appends the matched attribute to that vector in the rule's value.
template <typename Struct, typename Item>
auto append(std::vector<Item> Struct::*field) {
  return [field](auto& ctx) { (x3::_val(ctx).*field).push_back(std::move(x3::_attr(ctx))); };
}

/// The matched attribute becomes the rule's value.
auto const take = [](auto& ctx) { x3::_val(ctx) = std::move(x3::_attr(ctx)); };

/// Appends one call argument to the Operand being built: its expression, name ("" when
/// positional) and position.
auto const add_argument = [](auto& ctx) {
  ast::Operand& call = x3::_val(ctx);
  parser_detail::Arg& arg = x3::_attr(ctx);
  call.arg_locs.push_back(arg.loc);
  call.arg_names.push_back(std::move(arg.name));
  call.args.push_back(std::move(arg.value));
};

/// name, optionally followed by call arguments: a Name or a Call operand. The arguments come
/// as an Operand holding args, arg_names and arg_locs.
auto const make_name_or_call = [](auto& ctx) {
  auto& ident = boost::fusion::at_c<0>(x3::_attr(ctx));
  auto& args = boost::fusion::at_c<1>(x3::_attr(ctx));
  ast::Operand operand;
  operand.kind = args ? ast::Operand::Call : ast::Operand::Name;
  operand.loc = ident.loc;
  operand.text = std::move(ident.name);
  if (args) {
    operand.args = std::move(args->args);
    operand.arg_names = std::move(args->arg_names);
    operand.arg_locs = std::move(args->arg_locs);
  }
  x3::_val(ctx) = std::move(operand);
};

/// '[' elements: a Tensor operand.
auto const make_tensor = [](auto& ctx) {
  ast::Operand operand;
  operand.kind = ast::Operand::Tensor;
  operand.loc = boost::fusion::at_c<0>(x3::_attr(ctx));
  operand.args = std::move(boost::fusion::at_c<1>(x3::_attr(ctx)));
  x3::_val(ctx) = std::move(operand);
};

/// name, optionally followed by a shape: a function's parameter.
auto const make_fn_param = [](auto& ctx) {
  auto& ident = boost::fusion::at_c<0>(x3::_attr(ctx));
  auto& dims = boost::fusion::at_c<1>(x3::_attr(ctx));
  ast::FnParam param{ident.loc, std::move(ident.name), {}};
  if (dims) param.dims = std::move(*dims);
  x3::_val(ctx) = std::move(param);
};

/// ':' in an index: the whole axis.
auto const make_whole_axis = [](auto& ctx) {
  ast::Subscript subscript;
  subscript.loc = x3::_attr(ctx);
  subscript.all = true;
  x3::_val(ctx) = std::move(subscript);
};

/// An expression in an index.
auto const make_subscript = [](auto& ctx) {
  ast::Subscript subscript;
  subscript.loc = boost::fusion::at_c<0>(x3::_attr(ctx));
  subscript.index.push_back(std::move(boost::fusion::at_c<1>(x3::_attr(ctx))));
  x3::_val(ctx) = std::move(subscript);
};

/// '[' subscripts: an Index postfix.
auto const make_index = [](auto& ctx) {
  ast::Postfix postfix;
  postfix.kind = ast::Postfix::Index;
  postfix.loc = boost::fusion::at_c<0>(x3::_attr(ctx));
  postfix.subscripts = std::move(boost::fusion::at_c<1>(x3::_attr(ctx)));
  x3::_val(ctx) = std::move(postfix);
};

/// '.' name: a Member postfix.
auto const make_member = [](auto& ctx) {
  ast::Postfix postfix;
  postfix.kind = ast::Postfix::Member;
  postfix.loc = boost::fusion::at_c<0>(x3::_attr(ctx));
  postfix.member = std::move(boost::fusion::at_c<1>(x3::_attr(ctx)).name);
  x3::_val(ctx) = std::move(postfix);
};

/// '(' expression ')': a Paren operand holding the one expression.
auto const make_paren = [](auto& ctx) {
  ast::Operand operand;
  operand.kind = ast::Operand::Paren;
  operand.loc = boost::fusion::at_c<0>(x3::_attr(ctx));
  operand.args.push_back(std::move(boost::fusion::at_c<1>(x3::_attr(ctx))));
  x3::_val(ctx) = std::move(operand);
};

//===------------------------------------------------------------------------------------===//
// Grammar
//===------------------------------------------------------------------------------------===//

using ast::At;
using ast::Function;
using ast::Program;
using ast::Train;

constexpr blank_parser blank;
constexpr loc_parser loc;
constexpr number_parser number;
constexpr string_parser string_literal;
constexpr member_dot_parser member_dot;
constexpr member_name_parser member_name;
constexpr arg_name_parser arg_name;
constexpr name_parser name(true);             // a keyword here is an error
constexpr name_parser statement_name(false);  // a keyword here is not a name
constexpr keyword_target_parser keyword_target;
constexpr keyword_parser kw_fn("fn"), kw_at("at"), kw_return("return"), kw_const("const"), kw_param("param"),
    kw_data("data"), kw_layer("layer"), kw_train("train");
auto const sign = x3::char_("+-");  // sign ::= '+' | '-'   (unary)

x3::rule<class expression_, ast::Expr> const expression = "expression";
x3::rule<class expr_step_, ast::Expr::Step> const expr_step = "expr_step";
x3::rule<class term_, ast::Term> const term = "term";
x3::rule<class term_step_, ast::Term::Step> const term_step = "term_step";
x3::rule<class unary_, ast::Unary> const unary = "unary";
x3::rule<class power_, ast::Power> const power = "power";
x3::rule<class power_step_, ast::Power::Step> const power_step = "power_step";
x3::rule<class operand_, ast::Operand> const operand = "operand";
x3::rule<class primary_, ast::Operand> const primary = "primary";
x3::rule<class arguments_, ast::Operand> const arguments = "arguments";
x3::rule<class argument_, parser_detail::Arg> const argument = "argument";
x3::rule<class elements_, std::vector<ast::Expr>> const elements = "elements";
x3::rule<class postfix_, ast::Postfix> const postfix = "postfix";
x3::rule<class subscripts_, std::vector<ast::Subscript>> const subscripts = "subscripts";
x3::rule<class subscript_, ast::Subscript> const subscript = "subscript";
x3::rule<class assignment_, ast::Assign> const assignment = "assignment";
x3::rule<class binding_, ast::Assign> const binding = "binding";
x3::rule<class bindings_, std::vector<ast::Assign>> const bindings = "bindings";
x3::rule<class function_, Function> const function = "function";
x3::rule<class fn_param_, ast::FnParam> const fn_param = "fn_param";
x3::rule<class fn_params_, std::vector<ast::FnParam>> const fn_params = "fn_params";
x3::rule<class const_item_, ast::Binding> const const_item = "const_item";
x3::rule<class at_line_, At> const at_line = "at_line";
x3::rule<class param_item_, ast::Param> const param_item = "param_item";
x3::rule<class data_item_, ast::Binding> const data_item = "data_item";
x3::rule<class layer_item_, ast::Binding> const layer_item = "layer_item";
x3::rule<class train_item_, Train> const train_item = "train_item";
x3::rule<class program_, Program> const program = "program";
x3::rule<class whole_expression_, ast::Expr> const whole_expression = "whole_expression";

/// expression ::= term expr_step*        expr_step ::= ('+' | '-') term
auto const expression_def = term >> *expr_step;
auto const expr_step_def = loc >> x3::char_("+-") >> expected("expression", term);

/// term ::= unary term_step*              term_step ::= ('*' | '/' | '@') unary
/// '@' (the matrix product) shares the precedence of '*' and '/': `a @ b * c` is (a @ b) * c.
auto const term_def = unary >> *term_step;
auto const term_step_def = loc >> x3::char_("*/@") >> expected("expression", unary);

/// unary ::= ('-' | '+')* power
auto const unary_def = loc >> *sign >> power;

/// power ::= operand power_step*          power_step ::= '^' ('-' | '+')* operand
auto const power_def = operand >> *power_step;
auto const power_step_def = loc >> '^' >> *sign >> expected("expression", operand);

/// operand ::= primary postfix*
/// primary ::= number | string | name | name '(' arguments | '(' expression ')' | '[' elements
auto const operand_def = primary[take] >> *postfix[append(&ast::Operand::postfix)];
auto const primary_def =
    number[take] |
    string_literal[take] |
    (name >> -('(' >> arguments))[make_name_or_call] |
    (loc >> '(' >> expected("expression", expression) >> expected("')'", ')'))[make_paren] |
    (loc >> '[' >> elements)[make_tensor];

/// arguments ::= ')' | argument (',' argument)* ')'      (a function of no parameters: f())
/// argument  ::= arg_name expression        positional and named arguments mix freely
auto const arguments_def = x3::lit(')') | (argument[add_argument] >> *(',' >> argument[add_argument]) >>
                                           expected("',' or ')'", ')'));
auto const argument_def = loc >> arg_name >> expected("expression", expression);

/// elements ::= expression (',' expression)* ']'     (a tensor literal's, a param's shape)
auto const elements_def = expected("expression", expression) >>
                          *(',' >> expected("expression", expression)) >>
                          expected("',' or ']'", ']');

/// postfix    ::= '[' subscripts | member_dot member_name
/// subscripts ::= subscript (',' subscript)* ']'       subscript ::= ':' | expression
/// Blanks may precede '[' (`x [0]` indexes x), but not the member '.' (see member_dot).
auto const postfix_def = (loc >> '[' >> subscripts)[make_index] |
                         (member_dot >> expected("member name", member_name))[make_member];
auto const subscripts_def = expected("expression or ':'", subscript) >>
                            *(',' >> expected("expression or ':'", subscript)) >>
                            expected("',' or ']'", ']');
auto const subscript_def = (loc >> ':')[make_whole_axis] | (loc >> expression)[make_subscript];

/// assignment ::= name '=' expression          (a statement in a block, a training setting)
auto const assignment_def = statement_name >> expected("'='", '=') >> expected("expression", expression);

/// function  ::= 'fn' name '(' fn_params ( '=' result | block )
/// fn_params ::= ')' | fn_param (',' fn_param)* ')'
/// fn_param  ::= name ('[' elements)?            a tensor parameter's shape, as a param's
/// result   ::= expression
/// block    ::= '{' (assignment | ';')* 'return' result ';'* '}'
/// In a block, `fn = ...` / `at = ...` is the keyword error (keyword_target); a keyword without
/// '=' ends the statements, and then 'return' is expected.
auto const result = loc[store(&Function::result_loc)] >>
                    expected("expression", expression)[store(&Function::result)];
auto const block = '{' >> *(assignment[append(&Function::body)] | ';' | keyword_target) >>
                   expected("'return' or an assignment", kw_return) >> result >> *x3::lit(';') >>
                   expected("'}'", '}');
auto const function_def = loc[store(&Function::loc)] >> kw_fn >>
                          expected("function name", name)[store(&Function::name)] >>
                          expected("'('", '(') >> fn_params[store(&Function::params)] >>
                          expected("'=' or '{' after the parameter list", ('=' >> result) | block);
auto const fn_params_def = x3::lit(')') |
                           (expected("parameter name or ')'", fn_param) >>
                            *(',' >> expected("parameter name", fn_param)) >> expected("',' or ')'", ')'));
auto const fn_param_def = (name >> -('[' >> elements))[make_fn_param];

/// at_line  ::= 'at' bindings
/// bindings ::= binding (',' binding)*
/// binding  ::= name '=' expression
auto const at_line_def = loc >> kw_at >> bindings;
auto const bindings_def = expected("binding name", binding) >> *(',' >> expected("binding name", binding));
auto const binding_def = name >> expected("'='", '=') >> expected("expression", expression);

/// param_item ::= 'param' name '[' elements '=' expression      (shape, then initialiser)
auto const param_item_def = loc >> kw_param >> expected("param name", name) >> expected("'['", '[') >>
                            elements >> expected("'='", '=') >> expected("expression", expression);

/// const_item ::= 'const' name '=' expression
auto const const_item_def = loc >> kw_const >> expected("constant name", name) >> expected("'='", '=') >>
                            expected("expression", expression);

/// data_item  ::= 'data' name '=' expression
/// layer_item ::= 'layer' name '=' expression
auto const data_item_def = loc >> kw_data >> expected("data name", name) >> expected("'='", '=') >>
                           expected("expression", expression);
auto const layer_item_def = loc >> kw_layer >> expected("layer name", name) >> expected("'='", '=') >>
                            expected("expression", expression);

/// train_item ::= 'train' '{' (assignment | ';')* '}'
/// Settings are separated by newlines or ';'; `fn = ...` is the keyword error, as in a block.
auto const train_item_def = loc[store(&Train::loc)] >> kw_train >> expected("'{'", '{') >>
                            *(assignment[append(&Train::settings)] | ';' | keyword_target) >>
                            expected("a setting or '}'", '}');

/// program ::= (function | at_line | const_item | param_item | data_item | layer_item | train_item)*
///             <end of file>
auto const program_def =
    *(function[append(&Program::functions)] | at_line[append(&Program::ats)] |
      const_item[append(&Program::consts)] |
      param_item[append(&Program::params)] | data_item[append(&Program::datas)] |
      layer_item[append(&Program::layers)] | train_item[append(&Program::trains)]) >>
    expected("an item (fn, at, const, param, data, layer or train)", x3::eoi);

/// whole_expression ::= expression <end of text>      (parse_expression)
auto const whole_expression_def =
    expected("expression", expression)[take] >> expected("end of expression", x3::eoi);

BOOST_SPIRIT_DEFINE(expression, expr_step, term, term_step, unary, power, power_step, operand, primary,
                    arguments, argument, elements, postfix, subscripts, subscript, assignment, binding,
                    bindings, function, fn_params, fn_param, const_item, at_line, param_item, data_item,
                    layer_item, train_item, program, whole_expression)

//===------------------------------------------------------------------------------------===//
// Entry points
//===------------------------------------------------------------------------------------===//

/// Just after the last token (comments and blanks after it do not count): where an error at the
/// end of the file points, on the line the user was writing, as clang and rustc do. Strings and
/// comments are skipped the way check_nesting reads them.
std::uint32_t end_of_last_token(std::string_view text) {
  std::size_t end = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '#') {
      skip_comment_or_string(text, i);
    } else if (c == '"') {
      skip_comment_or_string(text, i);
      end = i < text.size() && text[i] == '"' ? i + 1 : i;
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      end = i + 1;
    }
  }
  return static_cast<std::uint32_t>(end);
}

/// The message for an expectation failure: at the first token after `where`, `what` was
/// expected. A character that starts no token is reported as such instead.
[[noreturn]] void throw_syntax_error(std::string_view text, Iterator where, std::string const& what) {
  std::uint32_t at = skip_blank(text, static_cast<std::uint32_t>(where - text.data()));
  if (at == text.size())
    throw InputError(Loc{end_of_last_token(text)}, fmt::format("expected {}, found end of file", what));
  if (!can_start_token(text, at))
    throw InputError(Loc{at}, fmt::format("unexpected character '{}'", shown_char(text, at)));
  throw InputError(Loc{at}, fmt::format("expected {}", what));
}

/// Runs `grammar` over the whole text into `result`; every failure becomes an InputError.
template <typename Grammar, typename Result>
void run(std::string_view text, Grammar const& grammar, Result& result) {
  check_nesting(text);
  Iterator begin = text.data();
  Iterator first = begin, last = begin + text.size();
  try {
    // Both grammars end with an expected end of input: they match the whole text or throw.
    x3::phrase_parse(first, last, x3::with<text_begin_tag>(begin)[grammar], blank, result);
  } catch (x3::expectation_failure<Iterator> const& failure) {
    throw_syntax_error(text, failure.where(), failure.which());
  }
}

/// Locs are 32-bit offsets.
void check_size(std::string_view text) {
  if (text.size() >= std::numeric_limits<std::uint32_t>::max())
    throw InputError(Loc{0}, "file is too large (4 GiB or more)");
}

}  // namespace

ast::Program parse_program(const SourceFile& src) {
  check_size(src.text);
  if (skip_blank(src.text, 0) == src.text.size())
    throw InputError(Loc{0}, "empty file: expected at least one item (fn, at, const, param, data, layer or train)");
  ast::Program result;
  run(src.text, program, result);
  return result;
}

ast::Expr parse_expression(const SourceFile& src) {
  check_size(src.text);
  ast::Expr result;
  run(src.text, whole_expression, result);
  return result;
}

}  // namespace gradc
