package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The README's first command and its quick start, run as a new user runs them: {@code
 * hack/run-local.sh} on the already-built jar (no Maven build inside this one) with nothing
 * configured, so it starts its own kube-apiserver and embedded PostgreSQL; the quick start's
 * second block as the README writes it (only the data directory is this test's own); then
 * SIGINT to the script's process group, as a terminal's Ctrl-C sends it. Afterwards the script
 * has exited 0 and nothing it started is left: no process, no listening port.
 */
class RunLocalIT {

    static final Path PROJECT = LocalApiServer.projectDir();
    static final Path LOG = PROJECT.resolve("target/run-local-it.log");

    @Test
    void runLocalServesTheQuickStartAndCtrlCStopsEverything() throws Exception {
        LocalApiServer.ensureBuilt(); // so that the waits below measure start-up, not a cold build
        List<String> blocks = quickStartBlocks(Files.readString(PROJECT.resolve("README.md")));
        assertThat(blocks).as("README quick start: the run-local block, then the kubectl block").hasSize(2);
        assertThat(commands(blocks.get(0))).containsExactly("hack/run-local.sh");

        Path data = Files.createTempDirectory("streamhouse-run-local-");
        int httpPort = freePort();
        // As a terminal runs a foreground job: its own process group, SIGINT at its default
        // disposition. (A process started with SIGINT ignored, as background jobs of scripts are,
        // passes that on, and bash cannot trap a signal ignored on entry; perl resets it first.)
        ProcessBuilder builder = new ProcessBuilder("setsid", "perl", "-e",
                "$SIG{INT} = 'DEFAULT'; $SIG{QUIT} = 'DEFAULT'; exec @ARGV or die \"exec: $!\"",
                "bash", "hack/run-local.sh", "--no-build")
                .directory(PROJECT.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.to(LOG.toFile()));
        Map<String, String> env = builder.environment();
        env.remove("KUBECONFIG"); // a fresh machine: no cluster configured
        env.keySet().removeIf(k -> k.startsWith("STREAMHOUSE_") || k.startsWith("QUARKUS_"));
        env.put("STREAMHOUSE_DATA_DIR", data.toString());
        env.put("QUARKUS_HTTP_PORT", Integer.toString(httpPort));
        env.put("STREAMHOUSE_DB_PASSWORD", ""); // empty means "no password" (the embedded server trusts local users)
        Process script = builder.start();
        long group = script.pid();
        try {
            // setsid makes the script the leader of its own process group, as a shell does for a
            // job (the spawned process calls setsid() and execs bash in place, keeping its pid).
            await("run-local.sh leads its own process group").atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(20)).until(() -> processGroupOf(group) == group);

            await("operator ready on :" + httpPort + " (see " + LOG + ")").atMost(Duration.ofMinutes(5))
                    .pollInterval(Duration.ofMillis(500))
                    .failFast("hack/run-local.sh exited", () -> !script.isAlive())
                    .until(() -> ready(httpPort));

            String quickStart = blocks.get(1).replace("$PWD/streamhouse-data", data.toString());
            Run run = bash(quickStart, Duration.ofMinutes(3));
            System.out.println("quick start, second block:\n" + run.output());
            assertThat(run.exitCode()).as("the quick start's kubectl block exited 0; output:%n%s", run.output()).isZero();
            // The three example leases are held, each by one of the two example agents, at epoch 1
            // as the README shows: the free leases wait for the agents applied with them
            // (AwaitingAgents), so orders-2 goes to its preferredAgent first, not a moment later.
            for (String lease : List.of("orders-0", "orders-1")) {
                assertThat(run.output()).containsPattern("partitionlease.streamhouse.io/" + lease
                        + "\\s+orders\\s+\\d\\s+agent-[12]\\s+1\\s+True");
            }
            assertThat(run.output()).containsPattern("partitionlease.streamhouse.io/orders-2\\s+orders\\s+2\\s+agent-2\\s+1\\s+True");
            assertThat(run.output()).containsPattern("streamagent.streamhouse.io/agent-1\\s+agent-1\\s+default\\s+zone-a\\s+Ready");

            // Everything the script started, while it runs: its descendants (the operator), the
            // API server's processes (their own sessions), the embedded PostgreSQL (daemonised).
            Set<Long> started = new LinkedHashSet<>();
            ProcessHandle.of(group).orElseThrow().descendants().forEach(p -> started.add(p.pid()));
            Map<String, Integer> ports = new LinkedHashMap<>();
            ports.put("operator http", httpPort);
            Path kube = data.resolve("kube");
            for (String name : List.of("etcd", "kube-apiserver", "kube-controller-manager")) {
                started.add(Long.parseLong(Files.readString(kube.resolve(name + ".pid")).trim()));
            }
            for (String line : Files.readAllLines(kube.resolve("ports"))) {
                String[] parts = line.trim().split("\\s+");
                ports.put(parts[0], Integer.parseInt(parts[1]));
            }
            List<String> postmaster = Files.readAllLines(data.resolve("postgres/postmaster.pid"));
            started.add(Long.parseLong(postmaster.get(0).trim()));
            ports.put("postgres", Integer.parseInt(postmaster.get(3).trim()));
            assertThat(started).hasSizeGreaterThanOrEqualTo(5);
            ports.forEach((name, port) -> assertThat(listening(port)).as("%s port %d open while running", name, port).isTrue());

            signalGroup(group, "INT");

            assertThat(script.waitFor(2, TimeUnit.MINUTES)).as("run-local.sh ended after Ctrl-C").isTrue();
            assertThat(script.exitValue()).as("exit code after Ctrl-C; see %s", LOG).isZero();
            await("every process it started has ended").atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                    assertThat(started.stream().filter(pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)))
                            .as("still alive").isEmpty());
            await("every port it opened is closed").atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                    ports.forEach((name, port) -> assertThat(listening(port)).as("%s port %d", name, port).isFalse()));
            // In order: the operator stopped while its database was still up, then the rest.
            assertThat(Files.readString(LOG)).contains("run-local: operator stopped")
                    .doesNotContain("terminating connection due to administrator command");
        } finally {
            if (script.isAlive()) {
                // A failed assertion above: stop everything the way Ctrl-C would, then make sure.
                signalGroup(group, "INT");
                if (!script.waitFor(90, TimeUnit.SECONDS)) {
                    signalGroup(group, "KILL");
                }
            }
            // The operator runs in a session of its own (so does the API server); a run killed
            // before its own clean-up must not leave them behind for later tests.
            killRecorded(data.resolve("operator.pid"), "quarkus-run.jar");
            killRecorded(data.resolve("postgres/postmaster.pid"), data.toString());
            new ProcessBuilder("bash", "hack/kube-apiserver/stop.sh", data.resolve("kube").toString())
                    .directory(PROJECT.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(LOG.toFile())).start().waitFor(1, TimeUnit.MINUTES);
        }
    }

    /**
     * Kills the process whose pid is the first line of {@code pidFile}, if it is still there and
     * is the one recorded (its command line names {@code mark}): a pid may have been reused.
     */
    static void killRecorded(Path pidFile, String mark) throws IOException {
        if (!Files.exists(pidFile)) {
            return;
        }
        String first = Files.readAllLines(pidFile).stream().findFirst().orElse("").trim();
        if (first.matches("\\d+")) {
            ProcessHandle.of(Long.parseLong(first))
                    .filter(p -> p.info().commandLine().map(c -> c.contains(mark)).orElse(false))
                    .ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /** The fenced {@code bash} blocks of the README's "Quick start" section, in order. */
    static List<String> quickStartBlocks(String readme) {
        int start = readme.indexOf("\n## Quick start");
        assertThat(start).as("README has a '## Quick start' section").isPositive();
        int end = readme.indexOf("\n## ", start + 1);
        String section = readme.substring(start, end < 0 ? readme.length() : end);
        List<String> blocks = new ArrayList<>();
        Matcher m = Pattern.compile("```bash\n(.*?)```", Pattern.DOTALL).matcher(section);
        while (m.find()) {
            blocks.add(m.group(1));
        }
        return blocks;
    }

    /** A block's commands without comments and blank lines. */
    static List<String> commands(String block) {
        return block.lines().map(l -> l.replaceAll("\\s+#.*$", "").trim()).filter(l -> !l.isEmpty() && !l.startsWith("#"))
                .toList();
    }

    record Run(int exitCode, String output) {
    }

    static Run bash(String script, Duration timeout) throws IOException, InterruptedException {
        Path out = Files.createTempFile("quick-start-", ".log");
        Process p = new ProcessBuilder("bash", "-euo", "pipefail", "-c", script).directory(PROJECT.toFile())
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the quick start did not finish within " + timeout + ":\n" + Files.readString(out));
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
    }

    static boolean ready(int port) {
        try {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + port + "/q/health/ready")).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static long processGroupOf(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after the closing paren
        String[] rest = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(rest[2]);
    }

    static void signalGroup(long group, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, "--", "-" + group).redirectErrorStream(true).start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
    }
}
