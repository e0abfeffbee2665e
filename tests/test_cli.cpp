// The gradc binary as a user runs it: paths that a shell would interpret, `-` for the standard
// streams, a missing or failing Graphviz, and line-buffered output into a pipe.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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
            "--format dot writes the graph without it\n");
  EXPECT_EQ(failing.exit_code, 2);
  EXPECT_EQ(failing.err,
            "gradc: error: cannot render SVG: Graphviz's 'dot' failed (exit 1): Error: <stdin>: syntax error in "
            "line 1\n");
  EXPECT_EQ(files(), std::vector<std::string>{"bin"});  // no g.svg, no temporary files
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
                       "atomically: NumPy .npz when the name ends in .npz, else JSON\n"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace gradc::test

