// A small CSV reader for numeric tables with a header row. Errors are InputErrors located in the
// CSV file itself (`data.csv:3:7: error: ...` with the row and a caret under the cell).
#pragma once
#include <string>
#include <vector>

#include "compiler/table.hpp"

namespace gradc {

/// Reads a numeric CSV (comma-separated, header row, no quoting needed); `-` is standard input.
/// Throws UsageError if the file cannot be opened, Diagnostic (located in the CSV) for a ragged
/// row, a non-numeric or non-finite cell, a duplicate or empty column name.
Table read_csv(const std::string& path);

}  // namespace gradc
