// A C++ method in a namespace, built without frame pointers: its frames must
// read flame::Worker::burn(long) once demangled.
#include <cstdint>
#include <cstdio>

namespace flame {
struct Worker {
    volatile std::uint64_t sink = 0;
    __attribute__((noinline)) void burn(long n)
    {
        for (long i = 0; i < n; i++)
            sink += i * i;
    }
};
}  // namespace flame

int main()
{
    flame::Worker w;
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;)
        w.burn(100000);
}
