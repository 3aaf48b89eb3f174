package dev.flamecam.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Java thread names keyed by native thread id. Java has no API for a
 * thread's OS id before JDK 19's internals, but the thread dump prints it as
 * {@code nid=0x...} (hex; decimal on newer JDKs), so the dump is parsed.
 */
final class ThreadNames {
    private static final Pattern HEADER =
            Pattern.compile("^\"(.*)\"[^\\n]*?\\bnid=(0x[0-9a-fA-F]+|\\d+)", Pattern.MULTILINE);

    private ThreadNames() {}

    /** "nid\tname" lines, one per thread in {@code dump}. */
    static String fromThreadDump(String dump) {
        StringBuilder out = new StringBuilder();
        Matcher m = HEADER.matcher(dump);
        while (m.find()) {
            String nid = m.group(2);
            long tid = nid.startsWith("0x") ? Long.parseLong(nid.substring(2), 16) : Long.parseLong(nid);
            String name = m.group(1).replace('\t', ' ').replace('\n', ' ');
            out.append(tid).append('\t').append(name).append('\n');
        }
        return out.toString();
    }

    /** Replaces {@code path} atomically so readers never see half a file. */
    static void write(String path, String content) throws IOException {
        Path target = Paths.get(path);
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.write(tmp, content.getBytes(StandardCharsets.UTF_8));
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
