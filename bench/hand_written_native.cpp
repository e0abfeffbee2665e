// hand_written.cpp again, compiled with -O2 -march=native (the JIT also targets the host CPU).
#define GRADC_HAND_NS hand_native
#include "hand_written.cpp"
