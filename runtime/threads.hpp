// The threads a compiled kernel may split its large matrix products over (torch's intra-op
// threads). A kernel compiled for N threads calls gradc_parallel with N part functions, each
// computing a fixed block of rows of the product: every element is computed by one thread in
// the single-threaded order, so results do not depend on the thread count.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace gradc {

/// A part of a loop nest: computes its block reading `in` and writing `out` (the kernel's own
/// arguments) and the kernel's workspace.
using KernelPart = void (*)(const void* in, void* out);

/// The calling thread plus threads - 1 workers. Between jobs a worker spins for a few
/// microseconds (the next product of a training step follows soon), then sleeps.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  /// Runs parts[0 .. n) and returns when all are done: part 0 on the calling thread, part i on
  /// worker i - 1 (parts past the pool's size, or every part when another thread is already
  /// running a job on this pool, run on the calling thread, in order).
  void run(const KernelPart* parts, std::int64_t n, const void* in, void* out);

 private:
  void work(int index);

  std::vector<std::thread> workers_;
  std::mutex busy_;                      // one job at a time
  std::atomic<std::uint64_t> job_{0};    // bumped to start a job; ~0 to stop
  std::atomic<std::int64_t> pending_{0};  // workers still running the current job
  const KernelPart* parts_ = nullptr;
  std::int64_t count_ = 0;
  const void* in_ = nullptr;
  void* out_ = nullptr;
};

}  // namespace gradc

/// What generated code calls (pool: the Jit's ThreadPool).
extern "C" void gradc_parallel(void* pool, const gradc::KernelPart* parts, std::int64_t n, const void* in, void* out);
