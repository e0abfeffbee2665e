// A small CSV reader for numeric tables with a header row. Errors are InputErrors located in the
// CSV file itself (`data.csv:3:7: error: ...` with the row and a caret under the cell).
#pragma once
#include <string>
#include <vector>

#include "grammar/source.hpp"

namespace gradc {

struct CsvTable {
  SourceFile source;                 // the file, for diagnostics
  std::vector<std::string> columns;  // header names
  std::vector<Loc> column_locs;
  std::vector<double> values;        // row-major, rows() x columns.size()
  std::size_t rows() const { return columns.empty() ? 0 : values.size() / columns.size(); }
};

/// Reads a numeric CSV (comma-separated, header row, no quoting needed). Throws UsageError if
/// the file cannot be opened, InputError for a ragged row, a non-numeric or non-finite cell, a
/// duplicate or empty column name.
CsvTable read_csv(const std::string& path);

/// Writes text to path atomically: to a temporary file in the same directory, then rename.
/// Throws UsageError if the file cannot be written (the original, if any, is left intact).
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace gradc
