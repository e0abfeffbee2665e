// The text and LaTeX printers.
#include "compiler/print.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>

namespace gradc {
namespace {

constexpr int kPrecAdd = 1, kPrecMul = 2, kPrecNeg = 3, kPrecPow = 4, kPrecAtom = 5;
// Above this nesting depth, a subexpression gets a name so that no printed line is deeper.
constexpr int kMaxPrintDepth = 48;
constexpr int kMaxInlineDepth = 5000;

const char* const kGreek[] = {"alpha", "beta",  "gamma", "delta", "epsilon", "zeta",  "eta",
                              "theta", "iota",  "kappa", "lambda", "mu",     "nu",    "xi",
                              "pi",    "rho",   "sigma", "tau",   "upsilon", "phi",   "chi",
                              "psi",   "omega", "Gamma", "Delta", "Theta",   "Lambda", "Xi",
                              "Pi",    "Sigma", "Phi",   "Psi",   "Omega"};

class Printer {
 public:
  // `display`: equations in terms of the user's names (graph, explain, a training program's
  // backward pass), which no one reads back: mathematical notation (x^T, implicit reshapes).
  // Otherwise text is .grad source that parses back to the same computation.
  Printer(Format f, const std::unordered_map<const Node*, std::string>* temps, bool display = false)
      : f_(f), temps_(temps), source_(f == Format::Text && !display) {}

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
    if (n->op == Op::Const) return n->value < 0 || std::signbit(n->value) ? kPrecNeg : kPrecAtom;
    if (f_ == Format::Latex && (n->op == Op::Mul || n->op == Op::Div)) {
      std::vector<const Node*> num, den;
      factors(n, false, num, den);
      return den.empty() ? kPrecMul : kPrecPow;  // \frac{}{} groups itself
    }
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
    if (n->op == Op::Reshape && source_ && spelled_with_masks(n, min_prec)) return;
    if (transparent(n)) return emit(n->arg(0), min_prec, top);
    if (!n->info().elementwise && tensor_op(n, min_prec)) return;
    bool paren = prec(n) < min_prec;
    open(paren);
    const OpInfo& info = n->info();
    switch (info.syntax) {
      case Syntax::Leaf:
        if (n->op == Op::Tensor) {
          tensor_text(n);
        } else {
          out_ += n->op == Op::Const && n->name.empty() ? print_number(n->value, f_) : print_name(n->name, f_);
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
  static std::string ones(const Shape& s, int axis = 0) {
    if (axis == s.rank) return "1";
    std::string t = "[";
    for (std::int32_t i = 0; i < s[axis]; ++i) t += (i ? ", " : "") + ones(s, axis + 1);
    return t + "]";
  }

  // Tensor ops written as the notation of linear algebra: x^T, sum(x, axis = 0), x[i].
  bool tensor_op(const Node* n, int min_prec) {
    bool tex = f_ == Format::Latex;
    switch (n->op) {
      case Op::Transpose:
        if (source_) {  // `x^T` would read back as x to the power of a variable T
          out_ += "transpose(";
          operand(n->arg(0), 0);
          out_ += ")";
          return true;
        }
        emit(n->arg(0), kPrecAtom);
        out_ += tex ? "^{\\top}" : "^T";
        return true;
      case Op::Embed:
        return source_ && spelled_with_masks(n, min_prec);
      case Op::Index:
        operand(n->arg(0), kPrecAtom);
        out_ += tex ? fmt::format("_{{{}}}", n->index) : n->axis == 0 ? fmt::format("[{}]", n->index)
                                                                     : fmt::format("[:, {}]", n->index);
        return true;
      case Op::Sum:
      case Op::ReduceMax: {
        const char* name = n->op == Op::Sum ? "sum" : "max";
        out_ += tex ? fmt::format("\\operatorname{{{}}}{}\\left(", name, n->axis < 0 ? "" : fmt::format("_{{{}}}", n->axis))
                    : fmt::format("{}(", name);
        operand(n->arg(0), 0);
        out_ += tex ? "\\right)" : n->axis < 0 ? ")" : fmt::format(", axis = {})", n->axis);
        return true;
      }
      case Op::MatMul: {
        bool paren = kPrecMul < min_prec;
        open(paren);
        operand(n->arg(0), kPrecMul);
        out_ += tex ? " " : " @ ";
        operand(n->arg(1), kPrecMul + 1);
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

  void infix_latex(const Node* n) {
    switch (n->op) {
      case Op::Div:
      case Op::Mul:
        product_latex(n);
        return;
      case Op::Pow:
        if (pow_of_function(n)) return;
        emit(n->arg(0), kPrecAtom);
        out_ += "^{";
        emit(n->arg(1), 0);
        out_ += "}";
        return;
      default:
        emit(n->arg(0), n->info().prec);
        out_ += fmt::format(" {} ", n->info().latex);
        emit(n->arg(1), n->info().prec + 1);
        return;
    }
  }

  // A product of * and / reads as one fraction in LaTeX: a/b/c*d is \frac{a \cdot d}{b \cdot c}.
  void factors(const Node* n, bool inverted, std::vector<const Node*>& num,
               std::vector<const Node*>& den, bool root = true) const {
    if ((root || !is_temp(n)) && (n->op == Op::Mul || n->op == Op::Div)) {
      factors(n->arg(0), inverted, num, den, false);
      factors(n->arg(1), n->op == Op::Div ? !inverted : inverted, num, den, false);
      return;
    }
    (inverted ? den : num).push_back(n);
  }

  void product_latex(const Node* n) {
    std::vector<const Node*> num, den;
    factors(n, false, num, den);
    auto product = [this](const std::vector<const Node*>& all, bool alone) {
      // Repeated factors become powers: t \cdot t is t^{2}.
      std::vector<std::pair<const Node*, int>> fs;
      for (const Node* f : all) {
        auto it = std::find_if(fs.begin(), fs.end(), [f](auto& p) { return p.first == f; });
        if (it == fs.end()) {
          fs.emplace_back(f, 1);
        } else {
          ++it->second;
        }
      }
      if (fs.empty()) out_ += "1";
      for (std::size_t i = 0; i < fs.size(); ++i) {
        if (i) out_ += " \\cdot ";
        auto [f, k] = fs[i];
        if (k > 1) {
          emit(f, kPrecAtom);
          out_ += fmt::format("^{{{}}}", k);
          continue;
        }
        // A lone factor inside \frac{} needs no parentheses; in a product, later factors
        // parenthesize a leading minus.
        emit(f, fs.size() == 1 && alone ? 0 : i == 0 ? kPrecMul : kPrecPow);
      }
    };
    if (den.empty()) return product(num, false);
    out_ += "\\frac{";
    product(num, true);
    out_ += "}{";
    product(den, true);
    out_ += "}";
  }

  // tanh(e)^2 reads better as \tanh^{2}\left(e\right), as the lecture writes it.
  bool pow_of_function(const Node* n) {
    const Node* base = n->arg(0);
    const Node* e = n->arg(1);
    if (is_temp(base) || !e->is_const() || e->value <= 0 || e->value != std::floor(e->value)) return false;
    switch (base->op) {
      case Op::Sin: case Op::Cos: case Op::Tan: case Op::Sinh: case Op::Cosh: case Op::Tanh:
        break;
      default:
        return false;
    }
    out_ += fmt::format("{}^{{{}}}\\left(", base->info().latex, print_number(e->value, f_));
    emit(base->arg(0), 0);
    out_ += "\\right)";
    return true;
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
  std::string out_;
};

// Approximate printed length of each node's inline form (for the --expr-only size guard).
std::uint64_t inline_length(const Node* root) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max() / 4;
  std::unordered_map<const Node*, std::uint64_t> len;
  for (const Node* n : reachable(std::span<const Node* const>(&root, 1))) {
    std::uint64_t l = n->nargs == 0 ? (n->op == Op::Var ? n->name.size() : 8) : 8;
    for (int i = 0; i < n->nargs; ++i) l = std::min(kMax, l + len[n->arg(i)]);
    len[n] = l;
  }
  return len[root];
}

int depth(const Node* root) {
  std::unordered_map<const Node*, int> d;
  int max = 0;
  for (const Node* n : reachable(std::span<const Node* const>(&root, 1))) {
    int x = 0;
    for (int i = 0; i < n->nargs; ++i) x = std::max(x, d[n->arg(i)] + 1);
    d[n] = x;
    max = std::max(max, x);
  }
  return max;
}

}  // namespace

std::string print_number(double v, Format f) {
  std::string s = fmt::format("{}", v);
  if (f == Format::Text) return s;
  auto e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mant = s.substr(0, e);
  int exp = std::stoi(s.substr(e + 1));
  std::string pow10 = fmt::format("10^{{{}}}", exp);
  return mant == "1" ? pow10 : mant == "-1" ? "-" + pow10 : fmt::format("{} \\cdot {}", mant, pow10);
}

std::string print_name(const std::string& name, Format f) {
  if (f == Format::Text) return name;
  // Split a trailing index: x1 / x_1 → x_{1}
  std::size_t cut = name.size();
  while (cut > 0 && std::isdigit(static_cast<unsigned char>(name[cut - 1]))) --cut;
  std::string base = name, index;
  if (auto us = name.find('_'); us != std::string::npos && us > 0) {
    base = name.substr(0, us);
    index = name.substr(us + 1);
  } else if (cut > 0 && cut < name.size()) {
    base = name.substr(0, cut);
    index = name.substr(cut);
  }
  std::string b = base;
  if (std::find(std::begin(kGreek), std::end(kGreek), base) != std::end(kGreek)) {
    b = "\\" + base;
  } else if (base.size() > 1) {
    std::string esc;
    for (char c : base) esc += c == '_' ? std::string("\\_") : std::string(1, c);
    b = "\\mathit{" + esc + "}";
  }
  if (index.empty()) return b;
  std::string esc;
  for (char c : index) esc += c == '_' ? std::string("\\_") : std::string(1, c);
  return fmt::format("{}_{{{}}}", b, esc);
}

std::string print_partial(const std::string& fn, std::span<const std::string> wrt, Format f) {
  // Group repeated variables: x, x, y → x^2 y
  std::vector<std::pair<std::string, int>> groups;
  for (const std::string& v : wrt) {
    if (!groups.empty() && groups.back().first == v) {
      ++groups.back().second;
    } else {
      groups.emplace_back(v, 1);
    }
  }
  std::size_t order = wrt.size();
  std::string den;
  if (f == Format::Text) {
    for (auto& [v, k] : groups) den += k == 1 ? "d" + v : fmt::format("d{}{}", v, k);
    return order == 1 ? fmt::format("d{}/{}", fn, den) : fmt::format("d{}{}/{}", order, fn, den);
  }
  for (auto& [v, k] : groups) {
    if (!den.empty()) den += " ";
    den += k == 1 ? fmt::format("\\partial {}", print_name(v, f))
                  : fmt::format("\\partial {}^{{{}}}", print_name(v, f), k);
  }
  std::string num = order == 1 ? "\\partial " : fmt::format("\\partial^{{{}}} ", order);
  return fmt::format("\\frac{{{}{}}}{{{}}}", num, print_name(fn, f), den);
}

Printed print(std::span<const Node* const> roots, Format f,
              const std::unordered_map<const Node*, std::string>* names, std::span<const std::string> avoid) {
  std::vector<const Node*> nodes = reachable(roots);
  std::unordered_map<const Node*, int> uses;
  for (const Node* n : nodes)
    for (int i = 0; i < n->nargs; ++i) ++uses[n->arg(i)];

  bool blowup = tree_size(roots) > 2 * nodes.size() + 16;
  // Which nodes get a name: shared non-leaves when the tree form blows up, and any node whose
  // unnamed subtree would be nested deeper than kMaxPrintDepth.
  std::unordered_map<const Node*, std::string> temps;
  std::unordered_map<const Node*, int> d;
  std::vector<const Node*> named;
  std::unordered_map<const Node*, bool> is_root;
  for (const Node* r : roots) is_root[r] = true;
  for (const Node* n : nodes) {
    int x = 0;
    for (int i = 0; i < n->nargs; ++i) {
      const Node* a = n->arg(i);
      x = std::max(x, temps.count(a) ? 1 : d[a] + 1);
    }
    d[n] = x;
    bool name = n->nargs > 0 && !is_root.count(n) &&
                ((names && names->count(n)) || (!names && blowup && uses[n] >= 2) || x >= kMaxPrintDepth);
    if (name) {
      temps[n] = "";
      named.push_back(n);
    }
  }
  // Temporary names t1, t2, ... that no variable uses, nor any name in `avoid`.
  std::string prefix = "t";
  auto clashes = [&](const std::string& name) {
    return name.rfind(prefix, 0) == 0 && name.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
  };
  for (bool clash = true; clash;) {
    clash = false;
    for (const Node* n : nodes)
      if (n->op == Op::Var && clashes(n->name)) clash = true;
    for (const std::string& a : avoid) clash = clash || clashes(a);
    if (clash) prefix += "t";
  }
  int auto_names = 0;
  for (const Node* n : named) {
    auto given = names ? names->find(n) : decltype(names->find(n)){};
    temps[n] = names && given != names->end() ? given->second : print_name(fmt::format("{}{}", prefix, ++auto_names), f);
  }

  Printer p(f, &temps, /*display=*/names != nullptr);
  Printed out;
  for (const Node* n : named) out.temps.emplace_back(temps[n], p(n));
  for (const Node* r : roots) out.results.push_back(p(r));
  return out;
}

std::string print_inline(const Node* n, Format f, std::uint64_t max_chars) {
  std::uint64_t len = inline_length(n);
  if (len > max_chars)
    throw std::length_error(fmt::format("the inline form would be about {} characters", len));
  if (depth(n) > kMaxInlineDepth)
    throw std::length_error(fmt::format("the inline form would nest more than {} levels", kMaxInlineDepth));
  return Printer(f, nullptr)(n);
}

}  // namespace gradc

namespace gradc {

std::string print_listing(std::span<const Node* const> roots, std::span<const std::string> labels,
                          const std::unordered_map<const Node*, std::string>* names) {
  std::unordered_map<const Node*, std::size_t> num;
  std::string out;
  for (const Node* n : reachable(roots)) {
    std::size_t k = num.size();
    num[n] = k;
    std::string rhs;
    switch (n->op) {
      case Op::Const: rhs = fmt::format("const {}", print_number(n->value, Format::Text)); break;
      case Op::Var: rhs = fmt::format("var {}", n->name); break;
      case Op::Tensor: rhs = "tensor"; break;
      default: {
        std::string op = op_id(n->op);
        for (char& c : op) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        rhs = op;
        for (int i = 0; i < n->nargs; ++i) rhs += fmt::format("{}%{}", i ? ", " : " ", num.at(n->arg(i)));
        // Attributes of the tensor ops.
        switch (n->op) {
          case Op::Sum: case Op::ReduceMax:
            rhs += n->axis < 0 ? ", all" : fmt::format(", axis {}", n->axis);
            break;
          case Op::Index: case Op::Embed:
            rhs += fmt::format(", axis {}, index {}", n->axis, n->index);
            break;
          case Op::OneHot:
            rhs += fmt::format(", classes {}", n->index);
            break;
          default:
            break;
        }
      }
    }
    // The type: the shape, with the element type unless it is f64 (the default).
    std::string type = n->dtype == DType::F64 ? "" : dtype_str(n->dtype);
    if (!n->shape.scalar()) type += n->shape.str();
    if (!type.empty()) rhs += " : " + type;
    std::string line = fmt::format("%{} = {}", k, rhs);
    if (names)
      if (auto it = names->find(n); it != names->end()) line = fmt::format("{:<28}# {}", line, it->second);
    out += line + "\n";
  }
  for (std::size_t i = 0; i < roots.size(); ++i)
    out += fmt::format("out {} = %{}\n", i < labels.size() ? labels[i] : std::to_string(i), num.at(roots[i]));
  return out;
}

}  // namespace gradc
