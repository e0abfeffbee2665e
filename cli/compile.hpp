// What the two kinds of `gradc compile` share: C names, output paths and the shared library.
#pragma once
#include <string>

#include "cli/common.hpp"

namespace gradc::cli {

bool c_identifier(const std::string& s);
/// C and C++ keywords and the C library's functions (the entries may not take them).
bool reserved_name(const std::string& s);
std::string extension(const std::string& path);  // ".o", or "" without one
std::string replace_extension(const std::string& path, const std::string& ext);
/// The object linked into a shared library by the system's `cc -shared` (no shell).
std::string link_shared(const std::string& object, const std::string& out, bool sleef = false);
/// Writes what -o's extension asks for (.h: the header; .o: the object; .so: it linked) and,
/// with --header, the header beside it. Returns the exit code.
int write_outputs(const Options& o, const std::string& ext, const std::string& header_path,
                  const std::string& header_text, const std::string& object);

/// gradc compile --step: a training program's step, update and predict with a C API.
int cmd_compile_step(const Options& o, const std::string& command);

}  // namespace gradc::cli
