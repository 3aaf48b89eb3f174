// Test binary for `.cold` parts: GCC moves the throwing path of hot() into a
// separate `hot(long) [clone .cold]` symbol, which must be named `hot(long)`.
#include <stdexcept>

volatile long sink;

__attribute__((noinline)) long hot(long n) {
    long s = 0;
    for (long i = 0; i < n; i++) {
        if (sink == 42 + i) throw std::runtime_error("never");
        s += i * sink;
    }
    return s;
}

int main(int argc, char **) {
    sink = hot(argc * 1000);
    return 0;
}
