#include "runtime/threads.hpp"

#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRADC_PAUSE() _mm_pause()
#else
#define GRADC_PAUSE() ((void)0)
#endif

namespace gradc {
namespace {

constexpr std::uint64_t kStop = std::numeric_limits<std::uint64_t>::max();
// Spins before sleeping (bench/choices.md, "Thread pool" for how long). Long enough to
// cover the serial code between two products of one training step, short enough that an idle
// pool does not hold a core.
constexpr int kSpins = 1 << 12;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
}

ThreadPool::~ThreadPool() {
  job_.store(kStop, std::memory_order_release);
  job_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::work(int index) {
  std::uint64_t seen = 0;
  while (true) {
    std::uint64_t job = job_.load(std::memory_order_acquire);
    for (int spin = 0; job == seen && spin < kSpins; ++spin) {
      GRADC_PAUSE();
      job = job_.load(std::memory_order_acquire);
    }
    if (job == seen) {
      job_.wait(seen, std::memory_order_acquire);
      continue;
    }
    if (job == kStop) return;
    seen = job;
    if (index < count_) parts_[index](in_, out_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const KernelPart* parts, std::int64_t n, const void* in, void* out) {
  std::unique_lock lock(busy_, std::try_to_lock);
  if (!lock.owns_lock() || workers_.empty()) {
    for (std::int64_t i = 0; i < n; ++i) parts[i](in, out);
    return;
  }
  parts_ = parts;
  count_ = n;
  in_ = in;
  out_ = out;
  pending_.store(static_cast<std::int64_t>(workers_.size()), std::memory_order_relaxed);
  job_.fetch_add(1, std::memory_order_acq_rel);
  job_.notify_all();
  if (n > 0) parts[0](in, out);
  for (std::int64_t i = size(); i < n; ++i) parts[i](in, out);
  while (pending_.load(std::memory_order_acquire) != 0) GRADC_PAUSE();
}

}  // namespace gradc

extern "C" void gradc_parallel(void* pool, const gradc::KernelPart* parts, std::int64_t n, const void* in, void* out) {
  static_cast<gradc::ThreadPool*>(pool)->run(parts, n, in, out);
}
