// einsum("ij,jk->ik", a, b[, c]): NumPy's, lowered to transposes, reshapes, broadcast products,
// matrix products (batched when a letter is shared and kept) and sums, pairwise, so that every
// intermediate fits Shape::kMaxRank; a spec that would need a rank-4 intermediate is an error.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "compiler/builtins.hpp"

namespace gradc {
namespace {

using N = const Node*;

// A tensor with a letter for each axis.
struct Term {
  N x;
  std::string letters;
};

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

class Einsum {
 public:
  Einsum(BuiltinCall& c, std::string spec) : c_(c), b_(c.b), spec_(std::move(spec)) {}

  N run(std::vector<N> xs) {
    parse(xs.size());
    std::vector<Term> terms;
    for (std::size_t i = 0; i < xs.size(); ++i) terms.push_back(operand(xs[i], inputs_[i], i));
    while (terms.size() > 1) {
      // Contract the first pair whose result fits; with three operands try each pair.
      std::size_t pick_a = 0, pick_b = 1;
      bool found = false;
      for (std::size_t a = 0; a < terms.size() && !found; ++a)
        for (std::size_t b = a + 1; b < terms.size() && !found; ++b)
          if (fits(terms, a, b)) pick_a = a, pick_b = b, found = true;
      if (!found)
        c_.shape_error(fmt::format("einsum: '{}' needs a rank-{} intermediate; at most rank {} is supported",
                                   spec_, Shape::kMaxRank + 1, Shape::kMaxRank));
      std::string later = output_;
      for (std::size_t k = 0; k < terms.size(); ++k)
        if (k != pick_a && k != pick_b) later += terms[k].letters;
      Term t = contract(terms[pick_a], terms[pick_b], later);
      terms.erase(terms.begin() + static_cast<std::ptrdiff_t>(pick_b));
      terms[pick_a] = t;
    }
    Term t = reduce_to(terms[0], output_);
    return permute(t, output_).x;
  }

 private:
  // "ij,jk->ik": the inputs' letters and the output's (NumPy's implicit output: the letters
  // that appear once, in alphabetical order).
  void parse(std::size_t operands) {
    std::string s = spec_;
    s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
    std::size_t arrow = s.find("->");
    std::string lhs = arrow == std::string::npos ? s : s.substr(0, arrow);
    for (char ch : s.substr(0, arrow == std::string::npos ? s.size() : arrow))
      if (!std::isalpha(static_cast<unsigned char>(ch)) && ch != ',')
        c_.error(c_.a.loc[0], fmt::format("einsum: subscripts are letters, not '{}'", ch));
    if (arrow != std::string::npos)
      for (char ch : s.substr(arrow + 2))
        if (!std::isalpha(static_cast<unsigned char>(ch)))
          c_.error(c_.a.loc[0], fmt::format("einsum: output subscripts are letters, not '{}'", ch));
    for (std::size_t at = 0;;) {
      std::size_t comma = lhs.find(',', at);
      inputs_.push_back(lhs.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    if (inputs_.size() != operands)
      c_.error(fmt::format("einsum: '{}' names {}, but {} given", spec_, plural(inputs_.size(), "operand"),
                           were(operands)));
    if (arrow != std::string::npos) {
      output_ = s.substr(arrow + 2);
      for (char ch : output_) {
        if (std::count(output_.begin(), output_.end(), ch) > 1)
          c_.error(c_.a.loc[0], fmt::format("einsum: the output subscript '{}' appears twice", ch));
        if (!has(lhs, ch)) c_.error(c_.a.loc[0], fmt::format("einsum: the output subscript '{}' is not an input's", ch));
      }
    } else {
      for (char ch : lhs)
        if (std::isalpha(static_cast<unsigned char>(ch)) && std::count(lhs.begin(), lhs.end(), ch) == 1) output_ += ch;
      std::sort(output_.begin(), output_.end());
    }
    if (output_.size() > static_cast<std::size_t>(Shape::kMaxRank))
      c_.shape_error(fmt::format("einsum: '{}' makes a rank-{} result; at most rank {} is supported", spec_,
                                 output_.size(), Shape::kMaxRank));
  }

  // Operand i with its letters checked against its shape, its repeated letters reduced to the
  // diagonal, and the letters no one else needs summed away.
  Term operand(N x, const std::string& letters, std::size_t i) {
    if (static_cast<int>(letters.size()) != x->shape.rank)
      c_.shape_error(c_.a.loc[i + 1],
                     fmt::format("einsum: operand {} has shape {}, but '{}' names {} ax{}s", i + 1, x->shape.str(),
                                 letters, letters.size(), letters.size() == 1 ? "i" : "e"));
    for (std::size_t d = 0; d < letters.size(); ++d) {
      auto [it, fresh] = size_.emplace(letters[d], x->shape[static_cast<int>(d)]);
      if (fresh) first_.emplace(letters[d], i);
      if (!fresh && it->second != x->shape[static_cast<int>(d)])
        c_.shape_error(c_.a.loc[i + 1],
                       fmt::format("einsum: '{}' is {} in operand {} but {} in operand {}", letters[d], it->second,
                                   first_.at(letters[d]) + 1, x->shape[static_cast<int>(d)], i + 1));
    }
    Term t{x, letters};
    // A repeated letter (ii): the diagonal, as the sum of x times the identity over the second.
    for (std::size_t q = 1; q < t.letters.size(); ++q) {
      std::size_t p = t.letters.find(t.letters[q]);
      if (p == q) continue;
      const Shape& s = t.x->shape;
      std::vector<double> eye(static_cast<std::size_t>(s.size()));
      for (std::int64_t e = 0; e < s.size(); ++e) {
        std::int64_t idx[Shape::kMaxRank] = {0, 0, 0}, r = e;
        for (int d = s.rank - 1; d >= 0; --d) idx[d] = r % s[d], r /= s[d];
        eye[static_cast<std::size_t>(e)] = idx[p] == idx[q] ? 1 : 0;
      }
      N mask = b_.graph().tensor(s, std::move(eye));
      t.x = c_.shaped([&] { return b_.sum(b_.mul(t.x, mask), static_cast<int>(q)); });
      t.letters.erase(q, 1);
      --q;
    }
    return t;
  }

  // t with the letters not in `keep` summed away.
  Term reduce_to(Term t, const std::string& keep) {
    for (std::size_t d = t.letters.size(); d-- > 0;)
      if (!has(keep, t.letters[d])) {
        t.x = c_.shaped([&] { return b_.sum(t.x, static_cast<int>(d)); });
        t.letters.erase(d, 1);
      }
    return t;
  }

  // t's axes in the order of `order` (a permutation of its letters).
  Term permute(Term t, const std::string& order) {
    std::vector<int> p;
    for (char ch : order) p.push_back(static_cast<int>(t.letters.find(ch)));
    t.x = c_.shaped([&] { return b_.permute(t.x, p); });
    t.letters = order;
    return t;
  }

  // t permuted to `order` and reshaped to `dims`.
  N arrange(const Term& t, const std::string& order, std::vector<std::int64_t> dims) {
    N x = permute(t, order).x;
    return c_.shaped([&] { return b_.reshape(x, Shape::of(dims)); });
  }

  std::int64_t size(const std::string& letters) {
    std::int64_t n = 1;
    for (char ch : letters) n *= size_.at(ch);
    return n;
  }

  struct Split {
    std::string batch, contracted, only_a, only_b;
  };
  static Split split(const std::string& a, const std::string& b, const std::string& keep) {
    Split s;
    for (char ch : a) {
      bool shared = has(b, ch), kept = has(keep, ch);
      if (shared) (kept ? s.batch : s.contracted) += ch;
      else if (kept) s.only_a += ch;
    }
    for (char ch : b)
      if (!has(a, ch) && has(keep, ch)) s.only_b += ch;
    return s;
  }

  // Whether contracting terms a and b keeps every intermediate within kMaxRank.
  bool fits(const std::vector<Term>& terms, std::size_t a, std::size_t b) const {
    std::string later = output_;
    for (std::size_t k = 0; k < terms.size(); ++k)
      if (k != a && k != b) later += terms[k].letters;
    Split s = split(terms[a].letters, terms[b].letters, later);
    return s.batch.size() + s.only_a.size() + s.only_b.size() <= static_cast<std::size_t>(Shape::kMaxRank);
  }

  // a and b contracted over their shared letters that `later` does not need: a matrix product,
  // batched over the shared letters it needs, or a broadcast product when nothing is contracted.
  Term contract(Term a, Term b, const std::string& later) {
    a = reduce_to(a, b.letters + later);
    b = reduce_to(b, a.letters + later);
    Split s = split(a.letters, b.letters, later);
    std::string out = s.batch + s.only_a + s.only_b;
    std::vector<std::int64_t> dims;
    for (char ch : out) dims.push_back(size_.at(ch));
    if (s.contracted.empty()) {  // a broadcast product: each operand with 1s for the other's letters
      auto spread = [&](const Term& t) {
        std::string order;
        for (char ch : out)
          if (has(t.letters, ch)) order += ch;
        std::vector<std::int64_t> d;
        for (char ch : out) d.push_back(has(t.letters, ch) ? size_.at(ch) : 1);
        return arrange(t, order, d);
      };
      N x = spread(a), y = spread(b);
      return Term{c_.shaped([&] { return b_.mul(x, y); }), out};
    }
    std::int64_t nb = size(s.batch), ma = size(s.only_a), mb = size(s.only_b), k = size(s.contracted);
    bool batched = !s.batch.empty();
    auto shape3 = [&](std::int64_t r, std::int64_t c) {
      return batched ? std::vector<std::int64_t>{nb, r, c} : std::vector<std::int64_t>{r, c};
    };
    N x = arrange(a, s.batch + s.only_a + s.contracted, shape3(ma, k));
    N y = arrange(b, s.batch + s.contracted + s.only_b, shape3(k, mb));
    N r = c_.shaped([&] { return b_.matmul(x, y); });
    return Term{c_.shaped([&] { return b_.reshape(r, Shape::of(dims)); }), out};
  }

  BuiltinCall& c_;
  Builder& b_;
  std::string spec_;
  std::vector<std::string> inputs_;
  std::string output_;
  std::map<char, std::int32_t> size_;
  std::map<char, std::size_t> first_;  // the operand that set each letter's size
};

}  // namespace

const Node* lower_einsum(BuiltinCall& c) {
  std::string spec = c.string(0, "subscripts like \"ij,jk->ik\"");
  std::vector<N> xs;
  for (std::size_t i = 1; i < c.a.expr.size() && c.given(i); ++i) xs.push_back(c.tensor(i));
  if (c.given(3) && !c.given(2)) c.error(c.a.loc[3], "einsum: operand c is given without b");
  return Einsum(c, spec).run(xs);
}

}  // namespace gradc
