// Renders a gradc::Plot as standalone SVG text: scales, nice ticks, axes, filled contour bands
// with a colour bar, gradient-field arrows, series (lines, markers, step arrows) and a legend.
#include "runtime/plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "runtime/plot_scale.hpp"

namespace gradc {
namespace {

using namespace plot;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTitleFont = 15;

// ------------------------------------------------------------------------- colours

// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
constexpr std::array<const char*, 8> kPalette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                 "#E69F00", "#56B4E9", "#000000", "#F0E442"};

std::string series_colour(const Series& s, std::size_t index) {
  return s.colour.empty() ? kPalette[index % kPalette.size()] : escape(s.colour);
}

// Viridis at t in [0, 1], lightened towards white so lines and arrows stay visible on top.
std::string sequential_colour(double t) {
  static constexpr int kViridis[11][3] = {{68, 1, 84},    {72, 36, 117},  {65, 68, 135},  {53, 95, 141},
                                          {42, 120, 142}, {33, 145, 140}, {34, 168, 132}, {68, 191, 112},
                                          {122, 209, 81}, {189, 223, 38}, {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 10;
  int i = std::min(9, static_cast<int>(t));
  double u = t - i;
  int rgb[3];
  for (int c = 0; c < 3; ++c) {
    double v = kViridis[i][c] + u * (kViridis[i + 1][c] - kViridis[i][c]);
    rgb[c] = static_cast<int>(std::lround(v + (255 - v) * 0.3));
  }
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

// ------------------------------------------------------------------------- contour bands

// Equal-width bands between the finite minimum and maximum of z.
struct Bands {
  double zmin = 0, zmax = 0;
  int n = 1;
  bool log = false;  // Field::log_levels
  static constexpr double kLogDecades = 6;
  double edge(int k) const {
    if (k == n) return zmax;
    if (log && k > 0) return zmin + (zmax - zmin) * std::pow(10.0, -kLogDecades * (n - k) / n);
    double span = zmax - zmin, t = static_cast<double>(k) / n;  // a span over the largest double
    return std::isfinite(span) ? zmin + k * span / n : zmin * (1 - t) + zmax * t;  // (-1e308 to 1e308)
  }
  int of(double z) const {
    if (zmax == zmin) return 0;
    if (log) {
      double d = (z - zmin) / (zmax - zmin);
      if (!(d > 0)) return 0;
      return std::clamp(static_cast<int>(std::floor(n + n * std::log10(d) / kLogDecades)), 0, n - 1);
    }
    return std::clamp(static_cast<int>(std::floor(fraction(z, zmin, zmax) * n)), 0, n - 1);
  }
  std::string colour(int k) const { return sequential_colour(n == 1 ? 0.5 : (k + 0.5) / n); }
};

std::optional<Bands> make_bands(const Field& field) {
  std::optional<Bands> b;
  for (double z : field.z) {
    if (!std::isfinite(z)) continue;
    if (!b) b = Bands{z, z, 1};
    b->zmin = std::min(b->zmin, z);
    b->zmax = std::max(b->zmax, z);
  }
  if (b) b->n = b->zmax > b->zmin ? std::clamp(field.levels, 1, 256) : 1;
  if (b) b->log = field.log_levels && std::isfinite(b->zmax - b->zmin);
  return b;
}

struct Vertex {
  double x, y, z;  // pixels, pixels, field value
};
using Polygon = std::vector<Vertex>;

// The part of a convex polygon (z linear over it) where sign × (z - level) >= 0.
Polygon clip(const Polygon& poly, double level, double sign) {
  Polygon out;
  for (std::size_t i = 0; i < poly.size(); ++i) {
    const Vertex& p = poly[i];
    const Vertex& q = poly[(i + 1) % poly.size()];
    bool p_in = sign * (p.z - level) >= 0, q_in = sign * (q.z - level) >= 0;
    if (p_in) out.push_back(p);
    if (p_in != q_in) {
      double t = fraction(level, p.z, q.z);
      out.push_back({p.x + t * (q.x - p.x), p.y + t * (q.y - p.y), level});
    }
  }
  return out;
}

void append_polygon(std::string& d, const Polygon& poly) {
  if (poly.size() < 3) return;
  for (std::size_t i = 0; i < poly.size(); ++i)
    emit(d, "{}{} {}", i == 0 ? 'M' : 'L', px(poly[i].x), px(poly[i].y));
  d += 'Z';
}

// Paths being built for the field: one filled path per band, one iso-line path per inner edge.
struct ContourPaths {
  std::vector<std::string> fill, iso;
};

// A triangle of a mixed cell: its piece of each band it spans, and its iso-line segments.
void contour_triangle(const Bands& b, const Polygon& tri, ContourPaths& paths) {
  auto [lo, hi] = std::minmax({tri[0].z, tri[1].z, tri[2].z});
  for (int k = b.of(lo); k <= b.of(hi); ++k) {
    Polygon piece = tri;
    if (k > 0) piece = clip(piece, b.edge(k), +1);
    if (k < b.n - 1) piece = clip(piece, b.edge(k + 1), -1);
    append_polygon(paths.fill[k], piece);
  }
  for (int k = 1; k < b.n; ++k) {
    double level = b.edge(k);
    std::vector<Vertex> cut;
    for (int i = 0; i < 3; ++i) {
      const Vertex& p = tri[i];
      const Vertex& q = tri[(i + 1) % 3];
      if ((p.z >= level) != (q.z >= level)) {
        double t = fraction(level, p.z, q.z);
        cut.push_back({p.x + t * (q.x - p.x), p.y + t * (q.y - p.y), level});
      }
    }
    if (cut.size() == 2)
      emit(paths.iso[k], "M{} {}L{} {}", px(cut[0].x), px(cut[0].y), px(cut[1].x), px(cut[1].y));
  }
}

// Filled bands by marching triangles: a cell whose corners all lie in one band joins a run of
// such cells drawn as one rectangle; any other cell is split into two triangles, each clipped
// to every band it spans (z interpolated linearly). Cells with a non-finite corner stay empty.
ContourPaths contour(const Field& field, const Bands& b, const Scale& sx, const Scale& sy) {
  const std::size_t nx = field.nx, ny = field.ny;
  std::vector<double> X(nx), Y(ny);
  std::vector<bool> row_ok(ny);
  for (std::size_t i = 0; i < nx; ++i)
    X[i] = sx(field.x0 + static_cast<double>(i) * (field.x1 - field.x0) / static_cast<double>(nx - 1));
  for (std::size_t j = 0; j < ny; ++j) {
    double y = field.y0 + static_cast<double>(j) * (field.y1 - field.y0) / static_cast<double>(ny - 1);
    row_ok[j] = sy.valid(y);
    Y[j] = row_ok[j] ? sy(y) : 0;
  }
  ContourPaths paths{std::vector<std::string>(b.n), std::vector<std::string>(b.n)};
  for (std::size_t j = 0; j + 1 < ny; ++j) {
    int run_band = -1;
    double run_x0 = 0, run_x1 = 0;
    auto flush = [&] {
      if (run_band >= 0)
        emit(paths.fill[run_band], "M{} {}H{}V{}H{}Z", px(run_x0), px(Y[j]), px(run_x1), px(Y[j + 1]),
             px(run_x0));
      run_band = -1;
    };
    for (std::size_t i = 0; i + 1 < nx; ++i) {
      Vertex c[4] = {{X[i], Y[j], field.z[j * nx + i]},
                     {X[i + 1], Y[j], field.z[j * nx + i + 1]},
                     {X[i + 1], Y[j + 1], field.z[(j + 1) * nx + i + 1]},
                     {X[i], Y[j + 1], field.z[(j + 1) * nx + i]}};
      bool ok = row_ok[j] && row_ok[j + 1];
      for (const Vertex& v : c) ok = ok && std::isfinite(v.z);
      if (!ok) {
        flush();
        continue;
      }
      int band = b.of(c[0].z);
      if (b.of(c[1].z) == band && b.of(c[2].z) == band && b.of(c[3].z) == band) {
        if (run_band != band) {
          flush();
          run_band = band;
          run_x0 = X[i];
        }
        run_x1 = X[i + 1];
        continue;
      }
      flush();
      contour_triangle(b, {c[0], c[1], c[2]}, paths);
      contour_triangle(b, {c[0], c[2], c[3]}, paths);
    }
    flush();
  }
  return paths;
}

// ------------------------------------------------------------------------- layout

struct Frame {
  double left, top, width, height;  // the plot area in pixels
  Scale x, y;
  std::vector<Tick> xticks, yticks;
  Scale bar;  // the colour bar's scale (when there is a field)
  std::vector<Tick> bar_ticks;
  double bar_left = 0;
};

constexpr double kBarGap = 14, kBarWidth = 14, kTickLength = 5;

// Margins sized to the title, labels and tick labels; the ticks themselves.
Frame layout(const Plot& plot, double W, double H, Range rx, Range ry, const Bands* bands) {
  Frame f{};
  f.top = plot.title.empty() ? 14 : 38;
  double bottom = 32 + (plot.xlabel.empty() ? 0 : 20);
  f.height = std::max(40.0, H - f.top - bottom);
  f.y = Scale{ry.lo, ry.hi, plot.log_y, f.top + f.height, f.top};
  f.yticks = ticks_for(f.y, std::max(2, static_cast<int>(f.height / 50)));
  f.left = 10 + (plot.ylabel.empty() ? 0 : 22) + widest(f.yticks) + kTickLength + 4;
  double right = 16;
  if (bands) {
    f.bar = Scale{bands->zmin, bands->zmax, false, f.top + f.height, f.top};
    f.bar_ticks = linear_ticks(bands->zmin, bands->zmax, std::max(2, static_cast<int>(f.height / 40)));
    if (bands->log) {  // the bar's bands are equal in height: ticks at band edges, by index
      f.bar = Scale{0, static_cast<double>(bands->n), false, f.top + f.height, f.top};
      f.bar_ticks.clear();
      int every = std::max(1, bands->n * 40 / std::max(40, static_cast<int>(f.height)));
      for (int k = 0; k <= bands->n; k += every) f.bar_ticks.push_back({static_cast<double>(k), fmt::format("{:.3g}", bands->edge(k))});
    }
    if (f.bar_ticks.empty()) f.bar_ticks.push_back({bands->zmin, shortest(bands->zmin)});
    right = kBarGap + kBarWidth + kTickLength + 4 + widest(f.bar_ticks) + 10;
  }
  f.width = std::max(40.0, W - f.left - right);
  f.bar_left = f.left + f.width + kBarGap;
  f.x = Scale{rx.lo, rx.hi, false, f.left, f.left + f.width};
  // As many x ticks as fit side by side without their labels touching.
  for (int target = std::max(2, static_cast<int>(f.width / 90)); target >= 2; --target) {
    f.xticks = ticks_for(f.x, target);
    if ((widest(f.xticks) + 14) * static_cast<double>(f.xticks.size()) <= f.width) break;
  }
  return f;
}

// ------------------------------------------------------------------------- drawing

void draw_grid(std::string& out, const Frame& f) {
  out += "<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n";
  for (const Tick& t : f.xticks)
    emit(out, "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", px(f.x(t.value)), px(f.top),
         px(f.top + f.height));
  for (const Tick& t : f.yticks)
    emit(out, "<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\"/>\n", px(f.y(t.value)), px(f.left),
         px(f.left + f.width));
  out += "</g>\n";
}

void draw_field(std::string& out, const Field& field, const Bands& b, const Frame& f) {
  ContourPaths paths = contour(field, b, f.x, f.y);
  out += "<g class=\"field\">\n";
  for (int k = 0; k < b.n; ++k) {
    std::string colour = b.colour(k);
    emit(out,
         "<path class=\"band\" data-band=\"{}\" data-lo=\"{}\" data-hi=\"{}\" fill=\"{}\" stroke=\"{}\" "
         "stroke-width=\"0.6\" stroke-linejoin=\"round\" d=\"{}\"/>\n",
         k, shortest(b.edge(k)), shortest(b.edge(k + 1)), colour, colour, paths.fill[k]);
  }
  for (int k = 1; k < b.n; ++k)
    emit(out,
         "<path class=\"isoline\" data-level=\"{}\" fill=\"none\" stroke=\"#000000\" stroke-opacity=\"0.3\" "
         "stroke-width=\"0.6\" d=\"{}\"/>\n",
         shortest(b.edge(k)), paths.iso[k]);
  out += "</g>\n";
}

// A filled arrowhead with its tip at (x1, y1), pointing away from (x0, y0).
void append_head(std::string& d, double x0, double y0, double x1, double y1, double size) {
  double dx = x1 - x0, dy = y1 - y0, len = std::hypot(dx, dy);
  if (!(len > 0)) return;
  double ux = dx / len, uy = dy / len, bx = x1 - ux * size, by = y1 - uy * size, w = size * 0.45;
  emit(d, "M{} {}L{} {}L{} {}Z", px(x1), px(y1), px(bx - uy * w), px(by + ux * w), px(bx + uy * w),
       px(by - ux * w));
}

// The cell size of the grid the arrows sit on, in pixels: the median distance from an arrow to
// its nearest neighbour (for a lattice, the smaller of its two spacings); 0 for a single arrow.
double grid_cell(const std::vector<std::pair<double, double>>& bases, const Frame& f) {
  const std::size_t n = bases.size();
  if (n < 2) return 0;
  if (n > 4000) return std::sqrt(f.width * f.height / static_cast<double>(n));  // keep it O(n^2) small
  std::vector<double> nearest;
  for (std::size_t i = 0; i < n; ++i) {
    double best = kInf;
    for (std::size_t j = 0; j < n; ++j) {
      double d = std::hypot(bases[i].first - bases[j].first, bases[i].second - bases[j].second);
      if (j != i && d > 0.5) best = std::min(best, d);  // arrows at the same pixel are one point
    }
    if (std::isfinite(best)) nearest.push_back(best);
  }
  if (nearest.empty()) return 0;
  std::nth_element(nearest.begin(), nearest.begin() + nearest.size() / 2, nearest.end());
  return nearest[nearest.size() / 2];
}

// The gradient field: each arrow in pixels, scaled so the longest is one cell of the arrows' grid
// long (of the field's grid for a single arrow).
void draw_arrows(std::string& out, const Plot& plot, const Frame& f) {
  struct Pixel {
    double x, y, dx, dy;
  };
  std::vector<Pixel> arrows;
  double longest = 0;
  for (const Arrow& a : plot.arrows) {
    if (!f.x.valid(a.x) || !f.y.valid(a.y) || !std::isfinite(a.dx) || !std::isfinite(a.dy)) continue;
    Pixel p{f.x(a.x), f.y(a.y), a.dx * f.x.slope(a.x), a.dy * f.y.slope(a.y)};
    if (!std::isfinite(p.dx) || !std::isfinite(p.dy)) continue;
    longest = std::max(longest, std::hypot(p.dx, p.dy));
    arrows.push_back(p);
  }
  if (arrows.empty() || !(longest > 0) || !std::isfinite(longest)) return;
  std::vector<std::pair<double, double>> bases;
  for (const Pixel& a : arrows) bases.emplace_back(a.x, a.y);
  double cell = grid_cell(bases, f);
  if (!(cell > 0) && plot.field)
    cell = std::min(f.width / static_cast<double>(plot.field->nx - 1),
                    f.height / static_cast<double>(plot.field->ny - 1));
  if (!(cell > 0)) cell = std::min(f.width, f.height) / 10;
  double scale = cell / longest;
  std::string shafts, heads;
  for (const Pixel& a : arrows) {
    double dx = a.dx * scale, dy = a.dy * scale, len = std::hypot(dx, dy);
    if (len < 0.5) continue;
    double head = std::min(6.0, 0.4 * len), shaft = (len - 0.6 * head) / len;
    emit(shafts, "M{} {}L{} {}", px(a.x), px(a.y), px(a.x + dx * shaft), px(a.y + dy * shaft));
    append_head(heads, a.x, a.y, a.x + dx, a.y + dy, head);
  }
  emit(out, "<path class=\"arrows\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1.1\" d=\"{}\"/>\n",
       shafts);
  emit(out, "<path class=\"arrowheads\" fill=\"#333333\" d=\"{}\"/>\n", heads);
}

// "x,y x,y ..." of the series' finite points, in data units.
std::string data_points(const Series& s) {
  std::string text;
  for (std::size_t i = 0; i < s.x.size(); ++i)
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
      emit(text, "{}{},{}", text.empty() ? "" : " ", shortest(s.x[i]), shortest(s.y[i]));
  return text;
}

// What the plot can show of a series.
struct Shown {
  std::vector<bool> ok;             // the points drawn (finite, and positive on a log scale)
  std::optional<std::size_t> last;  // a diverged series (non-finite values at its end after finite
                                    // ones): its last point drawn, where the marker goes
  std::size_t left_out = 0;         // finite points left out because they are < 0 on a log scale
  std::optional<std::size_t> zero;  // on a log scale, the first point where it reaches exactly 0:
                                    // such points are drawn at the axis floor, marked
};

Shown shown(const Series& s, const Frame& f) {
  Shown sh;
  const std::size_t n = s.x.size();
  sh.ok.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    sh.ok[i] = f.x.valid(s.x[i]) && f.y.valid(s.y[i]);
    if (f.y.log && s.y[i] == 0 && f.x.valid(s.x[i])) {
      sh.ok[i] = true;
      if (!sh.zero) sh.zero = i;
    }
    sh.left_out += !sh.ok[i] && std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
  }
  auto finite = [&](std::size_t i) { return std::isfinite(s.x[i]) && std::isfinite(s.y[i]); };
  std::size_t end = n;
  while (end > 0 && !finite(end - 1)) --end;
  if (end < n)
    for (std::size_t i = end; i-- > 0;)
      if (sh.ok[i]) {
        sh.last = i;
        break;
      }
  return sh;
}

// The legend's text for a series: its label, saying so when it diverged.
std::string legend_text(const Series& s, const Shown& sh) {
  if (!sh.last || s.label.find("diverged") != std::string::npos) return s.label;
  return s.label.empty() ? "diverged" : s.label + " (diverged)";
}

// The diverged marker: a cross centred on (x, y).
std::string cross(double x, double y, double r) {
  return fmt::format("M{} {}L{} {}M{} {}L{} {}", px(x - r), px(y - r), px(x + r), px(y + r), px(x - r), px(y + r),
                     px(x + r), px(y - r));
}

void draw_series(std::string& out, const Series& s, const Shown& sh, const std::string& colour, bool halo,
                 const Frame& f) {
  const std::vector<bool>& ok = sh.ok;
  auto X = [&](std::size_t i) { return f.x(s.x[i]); };
  auto Y = [&](std::size_t i) { return f.y.log && s.y[i] == 0 ? f.y(f.y.lo) : f.y(s.y[i]); };
  // The line: a new subpath after every gap; a lone point is a dot (round cap).
  std::string d;
  for (std::size_t i = 0; i < ok.size(); ++i) {
    if (!ok[i]) continue;
    bool starts = i == 0 || !ok[i - 1], lone = starts && (i + 1 == ok.size() || !ok[i + 1]);
    emit(d, "{}{} {}{}", starts ? 'M' : 'L', px(X(i)), px(Y(i)), lone ? "h0" : "");
  }
  std::string dash = s.dashed ? " stroke-dasharray=\"7 4\"" : "";
  if (halo)
    emit(out,
         "<path class=\"halo\" fill=\"none\" stroke=\"#ffffff\" stroke-opacity=\"0.8\" stroke-width=\"5\" "
         "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"{}\"/>\n",
         d);
  emit(out,
       "<path class=\"series\" data-label=\"{}\" data-points=\"{}\" fill=\"none\" stroke=\"{}\" "
       "stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"{} d=\"{}\"/>\n",
       escape(s.label), data_points(s), colour, dash, d);
  if (s.markers) {
    emit(out, "<g class=\"markers\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"0.8\">\n", colour);
    for (std::size_t i = 0; i < ok.size(); ++i)
      if (ok[i]) emit(out, "<circle cx=\"{}\" cy=\"{}\" r=\"3.2\"/>\n", px(X(i)), px(Y(i)));
    out += "</g>\n";
  }
  if (s.arrows) {  // a head on each step, its tip just short of the marker at w(t+1)
    std::string heads;
    double gap = s.markers ? 3.2 : 0;
    for (std::size_t i = 0; i + 1 < ok.size(); ++i) {
      if (!ok[i] || !ok[i + 1]) continue;
      double dx = X(i + 1) - X(i), dy = Y(i + 1) - Y(i), len = std::hypot(dx, dy);
      if (len - gap < 3) continue;
      double tip = (len - gap) / len;
      append_head(heads, X(i), Y(i), X(i) + dx * tip, Y(i) + dy * tip, std::min(9.0, 0.5 * (len - gap)));
    }
    emit(out, "<path class=\"step-arrows\" fill=\"{}\" d=\"{}\"/>\n", colour, heads);
  }
  if (sh.zero) {  // where it reached 0, which a log axis cannot show: a triangle on the floor
    std::size_t i = *sh.zero;
    emit(out,
         "<path class=\"zero\" data-label=\"{}\" data-x=\"{}\" fill=\"{}\" stroke=\"#ffffff\" "
         "stroke-width=\"1\" d=\"M{} {}L{} {}L{} {}Z\"/>\n",
         escape(s.label), shortest(s.x[i]), colour, px(X(i) - 6), px(Y(i) - 10), px(X(i) + 6), px(Y(i) - 10), px(X(i)),
         px(Y(i)));
  }
  if (sh.last) {  // where the curve stops: the last finite value before it ran off to inf or nan
    std::size_t i = *sh.last;
    emit(out,
         "<path class=\"diverged-halo\" fill=\"none\" stroke=\"#ffffff\" stroke-width=\"5\" "
         "stroke-linecap=\"round\" d=\"{}\"/>\n",
         cross(X(i), Y(i), 5));
    emit(out,
         "<path class=\"diverged\" data-label=\"{}\" data-x=\"{}\" data-y=\"{}\" fill=\"none\" stroke=\"{}\" "
         "stroke-width=\"2.5\" stroke-linecap=\"round\" d=\"{}\"/>\n",
         escape(s.label), shortest(s.x[i]), shortest(s.y[i]), colour, cross(X(i), Y(i), 5));
  }
}

// The frame, tick marks and tick labels of both axes.
void draw_axes(std::string& out, const Frame& f) {
  emit(out,
       "<rect class=\"plot-area\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
       "stroke=\"#444444\"/>\n",
       px(f.left), px(f.top), px(f.width), px(f.height));
  double base = f.top + f.height;
  emit(out,
       "<g class=\"axis\" data-axis=\"x\" data-scale=\"linear\" data-lo=\"{}\" data-hi=\"{}\" "
       "font-size=\"{}\" "
       "text-anchor=\"middle\">\n",
       shortest(f.x.lo), shortest(f.x.hi), kFont);
  for (const Tick& t : f.xticks) {
    std::string x = px(f.x(t.value));
    emit(out,
         "<line class=\"tick\" data-axis=\"x\" data-value=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" "
         "stroke=\"#444444\"/>\n",
         shortest(t.value), x, px(base), x, px(base + kTickLength));
    emit(out, "<text class=\"tick-label\" x=\"{}\" y=\"{}\">{}</text>\n", x,
         px(base + kTickLength + kFont + 2), escape(t.label));
  }
  out += "</g>\n";
  emit(out,
       "<g class=\"axis\" data-axis=\"y\" data-scale=\"{}\" data-lo=\"{}\" data-hi=\"{}\" font-size=\"{}\" "
       "text-anchor=\"end\">\n",
       f.y.log ? "log" : "linear", shortest(f.y.lo), shortest(f.y.hi), kFont);
  for (const Tick& t : f.yticks) {
    std::string y = px(f.y(t.value));
    emit(out,
         "<line class=\"tick\" data-axis=\"y\" data-value=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" "
         "stroke=\"#444444\"/>\n",
         shortest(t.value), px(f.left - kTickLength), y, px(f.left), y);
    emit(out, "<text class=\"tick-label\" x=\"{}\" y=\"{}\">{}</text>\n", px(f.left - kTickLength - 3),
         px(f.y(t.value) + kFont * 0.35), escape(t.label));
  }
  out += "</g>\n";
}

// The bands as stacked rectangles beside the plot, with ticks on the field's values.
void draw_colour_bar(std::string& out, const Bands& b, const Frame& f) {
  double x = f.bar_left, h = f.height / b.n;
  out += "<g class=\"colour-bar\">\n";
  for (int k = 0; k < b.n; ++k)
    emit(out, "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", px(x),
         px(f.top + f.height - (k + 1) * h), px(kBarWidth), px(h + 0.3), b.colour(k));
  emit(out, "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444444\"/>\n", px(x),
       px(f.top), px(kBarWidth), px(f.height));
  for (const Tick& t : f.bar_ticks) {
    double y = b.zmax > b.zmin ? f.bar(t.value) : f.top + f.height / 2;
    emit(out,
         "<line class=\"tick\" data-axis=\"z\" data-value=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" "
         "stroke=\"#444444\"/>\n",
         shortest(b.log ? b.edge(static_cast<int>(t.value)) : t.value), px(x + kBarWidth), px(y), px(x + kBarWidth + kTickLength), px(y));
    emit(out, "<text class=\"tick-label\" x=\"{}\" y=\"{}\" font-size=\"{}\">{}</text>\n",
         px(x + kBarWidth + kTickLength + 3), px(y + kFont * 0.35), kFont, escape(t.label));
  }
  out += "</g>\n";
}

// The top-left corner of a w × h legend box: the corner of the plot area (top right first)
// whose box hides the fewest data points.
std::pair<double, double> legend_corner(const Plot& plot, const Frame& f, double w, double h) {
  const double pad = 8;
  const std::array<std::pair<double, double>, 4> corners = {
      {{f.left + f.width - w - pad, f.top + pad},
       {f.left + pad, f.top + pad},
       {f.left + f.width - w - pad, f.top + f.height - h - pad},
       {f.left + pad, f.top + f.height - h - pad}}};
  std::array<int, 4> hidden{};
  for (const Series& s : plot.series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!f.x.valid(s.x[i]) || !f.y.valid(s.y[i])) continue;
      double x = f.x(s.x[i]), y = f.y(s.y[i]);
      for (std::size_t c = 0; c < corners.size(); ++c)
        hidden[c] += x >= corners[c].first - pad && x <= corners[c].first + w + pad &&
                     y >= corners[c].second - pad && y <= corners[c].second + h + pad;
    }
  return corners[std::min_element(hidden.begin(), hidden.end()) - hidden.begin()];
}

// "3 values <= 0 left out (log scale)", for the notes under the legend's entries.
std::string left_out_note(const std::string& label, std::size_t n) {
  return fmt::format("{}{} value{} < 0 left out (log scale)", label.empty() ? "" : label + ": ", n,
                     n == 1 ? "" : "s");
}

// A box in a corner of the plot with a sample line and the label of each labelled or diverged
// series, then a note for each series with values a log scale cannot show.
void draw_legend(std::string& out, const Plot& plot, const std::vector<Shown>& shown,
                 const std::vector<std::string>& colours, const Frame& f) {
  std::vector<std::size_t> entries;
  std::vector<std::string> notes;
  std::size_t unlabelled_left_out = 0;
  double text = 0, note_text = 0;
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    const Series& s = plot.series[i];
    if (!s.label.empty() || shown[i].last) {
      entries.push_back(i);
      text = std::max(text, text_width(legend_text(s, shown[i]), kFont));
    }
    if (shown[i].left_out && !s.label.empty()) notes.push_back(left_out_note(s.label, shown[i].left_out));
    if (shown[i].zero)
      notes.push_back(fmt::format("{}reaches 0 at x = {}, drawn at the axis floor (▼)",
                                  s.label.empty() ? "" : s.label + ": ", shortest(s.x[*shown[i].zero])));
    if (s.label.empty()) unlabelled_left_out += shown[i].left_out;
  }
  if (unlabelled_left_out) notes.push_back(left_out_note("", unlabelled_left_out));
  for (const std::string& n : notes) note_text = std::max(note_text, text_width(n, kFont));
  if (entries.empty() && notes.empty()) return;
  const double row = 18, w = std::max(46 + text, 16 + note_text),
               h = 8 + row * static_cast<double>(entries.size() + notes.size());
  auto [x, y] = legend_corner(plot, f, w, h);
  emit(out, "<g class=\"legend\" font-size=\"{}\">\n", kFont);
  emit(out,
       "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" fill-opacity=\"0.88\" "
       "stroke=\"#bbbbbb\"/>\n",
       px(x), px(y), px(w), px(h));
  for (std::size_t r = 0; r < entries.size(); ++r) {
    const Series& s = plot.series[entries[r]];
    const std::string& c = colours[entries[r]];
    double cy = y + 4 + row * (static_cast<double>(r) + 0.5);
    emit(out, "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>\n",
         px(x + 8), px(cy), px(x + 34), px(cy), c, s.dashed ? " stroke-dasharray=\"7 4\"" : "");
    if (s.markers) emit(out, "<circle cx=\"{}\" cy=\"{}\" r=\"3.2\" fill=\"{}\"/>\n", px(x + 21), px(cy), c);
    if (shown[entries[r]].last)
      emit(out, "<path fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linecap=\"round\" d=\"{}\"/>\n", c,
           cross(x + 34, cy, 4));
    emit(out, "<text class=\"legend-label\" x=\"{}\" y=\"{}\">{}</text>\n", px(x + 40), px(cy + kFont * 0.35),
         escape(legend_text(s, shown[entries[r]])));
  }
  for (std::size_t r = 0; r < notes.size(); ++r) {
    double cy = y + 4 + row * (static_cast<double>(entries.size() + r) + 0.5);
    emit(out, "<text class=\"legend-note\" x=\"{}\" y=\"{}\" fill=\"#555555\" font-style=\"italic\">{}</text>\n",
         px(x + 8), px(cy + kFont * 0.35), escape(notes[r]));
  }
  out += "</g>\n";
}

void draw_titles(std::string& out, const Plot& plot, double W, double H, const Frame& f) {
  if (!plot.title.empty())
    emit(out,
         "<text class=\"title\" x=\"{}\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\" "
         "text-anchor=\"middle\">{}</text>\n",
         px(W / 2), px(24), kTitleFont, escape(plot.title));
  if (!plot.xlabel.empty())
    emit(out, "<text class=\"xlabel\" x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{}</text>\n",
         px(f.left + f.width / 2), px(H - 10), escape(plot.xlabel));
  if (!plot.ylabel.empty())
    emit(out,
         "<text class=\"ylabel\" transform=\"rotate(-90)\" x=\"{}\" y=\"{}\" font-size=\"13\" "
         "text-anchor=\"middle\">{}</text>\n",
         px(-(f.top + f.height / 2)), px(18), escape(plot.ylabel));
}

void validate(const Plot& plot) {
  for (const Series& s : plot.series)
    if (s.x.size() != s.y.size())
      throw std::invalid_argument(
          fmt::format("plot series '{}': {} x values but {} y values", s.label, s.x.size(), s.y.size()));
  if (plot.field) {
    const Field& f = *plot.field;
    if (f.nx < 2 || f.ny < 2)
      throw std::invalid_argument(
          fmt::format("plot field: a {}x{} grid needs at least 2 points each way", f.nx, f.ny));
    if (f.z.size() != f.nx * f.ny)
      throw std::invalid_argument(
          fmt::format("plot field: {} values for a {}x{} grid", f.z.size(), f.nx, f.ny));
    if (!std::isfinite(f.x0) || !std::isfinite(f.x1) || !std::isfinite(f.y0) || !std::isfinite(f.y1))
      throw std::invalid_argument("plot field: the extent must be finite");
  }
}

}  // namespace

std::string render_svg(const Plot& plot) {
  validate(plot);
  const double W = std::max(plot.width, 160), H = std::max(plot.height, 120);
  auto [rx, ry] = data_ranges(plot);
  std::optional<Bands> bands;
  if (plot.field) bands = make_bands(*plot.field);
  Frame f = layout(plot, W, H, rx, ry, bands ? &*bands : nullptr);

  std::string out;
  emit(out,
       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
       "font-family=\"sans-serif\" fill=\"#222222\">\n",
       W, H);
  emit(out,
       "<defs><clipPath id=\"plot-area\"><rect x=\"{}\" y=\"{}\" width=\"{}\" "
       "height=\"{}\"/></clipPath></defs>\n",
       px(f.left), px(f.top), px(f.width), px(f.height));
  emit(out, "<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", W, H);
  if (!bands) draw_grid(out, f);
  out += "<g class=\"data\" clip-path=\"url(#plot-area)\">\n";
  if (bands) draw_field(out, *plot.field, *bands, f);
  draw_arrows(out, plot, f);
  std::vector<std::string> colours;
  std::vector<Shown> drawn;
  for (std::size_t i = 0; i < plot.series.size(); ++i) {
    colours.push_back(series_colour(plot.series[i], i));
    drawn.push_back(shown(plot.series[i], f));
  }
  for (std::size_t i = 0; i < plot.series.size(); ++i)
    draw_series(out, plot.series[i], drawn[i], colours[i], bands.has_value(), f);
  out += "</g>\n";
  draw_axes(out, f);
  if (bands) draw_colour_bar(out, *bands, f);
  draw_legend(out, plot, drawn, colours, f);
  draw_titles(out, plot, W, H, f);
  out += "</svg>\n";
  return out;
}

}  // namespace gradc
