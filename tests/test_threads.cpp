// The thread pool of matrix products (runtime/threads.hpp): every part of every job runs exactly
// once, whichever thread takes it, also with more parts than threads, several callers at once,
// and workers that take no part at all (a busy machine): then the caller does every part.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/threads.hpp"

namespace gradc {
namespace {

// A job of kParts parts: part i adds i + 1 to slot i of `out` (a counter per part) and records
// the thread that ran it.
constexpr int kParts = 16;

struct Slots {
  std::atomic<std::int64_t> hits[kParts];
  std::atomic<std::thread::id> who[kParts];
  Slots() {
    for (auto& h : hits) h.store(0);
  }
};

template <int I>
void part(const void* in, void* out) {
  auto* s = static_cast<Slots*>(out);
  // Some work, so that several threads overlap in a job.
  volatile double x = *static_cast<const double*>(in);
  for (int k = 0; k < 200; ++k) x = x * 1.0000001 + 1e-9;
  s->hits[I].fetch_add(I + 1);
  s->who[I].store(std::this_thread::get_id());
}

template <std::size_t... I>
constexpr std::array<KernelPart, kParts> make_parts(std::index_sequence<I...>) {
  return {&part<I>...};
}
const std::array<KernelPart, kParts> kTable = make_parts(std::make_index_sequence<kParts>{});

TEST(ThreadPool, EveryPartOnceOverManyJobs) {
  ThreadPool pool(2);
  Slots s;
  const double in = 1.0;
  constexpr int kJobs = 20000;
  for (int j = 0; j < kJobs; ++j) pool.run(kTable.data(), 2, &in, &s);
  EXPECT_EQ(s.hits[0].load(), kJobs * 1);
  EXPECT_EQ(s.hits[1].load(), kJobs * 2);
  for (int i = 2; i < kParts; ++i) EXPECT_EQ(s.hits[i].load(), 0) << i;
}

TEST(ThreadPool, MorePartsThanThreads) {
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    Slots s;
    const double in = 1.0;
    for (int j = 0; j < 2000; ++j) pool.run(kTable.data(), kParts, &in, &s);
    for (int i = 0; i < kParts; ++i) EXPECT_EQ(s.hits[i].load(), 2000 * (i + 1)) << threads << " threads, part " << i;
  }
}

TEST(ThreadPool, JobsOfDifferentSizesInTurn) {
  ThreadPool pool(3);
  Slots s;
  const double in = 1.0;
  std::int64_t expect[kParts] = {};
  for (int j = 0; j < 5000; ++j) {
    int n = j % (kParts + 1);  // 0 .. kParts parts, 0 and 1 included
    pool.run(kTable.data(), n, &in, &s);
    for (int i = 0; i < n; ++i) expect[i] += i + 1;
  }
  for (int i = 0; i < kParts; ++i) EXPECT_EQ(s.hits[i].load(), expect[i]) << i;
}

TEST(ThreadPool, ConcurrentCallers) {
  ThreadPool pool(2);
  const double in = 1.0;
  constexpr int kCallers = 4, kJobs = 3000;
  std::vector<Slots> slots(kCallers);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      for (int j = 0; j < kJobs; ++j) pool.run(kTable.data(), 8, &in, &slots[c]);
    });
  for (std::thread& t : callers) t.join();
  for (int c = 0; c < kCallers; ++c)
    for (int i = 0; i < 8; ++i) EXPECT_EQ(slots[c].hits[i].load(), kJobs * (i + 1)) << "caller " << c << " part " << i;
}

// The workers take nothing (as if another process had their cores): every job still finishes,
// each part run once, all on the calling thread. Then the workers come back and take parts again.
TEST(ThreadPool, StalledWorkersLeaveEveryPartToTheCaller) {
  ThreadPool pool(3);
  const double in = 1.0;
  Slots warm;
  for (int j = 0; j < 200; ++j) pool.run(kTable.data(), kParts, &in, &warm);
  pool.stall_workers(true);
  std::int64_t before = pool.parts_run_by_workers();
  Slots s;
  for (int j = 0; j < 500; ++j) pool.run(kTable.data(), kParts, &in, &s);
  EXPECT_EQ(pool.parts_run_by_workers(), before);
  for (int i = 0; i < kParts; ++i) {
    EXPECT_EQ(s.hits[i].load(), 500 * (i + 1)) << i;
    EXPECT_EQ(s.who[i].load(), std::this_thread::get_id()) << i;
  }
  pool.stall_workers(false);
  // Back to work: some parts go to the workers again (they sleep until a job wakes them).
  Slots after;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int jobs = 0;
  while (pool.parts_run_by_workers() == before && std::chrono::steady_clock::now() < deadline) {
    pool.run(kTable.data(), kParts, &in, &after);
    ++jobs;
  }
  EXPECT_GT(pool.parts_run_by_workers(), before);
  for (int i = 0; i < kParts; ++i) EXPECT_EQ(after.hits[i].load(), jobs * (i + 1)) << i;
}

// Workers that were never woken for a while (they sleep after their spin) still take parts.
TEST(ThreadPool, SleepingWorkersWakeForTheNextJob) {
  ThreadPool pool(2);
  const double in = 1.0;
  Slots s;
  int jobs = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (pool.parts_run_by_workers() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // far past the workers' spin
    pool.run(kTable.data(), kParts, &in, &s);
    ++jobs;
  }
  EXPECT_GT(pool.parts_run_by_workers(), 0);
  for (int i = 0; i < kParts; ++i) EXPECT_EQ(s.hits[i].load(), jobs * (i + 1)) << i;
}

TEST(ThreadPool, OneThreadRunsInOrderOnTheCaller) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.size(), 1);
  Slots s;
  const double in = 1.0;
  pool.run(kTable.data(), kParts, &in, &s);
  for (int i = 0; i < kParts; ++i) {
    EXPECT_EQ(s.hits[i].load(), i + 1);
    EXPECT_EQ(s.who[i].load(), std::this_thread::get_id());
  }
  EXPECT_EQ(pool.parts_run_by_workers(), 0);
}

}  // namespace
}  // namespace gradc
