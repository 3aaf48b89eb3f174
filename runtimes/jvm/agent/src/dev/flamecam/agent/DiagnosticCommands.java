package dev.flamecam.agent;

import java.lang.management.ManagementFactory;
import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * The JVM's own diagnostic commands (what jcmd runs), invoked in-process
 * through the {@code com.sun.management:type=DiagnosticCommand} MBean: no
 * extra process, no attach, and the same output jcmd would print.
 */
final class DiagnosticCommands {
    private static final String[] SIGNATURE = {String[].class.getName()};
    private final MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    private final ObjectName name;

    DiagnosticCommands() throws Exception {
        name = new ObjectName("com.sun.management:type=DiagnosticCommand");
    }

    /** Runs {@code operation} (e.g. "compilerPerfmap", "threadPrint"). */
    String run(String operation, String... args) throws Exception {
        Object out = server.invoke(name, operation, new Object[] {args}, SIGNATURE);
        return out == null ? "" : out.toString();
    }
}
