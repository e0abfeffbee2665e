// Ctrl-C and SIGTERM for the long-running commands (train, sweep, descent): the first signal asks
// the run to stop after its current step, so the command can save its work and exit 130; a
// second one exits at once. The runtime never sees a signal, only TrainOptions::stop.
#pragma once

namespace gradc::cli {

/// Installs the handlers for SIGINT and SIGTERM (once; they stay for the process).
void catch_interrupts();

/// Whether SIGINT or SIGTERM has arrived since catch_interrupts().
bool interrupted();

}  // namespace gradc::cli
