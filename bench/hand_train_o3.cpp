// hand_train.cpp again, compiled with -O3 -march=native: what g++ makes of the same loops at best.
#define GRADC_HAND_TRAIN_NS hand_train_o3
#include "hand_train.cpp"
