// Reading and writing whole files, where `-` means the standard input or output, and where
// a file is written atomically (a temporary file in the same folder, then rename), so an
// interrupted or failed write never leaves a half-written file or loses the earlier one.
#pragma once
#include <string>

#include "support/source.hpp"

namespace gradc {

/// The bytes of a file, or of standard input for `-`. Throws UsageError if it cannot be read.
std::string read_file(const std::string& path);

/// A source file (read_file, then text_source): `-` is shown as `<stdin>` in diagnostics.
/// Throws UsageError if it cannot be read, Diagnostic if it is not text.
SourceFile load_source(const std::string& path);

/// Writes bytes to path atomically, or to standard output for `-`. Throws UsageError if the
/// file cannot be written (the original, if any, is left intact).
void write_file_atomic(const std::string& path, const std::string& bytes);

/// From now on `-` in write_file_atomic writes to the descriptor `fd` instead of stdout: the
/// driver keeps the real standard output for the one output given as `-` and sends its
/// human-readable text to standard error, so the two never mix.
void set_standard_output(int fd);

}  // namespace gradc
