// Output formats chosen by extension, and rendering through helper programs.
#include "cli/output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include "io/file.hpp"
#include "io/process.hpp"
#include "support/diagnostics.hpp"

namespace gradc::cli {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Runs a renderer that reads its input on standard input and writes the file on standard
// output; the file appears only when it is complete.
void render(const std::vector<std::string>& argv, const std::string& input, const std::string& path,
            const std::string& format, const char* owner, const char* package, const char* instead) {
  std::optional<ProcessResult> r = run_program(argv, input);
  if (!r)
    throw UsageError(fmt::format("cannot render {}: {}'s '{}' is not installed (apt-get install {}); {}",
                                 upper(format), owner, argv[0], package, instead));
  if (r->exit_code != 0) {
    std::string err = r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    throw UsageError(fmt::format("cannot render {}: {}'s '{}' failed (exit {}){}{}", upper(format), owner, argv[0],
                                 r->exit_code, err.empty() ? "" : ": ", err));
  }
  write_file_atomic(path, r->out);
}

}  // namespace

std::string output_format(const char* command, const char* flag, const std::string& path,
                          std::initializer_list<const char*> known, const std::string& given,
                          const std::string& fallback) {
  if (path.empty() || path == "-") return given.empty() ? fallback : given;
  std::string list;
  for (const char* k : known) list += fmt::format("{}.{}", list.empty() ? "" : ", ", k);
  std::size_t dot = path.find_last_of("./");
  if (dot == std::string::npos || path[dot] == '/' || dot + 1 == path.size() ||
      (dot == 0 || path[dot - 1] == '/'))  // ".svg" alone is a hidden file's name, not an extension
    throw UsageError(fmt::format("{}: {} {}: no extension to tell the format by; known: {}", command, flag, path, list));
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (std::none_of(known.begin(), known.end(), [&](const char* k) { return ext == k; }))
    throw UsageError(fmt::format("{}: {} {}: unknown extension '.{}'; known: {}", command, flag, path,
                                 path.substr(dot + 1), list));
  std::string format = ext == "gv" ? "dot" : ext;
  if (!given.empty() && given != format)
    throw UsageError(fmt::format("{}: --format {} contradicts {} {} (a .{} file); leave out --format, the extension "
                                 "chooses the format",
                                 command, given, flag, path, ext));
  return format;
}

void write_graph(const std::string& dot, const std::string& path, const std::string& format) {
  if (format == "dot") return write_file_atomic(path, dot);
  render({"dot", "-T" + format}, dot, path, format, "Graphviz", "graphviz", "-o OUT.dot writes the graph without it");
}

void write_plot(const std::string& svg, const std::string& path, const std::string& format) {
  if (format == "svg") return write_file_atomic(path, svg);
  render({"rsvg-convert", "--format", format}, svg, path, format, "librsvg", "librsvg2-bin",
         "-o OUT.svg writes the plot without it");
}

}  // namespace gradc::cli
