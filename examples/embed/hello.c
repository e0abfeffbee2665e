#include <stdio.h>

#include "f.h"  /* written by gradc compile --header */

int main(void) {
  double in[f_N_IN] = {0.5, 1.2, 3.0};  /* x, y, z */
  double out[f_N_OUT];                  /* f, df/dx, df/dy, df/dz */
  f(in, out);
  printf("f = %.17g\ndf/dx = %.17g\ndf/dy = %.17g\ndf/dz = %.17g\n", out[0], out[1], out[2], out[3]);

  double points[2 * f_N_IN] = {0.5, 1.2, 3.0, 1.0, 2.0, 3.0};  /* one point a row */
  double results[2 * f_N_OUT];
  f_batch(2, points, results);
  printf("f(1, 2, 3) = %.17g\n", results[f_N_OUT]);
  return 0;
}
