// The tests' small network by hand: tanh(x @ W1 + b1) @ W2 + b2 (2 inputs, 3 tanh units, 1
// output) under mean squared error, its loss and the gradients backpropagation gives.
#pragma once
#include <cmath>
#include <vector>

namespace gradc::test {

/// mean((net(X) - Y)^2) over `rows` rows, with W1 [2, 3] row-major, b1 [3], W2 [3, 1], b2 [1];
/// writes the gradients (dW1, db1, dW2, db2) to g[0..3].
inline double mlp_2_3_1_mse(const double (*X)[2], const double* Y, int rows, const std::vector<double>& W1,
                            const std::vector<double>& b1, const std::vector<double>& W2,
                            const std::vector<double>& b2, std::vector<double>* g) {
  std::vector<double> gW1(6, 0), gb1(3, 0), gW2(3, 0), gb2(1, 0);
  double loss = 0;
  for (int i = 0; i < rows; ++i) {
    double h[3], out = b2[0];
    for (int j = 0; j < 3; ++j) {
      double z = b1[j];
      for (int k = 0; k < 2; ++k) z += X[i][k] * W1[k * 3 + j];
      h[j] = std::tanh(z);
      out += h[j] * W2[j];
    }
    double d = out - Y[i];
    loss += d * d / rows;
    double dout = 2 * d / rows;
    gb2[0] += dout;
    for (int j = 0; j < 3; ++j) {
      gW2[j] += h[j] * dout;
      double dz = dout * W2[j] * (1 - h[j] * h[j]);
      gb1[j] += dz;
      for (int k = 0; k < 2; ++k) gW1[k * 3 + j] += X[i][k] * dz;
    }
  }
  g[0] = gW1, g[1] = gb1, g[2] = gW2, g[3] = gb2;
  return loss;
}

}  // namespace gradc::test
