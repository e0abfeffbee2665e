// The signal handlers: only async-signal-safe work (a lock-free flag, _exit).
#include "cli/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "support/diagnostics.hpp"

namespace gradc::cli {
namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int) {
  // The second signal: the user means it. Files written so far were renamed into place whole
  // (write_file_atomic), so leaving now loses nothing that was saved.
  if (g_stop.exchange(true)) ::_exit(kExitInterrupted);
}

}  // namespace

void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a read or write in progress finishes
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_stop.load(std::memory_order_relaxed); }

}  // namespace gradc::cli
