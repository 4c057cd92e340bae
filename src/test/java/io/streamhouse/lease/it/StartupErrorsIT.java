package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The packaged operator started wrong, as people first meet it: it must stop within seconds with
 * one line that says what to fix (docs/troubleshooting.md quotes them), not hang, and not bury the
 * cause in a start-up stack trace.
 */
class StartupErrorsIT {

    static final Path PROJECT = LocalApiServer.projectDir();
    static LocalApiServer api;

    @BeforeAll
    static void cluster() throws Exception {
        api = LocalApiServer.start(null);
        try (KubernetesClient client = new KubernetesClientBuilder()
                .withConfig(Config.fromKubeconfig(Files.readString(api.kubeconfig()))).build()) {
            for (String crd : new String[] {"partitionleases", "streamagents", "streamtopics"}) {
                for (var r : client.load(Files.newInputStream(PROJECT.resolve("crds/" + crd + ".streamhouse.io-v1.yml"))).items()) {
                    client.resource(r).createOr(existing -> existing.update());
                }
            }
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (api != null) {
            api.close();
        }
    }

    record Run(int exit, String log) {
    }

    static Run run(Path kubeconfig, String... properties) throws Exception {
        Path log = Files.createTempFile("startup-error-", ".log");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new java.util.ArrayList<>(List.of(java, "-Xmx256m", "-Dquarkus.http.port=0"));
        command.addAll(List.of(properties));
        command.addAll(List.of("-jar", PROJECT.resolve("target/quarkus-app/quarkus-run.jar").toString()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("KUBECONFIG", kubeconfig.toString());
        builder.environment().put("KUBERNETES_NAMESPACE", "default");
        Process p = builder.start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("still running after 60 s; log " + log + ":\n" + Files.readString(log));
        }
        return new Run(p.exitValue(), Files.readString(log));
    }

    @Test
    void noReachableClusterIsOneLineAndExitOne() throws Exception {
        Path nowhere = Files.createTempFile("nowhere-", ".kubeconfig");
        Files.writeString(nowhere, """
                apiVersion: v1
                kind: Config
                clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
                contexts: [{name: c, context: {cluster: c}}]
                current-context: c
                """);
        Run run = run(nowhere);
        assertThat(run.exit()).as(run.log()).isEqualTo(1);
        assertThat(run.log()).contains("ERROR [io.streamhouse.lease.operator.ClusterCheck]")
                .contains("no reachable Kubernetes cluster at https://127.0.0.1:1/")
                .doesNotContain("Failed to start quarkus");
    }

    @Test
    void anUnreachableDatabaseIsOneLineNamingItAndExitOne() throws Exception {
        Run run = run(api.kubeconfig(), "-Dstreamhouse.db.url=jdbc:postgresql://127.0.0.1:1/streamhouse",
                "-Dstreamhouse.db.user=streamhouse_operator", "-Dstreamhouse.db.password=not-logged");
        assertThat(run.exit()).as(run.log()).isEqualTo(1);
        assertThat(run.log()).contains("cannot use the lease store at jdbc:postgresql://127.0.0.1:1/streamhouse as"
                        + " streamhouse_operator: Connection to 127.0.0.1:1 refused")
                .contains("Check streamhouse.db.url, streamhouse.db.user and streamhouse.db.password")
                .doesNotContain("Failed to start quarkus").doesNotContain("not-logged");
    }
}
