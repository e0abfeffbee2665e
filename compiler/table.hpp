// A numeric table with named columns, as `data d = csv(...)` needs it, and the loader interface
// through which the compiler receives one: the compiler reads no files itself (io/ does).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "support/source.hpp"

namespace gradc {

struct Table {
  SourceFile source;                 // the file, for diagnostics located in it
  std::vector<std::string> columns;  // header names
  std::vector<Loc> column_locs;
  std::vector<double> values;        // row-major, rows() x columns.size()
  std::size_t rows() const { return columns.empty() ? 0 : values.size() / columns.size(); }
};

/// Loads the table at a path. Throws UsageError if it cannot be read, Diagnostic for bad
/// contents (located in the table's own file).
using TableLoader = std::function<Table(const std::string& path)>;

}  // namespace gradc
