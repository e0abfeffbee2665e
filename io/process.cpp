// Helper programs through posix_spawnp, with poll() feeding stdin while draining stdout and
// stderr, so neither side blocks on a full pipe.
#include "io/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/diagnostics.hpp"

extern char** environ;

namespace gradc {
namespace {

// Closes the descriptors it holds, whatever way the function is left.
struct Fds {
  int fd[6] = {-1, -1, -1, -1, -1, -1};  // stdin r/w, stdout r/w, stderr r/w
  void close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  ~Fds() {
    for (int i = 0; i < 6; ++i) close(i);
  }
};

// While the input is written, a program that exits early must not kill gradc with SIGPIPE:
// write() then fails with EPIPE instead, and the program's exit status tells what happened.
struct IgnoreSigpipe {
  struct sigaction old {};
  IgnoreSigpipe() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGPIPE, &ign, &old);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &old, nullptr); }
};

}  // namespace

std::optional<ProcessResult> run_program(const std::vector<std::string>& argv, const std::string& input) {
  Fds p;
  for (int i = 0; i < 6; i += 2)
    if (::pipe2(p.fd + i, O_CLOEXEC) != 0)
      throw UsageError(fmt::format("cannot run '{}': {}", argv.at(0), std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, p.fd[0], 0);
  posix_spawn_file_actions_adddup2(&actions, p.fd[3], 1);
  posix_spawn_file_actions_adddup2(&actions, p.fd[5], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  IgnoreSigpipe ignore;
  int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc == ENOENT) return std::nullopt;
  if (rc != 0) throw UsageError(fmt::format("cannot run '{}': {}", argv[0], std::strerror(rc)));
  p.close(0), p.close(3), p.close(5);  // the child's ends
  // Non-blocking, so that a write of more than the pipe holds returns instead of waiting for a
  // child that is itself waiting for us to read its output.
  for (int i : {1, 2, 4}) ::fcntl(p.fd[i], F_SETFL, ::fcntl(p.fd[i], F_GETFL) | O_NONBLOCK);
  if (input.empty()) p.close(1);
  ProcessResult r;
  std::size_t written = 0;
  char buf[1 << 16];
  while (p.fd[1] >= 0 || p.fd[2] >= 0 || p.fd[4] >= 0) {
    pollfd fds[3];
    int n = 0;
    for (int i : {1, 2, 4})
      if (p.fd[i] >= 0) fds[n++] = pollfd{p.fd[i], static_cast<short>(i == 1 ? POLLOUT : POLLIN), 0};
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < n; ++k) {
      if (!fds[k].revents) continue;
      int i = fds[k].fd == p.fd[1] ? 1 : fds[k].fd == p.fd[2] ? 2 : 4;
      if (i == 1) {
        ssize_t w = ::write(p.fd[1], input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if ((w < 0 && errno != EINTR && errno != EAGAIN) || written == input.size()) p.close(1);
      } else {
        ssize_t got = ::read(p.fd[i], buf, sizeof buf);
        if (got > 0)
          (i == 2 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
        else if (got == 0 || (errno != EINTR && errno != EAGAIN))
          p.close(i);
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace gradc
