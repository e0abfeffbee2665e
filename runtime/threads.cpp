#include "runtime/threads.hpp"

#include <chrono>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRADC_PAUSE() _mm_pause()
#else
#define GRADC_PAUSE() ((void)0)
#endif

namespace gradc {
namespace {

using Clock = std::chrono::steady_clock;

// How long a worker spins for the next job before it blocks: covers the serial code between
// two products of one training step (a few microseconds), and is short enough that a pool
// between steps gives its core back at once. Timed, not counted: `pause` takes from ~10 to
// ~140 cycles depending on the core.
constexpr auto kWorkerSpin = std::chrono::microseconds(20);
// How long the caller spins for the parts other threads are running before it blocks: a
// running worker finishes its part about when the caller finishes its own; one that was
// descheduled mid-part may take a time slice (milliseconds), and the caller then sleeps.
constexpr auto kCallerSpin = std::chrono::microseconds(50);

// Spins until done() or `budget` has passed; returns done()'s last value.
template <class Done>
bool spin_until(Done done, Clock::duration budget) {
  Clock::time_point end = Clock::now() + budget;
  while (true) {
    for (int i = 0; i < 16; ++i) {
      if (done()) return true;
      GRADC_PAUSE();
    }
    if (Clock::now() >= end) return done();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  stall_workers(false);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  epoch_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::stall_workers(bool stalled) {
  stalled_.store(stalled, std::memory_order_release);
  if (!stalled) stalled_.notify_all();
}

void ThreadPool::work() {
  std::uint32_t seen = 0;
  while (true) {
    std::uint32_t e = epoch_.load(std::memory_order_acquire);
    if (e == seen) {
      if (!spin_until([&] { return epoch_.load(std::memory_order_acquire) != seen; }, kWorkerSpin))
        epoch_.wait(seen, std::memory_order_acquire);
      continue;
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = e;
    while (stalled_.load(std::memory_order_acquire)) stalled_.wait(true, std::memory_order_acquire);
    worker_parts_.fetch_add(take_parts(e), std::memory_order_relaxed);
  }
}

std::int64_t ThreadPool::take_parts(std::uint32_t epoch) {
  std::int64_t ran = 0;
  std::uint64_t t = ticket_.load(std::memory_order_acquire);
  while (static_cast<std::uint32_t>(t >> 32) == epoch) {
    // count_ is read after a ticket of this epoch, so it is this job's (or, if the job has
    // ended meanwhile, the next one's, and then the exchange below fails).
    std::uint32_t n = count_.load(std::memory_order_relaxed);
    std::uint32_t i = static_cast<std::uint32_t>(t);
    if (i >= n) break;
    if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    // Part i is ours, and the job cannot end (nor parts_ change) before it is done.
    parts_[i](in_, out_);
    ++ran;
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == n) done_.notify_one();
    t = ticket_.load(std::memory_order_acquire);
  }
  return ran;
}

void ThreadPool::run(const KernelPart* parts, std::int64_t n, const void* in, void* out) {
  std::unique_lock lock(busy_, std::try_to_lock);
  if (!lock.owns_lock() || workers_.empty() || n <= 1 || n > INT32_MAX) {
    for (std::int64_t i = 0; i < n; ++i) parts[i](in, out);
    return;
  }
  auto count = static_cast<std::uint32_t>(n);
  parts_ = parts;
  in_ = in;
  out_ = out;
  count_.store(count, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  std::uint32_t e = epoch_.load(std::memory_order_relaxed) + 1;
  ticket_.store(std::uint64_t(e) << 32, std::memory_order_release);
  epoch_.store(e, std::memory_order_release);
  epoch_.notify_all();  // a system call only when a worker sleeps
  take_parts(e);
  auto finished = [&] { return done_.load(std::memory_order_acquire) == count; };
  if (spin_until(finished, kCallerSpin)) return;
  for (std::uint32_t d; (d = done_.load(std::memory_order_acquire)) != count;)
    done_.wait(d, std::memory_order_acquire);
}

}  // namespace gradc

extern "C" void gradc_parallel(void* pool, const gradc::KernelPart* parts, std::int64_t n, const void* in, void* out) {
  static_cast<gradc::ThreadPool*>(pool)->run(parts, n, in, out);
}
