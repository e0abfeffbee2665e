/* Trains the network of net.h (gradc compile FILE --step --prefix net --header) on rows read
 * from standard input, in their order, and prints each epoch's mean loss, the parameters and
 * predict's outputs for every row as hex floats (exact), for tests/check_embed_train.py to
 * compare with gradc train --no-shuffle and gradc predict.
 *
 *   train_net EPOCHS WIDTH_X WIDTH_Y [threads] < data
 * data: the row count, then each row's WIDTH_X inputs and WIDTH_Y targets, as decimal numbers.
 * With `threads`, two states train at once in two threads and must end equal. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static long rows, wx, wy, epochs;
static net_real *X, *Y;

struct run {
  net_state* state;
  double* losses; /* one an epoch */
};

static void* train(void* arg) {
  struct run* r = arg;
  net_init(r->state);
  for (long e = 0; e < epochs; ++e) {
    double sum = 0;
    long at = 0;
    for (; at + net_BATCH <= rows; at += net_BATCH)
      sum += net_step(r->state, X + at * wx, Y + at * wy) * (double)net_BATCH;
#ifdef net_TAIL_ROWS /* gradc train's smaller last batch */
    sum += net_step_tail(r->state, X + at * wx, Y + at * wy) * (double)net_TAIL_ROWS;
#endif
    r->losses[e] = sum / (double)rows;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  epochs = atol(argv[1]), wx = atol(argv[2]), wy = atol(argv[3]);
  int threads = argc > 4 && strcmp(argv[4], "threads") == 0;
#ifdef net_TAIL_ROWS
  long tail = net_TAIL_ROWS;
#else
  long tail = 0;
#endif
  if (scanf("%ld", &rows) != 1 || rows % net_BATCH != tail) return 2;
  X = malloc(sizeof(net_real) * (size_t)(rows * wx));
  Y = malloc(sizeof(net_real) * (size_t)(rows * wy));
  for (long r = 0; r < rows; ++r) {
    double v;
    for (long k = 0; k < wx + wy; ++k) {
      if (scanf("%lf", &v) != 1) return 2;
      if (k < wx)
        X[r * wx + k] = (net_real)v;
      else
        Y[r * wy + k - wx] = (net_real)v;
    }
  }
  struct run runs[2];
  for (int i = 0; i < 2; ++i) {
    runs[i].state = malloc(net_state_size());
    runs[i].losses = malloc(sizeof(double) * (size_t)epochs);
  }
  if (threads) {
    pthread_t t[2];
    for (int i = 0; i < 2; ++i) pthread_create(&t[i], NULL, train, &runs[i]);
    for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  } else {
    train(&runs[0]);
  }
  net_real params[net_N_PARAMS], other[net_N_PARAMS];
  net_params(runs[0].state, params);
  if (threads) {
    net_params(runs[1].state, other);
    if (memcmp(params, other, sizeof params) ||
        memcmp(runs[0].losses, runs[1].losses, sizeof(double) * (size_t)epochs)) {
      printf("the two threads' states differ\n");
      return 1;
    }
  }
  for (long e = 0; e < epochs; ++e) printf("loss %a\n", runs[0].losses[e]);
  for (long k = 0; k < net_N_PARAMS; ++k) printf("param %a\n", (double)params[k]);
  net_real* out = malloc(sizeof(net_real) * (size_t)(rows * net_N_OUTPUTS));
  net_predict(runs[0].state, (size_t)rows, X, out);
  for (long k = 0; k < rows * net_N_OUTPUTS; ++k) printf("predict %a\n", (double)out[k]);
  return 0;
}
