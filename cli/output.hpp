// Output files whose format follows their extension (as clang's -o and Graphviz's -O do): each
// command's table of extensions, and the renderers behind them (Graphviz's `dot`, librsvg's
// `rsvg-convert`), run without a shell.
#pragma once
#include <initializer_list>
#include <string>

namespace gradc::cli {

/// The format of the file `path` that `flag` names, from its extension (case-insensitive,
/// without the dot; `.gv` is "dot"), which must be one of `known` (without dots). `given` is an
/// explicit --format ("" when none): it must agree with the extension. For `-` (standard output)
/// or no path: `given`, else `fallback`. Throws UsageError naming the known extensions.
std::string output_format(const char* command, const char* flag, const std::string& path,
                          std::initializer_list<const char*> known, const std::string& given,
                          const std::string& fallback);

/// Writes a graph: DOT as it is ("dot"), or rendered by Graphviz's `dot` ("svg", "png", "pdf").
void write_graph(const std::string& dot, const std::string& path, const std::string& format);

/// Writes a plot: SVG as it is ("svg"), or converted by librsvg's `rsvg-convert` ("png", "pdf").
void write_plot(const std::string& svg, const std::string& path, const std::string& format);

}  // namespace gradc::cli
