// The SVG plots: well-formed XML (checked by Python's parser), series points that read back
// exactly, legends, escaping, no nan/inf, nice linear and log ticks, contour bands and arrows.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numbers>
#include <optional>
#include <regex>
#include <set>
#include <utility>

#include "runtime/plot.hpp"

namespace gradc::test {
namespace {

const double kNan = std::nan("");
const double kInf = INFINITY;

// ------------------------------------------------------------------------- helpers

// Parses the document with Python's XML parser; true if it is well-formed.
bool well_formed(const std::string& svg, bool quiet = false) {
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
std::vector<std::string> elements(const std::string& svg, const std::string& tag,
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

std::string unescape(std::string s) {
  const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (auto [from, to] : entities)
    for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + 1))
      s.replace(p, std::strlen(from), to);
  return s;
}

// An attribute's (unescaped) value; fails the test if it is missing.
std::string attr(const std::string& element, const std::string& name) {
  for (std::size_t p = element.find(name + "=\""); p != std::string::npos; p = element.find(name + "=\"", p + 1)) {
    if (p == 0 || !std::isspace(static_cast<unsigned char>(element[p - 1]))) continue;
    std::size_t start = p + name.size() + 2;
    return unescape(element.substr(start, element.find('"', start) - start));
  }
  ADD_FAILURE() << "no " << name << " in " << element.substr(0, 200);
  return "";
}

double number(std::string_view s) {
  double v = kNan;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  EXPECT_TRUE(ec == std::errc() && end == s.data() + s.size()) << "not a number: " << s;
  return v;
}

std::vector<std::pair<double, double>> parse_points(const std::string& text) {
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
std::vector<std::pair<double, double>> path_vertices(const std::string& d) {
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

std::vector<double> tick_values(const std::string& svg, const std::string& axis) {
  std::vector<double> values;
  for (const std::string& e : elements(svg, "line", "tick"))
    if (attr(e, "data-axis") == axis) values.push_back(number(attr(e, "data-value")));
  return values;
}

std::pair<double, double> axis_range(const std::string& svg, const std::string& axis) {
  for (const std::string& e : elements(svg, "g", "axis"))
    if (attr(e, "data-axis") == axis) return {number(attr(e, "data-lo")), number(attr(e, "data-hi"))};
  ADD_FAILURE() << "no " << axis << " axis";
  return {0, 0};
}

struct Area {
  double x, y, w, h;
};
Area plot_area(const std::string& svg) {
  auto rects = elements(svg, "rect", "plot-area");
  EXPECT_EQ(rects.size(), 1u);
  if (rects.empty()) return {};
  const std::string& r = rects[0];
  return {number(attr(r, "x")), number(attr(r, "y")), number(attr(r, "width")), number(attr(r, "height"))};
}

// The texts of elements <text class="cls">...</text>, still escaped.
std::vector<std::string> texts(const std::string& svg, const std::string& cls) {
  std::vector<std::string> found;
  std::regex re("<text class=\"" + cls + "\"[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it)
    found.push_back((*it)[1].str());
  return found;
}

// v as m × 10^e with m in {1, 2, 5}, if it is one (to double precision).
std::optional<std::pair<long long, int>> as_125(double v) {
  if (!(v > 0)) return std::nullopt;
  int e = static_cast<int>(std::floor(std::log10(v) + 1e-12));
  double m = v / std::pow(10.0, e);
  for (long long want : {1, 2, 5, 10})
    if (std::abs(m - want) < 1e-9 * want)
      return want == 10 ? std::make_pair(1LL, e + 1) : std::make_pair(want, e);
  return std::nullopt;
}

bool is_125(double v) { return as_125(v).has_value(); }

bool is_power_of_10(double v) {
  if (!(v > 0)) return false;
  double k = std::round(std::log10(v));
  return std::abs(v / std::pow(10.0, k) - 1) < 1e-12;
}

// Linear ticks: at least two, inside the axis range, at consecutive multiples k of a 1-2-5
// step m × 10^e, each exactly the double nearest to the decimal k·m × 10^e.
void expect_nice_linear_ticks(const std::string& svg, const std::string& axis) {
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

// ------------------------------------------------------------------------- sample plots

Series line(std::string label, std::vector<double> x, std::vector<double> y) {
  Series s;
  s.label = std::move(label);
  s.x = std::move(x);
  s.y = std::move(y);
  return s;
}

Plot lines_with_gap() {
  Plot p;
  p.title = "Loss";
  p.xlabel = "step";
  p.ylabel = "loss";
  p.series.push_back(line("train", {0, 1, 2, 3, 4, 5, 6}, {3.5, 2.25, kNan, 1.1, 0.7, 0.5, 0.45}));
  p.series.push_back(line("test", {0, 1, 2, 3, 4, 5, 6}, {3.7, 2.5, 1.9, 1.4, 1.2, kInf, 1.05}));
  p.series.back().dashed = true;
  return p;
}

Plot markers_and_arrows() {
  Plot p;
  p.title = "descent";
  Series s = line("w(t)", {2, 1.2, 0.7, 0.4, 0.22, 0.1}, {-1.5, -0.8, -0.45, -0.2, -0.12, -0.05});
  s.markers = true;
  s.arrows = true;
  p.series.push_back(s);
  return p;
}

Plot log_loss() {
  Plot p;
  p.log_y = true;
  p.ylabel = "loss";
  std::vector<double> x, y;
  for (int i = 0; i <= 80; ++i) {
    x.push_back(i);
    y.push_back(std::pow(10.0, 2 - i * 0.1));  // 1e2 down to 1e-6
  }
  p.series.push_back(line("sgd", x, y));
  return p;
}

Field bowl(std::size_t nx, std::size_t ny) {
  Field f{-2, 2, -1.5, 1.5, nx, ny, {}};
  for (std::size_t j = 0; j < ny; ++j)
    for (std::size_t i = 0; i < nx; ++i) {
      double x = -2 + 4.0 * i / (nx - 1), y = -1.5 + 3.0 * j / (ny - 1);
      f.z.push_back(x * x + 4 * y * y + 0.5 * x * y);
    }
  return f;
}

Plot field_with_arrows() {
  Plot p;
  p.title = "f(x, y)";
  p.field = bowl(50, 40);
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 10; ++i) {
      double x = -1.8 + 0.4 * i, y = -1.4 + 0.4 * j;
      p.arrows.push_back({x, y, -(2 * x + 0.5 * y), -(8 * y + 0.5 * x)});
    }
  Series s = line("gd", {1.8, 1.2, 0.9, 0.5}, {1.2, -0.6, 0.3, -0.1});
  s.markers = s.arrows = true;
  p.series.push_back(s);
  return p;
}

Plot escaped_text() {
  Plot p;
  p.title = "a < b & c > \"d\" 'e'";
  p.xlabel = "x<1 & y>2";
  p.ylabel = "<ylabel/>";
  p.series.push_back(line("loss < 0.5 & \"fast\"", {0, 1}, {1, 2}));
  p.series.push_back(line("R&D <b>", {0, 1}, {2, 1}));
  p.series.push_back(line("", {0, 1}, {1.5, 1.5}));
  return p;
}

Plot degenerate() {
  Plot p;
  p.series.push_back(line("one point", {3}, {3}));
  p.series.push_back(line("all missing", {kNan, kNan}, {kNan, kInf}));
  p.arrows.push_back({kNan, 0, 1, 1});
  p.arrows.push_back({0, 0, 0, 0});
  Field f{0, 1, 0, 1, 2, 2, {5, 5, 5, kNan}};
  p.field = f;
  return p;
}

Plot field_with_holes() {
  Plot p = field_with_arrows();
  for (std::size_t k = 0; k < p.field->z.size(); k += 7) p.field->z[k] = k % 2 ? kNan : -kInf;
  p.arrows.push_back({0, 0, kInf, 1});
  p.log_y = false;
  return p;
}

const std::map<std::string, Plot (*)()>& samples() {
  static const std::map<std::string, Plot (*)()> all = {{"lines_with_gap", lines_with_gap},
                                                        {"markers_and_arrows", markers_and_arrows},
                                                        {"log_loss", log_loss},
                                                        {"field_with_arrows", field_with_arrows},
                                                        {"escaped_text", escaped_text},
                                                        {"degenerate", degenerate},
                                                        {"empty", [] { return Plot{}; }},
                                                        {"field_with_holes", field_with_holes}};
  return all;
}

// ------------------------------------------------------------------------- tests

TEST(PlotXmlCheck, RejectsMalformedDocuments) {
  EXPECT_TRUE(well_formed("<svg xmlns=\"http://www.w3.org/2000/svg\"><g a=\"1\">x &amp; y</g></svg>"));
  EXPECT_FALSE(well_formed("<svg><g></svg>", true));
  EXPECT_FALSE(well_formed("<svg><text>a < b</text></svg>", true));
  EXPECT_FALSE(well_formed("<svg><text>a & b</text></svg>", true));
  EXPECT_FALSE(well_formed("<svg a=1></svg>", true));
}

class PlotSample : public ::testing::TestWithParam<std::string> {};

TEST_P(PlotSample, IsWellFormedXml) {
  std::string svg = render_svg(samples().at(GetParam())());
  EXPECT_TRUE(well_formed(svg)) << svg;
}

TEST_P(PlotSample, IsAStandaloneSvgDocument) {
  Plot plot = samples().at(GetParam())();
  std::string svg = render_svg(plot);
  ASSERT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  std::string root = elements(svg, "svg")[0];
  EXPECT_EQ(attr(root, "width"), std::to_string(plot.width));
  EXPECT_EQ(attr(root, "height"), std::to_string(plot.height));
  EXPECT_EQ(attr(root, "viewBox"), "0 0 " + std::to_string(plot.width) + " " + std::to_string(plot.height));
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST_P(PlotSample, HasNoNanOrInf) {
  std::string svg = render_svg(samples().at(GetParam())());
  for (std::string& bad : std::vector<std::string>{"nan", "NaN", "inf", "Inf", "INF"})
    EXPECT_EQ(svg.find(bad), std::string::npos) << bad << " in " << GetParam();
}

TEST_P(PlotSample, EverySeriesIsAPathWithItsLabelAndFinitePoints) {
  Plot plot = samples().at(GetParam())();
  std::string svg = render_svg(plot);
  std::vector<std::string> paths = elements(svg, "path", "series");
  ASSERT_EQ(paths.size(), plot.series.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const Series& s = plot.series[i];
    EXPECT_EQ(attr(paths[i], "data-label"), s.label);
    std::vector<std::pair<double, double>> want;
    for (std::size_t k = 0; k < s.x.size(); ++k)
      if (std::isfinite(s.x[k]) && std::isfinite(s.y[k])) want.emplace_back(s.x[k], s.y[k]);
    EXPECT_EQ(parse_points(attr(paths[i], "data-points")), want) << "series " << i;
  }
}

TEST_P(PlotSample, LinearTicksAreNiceNumbersInsideTheRange) {
  Plot plot = samples().at(GetParam())();
  std::string svg = render_svg(plot);
  expect_nice_linear_ticks(svg, "x");
  if (!plot.log_y) expect_nice_linear_ticks(svg, "y");
}

INSTANTIATE_TEST_SUITE_P(All, PlotSample,
                         ::testing::Values("lines_with_gap", "markers_and_arrows", "log_loss",
                                           "field_with_arrows", "escaped_text", "degenerate", "empty",
                                           "field_with_holes"));

TEST(PlotSeries, DataPointsReadBackExactly) {
  Plot p;
  p.series.push_back(line("s", {0.1, 1.0 / 3, kNan, std::numbers::pi, -2.5e17, 1e-300, 5, kInf},
                          {0.2, 2.0 / 3, 1, std::exp(1.0), 4e-320, -0.0, kNan, 1}));
  std::string svg = render_svg(p);
  auto points = parse_points(attr(elements(svg, "path", "series")[0], "data-points"));
  std::vector<std::pair<double, double>> want = {
      {0.1, 0.2}, {1.0 / 3, 2.0 / 3}, {std::numbers::pi, std::exp(1.0)}, {-2.5e17, 4e-320}, {1e-300, -0.0}};
  ASSERT_EQ(points.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(points[i].first, want[i].first);  // bit-exact: shortest round-trip text
    EXPECT_EQ(points[i].second, want[i].second);
  }
}

TEST(PlotSeries, NonFinitePointBreaksTheLine) {
  std::string svg = render_svg(lines_with_gap());
  auto paths = elements(svg, "path", "series");
  ASSERT_EQ(paths.size(), 2u);
  for (const std::string& p : paths) {
    std::string d = attr(p, "d");
    EXPECT_EQ(std::count(d.begin(), d.end(), 'M'), 2) << d;
    EXPECT_EQ(std::count(d.begin(), d.end(), 'L'), 4) << d;  // 7 points, one missing: 2 + 4 segments
  }
}

TEST(PlotSeries, ColoursAreDistinct) {
  Plot p;
  for (int i = 0; i < 7; ++i) p.series.push_back(line(std::to_string(i), {0, 1}, {double(i), double(i + 1)}));
  std::set<std::string> colours;
  for (const std::string& e : elements(render_svg(p), "path", "series")) colours.insert(attr(e, "stroke"));
  EXPECT_EQ(colours.size(), 7u);
}

TEST(PlotSeries, MarkersAndStepArrows) {
  std::string svg = render_svg(markers_and_arrows());
  EXPECT_EQ(elements(svg, "circle").size(), 6u + 1u);  // six points, one legend marker
  std::string heads = attr(elements(svg, "path", "step-arrows").at(0), "d");
  EXPECT_EQ(std::count(heads.begin(), heads.end(), 'Z'), 5);  // one per step
}

TEST(PlotLegend, ShowsEscapedLabelsOfLabelledSeries) {
  std::string svg = render_svg(escaped_text());
  std::vector<std::string> labels = texts(svg, "legend-label");
  ASSERT_EQ(labels.size(), 2u);  // the unlabelled series has no entry
  EXPECT_EQ(labels[0], "loss &lt; 0.5 &amp; &quot;fast&quot;");
  EXPECT_EQ(labels[1], "R&amp;D &lt;b&gt;");
  EXPECT_EQ(unescape(labels[1]), "R&D <b>");
  EXPECT_EQ(texts(svg, "title").at(0), "a &lt; b &amp; c &gt; &quot;d&quot; &apos;e&apos;");
  EXPECT_EQ(texts(svg, "xlabel").at(0), "x&lt;1 &amp; y&gt;2");
  EXPECT_EQ(texts(svg, "ylabel").at(0), "&lt;ylabel/&gt;");
  EXPECT_EQ(svg.find("<ylabel"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
}

TEST(PlotLegend, AbsentWithoutLabels) {
  Plot p;
  p.series.push_back(line("", {0, 1}, {0, 1}));
  std::string svg = render_svg(p);
  EXPECT_TRUE(elements(svg, "g", "legend").empty());
  EXPECT_FALSE(elements(render_svg(lines_with_gap()), "g", "legend").empty());
}

TEST(PlotText, ControlCharactersAndBadUtf8StayWellFormed) {
  Plot p;
  p.title = std::string("bell\x07 and \xff\xfe bytes, caf\xc3\xa9");
  p.series.push_back(line("\x01", {0}, {0}));
  std::string svg = render_svg(p);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_NE(svg.find("caf\xc3\xa9"), std::string::npos);
}

TEST(PlotTicks, NiceOverManyRanges) {
  const std::array<double, 2> ranges[] = {{0, 1},           {-3.7, 12.2}, {1e-7, 3e-7},     {1e6, 5e6},
                                          {-0.001, 0.0005}, {97, 103},    {123456, 123457}, {-1e12, 1e13},
                                          {0.999, 1.001},   {-5, -4.99},  {3e-30, 7e-30}};
  for (auto [lo, hi] : ranges) {
    SCOPED_TRACE(testing::Message() << lo << " .. " << hi);
    Plot p;
    p.limits = std::array<double, 4>{lo, hi, lo, hi};
    std::string svg = render_svg(p);
    EXPECT_EQ(axis_range(svg, "x"), std::make_pair(lo, hi));
    expect_nice_linear_ticks(svg, "x");
    expect_nice_linear_ticks(svg, "y");
    std::vector<std::string> labels = texts(svg, "tick-label");  // the x axis's, then the y axis's
    std::size_t nx = tick_values(svg, "x").size();
    ASSERT_LE(nx, labels.size());
    std::set<std::string> x_labels(labels.begin(), labels.begin() + nx),
        y_labels(labels.begin() + nx, labels.end());
    EXPECT_EQ(x_labels.size(), nx) << "x tick labels repeat";
    EXPECT_EQ(y_labels.size(), labels.size() - nx) << "y tick labels repeat";
    EXPECT_TRUE(well_formed(svg));
  }
}

TEST(PlotTicks, LabelsAreShort) {
  Plot p;
  p.limits = std::array<double, 4>{0, 1, 1e6, 5e6};
  std::string svg = render_svg(p);
  std::vector<std::string> labels = texts(svg, "tick-label");
  EXPECT_NE(std::find(labels.begin(), labels.end(), "0.2"), labels.end());
  EXPECT_NE(std::find(labels.begin(), labels.end(), "2e6"), labels.end());
  EXPECT_EQ(std::find(labels.begin(), labels.end(), "0.20000000000000001"), labels.end());
}

TEST(PlotTicks, DefaultRangeFitsTheDataWithAMargin) {
  Plot p;
  p.series.push_back(line("", {0, 10}, {-1, 1}));
  std::string svg = render_svg(p);
  auto [x0, x1] = axis_range(svg, "x");
  auto [y0, y1] = axis_range(svg, "y");
  EXPECT_DOUBLE_EQ(x0, -0.5);
  EXPECT_DOUBLE_EQ(x1, 10.5);
  EXPECT_DOUBLE_EQ(y0, -1.1);
  EXPECT_DOUBLE_EQ(y1, 1.1);
}

TEST(PlotTicks, InvalidLimitsFallBackToTheData) {
  Plot p;
  p.series.push_back(line("", {0, 10}, {1, 2}));
  p.limits = std::array<double, 4>{1, 1, kNan, 3};
  EXPECT_DOUBLE_EQ(axis_range(render_svg(p), "x").second, 10.5);
}

TEST(PlotLogScale, TicksArePowersOfTenOverManyDecades) {
  std::string svg = render_svg(log_loss());
  std::vector<std::string> axes = elements(svg, "g", "axis");
  ASSERT_EQ(axes.size(), 2u);
  EXPECT_EQ(attr(axes[1], "data-scale"), "log");
  auto [lo, hi] = axis_range(svg, "y");
  EXPECT_LE(lo, 1e-6);
  EXPECT_GE(hi, 1e2);
  std::vector<double> ticks = tick_values(svg, "y");
  EXPECT_GE(ticks.size(), 3u);
  for (double t : ticks) {
    EXPECT_TRUE(is_power_of_10(t)) << t;
    EXPECT_GE(t, lo);
    EXPECT_LE(t, hi);
  }
  EXPECT_NE(svg.find(">1e-6<"), std::string::npos);
  EXPECT_NE(svg.find(">100<"), std::string::npos);
  // Ticks go up the page.
  auto ys = elements(svg, "line", "tick");
  std::vector<double> pixel;
  for (const std::string& e : ys)
    if (attr(e, "data-axis") == "y") pixel.push_back(number(attr(e, "y1")));
  EXPECT_TRUE(std::is_sorted(pixel.rbegin(), pixel.rend()));
}

TEST(PlotLogScale, SmallRangesAdd2And5) {
  Plot p;
  p.log_y = true;
  p.series.push_back(line("", {0, 1, 2}, {2, 9, 40}));
  std::string svg = render_svg(p);
  std::vector<double> ticks = tick_values(svg, "y");
  auto [lo, hi] = axis_range(svg, "y");
  EXPECT_GE(ticks.size(), 3u);
  bool non_power = false;
  for (double t : ticks) {
    EXPECT_TRUE(is_125(t)) << t;
    EXPECT_GE(t, lo);
    EXPECT_LE(t, hi);
    non_power = non_power || !is_power_of_10(t);
  }
  EXPECT_TRUE(non_power);
}

TEST(PlotLogScale, NonPositiveValuesAreSkipped) {
  Plot p;
  p.log_y = true;
  p.series.push_back(line("", {0, 1, 2, 3, 4}, {1, 0, 0.1, -2, 0.01}));
  std::string svg = render_svg(p);
  std::string d = attr(elements(svg, "path", "series")[0], "d");
  EXPECT_EQ(std::count(d.begin(), d.end(), 'M'), 3) << d;  // three lone points
  EXPECT_EQ(parse_points(attr(elements(svg, "path", "series")[0], "data-points")).size(), 5u);
  EXPECT_GT(axis_range(svg, "y").first, 0);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
}

TEST(PlotField, OneBandPathPerLevelAndAColourBar) {
  Plot p = field_with_arrows();
  p.field->levels = 9;
  std::string svg = render_svg(p);
  std::vector<std::string> bands = elements(svg, "path", "band");
  ASSERT_EQ(bands.size(), 9u);
  std::set<std::string> colours;
  for (const std::string& b : bands) {
    colours.insert(attr(b, "fill"));
    EXPECT_FALSE(attr(b, "d").empty());
  }
  EXPECT_EQ(colours.size(), 9u);
  EXPECT_EQ(elements(svg, "path", "isoline").size(), 8u);
  EXPECT_FALSE(elements(svg, "g", "colour-bar").empty());
  std::vector<double> z = tick_values(svg, "z");
  EXPECT_GE(z.size(), 2u);
  for (double v : z) {
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 4 + 4 * 2.25 + 0.5 * 3);
  }
}

// z = x: every vertex of band k lies between the pixel columns of its two edges, and every
// iso-line is vertical at its level.
TEST(PlotField, BandsAndIsolinesFollowALinearField) {
  Plot p;
  Field f{0, 10, 0, 5, 23, 11, {}, 5};
  for (std::size_t j = 0; j < f.ny; ++j)
    for (std::size_t i = 0; i < f.nx; ++i) f.z.push_back(10.0 * i / (f.nx - 1));
  p.field = f;
  std::string svg = render_svg(p);
  Area area = plot_area(svg);
  auto [x0, x1] = axis_range(svg, "x");
  auto pixel = [&](double x) { return area.x + (x - x0) / (x1 - x0) * area.w; };
  std::vector<std::string> bands = elements(svg, "path", "band");
  ASSERT_EQ(bands.size(), 5u);
  for (std::size_t k = 0; k < bands.size(); ++k) {
    double lo = number(attr(bands[k], "data-lo")), hi = number(attr(bands[k], "data-hi"));
    EXPECT_DOUBLE_EQ(lo, 2.0 * k);
    EXPECT_DOUBLE_EQ(hi, 2.0 * (k + 1));
    auto vertices = path_vertices(attr(bands[k], "d"));
    ASSERT_FALSE(vertices.empty());
    double left = 1e9, right = -1e9;
    for (auto [x, y] : vertices) {
      left = std::min(left, x);
      right = std::max(right, x);
      EXPECT_GE(y, area.y - 0.1);
      EXPECT_LE(y, area.y + area.h + 0.1);
    }
    EXPECT_NEAR(left, pixel(lo), 0.11) << "band " << k;
    EXPECT_NEAR(right, pixel(hi), 0.11) << "band " << k;
  }
  for (const std::string& iso : elements(svg, "path", "isoline")) {
    double level = number(attr(iso, "data-level"));
    auto vertices = path_vertices(attr(iso, "d"));
    ASSERT_FALSE(vertices.empty());
    for (auto [x, y] : vertices) EXPECT_NEAR(x, pixel(level), 0.11) << "level " << level;
  }
}

TEST(PlotField, LongestArrowIsOneGridCell) {
  Plot p = field_with_arrows();
  std::string svg = render_svg(p);
  Area area = plot_area(svg);
  auto [x0, x1] = axis_range(svg, "x");
  auto [y0, y1] = axis_range(svg, "y");
  double cell = std::min(0.4 * area.w / (x1 - x0), 0.4 * area.h / (y1 - y0));  // the arrows' 0.4 spacing
  auto shafts = path_vertices(attr(elements(svg, "path", "arrows").at(0), "d"));
  auto heads = path_vertices(attr(elements(svg, "path", "arrowheads").at(0), "d"));
  ASSERT_EQ(shafts.size(), 2 * p.arrows.size());
  ASSERT_EQ(heads.size(), 3 * p.arrows.size());
  double longest = 0;
  for (std::size_t i = 0; i < p.arrows.size(); ++i) {
    auto [bx, by] = shafts[2 * i];
    auto [tx, ty] = heads[3 * i];  // each head starts at its tip
    longest = std::max(longest, std::hypot(tx - bx, ty - by));
    // The arrow points along (dx, -dy) in pixels (y grows downwards).
    const Arrow& a = p.arrows[i];
    double dot = (tx - bx) * a.dx - (ty - by) * a.dy;
    EXPECT_GT(dot, 0) << "arrow " << i;
  }
  EXPECT_NEAR(longest, cell, 0.2);
}

TEST(PlotField, ALoneArrowIsOneFieldCellLong) {
  Plot p;
  p.field = bowl(21, 11);
  p.arrows.push_back({0.5, 0.5, 3, 0});
  std::string svg = render_svg(p);
  Area area = plot_area(svg);
  auto shafts = path_vertices(attr(elements(svg, "path", "arrows").at(0), "d"));
  auto heads = path_vertices(attr(elements(svg, "path", "arrowheads").at(0), "d"));
  ASSERT_EQ(shafts.size(), 2u);
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_NEAR(heads[0].first - shafts[0].first, std::min(area.w / 20, area.h / 10), 0.2);
  EXPECT_NEAR(heads[0].second, shafts[0].second, 0.11);
}

TEST(PlotField, CellsWithNonFiniteCornersStayEmpty) {
  Plot p;
  Field f{0, 2, 0, 1, 3, 2, {0, 1, 2, 0, kNan, 2}, 4};
  p.field = f;
  std::string svg = render_svg(p);
  Area area = plot_area(svg);
  // Both cells touch the nan corner at (1, 1): nothing is filled.
  for (const std::string& b : elements(svg, "path", "band")) EXPECT_EQ(attr(b, "d"), "") << area.w;
  EXPECT_TRUE(well_formed(svg));
}

// ------------------------------------------------------------------------- edge data

constexpr double kMax = 1.7976931348623157e308;  // the largest double
constexpr double kTiny = 4.9406564584124654e-324;  // the smallest positive double

// Where a data point should be drawn, from the axes' data-lo/data-hi, the scale and the plot
// area (spans wider than the largest double are taken in halves).
std::pair<double, double> expected_pixel(const std::string& svg, double x, double y) {
  Area a = plot_area(svg);
  auto frac = [](double v, double lo, double hi) {
    double span = hi - lo, d = v - lo;
    return std::isfinite(span) && std::isfinite(d) ? d / span : (v / 2 - lo / 2) / (hi / 2 - lo / 2);
  };
  auto [x0, x1] = axis_range(svg, "x");
  auto [y0, y1] = axis_range(svg, "y");
  bool log = false;
  for (const std::string& e : elements(svg, "g", "axis"))
    if (attr(e, "data-axis") == "y") log = attr(e, "data-scale") == "log";
  double fy = log ? (std::log10(y) - std::log10(y0)) / (std::log10(y1) - std::log10(y0)) : frac(y, y0, y1);
  return {a.x + frac(x, x0, x1) * a.w, a.y + a.h - fy * a.h};
}

struct EdgeCase {
  std::string name;
  Plot plot;
  std::vector<std::pair<double, double>> diverged;  // the markers' data points, series order
  std::vector<std::string> legend;                  // legend labels, unescaped
  std::vector<std::string> notes;                   // legend notes, unescaped
};

Plot one(std::vector<double> x, std::vector<double> y, bool log, std::string label = "s") {
  Plot p;
  p.log_y = log;
  p.series.push_back(line(std::move(label), std::move(x), std::move(y)));
  return p;
}

std::vector<double> count(std::size_t n) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i);
  return x;
}

// L(w) = w^2 under gradient descent from w = 1 at rate lr, as `gradc sweep` records it: every
// loss up to and including the first non-finite one.
std::vector<double> descent_losses(double lr, int steps) {
  std::vector<double> loss;
  double w = 1;
  for (int t = 0; t <= steps; ++t) {
    loss.push_back(w * w);
    if (!std::isfinite(loss.back())) break;
    w -= lr * 2 * w;
  }
  return loss;
}

std::vector<EdgeCase> edge_cases() {
  const std::vector<double> decades = {1e-300, 1e-250, 1e-200, 1e-150, 1e-100, 1e-50, 1,
                                       1e50,   1e100,  1e150,  1e200,  1e250,  1e300, 1e308};
  std::vector<EdgeCase> cases;
  cases.push_back({"tiny_to_huge_log", one(count(decades.size()), decades, true), {}, {"s"}, {}});
  cases.push_back({"tiny_to_huge_linear", one(count(decades.size()), decades, false), {}, {"s"}, {}});
  cases.push_back({"widest_linear", one({-kMax, 0, kMax, 1}, {-kMax, 0, kMax, -1e308}, false), {}, {"s"}, {}});
  cases.push_back({"zeros_and_negatives_log",
                   one(count(6), {1, 0, 0.5, -2, 0.1, 0}, true),
                   {},
                   {"s"},
                   {"s: 3 values ≤ 0 left out (log scale)"}});
  cases.push_back({"unlabelled_zero_log", one({0, 1, 2}, {0, 2, 4}, true, ""), {}, {},
                   {"1 value ≤ 0 left out (log scale)"}});
  cases.push_back({"only_nonpositive_log", one({0, 1}, {0, -1}, true, "z"), {}, {"z"},
                   {"z: 2 values ≤ 0 left out (log scale)"}});
  cases.push_back({"single_point_huge", one({3}, {1e308}, false), {}, {"s"}, {}});
  cases.push_back({"single_point_max", one({kMax}, {kMax}, false), {}, {"s"}, {}});
  cases.push_back({"single_point_tiny_log", one({3}, {1e-300}, true), {}, {"s"}, {}});
  cases.push_back({"single_subnormal", one({0}, {kTiny}, false), {}, {"s"}, {}});
  cases.push_back({"single_subnormal_log", one({0}, {kTiny}, true), {}, {"s"}, {}});
  cases.push_back({"all_equal", one(count(4), {7, 7, 7, 7}, false), {}, {"s"}, {}});
  cases.push_back({"all_equal_max", one(count(3), {kMax, kMax, kMax}, false), {}, {"s"}, {}});
  cases.push_back({"all_equal_max_log", one(count(3), {kMax, kMax, kMax}, true), {}, {"s"}, {}});
  cases.push_back({"all_zero", one(count(3), {0, 0, 0}, false), {}, {"s"}, {}});
  cases.push_back({"nan_and_inf_gaps", one(count(7), {1, kNan, 2, kInf, 3, -kInf, 4}, false), {}, {"s"}, {}});
  cases.push_back({"diverges_linear", one(count(5), {1, 2, 4, 8, kInf}, false, "run"), {{3, 8}},
                   {"run (diverged)"}, {}});
  cases.push_back({"diverges_to_nan_unlabelled", one(count(4), {1, 3, kNan, kNan}, false, ""), {{1, 3}},
                   {"diverged"}, {}});
  {
    std::vector<double> y = descent_losses(1.1, 2000);
    double last = y[y.size() - 2];
    cases.push_back({"diverges_past_1e306_log", one(count(y.size()), y, true, "lr 1.1 (diverged)"),
                     {{static_cast<double>(y.size() - 2), last}}, {"lr 1.1 (diverged)"}, {}});
  }
  cases.push_back({"diverges_after_zero_log", one(count(4), {1, 0.5, 0, kInf}, true, "z"), {{1, 0.5}},
                   {"z (diverged)"}, {"z: 1 value ≤ 0 left out (log scale)"}});
  {
    // `gradc sweep examples/learning_rate.grad --lr 0.1,1.1 --epochs 2000`: one run underflows
    // to 0 through the subnormals, the other passes 1e306 and overflows.
    Plot p;
    p.log_y = true;
    std::vector<double> a = descent_losses(0.1, 2000), b = descent_losses(1.1, 2000);
    std::size_t zeros = std::count(a.begin(), a.end(), 0.0);
    p.series.push_back(line("lr 0.1 (converged)", count(a.size()), a));
    p.series.push_back(line("lr 1.1 (diverged)", count(b.size()), b));
    cases.push_back({"sweep_underflow_and_overflow", p,
                     {{static_cast<double>(b.size() - 2), b[b.size() - 2]}},
                     {"lr 0.1 (converged)", "lr 1.1 (diverged)"},
                     {"lr 0.1 (converged): " + std::to_string(zeros) + " values ≤ 0 left out (log scale)"}});
  }
  return cases;
}

TEST(PlotEdgeData, EveryFinitePointIsDrawnWhereItBelongs) {
  for (const EdgeCase& c : edge_cases()) {
    SCOPED_TRACE(c.name);
    std::string svg;
    ASSERT_NO_THROW(svg = render_svg(c.plot));
    EXPECT_TRUE(well_formed(svg));
    for (std::string bad : {"nan", "NaN", "inf", "Inf", "INF"}) EXPECT_EQ(svg.find(bad), std::string::npos) << bad;
    Area area = plot_area(svg);
    std::vector<std::string> paths = elements(svg, "path", "series");
    ASSERT_EQ(paths.size(), c.plot.series.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const Series& s = c.plot.series[i];
      std::vector<std::pair<double, double>> finite, drawn;
      for (std::size_t k = 0; k < s.x.size(); ++k) {
        if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) continue;
        finite.emplace_back(s.x[k], s.y[k]);
        if (!c.plot.log_y || s.y[k] > 0) drawn.emplace_back(s.x[k], s.y[k]);
      }
      EXPECT_EQ(parse_points(attr(paths[i], "data-points")), finite) << "series " << i;
      auto vertices = path_vertices(attr(paths[i], "d"));
      ASSERT_EQ(vertices.size(), drawn.size()) << "series " << i;
      for (std::size_t k = 0; k < drawn.size(); ++k) {
        auto [want_x, want_y] = expected_pixel(svg, drawn[k].first, drawn[k].second);
        EXPECT_NEAR(vertices[k].first, want_x, 0.16) << "series " << i << " point " << k;
        EXPECT_NEAR(vertices[k].second, want_y, 0.16) << "series " << i << " point " << k;
        // Inside the plot area: the axes cover every point.
        EXPECT_GE(vertices[k].first, area.x - 0.1);
        EXPECT_LE(vertices[k].first, area.x + area.w + 0.1);
        EXPECT_GE(vertices[k].second, area.y - 0.1);
        EXPECT_LE(vertices[k].second, area.y + area.h + 0.1);
      }
    }
    // A diverged curve ends in a cross at its last finite value.
    std::vector<std::string> markers = elements(svg, "path", "diverged");
    ASSERT_EQ(markers.size(), c.diverged.size());
    for (std::size_t k = 0; k < markers.size(); ++k) {
      EXPECT_EQ(number(attr(markers[k], "data-x")), c.diverged[k].first);
      EXPECT_EQ(number(attr(markers[k], "data-y")), c.diverged[k].second);
      auto v = path_vertices(attr(markers[k], "d"));
      ASSERT_EQ(v.size(), 4u);
      auto [want_x, want_y] = expected_pixel(svg, c.diverged[k].first, c.diverged[k].second);
      EXPECT_NEAR((v[0].first + v[1].first) / 2, want_x, 0.16);
      EXPECT_NEAR((v[0].second + v[1].second) / 2, want_y, 0.16);
    }
    std::vector<std::string> legend, notes;
    for (const std::string& t : texts(svg, "legend-label")) legend.push_back(unescape(t));
    for (const std::string& t : texts(svg, "legend-note")) notes.push_back(unescape(t));
    EXPECT_EQ(legend, c.legend);
    EXPECT_EQ(notes, c.notes);
  }
}

TEST(PlotEdgeData, TicksAreDistinctAndInsideTheRange) {
  for (const EdgeCase& c : edge_cases()) {
    SCOPED_TRACE(c.name);
    std::string svg = render_svg(c.plot);
    for (std::string axis : {"x", "y"}) {
      SCOPED_TRACE("axis " + axis);
      std::vector<double> ticks = tick_values(svg, axis);
      auto [lo, hi] = axis_range(svg, axis);
      EXPECT_LT(lo, hi);
      EXPECT_TRUE(std::isfinite(lo) && std::isfinite(hi));
      EXPECT_GE(ticks.size(), 2u);
      for (double t : ticks) {
        EXPECT_GE(t, lo);
        EXPECT_LE(t, hi);
      }
      EXPECT_EQ(std::set<double>(ticks.begin(), ticks.end()).size(), ticks.size());
    }
    std::vector<std::string> labels = texts(svg, "tick-label");
    for (const std::string& l : labels) EXPECT_FALSE(l.empty());
  }
}

TEST(PlotEdgeData, LogAxisOverEveryDoubleShowsPowersOfTen) {
  std::vector<double> y = descent_losses(1.1, 2000);
  std::string svg = render_svg(one(count(y.size()), y, true));
  auto [lo, hi] = axis_range(svg, "y");
  EXPECT_EQ(hi, kMax);  // the 5% margin stops at the largest double
  for (double t : tick_values(svg, "y")) EXPECT_TRUE(is_power_of_10(t)) << t;
  std::vector<std::string> labels = texts(svg, "tick-label");
  EXPECT_NE(std::find(labels.begin(), labels.end(), "1e300"), labels.end());
}

// `gradc sweep` on runs that diverge past 1e306 and underflow to 0: exit 0 and every curve drawn.
std::string run_sweep(const std::string& args, const std::string& name) {
  std::string svg_path = ::testing::TempDir() + "gradc_" + name + "_" + std::to_string(::getpid()) + ".svg";
  std::string command = std::string(GRADC_BINARY) + " sweep " + GRADC_SOURCE_DIR + "/" + args + " -o " + svg_path +
                        " > /dev/null";
  int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  std::ifstream in(svg_path);
  std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(svg_path);
  return svg;
}

void expect_every_curve_drawn(const std::string& svg, const std::vector<std::string>& labels,
                              const std::vector<std::string>& diverged) {
  EXPECT_TRUE(well_formed(svg));
  std::vector<std::string> paths = elements(svg, "path", "series");
  ASSERT_EQ(paths.size(), labels.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(attr(paths[i], "data-label"), labels[i]);
    std::size_t drawn = 0;
    for (auto [x, y] : parse_points(attr(paths[i], "data-points"))) drawn += y > 0;  // a log axis
    EXPECT_GT(drawn, 1u) << labels[i];
    EXPECT_EQ(path_vertices(attr(paths[i], "d")).size(), drawn) << labels[i];
  }
  std::vector<std::string> markers;
  for (const std::string& m : elements(svg, "path", "diverged")) markers.push_back(attr(m, "data-label"));
  EXPECT_EQ(markers, diverged);
}

TEST(PlotCli, SweepPastTheLargestDoubleDrawsEveryCurve) {
  std::string svg = run_sweep("examples/learning_rate.grad --lr 0.1,1.1 --epochs 2000", "sweep_long");
  expect_every_curve_drawn(svg, {"lr 0.1 (converged)", "lr 1.1 (diverged)"}, {"lr 1.1 (diverged)"});
  // The runs in the test's own arithmetic: w <- w - lr 2w from w = 1, loss w^2.
  std::vector<double> slow = descent_losses(0.1, 2000), fast = descent_losses(1.1, 2000);
  std::vector<std::string> notes = texts(svg, "legend-note");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], fmt::format("lr 0.1 (converged): {} values ≤ 0 left out (log scale)",
                                  std::count(slow.begin(), slow.end(), 0.0)));
  auto markers = elements(svg, "path", "diverged");
  ASSERT_EQ(markers.size(), 1u);
  ASSERT_FALSE(std::isfinite(fast.back()));
  EXPECT_EQ(number(attr(markers[0], "data-x")), static_cast<double>(fast.size() - 2));
  EXPECT_EQ(number(attr(markers[0], "data-y")), fast[fast.size() - 2]);
}

TEST(PlotCli, SweepOfATrainingProgramThatDivergesDrawsEveryCurve) {
  std::string svg = run_sweep("examples/xor.grad --lr 0.01,0.2,0.8,5", "sweep_xor");
  expect_every_curve_drawn(svg, {"lr 0.01 (slow)", "lr 0.2 (oscillating)", "lr 0.8 (diverged)", "lr 5 (diverged)"},
                           {"lr 0.8 (diverged)", "lr 5 (diverged)"});
}

TEST(PlotField, BandsSpanEveryDouble) {
  Plot p;
  p.field = Field{0, 1, 0, 1, 2, 2, {-kMax, kMax, -kMax, kMax}, 4};
  std::string svg = render_svg(p);
  EXPECT_TRUE(well_formed(svg));
  std::vector<std::string> bands = elements(svg, "path", "band");
  ASSERT_EQ(bands.size(), 4u);
  const double edges[] = {-kMax, -kMax / 2, 0, kMax / 2, kMax};
  for (std::size_t k = 0; k < bands.size(); ++k) {
    EXPECT_DOUBLE_EQ(number(attr(bands[k], "data-lo")), edges[k]);
    EXPECT_DOUBLE_EQ(number(attr(bands[k], "data-hi")), edges[k + 1]);
    EXPECT_FALSE(attr(bands[k], "d").empty()) << "band " << k;
  }
}

TEST(PlotErrors, RejectsMismatchedShapes) {
  Plot p;
  p.series.push_back(line("bad", {0, 1, 2}, {0, 1}));
  EXPECT_THROW(render_svg(p), std::invalid_argument);
  Plot q;
  q.field = Field{0, 1, 0, 1, 3, 3, std::vector<double>(8, 0.0)};
  EXPECT_THROW(render_svg(q), std::invalid_argument);
  q.field = Field{0, 1, 0, 1, 1, 3, std::vector<double>(3, 0.0)};
  EXPECT_THROW(render_svg(q), std::invalid_argument);
  q.field = Field{0, kInf, 0, 1, 2, 2, std::vector<double>(4, 0.0)};
  EXPECT_THROW(render_svg(q), std::invalid_argument);
}

}  // namespace
}  // namespace gradc::test
