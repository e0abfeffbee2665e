// Internal to the SVG plots (runtime/plot.cpp): text escaping, pixel numbers, data ranges and
// scales that hold for any finite doubles (1e-300 to 1e308, spans that overflow), nice ticks.
#pragma once
#include <fmt/format.h>

#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/plot.hpp"

namespace gradc::plot {

constexpr double kFont = 11;  // tick labels and legend

template <typename... Args>
void emit(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

/// XML-escapes text for element content and attribute values. Characters XML 1.0 forbids
/// (control characters, invalid UTF-8) become '?'.
std::string escape(std::string_view s);

/// Estimated width in pixels of text in a sans-serif font of the given size.
double text_width(std::string_view s, double size);

/// A pixel coordinate: one decimal, always finite.
std::string px(double v);

/// The shortest text that reads back as exactly v (v must be finite).
std::string shortest(double v);

/// (v - a) / (b - a) for finite a < b, without overflow when b - a or v - a exceeds the
/// largest double (a = -1e308, b = 1e308).
double fraction(double v, double a, double b);

struct Range {
  double lo, hi;
};

/// Maps data values to pixels, linearly or by log10.
struct Scale {
  double lo = 0, hi = 1;  // data range (positive on a log scale)
  bool log = false;
  double p0 = 0, p1 = 1;  // pixel positions of lo and hi

  double t(double v) const;
  bool valid(double v) const;
  double operator()(double v) const;
  /// Pixels per data unit at v.
  double slope(double v) const;
};

/// The x and y data ranges: the limits if valid, else the series and arrows with a 5% margin,
/// joined with the field's extent. Always finite and non-empty (positive on a log scale).
std::pair<Range, Range> data_ranges(const Plot& plot);

struct Tick {
  double value;
  std::string label;
};

/// About `target` ticks at multiples of a 1-2-5 step inside [lo, hi] (at least two if possible).
std::vector<Tick> linear_ticks(double lo, double hi, int target);

std::vector<Tick> ticks_for(const Scale& s, int target);

/// The width of the widest tick label.
double widest(const std::vector<Tick>& ticks);

}  // namespace gradc::plot
