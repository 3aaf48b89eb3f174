package dev.flamecam.agent;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The agent's loop: rewrite the perf map when the JIT has compiled since the
 * last dump, and the thread-name file when threads were started or ended.
 * Checking is two MXBean reads per interval, so an idle JVM pays nothing;
 * the dump itself costs a few ms and happens only after compilation.
 */
final class Refresher implements Runnable {
    /** Rewrite anyway after this many quiet intervals (code-cache reuse). */
    private static final int FORCE_EVERY = 30;

    private final Options options;
    private final CompilationMXBean compiler = ManagementFactory.getCompilationMXBean();
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private final Object wake = new Object();
    private boolean refreshRequested;
    private boolean perfMapBroken;

    Refresher(Options options) {
        this.options = options;
    }

    void refreshNow() {
        synchronized (wake) {
            refreshRequested = true;
            wake.notifyAll();
        }
    }

    @Override
    public void run() {
        DiagnosticCommands dcmd;
        try {
            dcmd = new DiagnosticCommands();
        } catch (Exception e) {
            System.err.println("flamecam-agent: no DiagnosticCommand MBean: " + e);
            return;
        }
        long lastCompileMs = -1;
        long lastStarted = -1;
        int lastLive = -1;
        int quiet = 0;
        while (true) {
            boolean forced;
            synchronized (wake) {
                forced = refreshRequested;
                refreshRequested = false;
            }
            long compileMs = compiler != null && compiler.isCompilationTimeMonitoringSupported()
                    ? compiler.getTotalCompilationTime() : -2;
            if (options.perfMap && !perfMapBroken
                    && (forced || compileMs != lastCompileMs || compileMs == -2 || ++quiet >= FORCE_EVERY)) {
                try {
                    PerfMapFile.dumpAppending(dcmd);
                } catch (Exception e) {
                    perfMapBroken = true;  // JDK < 17: no Compiler.perfmap; warn once
                    System.err.println("flamecam-agent: compilerPerfmap unavailable: " + e);
                }
                lastCompileMs = compileMs;
                quiet = 0;
            }
            long started = threads.getTotalStartedThreadCount();
            int live = threads.getThreadCount();
            if (forced || started != lastStarted || live != lastLive) {
                try {
                    ThreadNames.write(options.threadsPath, ThreadNames.fromThreadDump(dcmd.run("threadPrint")));
                    lastStarted = started;
                    lastLive = live;
                } catch (Exception e) {
                    System.err.println("flamecam-agent: cannot write thread names: " + e);
                }
            }
            synchronized (wake) {
                if (!refreshRequested) {
                    try {
                        wake.wait(options.intervalMs);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        }
    }
}
