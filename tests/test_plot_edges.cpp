// Plots of edge data: values from the smallest subnormal to the largest double, zeros and
// negatives on a log axis, single points, equal values, nan and inf, curves that diverge; and
// the sweeps and descents of the CLI that produce them. Every finite point is drawn where it
// belongs, a diverged curve ends in a marker, and the legend says what was left out.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include "runtime/plot.hpp"
#include "support/svg.hpp"

namespace gradc::test {
namespace {

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
                   {"s: 1 value < 0 left out (log scale)", "s: reaches 0 at x = 1, drawn at the axis floor (▼)"}});
  cases.push_back({"unlabelled_zero_log", one({0, 1, 2}, {0, 2, 4}, true, ""), {}, {},
                   {"reaches 0 at x = 0, drawn at the axis floor (▼)"}});
  cases.push_back({"only_nonpositive_log", one({0, 1}, {0, -1}, true, "z"), {}, {"z"},
                   {"z: 1 value < 0 left out (log scale)", "z: reaches 0 at x = 0, drawn at the axis floor (▼)"}});
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
  cases.push_back({"diverges_after_zero_log", one(count(4), {1, 0.5, 0, kInf}, true, "z"), {{2, 0}},
                   {"z (diverged)"}, {"z: reaches 0 at x = 2, drawn at the axis floor (▼)"}});
  {
    // `gradc sweep examples/learning_rate.grad --lr 0.1,1.1 --epochs 2000`: one run underflows
    // to 0 through the subnormals, the other passes 1e306 and overflows.
    Plot p;
    p.log_y = true;
    std::vector<double> a = descent_losses(0.1, 2000), b = descent_losses(1.1, 2000);
    std::size_t first_zero = static_cast<std::size_t>(std::find(a.begin(), a.end(), 0.0) - a.begin());
    p.series.push_back(line("lr 0.1 (converged)", count(a.size()), a));
    p.series.push_back(line("lr 1.1 (diverged)", count(b.size()), b));
    cases.push_back({"sweep_underflow_and_overflow", p,
                     {{static_cast<double>(b.size() - 2), b[b.size() - 2]}},
                     {"lr 0.1 (converged)", "lr 1.1 (diverged)"},
                     {"lr 0.1 (converged): reaches 0 at x = " + std::to_string(first_zero) +
                      ", drawn at the axis floor (▼)"}});
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
        // On a log axis 0 is drawn at the floor, the axis' low end; values below 0 are left out.
        if (!c.plot.log_y || s.y[k] > 0) drawn.emplace_back(s.x[k], s.y[k]);
        if (c.plot.log_y && s.y[k] == 0) drawn.emplace_back(s.x[k], axis_range(svg, "y").first);
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
      double y = c.plot.log_y && c.diverged[k].second == 0 ? axis_range(svg, "y").first : c.diverged[k].second;
      auto [want_x, want_y] = expected_pixel(svg, c.diverged[k].first, y);
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
std::string run_plot(const std::string& command_name, const std::string& args, const std::string& name) {
  std::string svg_path = ::testing::TempDir() + "gradc_" + name + "_" + std::to_string(::getpid()) + ".svg";
  std::string command = std::string(GRADC_BINARY) + " " + command_name + " " + GRADC_SOURCE_DIR + "/" + args + " -o " + svg_path +
                        " > /dev/null";
  int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  std::ifstream in(svg_path);
  std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(svg_path);
  return svg;
}

std::string run_sweep(const std::string& args, const std::string& name) { return run_plot("sweep", args, name); }

void expect_every_curve_drawn(const std::string& svg, const std::vector<std::string>& labels,
                              const std::vector<std::string>& diverged) {
  EXPECT_TRUE(well_formed(svg));
  std::vector<std::string> paths = elements(svg, "path", "series");
  ASSERT_EQ(paths.size(), labels.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(attr(paths[i], "data-label"), labels[i]);
    std::size_t drawn = 0;
    for (auto [x, y] : parse_points(attr(paths[i], "data-points"))) drawn += y >= 0;  // a log axis: 0 at its floor
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
  EXPECT_EQ(notes[0], fmt::format("lr 0.1 (converged): reaches 0 at x = {}, drawn at the axis floor (▼)",
                                  std::find(slow.begin(), slow.end(), 0.0) - slow.begin()));
  auto zero = elements(svg, "path", "zero");
  ASSERT_EQ(zero.size(), 1u);
  EXPECT_EQ(attr(zero[0], "data-label"), "lr 0.1 (converged)");
  auto markers = elements(svg, "path", "diverged");
  ASSERT_EQ(markers.size(), 1u);
  ASSERT_FALSE(std::isfinite(fast.back()));
  EXPECT_EQ(number(attr(markers[0], "data-x")), static_cast<double>(fast.size() - 2));
  EXPECT_EQ(number(attr(markers[0], "data-y")), fast[fast.size() - 2]);
}

TEST(PlotCli, SweepOfATrainingProgramThatDivergesDrawsEveryCurve) {
  std::string svg = run_sweep("examples/xor.grad --lr 0.01,0.2,0.8,5", "sweep_xor");
  expect_every_curve_drawn(svg, {"lr 0.01 (slow)", "lr 0.2 (converged)", "lr 0.8 (diverged)", "lr 5 (diverged)"},
                           {"lr 0.8 (diverged)", "lr 5 (diverged)"});
}

// Descent that diverges: the steps stop at the last finite point, marked; the curve L(w), which
// overflows where the steps went, is a function and is not marked.
TEST(PlotCli, DescentThatDivergesMarksItsLastStep) {
  std::string one = run_plot("descent", "examples/learning_rate.grad --lr 1.1 --steps 2000", "descent_one");
  EXPECT_TRUE(well_formed(one));
  std::vector<std::string> markers = elements(one, "path", "diverged");
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_EQ(attr(markers[0], "data-label"), "steps from w = 1");
  // w(t) = (-1.2)^t in the test's arithmetic: the last step with a finite loss w^2.
  double w = 1, last = 1;
  for (int t = 0; t < 2000 && std::isfinite(w * w); ++t) {
    last = w;
    w -= 1.1 * 2 * w;
  }
  EXPECT_EQ(number(attr(markers[0], "data-x")), last);
  EXPECT_EQ(number(attr(markers[0], "data-y")), last * last);
  std::vector<std::string> legend;
  for (const std::string& t : texts(one, "legend-label")) legend.push_back(unescape(t));
  EXPECT_EQ(legend, (std::vector<std::string>{"L(w)", "steps from w = 1 (diverged)"}));

  std::string two = run_plot("descent", "examples/two_weights.grad --lr 5 --from 0.5,-0.5 --steps 2000", "descent_two");
  EXPECT_TRUE(well_formed(two));
  markers = elements(two, "path", "diverged");
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_EQ(attr(markers[0], "data-label"), "from (0.5, -0.5)");
  auto points = parse_points(attr(elements(two, "path", "series").at(0), "data-points"));
  ASSERT_FALSE(points.empty());
  EXPECT_EQ(number(attr(markers[0], "data-x")), points.back().first);
  EXPECT_EQ(number(attr(markers[0], "data-y")), points.back().second);
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

}  // namespace
}  // namespace gradc::test
