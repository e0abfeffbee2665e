// SVG plots for gradc: loss curves, descent trajectories, gradient fields and filled contours,
// written as standalone hand-made SVG text (no drawing library).
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace gradc {

struct Series {                 // a curve or a trajectory
  std::string label;            // legend entry ("" = none)
  std::vector<double> x, y;     // same length; non-finite points break the line (a gap), and
                                // non-finite points at the end after finite ones mean it diverged
  bool markers = false;         // a dot at each point
  bool arrows = false;          // an arrowhead on each segment (descent steps: w(t) -> w(t+1))
  bool dashed = false;
  std::string colour;           // "" = the next colour of the palette; else any SVG colour
};

struct Arrow { double x, y, dx, dy; };  // a vector at (x, y) in data units (gradient field)

struct Field {                  // filled contours of f(x, y) on a regular grid
  double x0, x1, y0, y1;        // extent
  std::size_t nx, ny;           // grid points along x and y (>= 2)
  std::vector<double> z;        // nx*ny values, row-major by y then x: z[j*nx + i] at
                                // (x0 + i*(x1-x0)/(nx-1), y0 + j*(y1-y0)/(ny-1))
  int levels = 12;              // contour bands (equal widths between the finite min and max of z)
  bool log_levels = false;      // bands geometric in z - min z instead, over 6 decades, so
                                // a narrow valley (Rosenbrock's) gets bands of its own
};

struct Plot {
  std::string title, xlabel, ylabel;
  bool log_y = false;           // log scale on y (0 drawn at the floor, values < 0 left out; noted)
  std::vector<Series> series;
  std::vector<Arrow> arrows;    // drawn scaled so the longest is one grid cell (of the grid the
                                // arrows sit on: the median nearest-neighbour distance in pixels)
  std::optional<Field> field;
  std::optional<std::array<double, 4>> limits;  // x0, x1, y0, y1; default: fit the data (with 5% margin)
  int width = 720, height = 480;
};

/// A complete standalone SVG document (xmlns, viewBox, width/height): axes with ticks at
/// "nice" numbers (1, 2, 5 × 10^k) and tick labels, axis labels, title, a legend when any
/// series has a label, series in distinct colours (a fixed colour-blind-friendly palette),
/// filled contour bands (a sequential palette) with a colour bar, and arrows. Every series is a
/// <path> with a `data-label` attribute equal to its label and, for testability, a `data-points`
/// attribute with its finite points as "x,y x,y ..." in DATA units (shortest round-trip
/// numbers). Non-finite values never produce "nan" or "inf" in the SVG. Text is XML-escaped.
///
/// Any finite data is drawn, from the smallest subnormal to the largest double: ranges, margins
/// and ticks stay finite (the 5% margin stops at the largest double). A series that diverged
/// (ends in inf or nan after finite values) is drawn up to its last finite point, where a cross
/// <path class="diverged" data-label=".." data-x=".." data-y=".."> marks it, and its legend entry
/// says "diverged" (an unlabelled one gets an entry "diverged"). On a log scale, values of
/// exactly 0 are drawn at the axis floor, the first one marked by a triangle <path class="zero"
/// data-label=".." data-x="..">, with a <text class="legend-note"> "LABEL: reaches 0 at x = X, drawn
/// at the axis floor (▼)"; negative values are left out with a note "LABEL: N values < 0 left
/// out (log scale)" (one note for all unlabelled series, without "LABEL: ").
///
/// Also for testability: each axis is a <g class="axis" data-axis="x|y" data-scale="linear|log"
/// data-lo=".." data-hi="..">, each tick a <line class="tick" data-axis="x|y|z" data-value="..">,
/// the plot area a <rect class="plot-area">, each contour band a <path class="band"> and the
/// gradient-field arrows <path class="arrows"> (shafts) and <path class="arrowheads">.
/// Throws std::invalid_argument if a series' x and y differ in length, or a field has nx or
/// ny < 2, z.size() != nx*ny, or a non-finite extent. Invalid limits (non-finite, empty, or
/// y0 <= 0 on a log scale) are ignored in favour of fitting the data.
std::string render_svg(const Plot& plot);

}  // namespace gradc
