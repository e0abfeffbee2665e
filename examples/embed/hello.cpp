// The Jacobian of a robot arm's hand position (examples/robot_arm.grad's hand(t1, t2, t3)) at
// a few joint angles, from C++: `gradc compile --jacobian` writes hand.o and hand.h.
#include <cstdio>
#include <vector>

#include "hand.h"

int main() {
  std::vector<double> angles = {0.3, 0.6, -0.4,  // t1, t2, t3 of each pose, a row each
                                0.5, 0.5, 0.5,
                                1.0, -0.5, 0.25};
  const std::size_t n = angles.size() / hand_N_IN;
  std::vector<double> out(n * hand_N_OUT);  // a row each: x, y, then the 2 x 3 Jacobian
  hand_batch(n, angles.data(), out.data());
  for (std::size_t i = 0; i < n; ++i) {
    const double* r = &out[i * hand_N_OUT];
    std::printf("hand = (%.6f, %.6f)  J = [[%.6f, %.6f, %.6f], [%.6f, %.6f, %.6f]]\n", r[0], r[1], r[2], r[3], r[4],
                r[5], r[6], r[7]);
  }
  return 0;
}
