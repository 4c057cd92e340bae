package io.streamhouse.lease.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A real kube-apiserver + etcd + controller manager (garbage collection) on loopback, built once
 * per machine from Debian's sources by hack/kube-apiserver/build.sh (cached; ~10 min cold) and
 * started by start.sh into a fresh state directory.
 */
public final class LocalApiServer implements AutoCloseable {

    private final Path stateDir;
    private final String server;
    private final String token;

    private LocalApiServer(Path stateDir, String server, String token) {
        this.stateDir = stateDir;
        this.server = server;
        this.token = token;
    }

    /** Builds (when not cached) and starts a server; extra apiserver flags may be given. */
    public static LocalApiServer start(String extraApiServerArgs) throws IOException, InterruptedException {
        ensureBuilt();
        Path hack = projectDir().resolve("hack/kube-apiserver");
        Path state = Files.createTempDirectory("streamhouse-kube-");
        run(Duration.ofMinutes(3), extraApiServerArgs, "bash", hack.resolve("start.sh").toString(), state.toString());
        String kubeconfig = Files.readString(state.resolve("kubeconfig"), StandardCharsets.UTF_8);
        String server = kubeconfig.lines().map(String::trim).filter(l -> l.startsWith("server:"))
                .map(l -> l.substring("server:".length()).trim().replace("\"", "")).findFirst()
                .orElseThrow(() -> new IllegalStateException("no server in " + state.resolve("kubeconfig")));
        String token = Files.readString(state.resolve("token"), StandardCharsets.UTF_8).trim();
        return new LocalApiServer(state, server, token);
    }

    /** Builds the binaries unless build.sh finds them cached (~10 min cold on 2 cores). */
    public static void ensureBuilt() throws IOException, InterruptedException {
        run(Duration.ofMinutes(40), null, "bash", projectDir().resolve("hack/kube-apiserver/build.sh").toString());
    }

    public String server() {
        return server;
    }

    public String token() {
        return token;
    }

    public Path kubeconfig() {
        return stateDir.resolve("kubeconfig");
    }

    @Override
    public void close() throws IOException, InterruptedException {
        run(Duration.ofMinutes(1), null, "bash", projectDir().resolve("hack/kube-apiserver/stop.sh").toString(),
                stateDir.toString());
    }

    public static Path projectDir() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("hack/kube-apiserver/start.sh"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("hack/kube-apiserver not found above " + Path.of("").toAbsolutePath());
        }
        return dir;
    }

    private static void run(Duration timeout, String extraArgs, String... command) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(projectDir().resolve("target/kube-apiserver.log").toFile()));
        if (extraArgs != null) {
            builder.environment().put("KUBE_APISERVER_EXTRA_ARGS", extraArgs);
        }
        Process process = builder.start();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " did not finish within " + timeout
                    + "; see target/kube-apiserver.log");
        }
        if (process.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed with exit code "
                    + process.exitValue() + "; see target/kube-apiserver.log");
        }
    }
}
