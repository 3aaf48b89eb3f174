package dev.flamecam.agent;

/** The agent's options, parsed from the {@code key=value,...} agent argument. */
final class Options {
    final long intervalMs;
    final String threadsPath;
    final boolean perfMap;

    private Options(long intervalMs, String threadsPath, boolean perfMap) {
        this.intervalMs = intervalMs;
        this.threadsPath = threadsPath;
        this.perfMap = perfMap;
    }

    static Options parse(String args) {
        long interval = 1000;
        String threads = "/tmp/flamecam-threads-" + ProcessHandle.current().pid() + ".txt";
        boolean perfMap = true;
        if (args != null) {
            for (String part : args.split(",")) {
                int eq = part.indexOf('=');
                if (eq < 0) {
                    continue;
                }
                String key = part.substring(0, eq).trim();
                String value = part.substring(eq + 1).trim();
                switch (key) {
                    case "interval":
                        interval = Math.max(50, Long.parseLong(value));
                        break;
                    case "threads":
                        threads = value;
                        break;
                    case "perfmap":
                        perfMap = Boolean.parseBoolean(value);
                        break;
                    default:
                        break;
                }
            }
        }
        return new Options(interval, threads, perfMap);
    }
}
