// The threads a compiled kernel may split its large matrix products over (torch's intra-op
// threads). A kernel compiled for N threads calls gradc_parallel with N part functions, each
// computing a fixed block of rows of the product: every element is computed by one thread in
// the single-threaded order, so results do not depend on the thread count, nor on which
// thread ran which part.
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

/// The calling thread plus threads - 1 workers, built to survive a busy machine: every thread,
/// the caller included, takes the next part of a job from a shared counter, so a worker that is
/// not running (descheduled by another process, still waking up) delays nothing: the caller
/// does its parts. A waiting thread spins for a few microseconds (the next product of a training
/// step follows soon; a worker's part ends soon), then blocks on a futex (std::atomic::wait),
/// so an idle pool never holds a core another process needs.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  /// Runs parts[0 .. n) and returns when all are done, each part on whichever thread takes it
  /// first. When another thread is already running a job on this pool, the parts run on the
  /// calling thread, in order.
  void run(const KernelPart* parts, std::int64_t n, const void* in, void* out);

  /// For tests: while held, the workers take no part (they are busy elsewhere, as when another
  /// process has their cores); run() must still finish, on the caller alone.
  void stall_workers(bool stalled);
  /// For tests: how many parts the workers (not callers) have run since the pool started.
  std::int64_t parts_run_by_workers() const { return worker_parts_.load(std::memory_order_relaxed); }

 private:
  void work();
  // Takes and runs the parts of job `epoch` until none is left; returns how many it ran.
  std::int64_t take_parts(std::uint32_t epoch);

  std::vector<std::thread> workers_;
  std::mutex busy_;  // one job at a time
  // A job: the caller writes its description, then publishes it by setting ticket_ to
  // (epoch << 32 | 0) and bumping epoch_. A thread takes part i by moving ticket_ from
  // (epoch << 32 | i) to (epoch << 32 | i + 1) while i < count_: a thread that wakes late,
  // holding an old epoch, cannot take a part of a newer job.
  const KernelPart* parts_ = nullptr;
  std::atomic<std::uint32_t> count_{0};
  const void* in_ = nullptr;
  void* out_ = nullptr;
  std::atomic<std::uint64_t> ticket_{0};
  std::atomic<std::uint32_t> epoch_{0};  // the current job; what sleeping workers wait on
  std::atomic<std::uint32_t> done_{0};   // parts of the current job finished; the caller waits on it
  std::atomic<bool> stop_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<std::int64_t> worker_parts_{0};
};

}  // namespace gradc

/// What generated code calls (pool: the Jit's ThreadPool).
extern "C" void gradc_parallel(void* pool, const gradc::KernelPart* parts, std::int64_t n, const void* in, void* out);
