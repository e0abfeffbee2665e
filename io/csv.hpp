// A CSV reader (RFC 4180) for numeric tables with a header row. Errors are InputErrors located in the
// CSV file itself (`data.csv:3:7: error: ...` with the row and a caret under the cell).
#pragma once
#include <string>
#include <vector>

#include "compiler/table.hpp"

namespace gradc {

/// Reads a numeric CSV with a header row; `-` is standard input. RFC 4180 quoting (embedded
/// commas, "" for a quote, line breaks inside quotes), CRLF or LF, a UTF-8 byte-order mark,
/// blank lines, blanks around cells and a leading '+' on numbers are accepted. Throws
/// UsageError if the file cannot be opened, Diagnostic (located at the cell in the CSV) for a
/// ragged row, a missing, non-numeric or non-finite value, a duplicate or empty column name, an
/// unterminated quote or text after a closing quote.
Table read_csv(const std::string& path);

}  // namespace gradc
