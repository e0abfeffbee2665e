// libFuzzer target: CSV data files through io/csv.hpp's read_csv (the file the CLI reads for
// `data d = csv(...)` and `eval --points`), and the table's invariants.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>

#include "fuzz/fuzz_common.hpp"
#include "io/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gradc;
  static const std::string path = fuzz::temp_path(".csv");
  fuzz::write_bytes(path, data, size);
  fuzz::expected_errors([&] {
    Table t = read_csv(path);
    if (t.columns.empty()) fuzz::fail("a table without columns", "");
    if (t.column_locs.size() != t.columns.size()) fuzz::fail("column locations", "");
    if (t.values.size() != t.rows() * t.columns.size()) fuzz::fail("a ragged table", "");
    std::set<std::string> names(t.columns.begin(), t.columns.end());
    if (names.size() != t.columns.size()) fuzz::fail("duplicate column names accepted", "");
    for (const std::string& c : t.columns)
      if (c.empty()) fuzz::fail("an empty column name accepted", "");
    for (Loc l : t.column_locs)
      if (l.offset > t.source.text.size()) fuzz::fail("a column location past the end", "");
    for (double v : t.values)
      if (!std::isfinite(v)) fuzz::fail("a non-finite value accepted", "");
  });
  return 0;
}
