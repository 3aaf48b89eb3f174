// A JVM workload for JFR: CPU in burnCpu, allocations in allocateArrays, and
// lock contention in contendLock, recorded with -XX:StartFlightRecording.
import java.util.ArrayList;
import java.util.List;

public class JfrWork {
    static final Object LOCK = new Object();
    static List<long[]> keep = new ArrayList<>();
    static volatile long sink;

    static long burnCpu(long millis) {
        long end = System.nanoTime() + millis * 1_000_000L, x = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 10_000; i++) x += i * (long) i;
        }
        return x;
    }

    static void allocateArrays(int n) {
        for (int i = 0; i < n; i++) {
            keep.add(new long[1024]);
            if (keep.size() > 2000) keep.clear();
        }
    }

    static void contendLock() throws InterruptedException {
        for (int i = 0; i < 40; i++) {
            synchronized (LOCK) {
                Thread.sleep(15);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Thread[] lockers = new Thread[3];
        for (int i = 0; i < lockers.length; i++) {
            lockers[i] = new Thread(() -> {
                try { contendLock(); } catch (InterruptedException e) { }
            }, "locker-" + i);
            lockers[i].start();
        }
        long end = System.currentTimeMillis() + Long.parseLong(args[0]);
        while (System.currentTimeMillis() < end) {
            sink += burnCpu(20);
            allocateArrays(2000);
        }
        for (Thread t : lockers) t.join();
    }
}
