// A test fixture that runs each test in a fresh empty folder (removed afterwards), so files a
// test writes, and files nothing should have written, show up with short relative paths.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace gradc::test {

class InTempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gradc_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    old_ = std::filesystem::current_path();
    std::filesystem::current_path(dir_);
  }
  void TearDown() override {
    std::filesystem::current_path(old_);
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_, old_;
};

}  // namespace gradc::test
