// Reading the plots' SVG back in tests: well-formedness (Python's XML parser), elements and
// attributes (scanned by hand: std::regex recurses per character and overflows on long paths),
// series points, path vertices, ticks, axis ranges, texts, 1-2-5 numbers.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/plot.hpp"

namespace gradc::test {

inline const double kNan = std::nan("");
inline const double kInf = INFINITY;

// ------------------------------------------------------------------------- helpers

// Parses the document with Python's XML parser; true if it is well-formed.
inline bool well_formed(const std::string& svg, bool quiet = false) {
  static int counter = 0;
  std::filesystem::path path =
      std::filesystem::path(::testing::TempDir()) /
      ("gradc_plot_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".svg");
  std::ofstream(path) << svg;
  std::string command = "python3 -c \"import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])\" '" +
                        path.string() + "'" + (quiet ? " 2>/dev/null" : "");
  int status = std::system(command.c_str());
  std::filesystem::remove(path);
  return status == 0;
}

// The opening tags <tag ...> with the given class (any class if empty). Scanned by hand:
// std::regex recurses once per character and overflows the stack on long paths.
inline std::vector<std::string> elements(const std::string& svg, const std::string& tag,
                                  const std::string& cls = "") {
  std::vector<std::string> found;
  for (std::size_t p = svg.find("<" + tag); p != std::string::npos; p = svg.find("<" + tag, p + 1)) {
    char next = p + 1 + tag.size() < svg.size() ? svg[p + 1 + tag.size()] : '\0';
    if (next != ' ' && next != '>' && next != '/' && next != '\n') continue;
    std::string e = svg.substr(p, svg.find('>', p) - p + 1);
    if (cls.empty() || e.find("class=\"" + cls + "\"") != std::string::npos) found.push_back(e);
  }
  return found;
}

inline std::string unescape(std::string s) {
  const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (auto [from, to] : entities)
    for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + 1))
      s.replace(p, std::strlen(from), to);
  return s;
}

// An attribute's (unescaped) value; fails the test if it is missing.
inline std::string attr(const std::string& element, const std::string& name) {
  for (std::size_t p = element.find(name + "=\""); p != std::string::npos; p = element.find(name + "=\"", p + 1)) {
    if (p == 0 || !std::isspace(static_cast<unsigned char>(element[p - 1]))) continue;
    std::size_t start = p + name.size() + 2;
    return unescape(element.substr(start, element.find('"', start) - start));
  }
  ADD_FAILURE() << "no " << name << " in " << element.substr(0, 200);
  return "";
}

inline double number(std::string_view s) {
  double v = kNan;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  EXPECT_TRUE(ec == std::errc() && end == s.data() + s.size()) << "not a number: " << s;
  return v;
}

inline std::vector<std::pair<double, double>> parse_points(const std::string& text) {
  std::vector<std::pair<double, double>> points;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string_view item(text.data() + start, end - start);
    std::size_t comma = item.find(',');
    EXPECT_NE(comma, std::string_view::npos) << item;
    points.emplace_back(number(item.substr(0, comma)), number(item.substr(comma + 1)));
    start = end + 1;
  }
  return points;
}

// The numbers of a path's d attribute, as (x, y) pairs (paths here use only M, L, H, V, Z, h0).
inline std::vector<std::pair<double, double>> path_vertices(const std::string& d) {
  std::vector<std::pair<double, double>> vertices;
  std::regex re("([MLHV])(-?[0-9.]+)(?: (-?[0-9.]+))?");
  double x = 0, y = 0;
  for (auto it = std::sregex_iterator(d.begin(), d.end(), re); it != std::sregex_iterator(); ++it) {
    char op = (*it)[1].str()[0];
    if (op == 'H') x = std::stod((*it)[2]);
    else if (op == 'V') y = std::stod((*it)[2]);
    else {
      x = std::stod((*it)[2]);
      y = std::stod((*it)[3]);
    }
    vertices.emplace_back(x, y);
  }
  return vertices;
}

inline std::vector<double> tick_values(const std::string& svg, const std::string& axis) {
  std::vector<double> values;
  for (const std::string& e : elements(svg, "line", "tick"))
    if (attr(e, "data-axis") == axis) values.push_back(number(attr(e, "data-value")));
  return values;
}

inline std::pair<double, double> axis_range(const std::string& svg, const std::string& axis) {
  for (const std::string& e : elements(svg, "g", "axis"))
    if (attr(e, "data-axis") == axis) return {number(attr(e, "data-lo")), number(attr(e, "data-hi"))};
  ADD_FAILURE() << "no " << axis << " axis";
  return {0, 0};
}

struct Area {
  double x, y, w, h;
};
inline Area plot_area(const std::string& svg) {
  auto rects = elements(svg, "rect", "plot-area");
  EXPECT_EQ(rects.size(), 1u);
  if (rects.empty()) return {};
  const std::string& r = rects[0];
  return {number(attr(r, "x")), number(attr(r, "y")), number(attr(r, "width")), number(attr(r, "height"))};
}

// The texts of elements <text class="cls">...</text>, still escaped.
inline std::vector<std::string> texts(const std::string& svg, const std::string& cls) {
  std::vector<std::string> found;
  std::regex re("<text class=\"" + cls + "\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it)
    found.push_back((*it)[1].str());
  return found;
}

// v as m × 10^e with m in {1, 2, 5}, if it is one (to double precision).
inline std::optional<std::pair<long long, int>> as_125(double v) {
  if (!(v > 0)) return std::nullopt;
  int e = static_cast<int>(std::floor(std::log10(v) + 1e-12));
  double m = v / std::pow(10.0, e);
  for (long long want : {1, 2, 5, 10})
    if (std::abs(m - want) < 1e-9 * want)
      return want == 10 ? std::make_pair(1LL, e + 1) : std::make_pair(want, e);
  return std::nullopt;
}

inline bool is_125(double v) { return as_125(v).has_value(); }

inline bool is_power_of_10(double v) {
  if (!(v > 0)) return false;
  double k = std::round(std::log10(v));
  return std::abs(v / std::pow(10.0, k) - 1) < 1e-12;
}

// Linear ticks: at least two, inside the axis range, at consecutive multiples k of a 1-2-5
// step m × 10^e, each exactly the double nearest to the decimal k·m × 10^e.
inline void expect_nice_linear_ticks(const std::string& svg, const std::string& axis) {
  SCOPED_TRACE("axis " + axis);
  std::vector<double> ticks = tick_values(svg, axis);
  auto [lo, hi] = axis_range(svg, axis);
  ASSERT_GE(ticks.size(), 2u);
  auto step = as_125(ticks[1] - ticks[0]);
  ASSERT_TRUE(step) << "step " << ticks[1] - ticks[0];
  auto [m, e] = *step;
  long long k0 = std::llround(ticks[0] / (m * std::pow(10.0, e)));
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_GE(ticks[i], lo);
    EXPECT_LE(ticks[i], hi);
    long long k = k0 + static_cast<long long>(i);
    EXPECT_EQ(ticks[i], std::stod(std::to_string(k * m) + "e" + std::to_string(e))) << "tick " << i;
  }
}

inline Series line(std::string label, std::vector<double> x, std::vector<double> y) {
  Series s;
  s.label = std::move(label);
  s.x = std::move(x);
  s.y = std::move(y);
  return s;
}

}  // namespace gradc::test
