// The gradc binary as a user runs it: paths that a shell would interpret, `-` for the standard
// streams, a missing or failing Graphviz, and line-buffered output into a pipe.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/process.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace gradc::test {
namespace {

namespace fs = std::filesystem;

const std::string kSource = GRADC_SOURCE_DIR;

// Each test runs in a fresh empty folder, so a file a shell would have created shows up.
class Cli : public InTempDir {
 protected:
  ProcessResult gradc(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), GRADC_BINARY);
    return run_program(args, input).value();
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }
  std::vector<std::string> files() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir_)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
};

const std::string kLecture = kSource + "/examples/lecture.grad";

TEST(Process, RunsWithoutAShellAndFeedsLargeInput) {
  // 4 MB through cat: more than any pipe buffer in both directions at once.
  std::string big(4 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 97) big[i] = '\n';
  auto r = run_program({"cat"}, big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, big);
  auto echo = run_program({"echo", "$(touch INJECTED)", "'a b'"}, "");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->out, "$(touch INJECTED) 'a b'\n");
  auto sh = run_program({"sh", "-c", "echo oops >&2; exit 5"}, "");
  ASSERT_TRUE(sh);
  EXPECT_EQ(sh->exit_code, 5);
  EXPECT_EQ(sh->err, "oops\n");
  EXPECT_FALSE(run_program({"gradc-no-such-program"}, "input"));
}

TEST_F(Cli, SvgPathWithQuotesIsJustAPath) {
  const std::string hostile = "q';touch INJECTED;'.svg";
  auto r = gradc({"graph", kLecture, "--fn", "g", "--format", "svg", "-o", hostile});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(files(), std::vector<std::string>{hostile});
  EXPECT_EQ(slurp(hostile).rfind("<?xml", 0), 0u);
}

TEST_F(Cli, SvgPathsWithSpacesLeadingDashAndNonAscii) {
  for (std::string path : {"a b.svg", "-lead.svg", "\xc3\xa9t\xc3\xa9 $HOME `x`.svg"}) {
    auto r = gradc({"graph", kLecture, "--fn", "g", "--format", "svg", "--out=" + path});
    EXPECT_EQ(r.exit_code, 0) << path << ": " << r.err;
    EXPECT_EQ(slurp(path).rfind("<?xml", 0), 0u) << path;
  }
  EXPECT_EQ(files().size(), 3u);  // and no temporary file left behind
}

TEST_F(Cli, SvgToStandardOutput) {
  auto r = gradc({"graph", kLecture, "--fn", "g", "--format", "svg", "-o", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("<?xml", 0), 0u);
  EXPECT_NE(r.out.find("</svg>"), std::string::npos);
  EXPECT_TRUE(files().empty());
}

// PATH without `dot` (a folder of our own), and a `dot` that fails with a message.
TEST_F(Cli, GraphvizNotInstalledOrFailing) {
  fs::create_directory("bin");
  std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (dir_ / "bin").c_str(), 1);
  auto missing = gradc({"graph", kLecture, "--fn", "g", "--format", "svg", "-o", "g.svg"});
  {
    std::ofstream f("bin/dot");
    f << "#!/bin/sh\necho 'Error: <stdin>: syntax error in line 1' >&2\nexit 1\n";
  }
  fs::permissions("bin/dot", fs::perms::owner_all);
  auto failing = gradc({"graph", kLecture, "--fn", "g", "--format", "svg", "-o", "g.svg"});
  ::setenv("PATH", old_path.c_str(), 1);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err,
            "gradc: error: cannot render SVG: Graphviz's 'dot' is not installed (apt-get install graphviz); "
            "-o OUT.dot writes the graph without it\n");
  EXPECT_EQ(failing.exit_code, 2);
  EXPECT_EQ(failing.err,
            "gradc: error: cannot render SVG: Graphviz's 'dot' failed (exit 1): Error: <stdin>: syntax error in "
            "line 1\n");
  EXPECT_EQ(files(), std::vector<std::string>{"bin"});  // no g.svg, no temporary files
}

// The Hessian's two orders of differentiation are separate roots whose last bits differ for
// lecture's f (H[2][0] = -0.11544341280082052 against H[0][2] = -0.11544341280082053 before
// mirroring): printed, it is exactly symmetric, in text and JSON, at any --digits. The golden
// runner compares numbers to 12 digits, so exactness is checked here.
TEST_F(Cli, HessianPrintsExactlySymmetric) {
  auto rows = [](const std::string& text) {
    std::vector<std::vector<std::string>> m;
    std::size_t at = text.find("hessian");
    for (std::size_t open = text.find('[', at); open != std::string::npos; open = text.find('[', open + 1)) {
      std::size_t close = text.find(']', open);
      std::string row = text.substr(open + 1, close - open - 1);
      if (row.find('[') != std::string::npos) continue;  // JSON's outer bracket
      std::vector<std::string> cells;
      std::size_t b = 0;
      for (std::size_t e; (e = row.find(", ", b)) != std::string::npos; b = e + 2) cells.push_back(row.substr(b, e - b));
      cells.push_back(row.substr(b));
      m.push_back(cells);
    }
    return m;
  };
  for (std::vector<std::string> extra : {std::vector<std::string>{}, {"--json"}, {"--digits", "17"}}) {
    std::vector<std::string> args{"eval", kLecture, "--fn", "f", "--hessian"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = gradc(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto h = rows(r.out);
    ASSERT_EQ(h.size(), 3u) << r.out;
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(h[i][j], h[j][i]) << i << "," << j << "\n" << r.out;
    // The fast tier's bits (eval at a point), which are those of --no-fma.
    EXPECT_EQ(h[0][2], "-0.11544341280082056");
  }
}

// Numbers print with the shortest digits that read back as the same double, or --digits N
// significant digits; exact text, which the golden runner's 12-digit comparison cannot see.
TEST_F(Cli, DigitsChoosesSignificantDigits) {
  auto shortest = gradc({"eval", kLecture, "--fn", "f"});
  auto seventeen = gradc({"eval", kLecture, "--fn", "f", "--digits", "17"});
  auto four = gradc({"eval", kLecture, "--fn", "f", "--digits", "4"});
  EXPECT_NE(shortest.out.find("df/dx = 0.3074289229646822\n"), std::string::npos) << shortest.out;
  EXPECT_NE(seventeen.out.find("df/dx = 0.30742892296468222\n"), std::string::npos) << seventeen.out;
  EXPECT_NE(four.out.find("df/dx = 0.3074\n"), std::string::npos) << four.out;
  auto points = gradc({"eval", kLecture, "--fn", "f", "--points", kSource + "/tests/inputs/points.csv"});
  EXPECT_NE(points.out.find("\n0.5,1.2,3,0.8936048211920508,0.3074289229646822,"), std::string::npos) << points.out;
}

// field --at draws a plane through a function of three variables; --range XLOW:XHIGH,YLOW:YHIGH
// gives each axis its own range (the ticks run from one end to the other).
TEST_F(Cli, FieldAtFixesAVariableAndRangesPerAxis) {
  auto at = gradc({"field", kLecture, "--fn", "f", "--at", "z=3", "-o", "at.svg"});
  ASSERT_EQ(at.exit_code, 0) << at.err;
  std::string svg = slurp("at.svg");
  EXPECT_NE(svg.find(">f(x, y, z) at z = 3 and its gradient</text>"), std::string::npos);
  auto ranged = gradc({"field", kSource + "/examples/gradient_field.grad", "--range", "-2:2,-1:3", "-o", "r.svg"});
  ASSERT_EQ(ranged.exit_code, 0) << ranged.err;
  svg = slurp("r.svg");
  auto ticks = [&](char axis) {
    std::vector<std::string> v;
    std::string key = std::string("data-axis=\"") + axis + "\" data-value=\"";
    for (std::size_t i = svg.find(key); i != std::string::npos; i = svg.find(key, i + 1)) {
      std::size_t b = i + key.size();
      v.push_back(svg.substr(b, svg.find('"', b) - b));
    }
    return v;
  };
  auto x = ticks('x'), y = ticks('y');
  ASSERT_FALSE(x.empty());
  ASSERT_FALSE(y.empty());
  EXPECT_EQ(x.front(), "-2");
  EXPECT_EQ(x.back(), "2");
  EXPECT_EQ(y.front(), "-1");
  EXPECT_EQ(y.back(), "3");
}

// --levels log: band edges geometric above the minimum, 6 decades over the 12 bands (two per
// decade), so Rosenbrock's valley (f < 1 in a thin curve, up to 2509 at the corners) has bands.
TEST_F(Cli, FieldLogLevelsAreGeometric) {
  auto r = gradc({"field", kSource + "/tests/inputs/rosenbrock.grad", "--range", "-2:2,-1:3", "--levels", "log", "-o",
                  "r.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string svg = slurp("r.svg");
  std::vector<double> edges;
  std::string key = "data-axis=\"z\" data-value=\"";
  for (std::size_t i = svg.find(key); i != std::string::npos; i = svg.find(key, i + 1))
    edges.push_back(std::stod(svg.substr(i + key.size())));
  ASSERT_EQ(edges.size(), 13u) << svg.substr(0, 200);
  double lo = edges.front(), span = edges.back() - lo;
  for (int k = 1; k < 12; ++k)
    EXPECT_NEAR(edges[k] - lo, span * std::pow(10.0, -6.0 * (12 - k) / 12), 1e-9 * span) << k;
}

// A plot written as .png or .pdf goes through librsvg's rsvg-convert: missing, or failing.
TEST_F(Cli, RsvgConvertNotInstalledOrFailing) {
  fs::create_directory("bin");
  std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (dir_ / "bin").c_str(), 1);
  auto missing = gradc({"field", kSource + "/examples/gradient_field.grad", "-o", "f.png"});
  {
    std::ofstream f("bin/rsvg-convert");
    f << "#!/bin/sh\necho 'rsvg-convert: cannot write PDF' >&2\nexit 3\n";
  }
  fs::permissions("bin/rsvg-convert", fs::perms::owner_all);
  auto failing = gradc({"field", kSource + "/examples/gradient_field.grad", "-o", "f.pdf"});
  ::setenv("PATH", old_path.c_str(), 1);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err,
            "gradc: error: cannot render PNG: librsvg's 'rsvg-convert' is not installed (apt-get install "
            "librsvg2-bin); -o OUT.svg writes the plot without it\n");
  EXPECT_EQ(failing.exit_code, 2);
  EXPECT_EQ(failing.err, "gradc: error: cannot render PDF: librsvg's 'rsvg-convert' failed (exit 3): rsvg-convert: "
                         "cannot write PDF\n");
  EXPECT_EQ(files(), std::vector<std::string>{"bin"});  // no f.png or f.pdf, no temporary files
}

// Into a pipe, progress lines leave one by one while training runs: the first read returns
// exactly the first line, and the process is still running then (the whole output is far
// below a stdio block, so with block buffering nothing would arrive before the exit).
TEST_F(Cli, ProgressIntoAPipeArrivesLineByLine) {
  {
    std::ofstream f("slow.grad");
    f << "data X = [[0, 0], [0, 1], [1, 0], [1, 1]]\ndata Y = [[0], [1], [1], [0]]\n"
         "layer net = sequential(linear(2, 8), tanh, linear(8, 1))\n"
         "train {\n  loss = mse(net(X), Y)\n  optimizer = sgd(lr = 0.2)\n  epochs = 2000000\n  seed = 1\n"
         "  log_every = 1000000\n}\n";
  }
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::string bin = GRADC_BINARY;
  char* argv[] = {bin.data(), const_cast<char*>("train"), const_cast<char*>("slow.grad"), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  char buf[4096];
  ssize_t n = ::read(out[0], buf, sizeof buf);
  int status = 0;
  pid_t done = ::waitpid(pid, &status, WNOHANG);
  ::kill(pid, SIGKILL);
  if (done == 0) ::waitpid(pid, &status, 0);
  ::close(out[0]);
  ASSERT_GT(n, 0);
  std::string first(buf, static_cast<std::size_t>(n));
  EXPECT_EQ(done, 0) << "gradc had exited before its first line arrived";
  EXPECT_EQ(first.rfind("epoch 1000000  step 1000000  loss ", 0), 0u) << first;
  EXPECT_EQ(first.find('\n'), first.size() - 1) << "more than one line at once: " << first;
}

// `--save` writes the optimizer state as well as the parameters, and .npz by the file's name.
TEST(CliHelp, TrainSaveSaysWhatItWrites) {
  auto r = run_program({GRADC_BINARY, "train", "--help"}, "").value();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("  --save TEXT                 write the trained parameters and the optimizer state, "
                       "atomically: NumPy .npz or JSON, by the extension (.npz or .json)\n"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace gradc::test

