// The SVG plots: well-formed XML (checked by Python's parser), series points that read back
// exactly, legends, escaping, no nan/inf, nice linear and log ticks, contour bands and arrows.
#include <gtest/gtest.h>
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
#include "support/svg.hpp"

namespace gradc::test {
namespace {

// ------------------------------------------------------------------------- sample plots


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

// A loss that reaches exactly 0 stays on the plot: drawn down to the floor and marked there.
TEST(PlotLogScale, ZeroIsDrawnAtTheFloorAndNegativesAreSkipped) {
  Plot p;
  p.log_y = true;
  p.series.push_back(line("", {0, 1, 2, 3, 4}, {1, 0, 0.1, -2, 0.01}));
  std::string svg = render_svg(p);
  std::string d = attr(elements(svg, "path", "series")[0], "d");
  EXPECT_EQ(std::count(d.begin(), d.end(), 'M'), 2) << d;  // 1, 0, 0.1 joined; 0.01 alone
  std::vector<std::string> zero = elements(svg, "path", "zero");
  ASSERT_EQ(zero.size(), 1u);
  EXPECT_EQ(attr(zero[0], "data-x"), "1");
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
