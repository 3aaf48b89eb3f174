// Test workload for the JVM: main -> mid -> leaf, JIT-compiled, for unwinding
// through JIT code (frame pointers) and libjvm (CFI).
public class Burner {
    static double sink;
    static double leaf(double x) { for (int i = 0; i < 1000; i++) x = x * 1.0000001 + i; return x; }
    static double mid(double x) { for (int i = 0; i < 100; i++) x = leaf(x); return x; }
    public static void main(String[] a) throws Exception {
        System.out.println("go"); System.out.flush();
        long end = System.currentTimeMillis() + Long.parseLong(a[0]) * 1000;
        while (System.currentTimeMillis() < end) sink += mid(sink);
    }
}
