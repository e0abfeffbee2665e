// Clang's diagnostic colours (support/diagnostics.hpp).
#include "support/diagnostics.hpp"

namespace gradc {
namespace {
bool g_colour = false;
constexpr std::string_view kBold = "\x1b[1m", kReset = "\x1b[0m";

std::string_view severity_colour(std::string_view severity) {
  if (severity == "warning") return "\x1b[0;1;35m";
  if (severity == "note") return "\x1b[0;1;30m";
  if (severity == "error" || severity == "internal error") return "\x1b[0;1;31m";
  return kBold;
}
}  // namespace

void set_colour(bool on) { g_colour = on; }
bool colour() { return g_colour; }

std::string message_prefix(std::string_view who, std::string_view severity) {
  std::string s;
  if (!g_colour) {
    s.append(who).append(": ").append(severity).append(": ");
    return s;
  }
  s.append(kBold).append(who).append(": ").append(kReset);
  s.append(severity_colour(severity)).append(severity).append(": ").append(kReset);
  return s;
}

std::string message_text(std::string_view text) {
  if (!g_colour) return std::string(text);
  std::string s;
  s.append(kBold).append(text).append(kReset);
  return s;
}

}  // namespace gradc
