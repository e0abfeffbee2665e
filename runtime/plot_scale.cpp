// Text, numbers, ranges, scales and ticks of the SVG plots. Every range is finite and non-empty
// whatever the data: padding and widening stop at the largest double (and, on a log scale, at
// the smallest positive one), and spans wider than the largest double are computed in halves.
#include "runtime/plot_scale.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace gradc::plot {
namespace {

constexpr double kMax = std::numeric_limits<double>::max();
constexpr double kTiny = std::numeric_limits<double>::denorm_min();

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((byte(i + k) >> 6) != 0x2) return 0;
  return n;
}

}  // namespace

std::string escape(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_length(s, i);
    if (n == 0) {
      r += '?';
      ++i;
      continue;
    }
    if (n > 1) {
      r.append(s.substr(i, n));
      i += n;
      continue;
    }
    char c = s[i++];
    switch (c) {
      case '&':
        r += "&amp;";
        break;
      case '<':
        r += "&lt;";
        break;
      case '>':
        r += "&gt;";
        break;
      case '"':
        r += "&quot;";
        break;
      case '\'':
        r += "&apos;";
        break;
      default:
        r += (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') ? '?' : c;
    }
  }
  return r;
}

double text_width(std::string_view s, double size) {
  std::size_t chars = 0;
  for (char c : s) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return static_cast<double>(chars) * size * 0.65;
}

// ------------------------------------------------------------------------- public

std::string px(double v) {
  if (!std::isfinite(v)) v = 0;
  return fmt::format("{:.1f}", std::clamp(v, -1e5, 1e5));
}

std::string shortest(double v) { return fmt::format("{}", v); }

double fraction(double v, double a, double b) {
  double d = b - a, n = v - a;
  if (std::isfinite(d) && std::isfinite(n)) return n / d;
  return (v * 0.5 - a * 0.5) / (b * 0.5 - a * 0.5);
}

double Scale::t(double v) const { return log ? std::log10(v) : v; }

bool Scale::valid(double v) const { return std::isfinite(v) && (!log || v > 0); }

double Scale::operator()(double v) const {
  double u = log ? (t(v) - t(lo)) / (t(hi) - t(lo)) : fraction(v, lo, hi);
  return p0 + u * (p1 - p0);
}

double Scale::slope(double v) const {
  if (log) return (p1 - p0) / (t(hi) - t(lo)) / (v * std::log(10.0));
  double span = hi - lo;
  return std::isfinite(span) ? (p1 - p0) / span : (p1 - p0) * 0.5 / (hi * 0.5 - lo * 0.5);
}

namespace {

// The double nearest to mantissa × 10^exponent (correctly rounded, so 3 × 10^-1 is 0.3).
double decimal(long long mantissa, int exponent) {
  std::string s = fmt::format("{}e{}", mantissa, exponent);
  double v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The exponent k with 10^k <= |v| < 10^(k+1); 0 for 0 and non-finite v.
int exponent10(double v) {
  v = std::abs(v);
  if (!(v > 0) || !std::isfinite(v)) return 0;
  int k = static_cast<int>(std::floor(std::log10(v)));
  if (decimal(1, k + 1) <= v) ++k;
  if (decimal(1, k) > v) --k;
  return k;
}

// v in scientific notation with `digits` after the point, trailing zeros dropped: "2.5e-7".
std::string scientific(double v, int digits) {
  if (v == 0) return "0";
  std::string s = fmt::format("{:.{}e}", v, std::clamp(digits, 0, 30));
  std::size_t e = s.find('e');
  std::string mantissa = s.substr(0, e);
  if (mantissa.find('.') != std::string::npos) {
    while (mantissa.back() == '0') mantissa.pop_back();
    if (mantissa.back() == '.') mantissa.pop_back();
  }
  return fmt::format("{}e{}", mantissa, std::stoi(s.substr(e + 1)));
}

// The range of the values, widened by `margin` of its span (in log10 on a log scale) as far as
// doubles reach; empty when no value fits the scale.
std::optional<Range> fit(const std::vector<double>& values, bool log, double margin) {
  std::optional<Range> r;
  for (double v : values) {
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    r = r ? Range{std::min(r->lo, v), std::max(r->hi, v)} : Range{v, v};
  }
  if (!r || margin == 0) return r;
  if (log) {
    // log10 of the smallest and largest positive doubles: padding stops there.
    static const double kLogTiny = std::log10(kTiny), kLogMax = std::log10(kMax);
    double a = std::log10(r->lo), b = std::log10(r->hi), pad = margin * (b - a);
    double lo = std::clamp(std::pow(10.0, std::max(a - pad, kLogTiny)), kTiny, kMax);
    double hi = std::clamp(std::pow(10.0, std::min(b + pad, kLogMax)), kTiny, kMax);
    return Range{std::min(r->lo, lo), std::max(r->hi, hi)};
  }
  double pad = margin * (r->hi - r->lo);
  if (!std::isfinite(pad)) pad = margin * r->hi - margin * r->lo;
  return Range{std::max(r->lo - pad, -kMax), std::min(r->hi + pad, kMax)};
}

std::optional<Range> merge(std::optional<Range> a, std::optional<Range> b) {
  if (!a) return b;
  if (!b) return a;
  return Range{std::min(a->lo, b->lo), std::max(a->hi, b->hi)};
}

// A usable range: non-empty (a single value is widened around itself) with a default.
Range usable(std::optional<Range> r, bool log) {
  if (!r) return log ? Range{1, 10} : Range{0, 1};
  if (r->hi > r->lo) return *r;
  double v = r->lo;
  if (log) return {std::max(v / std::sqrt(10.0), kTiny), std::min(v * std::sqrt(10.0), kMax)};
  double d = v == 0 ? 1 : std::abs(v) * 0.1;
  Range w{std::max(v - d, -kMax), std::min(v + d, kMax)};
  if (w.lo < w.hi) return w;
  return {std::min(0.0, 2 * v), std::max(0.0, 2 * v)};  // v so small that a tenth of it is 0
}

}  // namespace

std::pair<Range, Range> data_ranges(const Plot& plot) {
  bool log = plot.log_y;
  if (plot.limits) {
    auto [x0, x1, y0, y1] = *plot.limits;
    bool ok = std::isfinite(x0) && std::isfinite(x1) && std::isfinite(y0) && std::isfinite(y1) && x0 < x1 &&
              y0 < y1 && (!log || y0 > 0);
    if (ok) return {Range{x0, x1}, Range{y0, y1}};
  }
  std::vector<double> xs, ys;
  auto add = [&](double x, double y) {
    if (std::isfinite(x) && std::isfinite(y) && (!log || y > 0)) {
      xs.push_back(x);
      ys.push_back(y);
    }
    if (log && std::isfinite(x) && y == 0) xs.push_back(x);  // drawn at the floor: x still counts
  };
  for (const Series& s : plot.series)
    for (std::size_t i = 0; i < s.x.size(); ++i) add(s.x[i], s.y[i]);
  for (const Arrow& a : plot.arrows) add(a.x, a.y);
  std::optional<Range> rx = fit(xs, false, 0.05), ry = fit(ys, log, 0.05);
  if (plot.field) {
    const Field& f = *plot.field;
    rx = merge(rx, fit({f.x0, f.x1}, false, 0));
    std::vector<double> fy;
    for (std::size_t j = 0; j < f.ny; ++j) fy.push_back(f.y0 + j * (f.y1 - f.y0) / (f.ny - 1));
    ry = merge(ry, fit(fy, log, 0));
  }
  return {usable(rx, false), usable(ry, log)};
}

// ------------------------------------------------------------------------- ticks

namespace {

// A tick step m × 10^e with m in {1, 2, 5}.
struct Step {
  long long m;
  int e;
  double value() const { return decimal(m, e); }
};

// The 1-2-5 step nearest (in log) to raw.
Step nice_step(double raw) {
  int e = exponent10(raw);
  double f = raw / decimal(1, e);
  if (f < std::sqrt(2.0)) return {1, e};
  if (f < std::sqrt(10.0)) return {2, e};
  if (f < std::sqrt(50.0)) return {5, e};
  return {1, e + 1};
}

Step finer(Step s) { return s.m == 5 ? Step{2, s.e} : s.m == 2 ? Step{1, s.e} : Step{5, s.e - 1}; }

// The multiples of step inside [lo, hi].
std::vector<double> multiples(double lo, double hi, Step step) {
  double sv = step.value();
  if (!(sv > 0) || !std::isfinite(sv)) return {};
  double k0 = std::ceil(lo / sv - 1e-9), k1 = std::floor(hi / sv + 1e-9);
  if (!(k1 - k0 < 1000) || std::abs(k0) > 1e15 || std::abs(k1) > 1e15) return {};
  std::vector<double> values;
  for (auto k = static_cast<long long>(k0); k <= static_cast<long long>(k1); ++k) {
    double v = decimal(k * step.m, step.e);
    if (v >= lo && v <= hi) values.push_back(v);
  }
  return values;
}

// Labels for multiples of step: fixed-point with just the decimals the step needs, or
// scientific notation for very large or small numbers.
std::vector<Tick> label_linear(const std::vector<double>& values, Step step) {
  double largest = 0;
  for (double v : values) largest = std::max(largest, std::abs(v));
  bool fixed = largest < 1e6 && step.e >= -4;
  std::vector<Tick> ticks;
  for (double v : values) {
    std::string label = fixed ? fmt::format("{:.{}f}", v, std::max(0, -step.e))
                              : scientific(v, v == 0 ? 0 : exponent10(v) - step.e);
    ticks.push_back({v, label});
  }
  return ticks;
}

}  // namespace

// About `target` ticks at multiples of a 1-2-5 step inside [lo, hi] (at least two if possible).
std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {};
  double n = std::max(1, target), raw = (hi - lo) / n;
  if (!std::isfinite(raw)) raw = hi / n - lo / n;
  Step step = nice_step(std::max(raw, kTiny));
  std::vector<double> values = multiples(lo, hi, step);
  for (int i = 0; i < 6 && values.size() < 2; ++i) {
    step = finer(step);
    values = multiples(lo, hi, step);
  }
  // Within a few subnormals no 1-2-5 step leaves two ticks: mark the ends.
  if (values.size() < 2) return {{lo, shortest(lo)}, {hi, shortest(hi)}};
  return label_linear(values, step);
}

namespace {

// m × 10^k, as the shorter of fixed-point and "me k" notation ("0.01", "1e-6", "100", "1e3").
std::string power_label(long long m, int k) {
  std::string fixed = fmt::format("{:.{}f}", decimal(m, k), std::max(0, -k));
  std::string sci = fmt::format("{}e{}", m, k);
  return sci.size() < fixed.size() ? sci : fixed;
}

// Log-scale ticks: powers of 10 (every few decades over wide ranges); over less than three
// decades also 2 and 5 × 10^k; over less than a factor of about 2.5, linear ticks.
std::vector<Tick> log_ticks(double lo, double hi, int target) {
  if (!(lo > 0) || !(hi > lo) || !std::isfinite(hi)) return {};
  double a = std::log10(lo), b = std::log10(hi);
  int k0 = static_cast<int>(std::floor(a)), k1 = static_cast<int>(std::ceil(b));
  auto inside = [&](double v) { return v >= lo && v <= hi; };
  std::vector<Tick> ticks;
  int decades = 0;
  for (int k = k0; k <= k1; ++k) decades += inside(decimal(1, k));
  if (decades >= 3) {
    // Every 1, 2, 5, 10, 20, 50 or 100 decades: 1e-300 ... 1e300 over every double.
    int stride = 500;
    for (int c : {200, 100, 50, 20, 10, 5, 2, 1})
      if (c * std::max(1, target) >= decades) stride = c;
    for (int k = k0; k <= k1; ++k)
      if (inside(decimal(1, k)) && ((k % stride) + stride) % stride == 0)
        ticks.push_back({decimal(1, k), power_label(1, k)});
    if (ticks.size() >= 2) return ticks;
    ticks.clear();
    for (int k = k0; k <= k1; ++k)
      if (inside(decimal(1, k))) ticks.push_back({decimal(1, k), power_label(1, k)});
    return ticks;
  }
  for (int k = k0; k <= k1; ++k)
    for (long long m : {1, 2, 5})
      if (inside(decimal(m, k))) ticks.push_back({decimal(m, k), power_label(m, k)});
  return ticks.size() >= 2 ? ticks : linear_ticks(lo, hi, target);
}

}  // namespace

std::vector<Tick> ticks_for(const Scale& s, int target) {
  return s.log ? log_ticks(s.lo, s.hi, target) : linear_ticks(s.lo, s.hi, target);
}

double widest(const std::vector<Tick>& ticks) {
  double w = 0;
  for (const Tick& t : ticks) w = std::max(w, text_width(t.label, kFont));
  return w;
}

}  // namespace gradc::plot
