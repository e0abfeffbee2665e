// Files that NumPy, PyTorch and spreadsheets write: CSV per RFC 4180 (quotes, CRLF, byte-order
// mark, '+'), errors located at the offending cell; .npz archives (Fortran order, compressed,
// ZIP64) built byte by byte here; JSON checkpoints (finite values, -0, shapes, counters).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "io/csv.hpp"
#include "io/file.hpp"
#include "io/npz.hpp"
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

// .npz fixtures written by tests/inputs/npz/make_fixtures.py exactly as numpy.savez(_compressed)
// writes them (zipfile, force_zip64), with hand-written .npy headers.
std::string fixture(const std::string& name) { return read_file(std::string(GRADC_SOURCE_DIR) + "/tests/inputs/npz/" + name); }

std::map<std::string, Tensor> npz(const std::string& bytes) {
  std::map<std::string, Tensor> m;
  for (auto& [name, t] : read_npz(bytes)) m[name] = t;
  return m;
}

std::string npz_error(const std::string& bytes) {
  try {
    read_npz(bytes);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Npz, FortranOrderIsTransposedToCOrder) {
  auto a = npz(fixture("fortran.npz"));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a["W"].shape, (Shape{2, 3}));
  EXPECT_EQ(a["W"].data, (Values{0, 1, 2, 10, 11, 12}));  // W[i][j] = 10 i + j
  EXPECT_EQ(a["T"].shape, (Shape{2, 3, 4}));
  ASSERT_EQ(a["T"].data.size(), 24u);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(a["T"].data[static_cast<std::size_t>(12 * i + 4 * j + k)], 100 * i + 10 * j + k);
  EXPECT_EQ(a["v"].data, (Values{1.5, -2.5, 3.25}));  // rank 1: both orders agree
}

TEST(Npz, CompressedEntriesAndEveryNumericDtype) {
  auto a = npz(fixture("compressed.npz"));
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a["a"].data, (Values{0.1, -0.0, 1e300}));
  EXPECT_TRUE(std::signbit(a["a"].data[1]));
  EXPECT_EQ(a["n"].shape, Shape{});
  EXPECT_EQ(a["n"].data, Values{600});  // np.array(600): int64, as optimizer counters arrive
  EXPECT_EQ(a["big"].shape, (Shape{2, 2}));
  EXPECT_EQ(a["big"].data, (Values{1, 2, -3.5, 4.25}));  // '>f8', byte-swapped
  EXPECT_EQ(a["i"].data, (Values{-7, 2147483647}));
  EXPECT_EQ(a["u"].data, (Values{0, 200, 255}));
  EXPECT_EQ(a["flag"].data, (Values{1, 0}));
}

TEST(Npz, Zip64ExtraFieldsAndEndRecords) {
  auto a = npz(fixture("zip64.npz"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a["x"].data, (Values{0.5, -0.25}));
}

TEST(Npz, WhatStaysUnsupportedSaysSo) {
  EXPECT_EQ(npz_error(fixture("object.npz")),
            "o.npy is an array of Python objects (dtype 'O'), which gradc cannot read: save a numeric array");
  EXPECT_EQ(npz_error(fixture("complex.npz")),
            "c.npy has dtype '<c16': gradc reads float64, float32, integer and bool arrays");
}

// The fuzzer's archive: a shape whose byte count overflows 64 bits to 0, with 16 data bytes.
TEST(Npz, HugeShapesAreRefusedBeforeAnyArithmetic) {
  EXPECT_EQ(npz_error(fixture("overflow.npz")),
            "x.npy: shape (1073741824, 1073741824, 4) has more than 134217728 elements");
  EXPECT_EQ(npz_error(fixture("short.npz")), "x.npy: 24 bytes of data for shape [2, 2] of 8-byte elements (32 bytes)");
}

TEST(Npz, CorruptArchives) {
  std::string b = fixture("zip64.npz");
  std::string flipped = b;
  flipped[b.find("\xe0?")] ^= 1;  // a bit of the value 0.5
  EXPECT_EQ(npz_error(flipped), "'x.npy': CRC-32 mismatch, the archive is corrupt");
  EXPECT_EQ(npz_error(b.substr(0, b.size() - 30)), "not an .npz archive (no ZIP end of central directory)");
  EXPECT_EQ(npz_error("PK"), "not an .npz archive (too short for a ZIP file)");
  std::string c = fixture("compressed.npz");
  std::string broken = c;
  broken[60] ^= 0x55;  // inside the first deflate stream
  EXPECT_EQ(npz_error(broken), "'a.npy': the compressed data is corrupt or does not hold 152 bytes");
  // Every truncation of a valid archive is an error, never a crash.
  for (std::size_t n = 0; n < c.size(); ++n) EXPECT_NE(npz_error(c.substr(0, n)), "no error") << n;
}

TEST(Npz, WrittenArchivesReadBack) {
  Tensor w{Shape{2, 3}, {1, -0.0, 0.1, 1e-310, -1e308, 3}};
  auto back = read_npz(npz_bytes({{"net.0.W", w}, {"s", Tensor::scalar(2.5)}}));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].first, "net.0.W");
  EXPECT_EQ(back[0].second.shape, w.shape);
  EXPECT_EQ(back[0].second.data, w.data);
  EXPECT_TRUE(std::signbit(back[0].second.data[1]));
  EXPECT_EQ(back[1].second.data, Values{2.5});
}

}  // namespace
}  // namespace gradc::test
