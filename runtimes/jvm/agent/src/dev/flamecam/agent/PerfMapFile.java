package dev.flamecam.agent;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

/**
 * /tmp/perf-PID.map kept append-only across dumps.
 *
 * <p>{@code compilerPerfmap} rewrites the file from scratch, but perf-map
 * readers (Flamecam's, perf's) read only bytes appended since their last look
 * and let later lines win. Putting the previous content back in front of each
 * new snapshot keeps that model true; beyond {@link #MAX_KEPT} bytes the file
 * starts afresh (readers notice it shrank).
 */
final class PerfMapFile {
    static final long MAX_KEPT = 16L << 20;

    private PerfMapFile() {}

    static Path path() {
        return Paths.get("/tmp/perf-" + ProcessHandle.current().pid() + ".map");
    }

    static void dumpAppending(DiagnosticCommands dcmd) throws Exception {
        Path path = path();
        byte[] old = new byte[0];
        if (Files.exists(path) && Files.size(path) <= MAX_KEPT) {
            old = Files.readAllBytes(path);
        }
        dcmd.run("compilerPerfmap");
        if (old.length == 0) {
            return;
        }
        byte[] fresh = Files.readAllBytes(path);
        if (Arrays.equals(old, fresh)) {
            return;
        }
        boolean newline = old[old.length - 1] == '\n';
        byte[] all = new byte[old.length + (newline ? 0 : 1) + fresh.length];
        System.arraycopy(old, 0, all, 0, old.length);
        if (!newline) {
            all[old.length] = '\n';
        }
        System.arraycopy(fresh, 0, all, all.length - fresh.length, fresh.length);
        write(path, all);
    }

    private static void write(Path path, byte[] content) throws IOException {
        Path tmp = path.resolveSibling(path.getFileName() + ".flamecam-tmp");
        Files.write(tmp, content);
        Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
