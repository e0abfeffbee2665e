// `gradc repl`: an interactive session for teaching. Functions are defined one line at a time
// (`fn f(x) = ...`, `at x = 1`), then evaluated, differentiated, explained and printed in LaTeX
// by the same code as `gradc eval/diff/explain`. Errors point into the line just typed
// (`<repl>:1:col: error:` with the line and a caret) and the session goes on.
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <unistd.h>

#ifdef GRADC_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#include "cli/common.hpp"
#include "io/csv.hpp"
#include "io/file.hpp"
#include "support/diagnostics.hpp"

namespace gradc::cli {
namespace {

const char* const kHelp =
    "Define functions, one per line, and points:\n"
    "  fn f(x, y) = x^2 * sin(y)          (a new 'fn f' replaces the old one)\n"
    "  fn g(x) { a = 2*x; return exp(a) }\n"
    "  at x = 1, y = pi/2                 (the default point)\n"
    "Then use them:\n"
    "  eval f                             value and gradient at the default point\n"
    "  eval f at x=1, y=2                 at another point\n"
    "  diff f x                           the partial derivative (several: diff f x, y)\n"
    "  explain f x [at x=1]               the chain rule along each path\n"
    "  :latex f                           f in LaTeX; ':latex f x' its partial derivative\n"
    "  :list                              the definitions so far\n"
    "  :help                              this text\n"
    "  :quit                              leave (or Ctrl-D)\n";

struct Session {
  std::vector<std::string> defs;  // `fn` lines, in order
  // The point given on `at` lines, by name (a later value replaces an earlier one). Only the
  // names that are parameters of the current functions reach the program, so redefining
  // `fn f(x, y)` as `fn f(x)` does not make an old `at y = ...` an error.
  std::vector<std::pair<std::string, std::string>> at;
  std::string path;  // a scratch .grad file holding the program for the commands
  bool no_cache = false;  // gradc repl --no-cache: for eval
};

// An error at byte `col` of the typed line, as every other gradc diagnostic looks.
struct LineError {
  std::size_t col;
  std::string message;
};

std::string program(const std::vector<std::string>& defs) {
  std::string text;
  for (const std::string& d : defs) text += d + "\n";
  return text;
}

std::unique_ptr<Module> compile(const std::string& text);

// The functions, then one `at` line with the values of their parameters.
std::string program(const Session& s) {
  std::string text = program(s.defs);
  if (s.at.empty() || s.defs.empty()) return text;
  auto m = compile(text);
  std::vector<std::string> pieces;
  for (const auto& [name, value] : s.at) {
    bool known = false;
    for (const Function& f : m->functions)
      for (const std::string& p : param_names(f)) known = known || p == name;
    if (known) pieces.push_back(name + " = " + value);
  }
  return pieces.empty() ? text : text + "at " + join(pieces) + "\n";
}

std::unique_ptr<Module> compile(const std::string& text) {
  SourceFile src{"<repl>", text};
  SourceFile diag{src.path, src.text};
  return located_in(diag, [&] { return compile_module(std::move(src), true, read_csv); });
}

// A Diagnostic about text gradc cut out of the line and parsed on its own (the `at` values,
// named `--at`, blanked up to their column): the same error, about the line as typed.
std::string about_line(const std::string& diag, const std::string& line) {
  if (diag.rfind("--at:", 0) != 0) return diag;
  std::size_t colon = diag.find(':'), eol = diag.find('\n');
  if (colon == std::string::npos || eol == std::string::npos || colon > eol) return diag;
  std::size_t src_end = diag.find('\n', eol + 1);
  if (src_end == std::string::npos) return diag;
  return "<repl>" + diag.substr(colon, eol + 1 - colon) + line + diag.substr(src_end);
}

// Words of the line: (offset, text), split at spaces and commas.
std::vector<std::pair<std::size_t, std::string>> words(const std::string& s, std::size_t from, std::size_t to) {
  std::vector<std::pair<std::size_t, std::string>> out;
  std::size_t i = from;
  while (i < to) {
    while (i < to && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
    std::size_t b = i;
    while (i < to && s[i] != ' ' && s[i] != '\t' && s[i] != ',') ++i;
    if (i > b) out.emplace_back(b, s.substr(b, i - b));
  }
  return out;
}

class Repl {
 public:
  explicit Repl(Session& s) : s_(s) {}

  // Runs one line; false when the session should end.
  bool line(const std::string& raw) {
    line_ = raw;
    while (!line_.empty() && (line_.back() == ' ' || line_.back() == '\t' || line_.back() == '\r')) line_.pop_back();
    std::size_t start = line_.find_first_not_of(" \t");
    if (start == std::string::npos || line_[start] == '#') return true;
    auto w = words(line_, start, line_.size());
    const std::string& cmd = w[0].second;
    try {
      if (cmd == ":quit" || cmd == ":q" || cmd == "quit" || cmd == "exit") return false;
      if (cmd == ":help" || cmd == "help") {
        std::fputs(kHelp, stdout);
      } else if (cmd == ":list") {
        std::fputs(program(s_).c_str(), stdout);
      } else if (cmd == "fn" || cmd == "at") {
        define(cmd == "fn");
      } else if (cmd == "eval" || cmd == "diff" || cmd == "explain" || cmd == ":latex") {
        use(w);
      } else {
        throw LineError{w[0].first, fmt::format("unknown command '{}' (:help lists the commands)", cmd)};
      }
    } catch (const LineError& e) {
      report(SourceFile{"<repl>", line_}.format(Loc{static_cast<std::uint32_t>(e.col)}, "error", e.message));
    } catch (const Diagnostic& d) {
      report(about_line(d.what(), line_));
    } catch (const UsageError& e) {
      report(fmt::format("gradc: error: {}\n", e.what()));
    } catch (const InputError& e) {
      report(fmt::format("<repl>: error: {}\n", e.what()));
    } catch (const LimitError& e) {
      report(fmt::format("<repl>: error: {}\n", e.what()));
    }
    std::fflush(stdout);
    return true;
  }

  bool failed() const { return failed_; }

 private:
  void report(const std::string& text) {
    std::fflush(stdout);
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
    failed_ = true;
  }

  // A definition: the new line comes first in the program, so its errors are on line 1.
  void define(bool is_fn) {
    std::vector<std::string> rest;
    std::string name;
    std::smatch mt;
    if (is_fn && std::regex_search(line_, mt, std::regex(R"(^\s*fn\s+([A-Za-z_][A-Za-z0-9_]*))"))) name = mt[1];
    for (const std::string& d : s_.defs) {
      std::smatch md;
      bool same = !name.empty() && std::regex_search(d, md, std::regex(R"(^\s*fn\s+([A-Za-z_][A-Za-z0-9_]*))")) && md[1] == name;
      if (!same) rest.push_back(d);
    }
    Session trial = s_;
    if (is_fn) trial.defs = rest;
    std::string text = line_ + "\n" + program(trial);
    std::unique_ptr<Module> m;
    try {
      m = compile(text);
    } catch (const Diagnostic& d) {
      // Line 1 is the line typed; an error further down is in an earlier line that the new
      // definition breaks (it changed the arity of a function that one calls).
      std::string what = d.what();
      unsigned at_line = 0;
      if (std::sscanf(what.c_str(), "<repl>:%u:", &at_line) != 1 || at_line <= 1) throw;
      std::size_t msg = what.find(": error: "), eol = what.find('\n');
      std::size_t b = 0;
      for (unsigned l = 1; l < at_line; ++l) b = text.find('\n', b) + 1;
      throw LineError{line_.find_first_not_of(" \t"),
                      fmt::format("this breaks the earlier line '{}': {}", text.substr(b, text.find('\n', b) - b),
                                  what.substr(msg + 9, eol - msg - 9))};
    }
    if (is_fn) {
      s_.defs = rest;
      s_.defs.push_back(line_);
      if (const Function* f = m->find(name)) std::fputs(fmt::format("{}({})\n", name, join(param_names(*f))).c_str(), stdout);
      return;
    }
    // at NAME = VALUE, ...: compiled above, so each piece is NAME=VALUE.
    std::size_t at = line_.find("at");
    std::vector<std::string> shown;
    for (auto& [off, piece] : split_top(line_.substr(at + 2))) {
      std::size_t eq = piece.find('=');
      auto trim = [](std::string t) {
        std::size_t b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t");
        return b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
      };
      std::string n = trim(piece.substr(0, eq)), v = trim(piece.substr(eq + 1));
      std::erase_if(s_.at, [&](const auto& p) { return p.first == n; });
      s_.at.emplace_back(n, v);
      shown.push_back(n + " = " + v);
    }
    std::fputs(fmt::format("at {}\n", join(shown)).c_str(), stdout);
  }

  // eval F [at ...] | diff F VARS | explain F VARS [at ...] | :latex F [VARS]
  void use(const std::vector<std::pair<std::size_t, std::string>>& all) {
    const std::string& cmd = all[0].second;
    // `at` ends the words; what follows is the point, as on an `at` line.
    std::size_t at_col = std::string::npos;
    std::vector<std::pair<std::size_t, std::string>> w;
    for (const auto& p : all) {
      if (p.second == "at" && &p != &all[0]) {
        at_col = p.first;
        break;
      }
      w.push_back(p);
    }
    if (w.size() < 2) throw LineError{line_.size(), fmt::format("'{}' needs a function name (:help shows how)", cmd)};
    if (s_.defs.empty())
      throw LineError{w[1].first, fmt::format("no function '{}': define one first (fn {}(x) = ...)", w[1].second, w[1].second)};
    auto m = compile(program(s_));
    const Function* f = m->find(w[1].second);
    if (!f) {
      std::vector<std::string> names;
      for (const Function& g : m->functions) names.push_back(g.name);
      throw LineError{w[1].first, fmt::format("no function '{}' (functions: {})", w[1].second, join(names))};
    }
    std::vector<std::string> params = param_names(*f);
    std::string wrt;
    for (std::size_t i = 2; i < w.size(); ++i) {
      if (std::find(params.begin(), params.end(), w[i].second) == params.end())
        throw LineError{w[i].first, fmt::format("'{}' is not a parameter of '{}' (parameters: {})", w[i].second, f->name, join(params))};
      wrt += (wrt.empty() ? "" : ",") + w[i].second;
    }
    if (cmd == "eval" && w.size() > 2)
      throw LineError{w[2].first, fmt::format("eval takes a function and a point: eval {} at {}=1", f->name, params.empty() ? "x" : params[0])};
    if ((cmd == "diff" || cmd == "explain") && wrt.empty())
      throw LineError{line_.size(), fmt::format("{} needs the variables: {} {} {}", cmd, cmd, f->name, join(params))};
    if (at_col != std::string::npos && (cmd == "diff" || cmd == ":latex"))
      throw LineError{at_col, fmt::format("{} prints expressions and takes no point", cmd)};
    Options o;
    o.file = s_.path;
    o.fn = f->name;
    o.wrt = wrt;
    o.no_cache = s_.no_cache;
    if (at_col != std::string::npos) {
      // The point's text, blanked up to its column so that errors land where it was typed.
      std::string at = std::string(at_col + 2, ' ') + line_.substr(at_col + 2);
      if (line_.find_first_not_of(" \t", at_col + 2) == std::string::npos)
        throw LineError{line_.size(), fmt::format("expected NAME=VALUE after 'at'")};
      std::vector<double> point = resolve_point(*m, *f, at);
      std::vector<std::string> pieces;
      for (std::size_t i = 0; i < params.size(); ++i) pieces.push_back(fmt::format("{}={}", params[i], num(point[i])));
      o.at = join(pieces, ",");
    }
    if (cmd != ":latex" && cmd != "diff") {
      for (std::size_t i = 0; i < params.size() && o.at.empty(); ++i)
        if (!m->at_value(params[i]))
          throw LineError{line_.size(), fmt::format("no value for '{}': {} {}{} at {}=VALUE, or an 'at' line", params[i], cmd,
                                                     f->name, wrt.empty() ? "" : " " + wrt, params[i])};
    }
    write_file_atomic(s_.path, program(s_));
    if (cmd == "eval") {
      cmd_eval(o);
    } else if (cmd == "diff") {
      cmd_diff(o);
    } else if (cmd == "explain") {
      cmd_explain(o);
    } else if (!wrt.empty()) {
      o.format = "latex";
      cmd_diff(o);
    } else {
      std::vector<std::string> ps;
      for (const std::string& p : params) ps.push_back(print_name(p, Format::Latex));
      std::fputs(fmt::format("{}\\left({}\\right) = {}\n", print_name(f->name, Format::Latex), join(ps, ", "),
                             print_inline(f->body, Format::Latex))
                     .c_str(),
                 stdout);
    }
  }

  Session& s_;
  std::string line_;
  bool failed_ = false;
};

#ifdef GRADC_READLINE
// Ctrl-C at the prompt drops the line being typed and gives a fresh prompt, as in a shell.
extern "C" void drop_line(int) {
  std::fputs("\n", stdout);
  ::rl_on_new_line();
  ::rl_replace_line("", 0);
  ::rl_redisplay();
}
#endif

}  // namespace

int cmd_repl(const Options& opts) {
  Session s;
  s.no_cache = opts.no_cache;
  std::string dir = (std::filesystem::temp_directory_path() / "gradc-repl-XXXXXX").string();
  if (!::mkdtemp(dir.data())) throw UsageError(fmt::format("repl: cannot make a scratch folder in {}", dir));
  s.path = dir + "/session.grad";
  Repl repl(s);
  bool terminal = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
#ifdef GRADC_READLINE
  if (terminal) std::signal(SIGINT, drop_line);
#endif
  if (terminal) std::fputs("gradc repl: define functions (fn f(x) = x^2), then eval, diff, explain them. :help, :quit\n", stdout);
  for (;;) {
    std::string text;
#ifdef GRADC_READLINE
    if (terminal) {
      char* got = ::readline("grad> ");
      if (!got) break;
      text = got;
      std::free(got);
      if (!text.empty()) ::add_history(text.c_str());
      if (!repl.line(text)) break;
      continue;
    }
#endif
    if (terminal) {
      std::fputs("grad> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, text)) break;
    if (!repl.line(text)) break;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  // A script piped in fails as a whole when one of its lines did; a person at a terminal saw it.
  return !terminal && repl.failed() ? kExitInputError : kExitOk;
}

}  // namespace gradc::cli
