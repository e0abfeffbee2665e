// The C++ twin of embed.c: the same arguments and output, through std::vector and std::span,
// calling the entries of the headers `gradc compile --header` writes (their extern "C" guards
// let C++ include them).
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "lecture_f.h"
#include "lin_jac.h"

#ifdef GRADC_F32
using real = float;
#else
using real = double;
#endif

namespace {

template <class Single, class Batch>
int run(Single single, Batch batch, std::size_t n_in, std::size_t n_out, std::span<char*> args) {
  if (args.size() % n_in != 0) {
    std::fprintf(stderr, "embed: %zu numbers are not points of %zu\n", args.size(), n_in);
    return 2;
  }
  const std::size_t rows = args.size() / n_in;
  std::vector<real> in, out(rows * n_out);
  for (char* a : args) in.push_back(static_cast<real>(std::strtod(a, nullptr)));
  auto print = [&](const char* entry, std::size_t r, const real* o) {
    std::printf("%s %zu:", entry, r);
    for (std::size_t j = 0; j < n_out; ++j) std::printf(" %a", static_cast<double>(o[j]));
    std::printf("\n");
  };
  for (std::size_t r = 0; r < rows; ++r) {
    single(&in[r * n_in], out.data());
    print("single", r, out.data());
  }
  batch(rows, in.data(), out.data());
  for (std::size_t r = 0; r < rows; ++r) print("batch", r, &out[r * n_out]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::span<char*> args(argv, static_cast<std::size_t>(argc));
  std::string_view which = argc >= 2 ? argv[1] : "";
  if (which == "lecture_f") return run(lecture_f, lecture_f_batch, lecture_f_N_IN, lecture_f_N_OUT, args.subspan(2));
  if (which == "lin_jac") return run(lin_jac, lin_jac_batch, lin_jac_N_IN, lin_jac_N_OUT, args.subspan(2));
  std::fprintf(stderr, "usage: embed lecture_f|lin_jac NUMBERS...\n");
  return 2;
}
