// gradc bench --json: the keys and their types, figures that are positive and finite, --fn's
// choice, a training program's step, and no file left in the user's cache. (The figures
// themselves are timings: bench/README.md has them, no test can.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/process.hpp"
#include "support/temp_dir.hpp"

namespace gradc::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class Bench : public InTempDir {
 protected:
  json run(std::vector<std::string> args) {
    args.insert(args.begin(), {GRADC_BINARY, "bench"});
    args.push_back("--json");
    ProcessResult r = run_program(args, "").value();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return json::parse(r.out);
  }
  static void positive(const json& j, const char* key) {
    ASSERT_TRUE(j.contains(key)) << key;
    ASSERT_TRUE(j[key].is_number()) << key << ": " << j[key];
    double v = j[key].get<double>();
    EXPECT_TRUE(std::isfinite(v) && v > 0) << key << " = " << v;
  }
};

const std::string kLecture = std::string(GRADC_SOURCE_DIR) + "/examples/lecture.grad";

TEST_F(Bench, FunctionFiguresAndFnChoosesTheFunction) {
  ::setenv("XDG_CACHE_HOME", (dir_ / "xdg").c_str(), 1);
  for (const char* fn : {"f", "h"}) {
    SCOPED_TRACE(fn);
    json j = run({kLecture, "--fn", fn, "--points", "1000", "--dtype", "f32"});
    EXPECT_EQ(j["function"], fn);
    EXPECT_EQ(j["dtype"], "f32");
    EXPECT_EQ(j["points"], 1000);
    EXPECT_EQ(j["threads"], 1);
    EXPECT_TRUE(j["batch"].is_null());
    EXPECT_TRUE(j["step_us"].is_null());
    for (const char* k : {"frontend_ms", "compile_ms", "cached_compile_ms", "eval_ns", "batch_ns_per_point"}) positive(j, k);
    // A hit reads a file and links it; a cold compile generates, optimizes and assembles.
    EXPECT_LT(j["cached_compile_ms"].get<double>(), j["compile_ms"].get<double>());
    ASSERT_TRUE(j["isa"].is_string());
    EXPECT_FALSE(j["isa"].get<std::string>().empty());
    positive(j, "vector_bits");
    // The batch entry's width, not the cost model's: 16 f32 points at a time on AVX-512, whose
    // cost model prefers 256 bits on most of those CPUs.
    if (j["isa"] == "avx512") EXPECT_EQ(j["vector_bits"], 512);
  }
  EXPECT_FALSE(fs::exists(dir_ / "xdg")) << "bench uses a temporary cache of its own";
  ::unsetenv("XDG_CACHE_HOME");
}

TEST_F(Bench, TrainingProgramStep) {
  json j = run({std::string(GRADC_SOURCE_DIR) + "/examples/xor.grad"});
  EXPECT_TRUE(j["function"].is_null());
  EXPECT_TRUE(j["eval_ns"].is_null());
  EXPECT_TRUE(j["batch_ns_per_point"].is_null());
  EXPECT_TRUE(j["points"].is_null());
  EXPECT_EQ(j["batch"], 4);  // the train block's
  for (const char* k : {"compile_ms", "cached_compile_ms", "step_us"}) positive(j, k);
}

}  // namespace
}  // namespace gradc::test
