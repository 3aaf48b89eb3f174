// A JVM workload whose samples carry Pyroscope context ids, for the `labels`
// part of the Java client's upload. It records, through JFR's own event API,
// wall-clock samples named and shaped as async-profiler writes them
// (`profiler.WallClockSample`: sampledThread, contextId, a stack trace):
// argv[0] samples in checkout() under context 1, argv[1] in search() under
// context 2, and argv[2] in idle() under no context (0).
import jdk.jfr.Event;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

public class JfrLabels {
    @Name("profiler.WallClockSample")
    @StackTrace(true)
    static class WallClockSample extends Event {
        Thread sampledThread;
        long contextId;
    }

    static void sample(long contextId) {
        WallClockSample e = new WallClockSample();
        e.sampledThread = Thread.currentThread();
        e.contextId = contextId;
        e.commit();
    }

    static void checkout(int n) { for (int i = 0; i < n; i++) sample(1); }

    static void search(int n) { for (int i = 0; i < n; i++) sample(2); }

    static void idle(int n) { for (int i = 0; i < n; i++) sample(0); }

    public static void main(String[] args) {
        checkout(Integer.parseInt(args[0]));
        search(Integer.parseInt(args[1]));
        idle(Integer.parseInt(args[2]));
    }
}
