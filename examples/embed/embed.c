/* Calls two functions compiled by `gradc compile` (README.md, "Use gradc from C, C++ and
 * Python"): lecture_f, the value and gradient of examples/lecture.grad's f, and lin_jac, the
 * value and Jacobian of tests/inputs/tensor_args.grad's lin(x[3], A[2, 3]) = A @ x. The test
 * embed_c_cpp (tests/check_embed.py) builds it against objects, shared libraries and C source:
 *
 *   gradc compile examples/lecture.grad --fn f --grad --prefix lecture_f --header -o lecture_f.o
 *   gradc compile tests/inputs/tensor_args.grad --fn lin --jacobian --prefix lin_jac --header -o lin_jac.o
 *   cc -I. examples/embed/embed.c lecture_f.o lin_jac.o -lm -o embed
 *
 * or, with the kernels as C source (-o lecture_f.c, -o lin_jac.c: no LLVM needed to build):
 *
 *   cc -std=c99 -O2 -ffp-contract=off -I. examples/embed/embed.c lecture_f.c lin_jac.c -lm -o embed
 *
 *   embed lecture_f|lin_jac NUMBERS...
 *
 * The numbers are points, N_IN of them each. Each point goes through the single entry, then
 * all of them through one call of the batch entry; every output is printed as a hex float
 * (exact), one line per point. Build with -DGRADC_F32 for kernels compiled with --dtype f32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lecture_f.h"
#include "lin_jac.h"

#ifdef GRADC_F32
typedef float real;
#else
typedef double real;
#endif

typedef void single_fn(const real* in, real* out);
typedef void batch_fn(size_t n, const real* in, real* out);

static void print_row(const char* entry, size_t r, const real* out, size_t n_out) {
  printf("%s %zu:", entry, r);
  for (size_t j = 0; j < n_out; ++j) printf(" %a", (double)out[j]);
  printf("\n");
}

static int run(single_fn* single, batch_fn* batch, size_t n_in, size_t n_out, int argc, char** argv) {
  if (argc % n_in != 0) {
    fprintf(stderr, "embed: %d numbers are not points of %zu\n", argc, n_in);
    return 2;
  }
  size_t rows = (size_t)argc / n_in;
  real* in = malloc(sizeof(real) * (rows * n_in + 1));
  real* out = malloc(sizeof(real) * (rows * n_out + 1));
  if (!in || !out) return 1;
  for (int i = 0; i < argc; ++i) in[i] = (real)strtod(argv[i], NULL);
  for (size_t r = 0; r < rows; ++r) {
    single(in + r * n_in, out);
    print_row("single", r, out, n_out);
  }
  memset(out, 0, sizeof(real) * rows * n_out);
  batch(rows, in, out);
  for (size_t r = 0; r < rows; ++r) print_row("batch", r, out + r * n_out, n_out);
  free(in);
  free(out);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "lecture_f") == 0)
    return run(lecture_f, lecture_f_batch, lecture_f_N_IN, lecture_f_N_OUT, argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "lin_jac") == 0)
    return run(lin_jac, lin_jac_batch, lin_jac_N_IN, lin_jac_N_OUT, argc - 2, argv + 2);
  fprintf(stderr, "usage: embed lecture_f|lin_jac NUMBERS...\n");
  return 2;
}
