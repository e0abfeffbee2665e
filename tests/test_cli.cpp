// The gradc binary as a user runs it: paths that a shell would interpret, `-` for the standard
// streams, a missing or failing Graphviz, and line-buffered output into a pipe.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/process.hpp"

namespace gradc::test {
namespace {

namespace fs = std::filesystem;

const std::string kSource = GRADC_SOURCE_DIR;

// Each test runs in a fresh empty folder, so a file a shell would have created shows up.
class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gradc_cli_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    old_ = fs::current_path();
    fs::current_path(dir_);
  }
  void TearDown() override {
    fs::current_path(old_);
    fs::remove_all(dir_);
  }
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
  fs::path dir_, old_;
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
            "--format dot writes the graph without it\n");
  EXPECT_EQ(failing.exit_code, 2);
  EXPECT_EQ(failing.err,
            "gradc: error: cannot render SVG: Graphviz's 'dot' failed (exit 1): Error: <stdin>: syntax error in "
            "line 1\n");
  EXPECT_EQ(files(), std::vector<std::string>{"bin"});  // no g.svg, no temporary files
}

}  // namespace
}  // namespace gradc::test
