package dev.flamecam.agent;

import java.lang.instrument.Instrumentation;

/**
 * Flamecam's Java agent: keeps /tmp/perf-PID.map current and publishes Java
 * thread names with their native thread ids, so eBPF stack samples of this
 * JVM can be named without restarting or pausing it.
 *
 * <p>Load it at start ({@code -javaagent:flamecam-agent.jar[=options]}) or
 * into a running JVM ({@code jcmd PID JVMTI.agent_load flamecam-agent.jar}
 * or the Attach API). Options, comma separated: {@code interval=MS} (check
 * period, default 1000), {@code threads=PATH} (default
 * /tmp/flamecam-threads-PID.txt), {@code perfmap=false} (names only).
 * Loading it again triggers an immediate refresh instead of a second thread.
 */
public final class FlamecamAgent {
    private static Refresher refresher;

    private FlamecamAgent() {}

    public static void premain(String args, Instrumentation inst) {
        start(args);
    }

    public static void agentmain(String args, Instrumentation inst) {
        start(args);
    }

    static synchronized void start(String args) {
        if (refresher != null) {
            refresher.refreshNow();
            return;
        }
        refresher = new Refresher(Options.parse(args));
        Thread t = new Thread(refresher, "flamecam-agent");
        t.setDaemon(true);
        t.start();
    }
}
