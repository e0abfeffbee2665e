// hand_train.cpp again, compiled with -O2 -march=native (the JIT also targets the host CPU).
#define GRADC_HAND_TRAIN_NS hand_train_native
#include "hand_train.cpp"
