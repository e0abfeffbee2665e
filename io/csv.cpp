// CSV reading per RFC 4180, as spreadsheets and pandas write it: quoted fields with embedded
// commas, doubled quotes and line breaks; CRLF or LF; a UTF-8 byte-order mark (removed by
// load_source); blank lines skipped; blanks around a cell ignored. Numbers may start with '+'.
#include "io/csv.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "io/file.hpp"
#include "support/diagnostics.hpp"

namespace gradc {
namespace {

struct Cell {
  std::string text;
  std::uint32_t offset;  // the cell's first non-blank character (its opening quote if quoted)
};

// A blank inside a record: spaces, tabs, and the '\r' of a CRLF line end.
bool blank_at(std::string_view s, std::size_t i) {
  return s[i] == ' ' || s[i] == '\t' || (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] == '\n'));
}

std::uint32_t loc(std::size_t offset) { return static_cast<std::uint32_t>(offset); }

// Reads the record at pos (skipping blank lines first) into cells and moves pos past its line
// end. Returns false at the end of the text; `start` is where the record begins.
bool next_record(std::string_view s, std::size_t& pos, std::size_t& start, std::vector<Cell>& cells) {
  cells.clear();
  for (;;) {  // blank lines
    std::size_t i = pos;
    while (i < s.size() && blank_at(s, i)) ++i;
    if (i == s.size()) return false;
    if (s[i] != '\n') break;
    pos = i + 1;
  }
  start = pos;
  for (;;) {
    std::size_t i = pos;
    while (i < s.size() && blank_at(s, i)) ++i;
    Cell c{"", loc(i)};
    if (i < s.size() && s[i] == '"') {
      std::size_t j = i + 1;
      for (;;) {
        if (j == s.size()) throw InputError(Loc{loc(i)}, "unterminated quoted field: this '\"' is never closed");
        if (s[j] == '"') {
          if (j + 1 < s.size() && s[j + 1] == '"') {  // "" is one quote
            c.text += '"';
            j += 2;
            continue;
          }
          ++j;
          break;
        }
        c.text += s[j++];
      }
      while (j < s.size() && blank_at(s, j)) ++j;
      if (j < s.size() && s[j] != ',' && s[j] != '\n')
        throw InputError(Loc{loc(j)}, "expected ',' or the end of the line after a quoted field");
      pos = j;
    } else {
      std::size_t j = i;
      while (j < s.size() && s[j] != ',' && s[j] != '\n') ++j;
      std::size_t end = j;
      while (end > i && blank_at(s, end - 1)) --end;
      c.text.assign(s.substr(i, end - i));
      if (c.text.empty()) c.offset = loc(pos);  // a missing value: just after its comma
      pos = j;
    }
    cells.push_back(std::move(c));
    if (pos < s.size() && s[pos] == ',') {
      ++pos;
      continue;
    }
    if (pos < s.size()) ++pos;  // the '\n'
    return true;
  }
}

// A cell's number: blanks around it and one leading '+' are allowed (from_chars takes neither).
bool parse_number(std::string_view t, double& v) {
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  if (t.size() > 1 && t[0] == '+' && t[1] != '-' && t[1] != '+') t.remove_prefix(1);
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  return !t.empty() && ec == std::errc() && p == t.data() + t.size() && std::isfinite(v);
}

Table parse_csv(Table t) {
  std::string_view s = t.source.text;
  if (s.size() >= std::numeric_limits<std::uint32_t>::max())
    throw InputError(Loc{0}, "CSV file is too large (4 GiB or more)");
  std::vector<Cell> cells;
  std::size_t pos = 0, start = 0, row = 0;
  if (!next_record(s, pos, start, cells)) throw InputError(Loc{0}, "empty CSV file: expected a header row");
  for (const Cell& c : cells) {
    if (c.text.empty()) throw InputError(Loc{c.offset}, "empty column name in the header");
    for (const std::string& name : t.columns)
      if (name == c.text) throw InputError(Loc{c.offset}, fmt::format("duplicate column '{}'", name));
    t.columns.push_back(c.text);
    t.column_locs.push_back(Loc{c.offset});
  }
  while (next_record(s, pos, start, cells)) {
    ++row;
    if (cells.size() != t.columns.size())
      throw InputError(Loc{loc(start)}, fmt::format("row {} has {} cells, but the header has {} columns", row,
                                                    cells.size(), t.columns.size()));
    for (std::size_t j = 0; j < cells.size(); ++j) {
      double v = 0;
      if (cells[j].text.find_first_not_of(" \t") == std::string::npos)
        throw InputError(Loc{cells[j].offset}, fmt::format("row {}, column '{}': missing value", row, t.columns[j]));
      if (!parse_number(cells[j].text, v))
        throw InputError(Loc{cells[j].offset}, fmt::format("row {}, column '{}': '{}' is not a finite number", row,
                                                           t.columns[j], cells[j].text));
      t.values.push_back(v);
    }
  }
  return t;
}

}  // namespace

Table read_csv(const std::string& path) {
  Table t;
  t.source = load_source(path);
  SourceFile diag = t.source;  // parse_csv takes t; errors are located in this copy
  return located_in(diag, [&] { return parse_csv(std::move(t)); });
}

}  // namespace gradc
