#include <stdio.h>

#include "xor.h"  /* gradc compile examples/xor.grad --step --batch 2 -o xor.o --header */

int main(void) {
  double X[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, Y[4] = {0, 1, 1, 0};
  xor_state s;  /* the caller's memory: parameters, optimizer state, step count */
  xor_init(&s); /* gradc train's initial parameters (the train block's seed) */
  for (int epoch = 1; epoch <= 300; ++epoch) {
    double loss = 0;
    for (int r = 0; r < 4; r += xor_BATCH) loss += xor_step(&s, X[r], &Y[r]) * xor_BATCH;
    if (epoch % 100 == 0) printf("epoch %d  loss %.6g\n", epoch, loss / 4);
  }
  double out[4];
  xor_predict(&s, 4, &X[0][0], out);
  for (int r = 0; r < 4; ++r) printf("%g xor %g -> %.3f\n", X[r][0], X[r][1], out[r]);
  return 0;
}
