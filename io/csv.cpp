// CSV reading.
#include "io/csv.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>

#include "io/file.hpp"
#include "support/diagnostics.hpp"

namespace gradc {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Splits one line into cells, with the byte offset of each cell's first non-blank character.
void split(std::string_view text, std::size_t begin, std::size_t end,
           std::vector<std::pair<std::string_view, std::uint32_t>>& cells) {
  cells.clear();
  std::size_t start = begin;
  for (std::size_t i = begin; i <= end; ++i) {
    if (i == end || text[i] == ',') {
      std::string_view raw = text.substr(start, i - start);
      std::string_view cell = trim(raw);
      std::size_t off = start + (cell.empty() ? 0 : static_cast<std::size_t>(cell.data() - raw.data()));
      cells.emplace_back(cell, static_cast<std::uint32_t>(off));
      start = i + 1;
    }
  }
}

Table parse_csv(Table t);

}  // namespace

Table read_csv(const std::string& path) {
  Table t;
  t.source = load_source(path);
  SourceFile diag = t.source;  // parse_csv takes t; errors are located in this copy
  return located_in(diag, [&] { return parse_csv(std::move(t)); });
}

namespace {
Table parse_csv(Table t) {
  std::string_view text = t.source.text;
  std::vector<std::pair<std::string_view, std::uint32_t>> cells;
  std::size_t pos = 0, row = 0;
  bool header = true;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::size_t next = end + 1;
    if (trim(text.substr(pos, end - pos)).empty()) {  // blank lines are skipped
      pos = next;
      continue;
    }
    split(text, pos, end, cells);
    if (header) {
      for (auto& [name, off] : cells) {
        if (name.empty()) throw InputError(Loc{off}, "empty column name in the header");
        for (std::size_t j = 0; j < t.columns.size(); ++j)
          if (t.columns[j] == name) throw InputError(Loc{off}, fmt::format("duplicate column '{}'", name));
        t.columns.emplace_back(name);
        t.column_locs.push_back(Loc{off});
      }
      header = false;
    } else {
      ++row;
      if (cells.size() != t.columns.size())
        throw InputError(Loc{static_cast<std::uint32_t>(pos)},
                         fmt::format("row {} has {} cells, but the header has {} columns", row,
                                     cells.size(), t.columns.size()));
      for (std::size_t j = 0; j < cells.size(); ++j) {
        auto [cell, off] = cells[j];
        double v = 0;
        auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
        if (cell.empty() || ec != std::errc() || p != cell.data() + cell.size() || !std::isfinite(v))
          throw InputError(Loc{off}, fmt::format("row {}, column '{}': '{}' is not a finite number", row,
                                                 t.columns[j], cell));
        t.values.push_back(v);
      }
    }
    pos = next;
  }
  if (header) throw InputError(Loc{0}, "empty CSV file: expected a header row");
  return t;
}
}  // namespace

}  // namespace gradc
