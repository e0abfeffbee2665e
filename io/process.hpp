// Running a helper program (Graphviz's `dot`) without a shell: an argument vector, so no
// character of a path or an argument is ever interpreted, with its standard streams in memory.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace gradc {

struct ProcessResult {
  int exit_code = 0;  // the exit status, or 128 + the signal that ended the program
  std::string out, err;
};

/// Runs argv[0] (searched on PATH) with the arguments argv, writing `input` to its standard
/// input and collecting its standard output and error. Returns nullopt when the program is not
/// installed (not found on PATH); throws UsageError when it cannot be started for another reason.
std::optional<ProcessResult> run_program(const std::vector<std::string>& argv, const std::string& input);

}  // namespace gradc
