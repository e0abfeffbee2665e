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
#include "io/params_io.hpp"
#include "support/temp_dir.hpp"
#include "support/helpers.hpp"
#include "support/diagnostics.hpp"

namespace gradc::test {
namespace {

namespace fs = std::filesystem;

// Each test works in a fresh folder, with short relative paths in the messages.
class Io : public InTempDir {
 protected:
  static void write(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
  }
  static std::string slurp(const std::string& path) { return read_file(path); }
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

// Checkpoints: W[2, 3] and b[2] under SGD with momentum.
class Checkpoints : public Io {
 protected:
  void SetUp() override {
    Io::SetUp();
    m_ = compile_text("param W[2, 3] = zeros\nparam b[2] = zeros\n"
                      "train { loss = sum(W * W) + sum(b)\n optimizer = sgd(lr = 0.1, momentum = 0.9) }");
  }
  std::vector<Tensor> values() const {
    return {Tensor{Shape{2, 3}, {1, 2, 3, 4, 5, 6}}, Tensor{Shape{2}, {-1, 0.5}}};
  }
  std::string save_error(const std::string& path, const std::vector<Tensor>& v, const OptimizerState* s = nullptr) {
    try {
      save_params(path, m_->params, v, s);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  }
  // The error of loading a JSON file whose parameters are `params` (and optimizer, if any).
  std::string load_error(const std::string& params, const std::string& optimizer = "") {
    write("ck.json", R"({"format": "gradc-params", "params": {)" + params + "}" +
                         (optimizer.empty() ? "" : R"(, "optimizer": )" + optimizer) + "}");
    try {
      load_checkpoint("ck.json", m_->params, Optimizer::Sgd);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  }
  std::unique_ptr<Module> m_;
};

const std::string kB = R"("b": {"shape": [2], "data": [1, 2]})";

TEST_F(Checkpoints, SavingANonFiniteValueIsRefusedAndTheEarlierFileKept) {
  for (std::string path : {"ck.json", "ck.npz"}) {
    write(path, "earlier");
    auto v = values();
    v[0].data[3] = -INFINITY;  // W[1, 0]
    EXPECT_EQ(save_error(path, v), "cannot save '" + path +
                                       "': parameter 'W' element [1, 0] is -inf; checkpoints hold only finite numbers");
    v = values();
    v[1].data[1] = NAN;
    EXPECT_EQ(save_error(path, v),
              "cannot save '" + path + "': parameter 'b' element [1] is nan; checkpoints hold only finite numbers");
    OptimizerState s{Optimizer::Sgd, 4, 2, {Tensor{Shape{2, 3}, {0, 0, 0, 0, 0, INFINITY}}, Tensor{Shape{2}, {0, 0}}}, {}, {}};
    EXPECT_EQ(save_error(path, values(), &s),
              "cannot save '" + path +
                  "': the momentum_buffer of parameter 'W' element [1, 2] is inf; checkpoints hold only finite numbers");
    EXPECT_EQ(slurp(path), "earlier");
  }
}

TEST_F(Checkpoints, NegativeZeroSurvivesJsonAndNpz) {
  for (std::string path : {"ck.json", "ck.npz"}) {
    auto v = values();
    v[0].data[1] = -0.0;
    v[1].data[0] = 0.0;
    OptimizerState s{Optimizer::Sgd, 4, 2, {Tensor{Shape{2, 3}, {-0.0, 0, 0, 0, 0, 0}}, Tensor{Shape{2}, {0, -0.0}}}, {}, {}};
    save_params(path, m_->params, v, &s);
    Checkpoint c = load_checkpoint(path, m_->params, Optimizer::Sgd);
    EXPECT_EQ(c.params[0].data, v[0].data);
    EXPECT_TRUE(std::signbit(c.params[0].data[1])) << path;
    EXPECT_FALSE(std::signbit(c.params[1].data[0])) << path;
    ASSERT_TRUE(c.optimizer);
    EXPECT_TRUE(std::signbit(c.optimizer->momentum_buffer[0].data[0])) << path;
    EXPECT_TRUE(std::signbit(c.optimizer->momentum_buffer[1].data[1])) << path;
    EXPECT_EQ(c.optimizer->step, 4);
    EXPECT_EQ(c.optimizer->epoch, 2);
  }
  EXPECT_NE(slurp("ck.json").find(R"("data": [1, -0.0, 3, 4, 5, 6])"), std::string::npos) << slurp("ck.json");
}

TEST_F(Checkpoints, JsonShapesAreWholeNumbersWithACheckedProduct) {
  auto w = [](const std::string& shape) { return R"("W": {"shape": )" + shape + R"(, "data": [1, 2, 3, 4, 5, 6]}, )" + kB; };
  EXPECT_EQ(load_error(w("[1e30]")),
            "'ck.json': parameter 'W' has shape [1e+30]: dimensions are whole numbers of at least 1");
  EXPECT_EQ(load_error(w("[1.9]")), "'ck.json': parameter 'W' has shape [1.9]: dimensions are whole numbers of at least 1");
  EXPECT_EQ(load_error(w("[-2, 3]")),
            "'ck.json': parameter 'W' has shape [-2,3]: dimensions are whole numbers of at least 1");
  EXPECT_EQ(load_error(w("[0]")), "'ck.json': parameter 'W' has shape [0]: dimensions are whole numbers of at least 1");
  EXPECT_EQ(load_error(w(R"(["2", 3])")),
            "'ck.json': parameter 'W' has shape [\"2\",3]: dimensions are whole numbers of at least 1");
  EXPECT_EQ(load_error(w("[1073741824, 1073741824, 4]")),
            "'ck.json': parameter 'W' has shape [1073741824,1073741824,4], more than 134217728 elements");
  EXPECT_EQ(load_error(w("[18446744073709551615]")),
            "'ck.json': parameter 'W' has shape [18446744073709551615], more than 134217728 elements");
  EXPECT_EQ(load_error(w("2")), "'ck.json': parameter 'W' has shape 2, not a list");
  EXPECT_EQ(load_error(w("[3, 2]")), "'ck.json': parameter 'W' has shape [3, 2] in the file but [2, 3] in the program");
  EXPECT_EQ(load_error(w("[2, 3]")), "no error");
}

TEST_F(Checkpoints, ValuesReadMustBeFinite) {
  EXPECT_EQ(load_error(R"("W": {"shape": [2, 3], "data": [1, 2, 3, 4, 1e400, 6]}, )" + kB),
            "'ck.json' is not a parameter file: [json.exception.out_of_range.406] number overflow parsing '1e400'");
  // An .npz (from NumPy) can hold inf and nan.
  write("ck.npz", npz_bytes({{"W", Tensor{Shape{2, 3}, {1, 2, 3, 4, -INFINITY, 6}}}, {"b", Tensor{Shape{2}, {1, NAN}}}}));
  try {
    load_params("ck.npz", m_->params);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "cannot read 'ck.npz': parameter 'W' element [1, 1] is -inf; checkpoints hold only finite numbers");
  }
}

TEST_F(Checkpoints, CountersAreWholeNumbersInRange) {
  std::string p = R"("W": {"shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}, )" + kB;
  auto sgd = [&](const std::string& step, const std::string& epoch) {
    return load_error(p, R"({"kind": "sgd", "step": )" + step + R"(, "epoch": )" + epoch + R"(, "state": {}})");
  };
  EXPECT_EQ(sgd("4", "2147483647"), "no error");
  EXPECT_EQ(sgd("4", "4503599627370495"),
            "'ck.json': optimizer.sgd.epoch is 4503599627370495, not a whole number from 0 to 2147483647");
  EXPECT_EQ(sgd("4", "2147483648"), "'ck.json': optimizer.sgd.epoch is 2147483648, not a whole number from 0 to 2147483647");
  EXPECT_EQ(sgd("4", "-1"), "'ck.json': optimizer.sgd.epoch is -1, not a whole number from 0 to 2147483647");
  EXPECT_EQ(sgd("4", "1e300"), "'ck.json': optimizer.sgd.epoch is 1e+300, not a whole number from 0 to 2147483647");
  EXPECT_EQ(sgd("9007199254740992", "2"),
            "'ck.json': optimizer.sgd.step is 9007199254740992, not a whole number from 0 to 9007199254740991");
  EXPECT_EQ(sgd("2.5", "2"), "'ck.json': optimizer.sgd.step is 2.5, not a whole number from 0 to 9007199254740991");
  EXPECT_EQ(sgd(R"("4")", "2"), "'ck.json': the optimizer's \"step\" is \"4\", not a number");
}

}  // namespace
}  // namespace gradc::test
