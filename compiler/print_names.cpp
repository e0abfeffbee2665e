// Names and partial-derivative symbols as text or LaTeX (x_1 → x_{1}, net.0.W →
// W_{\text{net.0}}, d2f/dxdy → \frac{\partial^{2} f}{\partial x \partial y}).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>
#include <vector>

#include "compiler/print.hpp"

namespace gradc {

namespace {

const char* const kGreek[] = {"alpha", "beta",  "gamma", "delta", "epsilon", "zeta",  "eta",
                              "theta", "iota",  "kappa", "lambda", "mu",     "nu",    "xi",
                              "pi",    "rho",   "sigma", "tau",   "upsilon", "phi",   "chi",
                              "psi",   "omega", "Gamma", "Delta", "Theta",   "Lambda", "Xi",
                              "Pi",    "Sigma", "Phi",   "Psi",   "Omega"};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}
bool is_greek(std::string_view s) { return std::find(std::begin(kGreek), std::end(kGreek), s) != std::end(kGreek); }
std::string escape_underscores(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '_' ? std::string("\\_") : std::string(1, c);
  return out;
}

// One subscript of a name: 1, i, \alpha, or a word set upright (x_max → x_{\mathrm{max}}).
std::string subscript(std::string_view s) {
  if (all_digits(s) || s.size() == 1) return std::string(s);
  if (is_greek(s)) return "\\" + std::string(s);
  return "\\mathrm{" + std::string(s) + "}";
}

}  // namespace

// A name as a symbol with subscripts: x1 → x_{1}, alpha_max_2 → \alpha_{\mathrm{max},2}, a
// longer name in italics (\mathit{loss}), and a member path as a label below its last part
// (net.0.W → W_{\text{net.0}}), so that no name ever stacks two subscripts.
std::string print_name(const std::string& name, Format f) {
  if (f == Format::Text) return name;
  std::string_view full = name, symbol = full, path;
  if (auto dot = full.rfind('.'); dot != std::string_view::npos && dot > 0 && !all_digits(full.substr(dot + 1)) &&
                                  dot + 1 < full.size()) {
    symbol = full.substr(dot + 1);
    path = full.substr(0, dot);
  }
  std::vector<std::string> subs;
  std::string_view base = symbol;
  if (auto us = symbol.find('_'); us != std::string_view::npos) {
    base = symbol.substr(0, us);
    for (std::size_t at = us; at != std::string_view::npos;) {
      std::size_t next = symbol.find('_', at + 1);
      subs.emplace_back(symbol.substr(at + 1, next == std::string_view::npos ? next : next - at - 1));
      at = next;
    }
  } else {
    std::size_t cut = symbol.size();
    while (cut > 0 && std::isdigit(static_cast<unsigned char>(symbol[cut - 1]))) --cut;
    if (cut > 0 && cut < symbol.size()) {
      base = symbol.substr(0, cut);
      subs.emplace_back(symbol.substr(cut));
    }
  }
  // _x, x_, x__y (no symbol, or an empty subscript) and words joined by underscores
  // (exp_power, not exp with a subscript power): the name in italics, as written.
  auto word = [](std::string_view s) { return s.size() > 1 && !is_greek(s) && !all_digits(s); };
  bool plain = base.empty() || std::any_of(subs.begin(), subs.end(), [](auto& s) { return s.empty(); }) ||
               (word(base) && std::any_of(subs.begin(), subs.end(), word));
  std::string out;
  if (plain) {
    out = "\\mathit{" + escape_underscores(symbol) + "}";
    subs.clear();
  } else {
    out = is_greek(base) ? "\\" + std::string(base)
          : base.size() == 1 ? std::string(base)
                             : "\\mathit{" + std::string(base) + "}";
    for (std::string& s : subs) s = subscript(s);
  }
  if (!path.empty()) subs.push_back("\\text{" + escape_underscores(path) + "}");
  if (subs.empty()) return out;
  std::string joined;
  for (const std::string& s : subs) joined += (joined.empty() ? "" : ",") + s;
  return out + "_{" + joined + "}";
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

}  // namespace gradc
