// Records each LaTeX string a unit test prints, so that CTest's latex_render_unit renders them
// all with KaTeX and MathJax afterwards (tests/render_latex.js --log; tests/CMakeLists.txt).
#pragma once
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <source_location>
#include <string>

namespace gradc::test {

/// A test program that calls this must be listed in GRADC_LATEX_TESTS (tests/CMakeLists.txt);
/// render_latex.js fails otherwise. Returns tex unchanged after appending it, with the test file and line, to
/// $GRADC_LATEX_LOG/PID.log (one file per process: CTest runs the tests in parallel, one process
/// each). Outside CTest the variable is unset and nothing is written.
inline std::string rendered(std::string tex,
                                   std::source_location where = std::source_location::current()) {
  static std::FILE* log = [] {
    const char* dir = std::getenv("GRADC_LATEX_LOG");
    if (dir) ::mkdir(dir, 0777);  // the first process creates it (EEXIST for the others)
    return dir ? std::fopen((std::string(dir) + "/" + std::to_string(::getpid()) + ".log").c_str(), "ab")
               : nullptr;
  }();
  if (log) {
    std::string file = where.file_name();
    file = file.substr(file.find_last_of('/') + 1);
    std::fprintf(log, "%s:%u\x01%s", file.c_str(), static_cast<unsigned>(where.line()), tex.c_str());
    std::fputc('\0', log);
    std::fflush(log);
  }
  return tex;
}

}  // namespace gradc::test
