// Files that NumPy, PyTorch and spreadsheets write: CSV per RFC 4180 (quotes, CRLF, byte-order
// mark, '+'), errors located at the offending cell; .npz archives (Fortran order, compressed,
// ZIP64) built byte by byte here; JSON checkpoints (finite values, -0, shapes, counters).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "io/csv.hpp"
#include "support/diagnostics.hpp"

namespace gradc::test {
namespace {

namespace fs = std::filesystem;

// Each test works in a fresh folder, with short relative paths in the messages.
class Io : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gradc_io_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    old_ = fs::current_path();
    fs::current_path(dir_);
  }
  void TearDown() override {
    fs::current_path(old_);
    fs::remove_all(dir_);
  }
  static void write(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
  }
  static Table csv(const std::string& text) {
    write("t.csv", text);
    return read_csv("t.csv");
  }
  // The whole diagnostic for a CSV that must be refused.
  static std::string csv_error(const std::string& text) {
    write("t.csv", text);
    try {
      read_csv("t.csv");
    } catch (const Diagnostic& d) {
      return d.what();
    }
    return "no error";
  }
  fs::path dir_, old_;
};

using Names = std::vector<std::string>;
using Values = std::vector<double>;

TEST_F(Io, CsvQuotedHeadersAndFields) {
  Table t = csv("\"a\",\"b, c\",y\n1,\"2.5\",3\n\"-4\",  \"5\"  ,6\n");
  EXPECT_EQ(t.columns, (Names{"a", "b, c", "y"}));
  EXPECT_EQ(t.values, (Values{1, 2.5, 3, -4, 5, 6}));
  t = csv("\"say \"\"hi\"\"\",\"\"\"\",x\n1,2,3\n");
  EXPECT_EQ(t.columns, (Names{"say \"hi\"", "\"", "x"}));
  t = csv("\"two\nlines\",x\n1,2\n");
  EXPECT_EQ(t.columns, (Names{"two\nlines", "x"}));
  EXPECT_EQ(t.values, (Values{1, 2}));
}

TEST_F(Io, CsvLineBreakInsideQuotesKeepsLineNumbers) {
  EXPECT_EQ(csv_error("\"a\nb\",x\n1,oops\n"),
            "t.csv:3:3: error: row 1, column 'x': 'oops' is not a finite number\n1,oops\n  ^\n");
}

TEST_F(Io, CsvByteOrderMark) {
  Table t = csv("\xef\xbb\xbf" "a,b,y\n1,2,3\n");
  EXPECT_EQ(t.columns, (Names{"a", "b", "y"}));
  EXPECT_EQ(t.values, (Values{1, 2, 3}));
  EXPECT_EQ(csv_error("\xef\xbb\xbf" "a,a\n"), "t.csv:1:3: error: duplicate column 'a'\na,a\n  ^\n");
  t = csv("\xef\xbb\xbf\"q\"\r\n7\r\n");
  EXPECT_EQ(t.columns, (Names{"q"}));
}

TEST_F(Io, CsvCrlf) {
  Table t = csv("a,b\r\n1,2\r\n3,\"4\"\r\n");
  EXPECT_EQ(t.columns, (Names{"a", "b"}));
  EXPECT_EQ(t.values, (Values{1, 2, 3, 4}));
  EXPECT_EQ(csv_error("a,b\r\n1,\r\n"), "t.csv:2:3: error: row 1, column 'b': missing value\n1,\r\n  ^\n");
}

TEST_F(Io, CsvLeadingPlus) {
  Table t = csv("a,b,c,d\n+0.5,+.25,+1e3,+7\n");
  EXPECT_EQ(t.values, (Values{0.5, 0.25, 1000, 7}));
  EXPECT_EQ(csv_error("a\n+-1\n"), "t.csv:2:1: error: row 1, column 'a': '+-1' is not a finite number\n+-1\n^\n");
  EXPECT_EQ(csv_error("a\n++1\n"), "t.csv:2:1: error: row 1, column 'a': '++1' is not a finite number\n++1\n^\n");
  EXPECT_EQ(csv_error("a,b\n1,+\n"), "t.csv:2:3: error: row 1, column 'b': '+' is not a finite number\n1,+\n  ^\n");
}

TEST_F(Io, CsvBlankLines) {
  Table t = csv("\n\na\n1\n\n2\n\n   \n\r\n");
  EXPECT_EQ(t.columns, (Names{"a"}));
  EXPECT_EQ(t.values, (Values{1, 2}));
  EXPECT_EQ(csv_error("\n  \r\n"), "t.csv:1:1: error: empty CSV file: expected a header row\n\n^\n");
}

TEST_F(Io, CsvMissingAndBadValuesAtTheirCell) {
  EXPECT_EQ(csv_error("a,b,c\n1,,3\n"), "t.csv:2:3: error: row 1, column 'b': missing value\n1,,3\n  ^\n");
  EXPECT_EQ(csv_error("a,b\n1,   \n"), "t.csv:2:3: error: row 1, column 'b': missing value\n1,   \n  ^\n");
  EXPECT_EQ(csv_error("a,b\n1,2\n3,\n"), "t.csv:3:3: error: row 2, column 'b': missing value\n3,\n  ^\n");
  EXPECT_EQ(csv_error("a,b\n\"\",2\n"), "t.csv:2:1: error: row 1, column 'a': missing value\n\"\",2\n^\n");
  EXPECT_EQ(csv_error("a,b\n1,  x y\n"), "t.csv:2:5: error: row 1, column 'b': 'x y' is not a finite number\n1,  x y\n    ^\n");
  EXPECT_EQ(csv_error("a,b\n1,\"2\n3\"\n"),
            "t.csv:2:3: error: row 1, column 'b': '2\n3' is not a finite number\n1,\"2\n  ^\n");
  for (const char* bad : {"1e999", "inf", "nan", "-inf", "0x10", "1,5"}) {
    std::string cell = std::string("\"") + bad + "\"";
    EXPECT_EQ(csv_error("a\n" + cell + "\n"),
              fmt::format("t.csv:2:1: error: row 1, column 'a': '{}' is not a finite number\n{}\n^\n", bad, cell));
  }
}

TEST_F(Io, CsvMalformedQuotes) {
  EXPECT_EQ(csv_error("a,b\n1,\"2\n"), "t.csv:2:3: error: unterminated quoted field: this '\"' is never closed\n1,\"2\n  ^\n");
  EXPECT_EQ(csv_error("a\n\"1\"x\n"),
            "t.csv:2:4: error: expected ',' or the end of the line after a quoted field\n\"1\"x\n   ^\n");
  EXPECT_EQ(csv_error("\"a\" b,c\n"),
            "t.csv:1:5: error: expected ',' or the end of the line after a quoted field\n\"a\" b,c\n    ^\n");
}

TEST_F(Io, CsvHeaderAndShapeErrors) {
  EXPECT_EQ(csv_error("a,,c\n"), "t.csv:1:3: error: empty column name in the header\na,,c\n  ^\n");
  EXPECT_EQ(csv_error("a,\"\"\n"), "t.csv:1:3: error: empty column name in the header\na,\"\"\n  ^\n");
  EXPECT_EQ(csv_error("a,\"a\"\n"), "t.csv:1:3: error: duplicate column 'a'\na,\"a\"\n  ^\n");
  EXPECT_EQ(csv_error("a,b\n1,2,3\n"), "t.csv:2:1: error: row 1 has 3 cells, but the header has 2 columns\n1,2,3\n^\n");
  EXPECT_EQ(csv_error("a,b\n1,\"2\"\n4\n"), "t.csv:3:1: error: row 2 has 1 cells, but the header has 2 columns\n4\n^\n");
}

TEST_F(Io, CsvValuesAreExact) {
  Table t = csv("x\n0.1\n-2.5e-3\n1.7976931348623157e308\n4.9406564584124654e-324\n-0\n");
  EXPECT_EQ(t.values, (Values{0.1, -2.5e-3, 1.7976931348623157e308, 4.9406564584124654e-324, 0}));
  EXPECT_TRUE(std::signbit(t.values[4]));
}

}  // namespace
}  // namespace gradc::test
