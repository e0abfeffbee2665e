// The text and LaTeX printers.
#include "compiler/print.hpp"
#include "compiler/print_forms.hpp"
#include "compiler/ops_tensor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <unordered_set>

namespace gradc {
namespace {

constexpr int kPrecAdd = 1, kPrecMul = 2, kPrecNeg = 3, kPrecPow = 4, kPrecAtom = 5;
constexpr int kMaxInlineDepth = 5000;
// Above this ratio of tree to DAG size, print() does not print the tree form to compare sizes.
constexpr std::uint64_t kMaxTreeRatio = 20;


class Printer {
 public:
  // `display`: equations in terms of the user's names (graph, explain, a training program's
  // backward pass), which no one reads back: mathematical notation (x^T, implicit reshapes).
  // Otherwise text is .grad source that parses back to the same computation.
  Printer(Format f, const std::unordered_map<const Node*, std::string>* temps, bool display = false)
      : f_(f), temps_(temps), source_(f == Format::Text && !display) {}

  /// Names that mean variables where the text is read (see shadowed_names): a constant with one
  /// of these names (a parameter called `pi`) is printed as its value.
  void shadow(const std::unordered_set<std::string>* names) { shadowed_ = names; }

  std::string operator()(const Node* n) {
    out_.clear();
    if (source_ && n->op == Op::Broadcast) {  // a temporary that holds the broadcast value
      emit(n->arg(0), kPrecMul);
      out_ += "*" + ones(n->shape);
    } else {
      emit(n, 0, /*top=*/true);
    }
    return std::move(out_);
  }

 private:
  // Precedence of n as written (an operand needing more gets parentheses).
  static bool transparent(const Node* n) {
    return n->op == Op::Broadcast || n->op == Op::Reshape || n->op == Op::Detach;
  }
  int prec(const Node* n) const {
    if (is_temp(n)) return kPrecAtom;
    if (transparent(n)) return prec(n->arg(0));
    if (n->op == Op::Transpose || n->op == Op::Index) return kPrecAtom;
    if (f_ == Format::Latex && (is_term(n) || (n->op == Op::Const && n->name.empty()))) return term_prec(term(n, true));
    if (n->op == Op::Const) return n->value < 0 || std::signbit(n->value) ? kPrecNeg : kPrecAtom;
    return n->info().prec;
  }
  bool is_temp(const Node* n) const { return temps_ && temps_->count(n); }

  void open(bool paren) {
    if (paren) out_ += f_ == Format::Latex ? "\\left(" : "(";
  }
  void close(bool paren) {
    if (paren) out_ += f_ == Format::Latex ? "\\right)" : ")";
  }

  void emit(const Node* n, int min_prec, bool top = false) {
    if (!top && is_temp(n)) {
      out_ += temps_->at(n);
      return;
    }
    // Broadcasting, reshaping and detaching are implicit in the notation (except the reshapes
    // that text spells, see spelled_with_masks).
    if (n->op == Op::Reshape && source_ && !only_ones_move(n)) {
      out_ += "reshape(";
      emit(n->arg(0), 0);
      out_ += ", " + n->shape.str() + ")";
      return;
    }
    if (n->op == Op::Reshape && source_ && spelled_with_masks(n, min_prec)) return;
    if (transparent(n)) return emit(n->arg(0), min_prec, top);
    if (!n->info().elementwise && tensor_op(n, min_prec)) return;
    if (f_ == Format::Latex && is_term(n)) return print_term(term(n, top), min_prec);
    if (f_ == Format::Latex && n->op == Op::Const && !n->name.empty()) return void(out_ += print_name(n->name, f_));
    bool paren = prec(n) < min_prec;
    open(paren);
    const OpInfo& info = n->info();
    switch (info.syntax) {
      case Syntax::Leaf:
        if (n->op == Op::Tensor) {
          tensor_text(n);
        } else {
          out_ += n->op == Op::Const && (n->name.empty() || (shadowed_ && shadowed_->count(n->name))) ? print_number(n->value, f_)
                                                                                       : print_name(n->name, f_);
        }
        break;
      case Syntax::Prefix:
        // Text keeps -(a*b) apart from (-a)*b so that it reads back as the same tree; in
        // LaTeX -a \cdot b means the same number.
        out_ += "-";
        // (--x would read as a decrement)
        emit(n->arg(0), f_ == Format::Latex && prec(n->arg(0)) != kPrecNeg ? kPrecMul : kPrecPow);
        break;
      case Syntax::Infix:
        f_ == Format::Latex ? infix_latex(n) : infix_text(n);
        break;
      case Syntax::Call:
        f_ == Format::Latex ? call_latex(n) : call_text(n);
        break;
    }
    close(paren);
  }

  // An operand of a tensor op. Broadcasting is implicit only under elementwise ops: under the
  // others (a matrix product, a reduction, an index) source text spells it as a product with
  // ones of the broadcast shape, so that `1 @ x` does not read back as a scalar operand.
  void operand(const Node* c, int min_prec) {
    while (c->op == Op::Detach) c = c->arg(0);
    if (!source_ || c->op != Op::Broadcast || is_temp(c)) return emit(c, min_prec);
    bool paren = kPrecMul < min_prec;
    open(paren);
    emit(c->arg(0), kPrecMul);
    out_ += "*" + ones(c->shape);
    close(paren);
  }
  static std::string ones(const Shape& s, int axis = 0, const char* v = "1") {
    if (axis == s.rank) return v;
    std::string t = "[";
    for (std::int32_t i = 0; i < s[axis]; ++i) t += (i ? ", " : "") + ones(s, axis + 1, v);
    return t + "]";
  }

  // Tensor ops written as the notation of linear algebra: x^T, sum(x, axis = 0), x[i].
  bool tensor_op(const Node* n, int min_prec) {
    bool tex = f_ == Format::Latex;
    switch (n->op) {
      case Op::Transpose:
        if (source_ || n->axis) {  // `x^T` would read back as x to the power of a variable T
          out_ += tex ? "\\operatorname{transpose}\\left(" : "transpose(";
          operand(n->arg(0), 0);
          out_ += n->axis ? fmt::format(", {}", tensor_ops::axes_text(n)) : "";
          out_ += tex ? "\\right)" : ")";
          return true;
        }
        if (tex) {
          script(n->arg(0), "^");
          out_ += "^{\\top}";
          return true;
        }
        emit(n->arg(0), kPrecAtom);
        out_ += "^T";
        return true;
      case Op::Embed:
        return source_ && spelled_with_masks(n, min_prec);
      case Op::Slice:
        if (source_) return slice_source(n), true;
        [[fallthrough]];
      case Op::Pad:
        if (n->op == Op::Pad) {
          if (source_) return pad_source(n), true;
          return false;
        }
        {  // NumPy's x[:, a:b], LaTeX x_{:,a:b}
        std::string range;
        for (int d = 0; d < n->axis; ++d) range += tex ? ":," : ":, ";
        range += fmt::format("{}:{}", n->index, n->index + n->shape[n->axis]);
        if (tex) script(n->arg(0), "^_");
        else operand(n->arg(0), kPrecAtom);
        out_ += tex ? "_{" + range + "}" : "[" + range + "]";
        return true;
      }
      case Op::Index:
        if (tex) {  // x_{i} is row (or element) i, x_{:,j} column j
          script(n->arg(0), "^_");
          out_ += n->axis == 0 ? fmt::format("_{{{}}}", n->index) : fmt::format("_{{:,{}}}", n->index);
          return true;
        }
        operand(n->arg(0), kPrecAtom);
        out_ += n->axis == 0 ? fmt::format("[{}]", n->index) : fmt::format("[:, {}]", n->index);
        return true;
      case Op::Sum:
      case Op::ReduceMax: {
        const char* name = n->op == Op::Sum ? "sum" : "max";
        if (tex) {  // \sum of every element, \sum_{\text{axis } 1} along axis 1 (NumPy's axis)
          out_ += n->op == Op::Sum ? "\\sum" : "\\max";
          if (n->axis >= 0) out_ += fmt::format("_{{\\text{{axis }}{}}}", n->axis);
          const Node* x = n->arg(0);
          while (!is_temp(x) && transparent(x)) x = x->arg(0);
          bool atom = is_temp(x) || x->op == Op::Var;
          out_ += atom ? " " : "\\left(";
          emit(x, 0);
          if (!atom) out_ += "\\right)";
          return true;
        }
        out_ += fmt::format("{}(", name);
        operand(n->arg(0), 0);
        out_ += n->axis < 0 ? ")" : fmt::format(", axis = {})", n->axis);
        return true;
      }
      case Op::MatMul: {
        bool paren = kPrecMul < min_prec;
        open(paren);
        // In LaTeX a product of factors as the left operand is parenthesized: (a \odot b) W.
        const Node* a = n->arg(0);
        while (!is_temp(a) && transparent(a)) a = a->arg(0);
        operand(n->arg(0), tex && !(a->op == Op::MatMul && !is_temp(a)) ? kPrecNeg : kPrecMul);
        out_ += tex ? " " : " @ ";
        operand(n->arg(1), tex ? kPrecPow : kPrecMul + 1);
        close(paren);
        return true;
      }
      case Op::OneHot:
        out_ += tex ? "\\operatorname{onehot}\\left(" : "onehot(";
        operand(n->arg(0), 0);
        out_ += fmt::format(", {}{}", n->index, tex ? "\\right)" : ")");
        return true;
      default:
        return false;
    }
  }

  // Whether a reshape only inserts or drops axes of size 1 (broadcasting, or the spellings of
  // spelled_with_masks, then stand for it); any other is written out.
  static bool only_ones_move(const Node* n) {
    auto dims = [](const Shape& s) {
      std::vector<std::int32_t> d;
      for (int i = 0; i < s.rank; ++i)
        if (s[i] != 1) d.push_back(s[i]);
      return d;
    };
    return dims(n->shape) == dims(n->arg(0)->shape);
  }
  // An operand whose rank the notation must keep: a reshape is written out (elsewhere it is
  // implicit, where broadcasting makes it so).
  void ranked_operand(const Node* x) {
    while (x->op == Op::Detach && !is_temp(x)) x = x->arg(0);
    if (x->op != Op::Reshape || is_temp(x) || !only_ones_move(x)) return operand(x, kPrecAtom);
    out_ += "reshape(";
    emit(x->arg(0), 0);
    out_ += ", " + x->shape.str() + ")";
  }
  // Source has no slices: x[:, a:b] is stack([x[:, a], ..., x[:, b - 1]], axis = 1).
  void slice_source(const Node* n) {
    out_ += "stack([";
    for (int i = 0; i < n->shape[n->axis]; ++i) {
      if (i) out_ += ", ";
      ranked_operand(n->arg(0));
      out_ += "[";
      for (int d = 0; d < n->axis; ++d) out_ += ":, ";
      out_ += fmt::format("{}]", n->index + i);
    }
    out_ += fmt::format("], axis = {})", n->axis);
  }
  // Nor pads: zeros before and after x, concatenated.
  void pad_source(const Node* n) {
    const Node* x = n->arg(0);
    auto zeros = [&](std::int32_t len) {
      Shape z = n->shape;
      z.dims[n->axis] = len;
      out_ += ones(z, 0, "0");
    };
    out_ += "concatenate([";
    if (n->index > 0) zeros(n->index), out_ += ", ";
    ranked_operand(x);
    if (std::int32_t after = n->shape[n->axis] - n->index - x->shape[n->axis]; after > 0) out_ += ", ", zeros(after);
    out_ += fmt::format("], axis = {})", n->axis);
  }

  // Text has no reshape or embed: the ones a derivative makes (adding or dropping an axis of
  // size 1, placing a row or column into zeros) are spelled with what the language has, so that
  // the printed derivative reads back as the same computation: [n] -> [1, n] is [[1]]*x,
  // [n] -> [n, 1] transpose([[1]]*x), [1, n] -> [n] x[0], [n, 1] -> [n] x[:, 0]; an embed is the
  // piece times a 0/1 mask that broadcasts it to its place. Others stay implicit (false).
  bool spelled_with_masks(const Node* n, int min_prec) {
    const Node* x = n->arg(0);
    const Shape &from = x->shape, &to = n->shape;
    auto product = [&](const std::string& mask, bool transposed) {
      bool paren = !transposed && kPrecMul < min_prec;
      if (transposed) out_ += "transpose(";
      open(paren);
      out_ += mask + "*";
      operand(x, kPrecMul + 1);
      close(paren);
      if (transposed) out_ += ")";
    };
    if (n->op == Op::Reshape) {
      if (from.rank == 1 && to.rank == 2 && to[0] == 1) {
        product("[[1]]", false);
      } else if (from.rank == 1 && to.rank == 2 && to[1] == 1) {
        product("[[1]]", true);
      } else if (from.rank == 2 && to.rank == 1 && (from[0] == 1 || from[1] == 1)) {
        operand(x, kPrecAtom);
        out_ += from[0] == 1 ? "[0]" : "[:, 0]";
      } else {
        return false;
      }
      return true;
    }
    // Embed: a mask shaped like the result along `axis` and 1 elsewhere, with a 1 at `index`.
    auto mask = [&](std::int32_t len, int rank) {
      std::string m = "[";
      for (std::int32_t i = 0; i < len; ++i) {
        std::string one = i == n->index ? "1" : "0";
        for (int r = 1; r < rank; ++r) one = "[" + one + "]";
        m += (i ? ", " : "") + one;
      }
      return m + "]";
    };
    if (n->axis == 0) {
      product(mask(to[0], to.rank), false);  // [n, 1, ...] * x broadcasts x along the rest
    } else if (n->axis == 1 && to.rank == 2) {
      product(mask(to[1], 2), true);  // ([m, 1] * x[n])^T is [n, m]
    } else {
      return false;
    }
    return true;
  }

  // Tensor data as a literal of its shape, every element written out, so that a printed
  // derivative of a function over data parses back (`[[1, 2], [3, 4]]`; LaTeX brackets alike).
  void tensor_text(const Node* n) {
    const std::vector<double>& d = *n->data;
    std::size_t k = 0;
    auto rec = [&](auto& self, int axis) -> void {
      if (axis == n->shape.rank) {
        out_ += print_number(d[k++], f_);
        return;
      }
      out_ += f_ == Format::Latex ? "\\left[" : "[";
      for (std::int32_t i = 0; i < n->shape[axis]; ++i) {
        if (i) out_ += ", ";
        self(self, axis + 1);
      }
      out_ += f_ == Format::Latex ? "\\right]" : "]";
    };
    rec(rec, 0);
  }

  void infix_text(const Node* n) {
    const OpInfo& info = n->info();
    if (n->op == Op::Pow) {  // right-associative; the exponent may carry a unary minus
      emit(n->arg(0), kPrecAtom);
      out_ += "^";
      emit(n->arg(1), kPrecNeg);
      return;
    }
    emit(n->arg(0), info.prec);
    out_ += info.prec == kPrecAdd ? fmt::format(" {} ", info.name) : info.name;
    emit(n->arg(1), info.prec + 1);
  }

  // LaTeX as a textbook prints it. Products, quotients, negations and negative powers are one
  // Term: a sign, numbers first, factors multiplied implicitly (2 x \sin\left(y\right)), and a
  // \frac when anything divides. See README, "LaTeX".
  struct Factor {
    const Node* node = nullptr;  // nullptr: the number `number`
    double number = 0;
    int times = 1;               // an integer power (a repeated factor, x^2 x = x^3)
    const Node* exp = nullptr;   // else this power, printed negated when `negated`
    bool negated = false;
  };
  struct Term {
    bool negative = false, zero = false;
    std::vector<Factor> num, den;
  };

  // e^{u} and the constant e: their powers merge into the exponent, (e^{u})^{k} = e^{k u}.
  bool exp_like(const Node* n) const {
    return !is_temp(n) && (n->op == Op::Exp || (n->op == Op::Const && n->name == "e"));
  }
  // x^{-2}, x^{-\frac{1}{3}}: a power that reads as 1 over a power.
  bool reciprocal_power(const Node* n) const {
    if (n->op != Op::Pow || exp_like(n->arg(0))) return false;
    const Node* e = n->arg(1);
    if (e->op == Op::Const && e->name.empty()) return e->value < 0;
    Term t = term(e, false);
    return t.negative && !t.zero;
  }
  // k for an exponent that is the integer k (2, -2 as a constant or negated), else 0.
  static int whole_power(const Node* e) {
    int sign = 1;
    if (e->op == Op::Neg && e->arg(0)->op == Op::Const) {
      sign = -1;
      e = e->arg(0);
    }
    if (e->op != Op::Const || !e->name.empty() || e->value != std::floor(e->value) || std::fabs(e->value) > 1e6)
      return 0;
    return sign * static_cast<int>(e->value);
  }
  bool is_term(const Node* n) const {
    return n->op == Op::Mul || n->op == Op::Div || n->op == Op::Neg || reciprocal_power(n);
  }

  Term term(const Node* n, bool top) const {
    Term t;
    flatten(n, false, t, top);
    return t;
  }
  void flatten(const Node* n, bool inverted, Term& t, bool top) const {
    if (!top && is_temp(n)) return add(t, inverted, Factor{n});
    if (transparent(n)) return flatten(n->arg(0), inverted, t, top);
    switch (n->op) {
      case Op::Mul:
      case Op::Div:
        flatten(n->arg(0), inverted, t, false);
        flatten(n->arg(1), n->op == Op::Div ? !inverted : inverted, t, false);
        return;
      case Op::Neg:
        t.negative = !t.negative;
        return flatten(n->arg(0), inverted, t, false);
      case Op::Const: {
        if (!n->name.empty()) break;
        double v = n->value;
        if (v == 0) t.zero = true;
        if (std::signbit(v)) t.negative = !t.negative;
        if (std::fabs(v) != 1 && v == v) add(t, inverted, Factor{nullptr, std::fabs(v)});
        if (v != v) add(t, inverted, Factor{nullptr, v});
        return;
      }
      case Op::Pow: {
        const Node* b = n->arg(0);
        const Node* e = n->arg(1);
        if (exp_like(b)) break;
        if (int k = whole_power(e)) return add(t, k < 0 ? !inverted : inverted, Factor{b, 0, std::abs(k)});
        if (reciprocal_power(n)) return add(t, !inverted, Factor{b, 0, 1, e, true});
        break;
      }
      default:
        break;
    }
    add(t, inverted, Factor{n});
  }
  static void add(Term& t, bool inverted, Factor f) {
    std::vector<Factor>& side = inverted ? t.den : t.num;
    if (f.node && !f.exp)
      for (Factor& g : side)
        if (g.node == f.node && !g.exp) return void(g.times += f.times);
    side.push_back(f);
  }

  int term_prec(const Term& t) const {
    if (t.zero) return kPrecAtom;
    if (t.negative) return kPrecNeg;
    if (!t.den.empty()) return kPrecPow;  // \frac{}{} groups itself
    if (t.num.empty()) return kPrecAtom;
    if (t.num.size() > 1) return kPrecMul;
    const Factor& f = t.num[0];
    if (!f.node) return print_number(f.number, f_).find(' ') == std::string::npos ? kPrecAtom : kPrecMul;
    return f.times == 1 && !f.exp ? prec(f.node) : kPrecPow;
  }

  void print_term(const Term& t, int min_prec) {
    if (!t.zero && !t.negative && t.den.empty() && t.num.size() == 1 && t.num[0].node && t.num[0].times == 1 &&
        !t.num[0].exp)
      return emit(t.num[0].node, min_prec);  // x*1: just x
    bool paren = term_prec(t) < min_prec;
    open(paren);
    if (t.zero) {
      out_ += "0";  // 0 x is 0 wherever x is defined (the printed, not the compiled, semantics)
    } else {
      if (t.negative) out_ += "-";
      if (t.den.empty()) {
        product(t.num, false);
      } else {
        out_ += "\\frac{";
        product(t.num, true);
        out_ += "}{";
        product(t.den, true);
        out_ += "}";
      }
    }
    close(paren);
  }

  // Factors side by side, numbers first. \cdot only where a number would run into the digits
  // before it (2 \cdot 3^{x}); \odot between two tensors (elementwise, where A B is a matrix
  // product); a big operator that is not last gets parentheses, so it does not swallow the rest.
  void product(std::vector<Factor> fs, bool in_frac) {
    std::stable_partition(fs.begin(), fs.end(), [](const Factor& f) { return !f.node; });
    if (fs.empty()) out_ += "1";
    std::string prev;
    for (std::size_t i = 0; i < fs.size(); ++i) {
      const Factor& f = fs[i];
      std::string s = capture([&] { factor(f, in_frac && fs.size() == 1); });
      if (f.node && i + 1 < fs.size() && big_operator(f.node)) s = "\\left(" + s + "\\right)";
      if (i > 0) {
        bool digits = std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.' ||
                      (!prev.empty() && std::isdigit(static_cast<unsigned char>(prev.back())) && s.rfind("\\frac", 0) == 0);
        bool tensors = f.node && fs[i - 1].node && !f.node->shape.scalar() && !fs[i - 1].node->shape.scalar();
        out_ += digits ? " \\cdot " : tensors ? " \\odot " : " ";
      }
      out_ += s;
      prev = std::move(s);
    }
  }
  void factor(const Factor& f, bool alone) {
    if (!f.node) return void(out_ += print_number(f.number, f_));
    if (f.exp) return power(f.node, capture([&] { f.negated ? negation(f.exp, 0) : emit(f.exp, 0); }), 0);
    if (f.times > 1) return power(f.node, std::to_string(f.times), f.times);
    emit(f.node, alone ? 0 : kPrecPow);
  }
  bool big_operator(const Node* n) const {
    while (!is_temp(n) && transparent(n)) n = n->arg(0);
    return !is_temp(n) && (n->op == Op::Sum || n->op == Op::ReduceMax);
  }

  // -n without its sign: x - 2 y rather than x + -2 y.
  void negation(const Node* n, int min_prec) {
    Term t = term(n, false);
    t.negative = !t.negative;
    print_term(t, min_prec);
  }

  // base^{p}: e^{k u} for a power k of e^{u}; \tanh^{2}\left(x\right) for a whole power of a
  // named function, as the lecture writes it; parentheses around a base that ends in a
  // superscript (no double superscript) or is a root. `whole`: p is that positive integer.
  void power(const Node* base, const std::string& p, int whole) {
    if (whole && base->op == Op::Exp && exp_like(base)) {
      Term t = term(base->arg(0), false);
      add(t, false, Factor{nullptr, static_cast<double>(whole)});
      out_ += "e^{";
      print_term(t, 0);
      out_ += "}";
      return;
    }
    if (whole && !is_temp(base)) {
      switch (base->op) {
        case Op::Sin: case Op::Cos: case Op::Tan: case Op::Sinh: case Op::Cosh: case Op::Tanh:
          out_ += fmt::format("{}^{{{}}}\\left(", base->info().latex, p);
          emit(base->arg(0), 0);
          out_ += "\\right)";
          return;
        default:
          break;
      }
    }
    script(base, "^", !is_temp(base) && base->op == Op::Sqrt);
    out_ += "^{" + p + "}";
  }
  // A base for ^{} or _{}: in parentheses when it already ends in one (or when `paren`).
  void script(const Node* base, const char* scripts, bool paren = false) {
    std::string s = capture([&] { emit(base, kPrecAtom); });
    if (paren || ends_in_script(s, scripts)) s = "\\left(" + s + "\\right)";
    out_ += s;
  }
  static bool ends_in_script(const std::string& s, const char* scripts) {
    if (s.empty() || s.back() != '}') return false;
    int depth = 0;
    for (std::size_t i = s.size(); i-- > 0;) {
      depth += s[i] == '}' ? 1 : s[i] == '{' ? -1 : 0;
      if (depth == 0) return i > 0 && std::strchr(scripts, s[i - 1]) != nullptr;
    }
    return false;
  }

  template <typename F>
  std::string capture(F&& print) {
    std::string saved = std::move(out_);
    out_.clear();
    print();
    std::swap(saved, out_);
    return saved;
  }

  void infix_latex(const Node* n) {
    switch (n->op) {
      case Op::Pow: {
        const Node* b = n->arg(0);
        const Node* e = n->arg(1);
        if (b->op == Op::Exp && exp_like(b)) {  // (e^{u})^{k} = e^{k u}
          Term t = term(e, false);
          flatten(b->arg(0), false, t, false);
          out_ += "e^{";
          print_term(t, 0);
          out_ += "}";
          return;
        }
        power(b, capture([&] { emit(e, 0); }), std::max(whole_power(e), 0));
        return;
      }
      case Op::Add:
      case Op::Sub: {
        emit(n->arg(0), kPrecAdd);
        bool minus = n->op == Op::Sub;
        if (term(n->arg(1), false).negative) {
          out_ += minus ? " + " : " - ";
          return negation(n->arg(1), kPrecAdd + 1);
        }
        out_ += minus ? " - " : " + ";
        return emit(n->arg(1), kPrecAdd + 1);
      }
      default:
        emit(n->arg(0), n->info().prec);
        out_ += fmt::format(" {} ", n->info().latex);
        emit(n->arg(1), n->info().prec + 1);
        return;
    }
  }

  void call_text(const Node* n) {
    out_ += n->info().name;
    out_ += "(";
    for (int i = 0; i < n->nargs; ++i) {
      if (i) out_ += ", ";
      emit(n->arg(i), 0);
    }
    out_ += ")";
  }

  void call_latex(const Node* n) {
    switch (n->op) {
      case Op::Sqrt:
        out_ += "\\sqrt{";
        emit(n->arg(0), 0);
        out_ += "}";
        return;
      case Op::Abs:
        out_ += "\\left|";
        emit(n->arg(0), 0);
        out_ += "\\right|";
        return;
      case Op::Exp:
        out_ += "e^{";
        emit(n->arg(0), 0);
        out_ += "}";
        return;
      case Op::Polygamma:  // \psi^{(k)}(x), as DLMF writes it
        out_ += "\\psi^{(";
        emit(n->arg(0), 0);
        out_ += ")}\\left(";
        emit(n->arg(1), 0);
        out_ += "\\right)";
        return;
      default:
        out_ += n->info().latex;
        out_ += "\\left(";
        for (int i = 0; i < n->nargs; ++i) {
          if (i) out_ += ", ";
          emit(n->arg(i), 0);
        }
        out_ += "\\right)";
        return;
    }
  }

  Format f_;
  const std::unordered_map<const Node*, std::string>* temps_;
  bool source_;
  const std::unordered_set<std::string>* shadowed_ = nullptr;
  std::string out_;
};

}  // namespace

std::string print_number(double v, Format f) {
  std::string s = fmt::format("{}", v);
  if (f == Format::Text) return s;
  if (std::isinf(v)) return v < 0 ? "-\\infty" : "\\infty";
  if (std::isnan(v)) return "\\mathrm{NaN}";
  auto e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mant = s.substr(0, e);
  int exp = std::stoi(s.substr(e + 1));
  std::string pow10 = fmt::format("10^{{{}}}", exp);
  return mant == "1" ? pow10 : mant == "-1" ? "-" + pow10 : fmt::format("{} \\cdot {}", mant, pow10);
}

Printed print(std::span<const Node* const> roots, Format f,
              const std::unordered_map<const Node*, std::string>* names, std::span<const std::string> avoid,
              PrintForm form) {
  using namespace print_forms;
  // Structural order (children first, left to right, from the first root on): temporaries
  // are numbered the same however the graph was built, so the printed text read back prints
  // the same names.
  std::vector<const Node*> nodes = children_first(roots);
  // Uses as the printed text has them: each argument edge, and each place a root is printed (a
  // symmetric Hessian lists a mixed partial twice).
  std::unordered_map<const Node*, int> uses, root_count;
  for (const Node* n : nodes)
    for (int i = 0; i < n->nargs; ++i) ++uses[n->arg(i)];
  for (const Node* r : roots) ++uses[r], ++root_count[r];

  // Temporary names t1, t2, ... that no variable uses, nor any name in `avoid` (also not as
  // t_1, which LaTeX prints as t1 is printed).
  std::string prefix = "t";
  for (bool clash = true; clash;) {
    clash = false;
    for (const Node* n : nodes)
      if (n->op == Op::Var && numbered(n->name, prefix)) clash = true;
    for (const std::string& a : avoid) clash = clash || numbered(a, prefix);
    if (clash) prefix += "t";
  }

  // One printed form: the named nodes get their names (given, or prefix + k), then the text.
  const std::unordered_set<std::string> shadowed = shadowed_names(roots, avoid);  // once for every form
  auto render = [&](const std::vector<const Node*>& named) {
    std::unordered_map<const Node*, std::string> temps;
    std::unordered_map<const Node*, std::size_t> index;
    int auto_names = 0;
    for (const Node* n : named) {
      auto given = names ? names->find(n) : decltype(names->find(n)){};
      temps[n] = names && given != names->end() ? given->second
                                                : print_name(fmt::format("{}{}", prefix, ++auto_names), f);
      index.emplace(n, index.size());
    }
    Printer p(f, &temps, /*display=*/names != nullptr);
    p.shadow(&shadowed);
    Printed out;
    for (const Node* n : named) {
      out.temps.emplace_back(temps[n], p(n));
      out.temp_refs.push_back(references(n, index));
    }
    for (const Node* r : roots) {
      // A root that is also a temporary (a root used elsewhere, or printed twice) is its name.
      if (auto it = index.find(r); it != index.end()) {
        out.results.push_back(temps[r]);
        out.result_refs.push_back({it->second});
      } else {
        out.results.push_back(p(r));
        out.result_refs.push_back(references(r, index));
      }
    }
    return out;
  };

  if (names) {  // exactly the given names (and those nested too deeply)
    return render(named_nodes(nodes, root_count,
                              [&](const Node* n) { return names->count(n) > 0 && !root_count.count(n); }));
  }
  // Three forms: the tree (only what nests too deeply is named), every non-leaf used twice named,
  // and only the shared nodes whose name saves characters. The shortest is kept. A form whose
  // text would be more than kMaxTreeRatio times the DAG is not printed (linear time).
  const std::uint64_t budget = kMaxTreeRatio * nodes.size();
  Printed shared = render(named_nodes(nodes, root_count, [&](const Node* n) { return uses[n] >= 2; }));
  if (form != PrintForm::Tree) {
    std::vector<const Node*> worth = named_nodes(nodes, root_count, worth_a_name(nodes, root_count, f, prefix));
    if (cut_tree_size(worth, roots) <= budget) {
      Printed w = render(worth);
      if (w.size() < shared.size()) shared = std::move(w);
    }
  }
  if (form == PrintForm::Shared || shared.temps.empty() || tree_size(roots) > budget) return shared;
  Printed tree = render(named_nodes(nodes, root_count, [](const Node*) { return false; }));
  return form == PrintForm::Tree || tree.size() <= shared.size() ? tree : shared;
}

std::string print_inline(const Node* n, Format f, std::uint64_t max_chars) {
  using namespace print_forms;
  std::uint64_t len = inline_length(n);
  if (len > max_chars)
    throw std::length_error(fmt::format("the inline form would be about {} characters", len));
  if (depth(n) > kMaxInlineDepth)
    throw std::length_error(fmt::format("the inline form would nest more than {} levels", kMaxInlineDepth));
  Printer p(f, nullptr);
  std::unordered_set<std::string> shadowed = shadowed_names(std::span<const Node* const>(&n, 1));
  p.shadow(&shadowed);
  return p(n);
}

}  // namespace gradc
