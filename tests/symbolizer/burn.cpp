// Test workload in C++: flame::Worker::spin (a method in a namespace) under
// main -> work -> burn_a, so demangling and unwinding through C++ are checked.
#include <chrono>
#include <cstdio>
#include <cstdlib>

volatile double sink;

namespace flame {
struct Worker {
    double acc = 0;
    __attribute__((noinline)) void spin(long n);
};

__attribute__((noinline)) void Worker::spin(long n) {
    for (long i = 0; i < n; i++) acc += i * 0.25;
    sink = acc;
}
}  // namespace flame

__attribute__((noinline)) void burn_a(flame::Worker &w, long n) {
    w.spin(n);
    sink += 1;
}

__attribute__((noinline)) void work(flame::Worker &w, long n) {
    burn_a(w, n);
    sink += 1;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
    flame::Worker w;
    void (flame::Worker::*pmf)(long) = &flame::Worker::spin;
    std::printf("spin=%p burn_a=%p work=%p main=%p\n", (void *)(w.*pmf), (void *)burn_a,
                (void *)work, (void *)main);
    std::fflush(stdout);
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) work(w, 200000);
    return 0;
}
