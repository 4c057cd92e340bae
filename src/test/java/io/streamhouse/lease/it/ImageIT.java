package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.streamhouse.lease.store.LocalPostgres;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The operator image as hack/build-image.sh builds it here (a base made from Debian's packages,
 * buildah with chroot isolation; the tools installed by hack/image/install-tools.sh, or this test
 * skipped with one line where that is impossible), started with `buildah run` (host network) as
 * the Deployment would start it: the image's own entrypoint and user, the Deployment's
 * environment, against a real API server and PostgreSQL, until it reports ready.
 *
 * <p>A read-only root file system cannot be enforced by chroot. It is approximated, and checked:
 * the image's files belong to root and the process runs as the image's user (185), so the only
 * place it can write is /tmp, which the Deployment mounts as an emptyDir.
 */
class ImageIT {

    static final Path PROJECT = LocalApiServer.projectDir();

    @Test
    void theBuiltImageStartsAsTheDeploymentRunsItAndBecomesReady() throws Exception {
        int tools = run(Duration.ofMinutes(5), "bash", "hack/image/install-tools.sh").exitCode();
        Assumptions.assumeTrue(tools == 0, "buildah and mmdebstrap cannot be installed here (needs root and apt-get):"
                + " the operator image is not built");
        Result built = run(Duration.ofMinutes(15), "bash", "hack/build-image.sh");
        assertThat(built.exitCode()).as(built.output()).isZero();
        String image = built.output().strip().lines().reduce((a, b) -> b).orElseThrow();
        assertThat(image).isEqualTo("streamhouse/lease-operator:" + InstallManifestsIT.projectVersion());

        Map<String, Object> config = imageConfig(image);
        assertThat(config.get("User")).as("the image's user").isEqualTo("185");
        @SuppressWarnings("unchecked")
        List<String> entrypoint = (List<String>) config.get("Entrypoint");
        assertThat(entrypoint).isNotEmpty();

        // The Deployment's own environment: its literal values, then what its Secret would give.
        Deployment deployment = new KubernetesClientBuilder().build().getKubernetesSerialization()
                .unmarshal(Files.readString(PROJECT.resolve("deploy/03-operator.yaml")).split("\n---\n")[0], Deployment.class);
        List<String> env = new ArrayList<>();
        for (EnvVar v : deployment.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv()) {
            if (v.getValue() != null) {
                env.add(v.getName() + "=" + v.getValue());
            }
        }
        assertThat(env).anyMatch(e -> e.startsWith("JAVA_OPTS="));

        try (LocalApiServer api = LocalApiServer.start(null);
             KubernetesClient client = new KubernetesClientBuilder()
                     .withConfig(Config.fromKubeconfig(Files.readString(api.kubeconfig()))).build();
             // fsync on: the Deployment's default requires a durable database to be ready.
             LocalPostgres pg = LocalPostgres.start(null, Map.of("fsync", "on"))) {
            for (String crd : List.of("partitionleases", "streamagents", "streamtopics")) {
                for (HasMetadata r : client.load(Files.newInputStream(PROJECT.resolve("crds/" + crd + ".streamhouse.io-v1.yml"))).items()) {
                    client.resource(r).createOr(existing -> existing.update()); // the 1.20 server drops the CEL rules
                }
            }
            client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("streamhouse").endMetadata()
                    .build()).createOr(existing -> existing.update());
            Path kube = Files.createTempDirectory("image-kube-");
            Files.copy(api.kubeconfig(), kube.resolve("kubeconfig"));
            kube.resolve("kubeconfig").toFile().setReadable(true, false);
            kube.toFile().setExecutable(true, false);
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            String container = run(Duration.ofMinutes(2), "buildah", "from", "--quiet", image).output().strip();
            List<String> command = new ArrayList<>(List.of("buildah", "run", "--isolation", "chroot", "--network", "host",
                    "--user", "185", "--volume", kube + ":/etc/kube:ro"));
            for (String e : env) {
                command.addAll(List.of("--env", e));
            }
            command.addAll(List.of("--env", "KUBECONFIG=/etc/kube/kubeconfig", "--env", "KUBERNETES_NAMESPACE=streamhouse",
                    "--env", "QUARKUS_HTTP_PORT=" + port,
                    "--env", "STREAMHOUSE_DB_URL=" + pg.jdbcUrl("postgres").replaceAll("\\?.*", ""),
                    "--env", "STREAMHOUSE_DB_USER=postgres", container, "--"));
            command.addAll(entrypoint);
            Path log = Files.createTempFile("image-operator-", ".log");
            Process operator = new ProcessBuilder(command).directory(PROJECT.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            try {
                HttpClient http = HttpClient.newHttpClient();
                HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready"))
                        .timeout(Duration.ofSeconds(2)).build();
                await("ready, log " + log).atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
                        .ignoreExceptions().until(() -> http.send(ready, HttpResponse.BodyHandlers.ofString()).statusCode() == 200);
                assertThat(Files.readString(log)).contains("streamhouse-lease-operator " + InstallManifestsIT.projectVersion()
                        + " on JVM").contains("Registered reconciler");

                // The read-only root file system, approximated: the operator's user writes nowhere but /tmp.
                Result writable = run(Duration.ofMinutes(1), "buildah", "run", "--isolation", "chroot", "--user", "185",
                        container, "--", "sh", "-c", "find / -xdev -writable -not -type l 2>/dev/null"
                                + " | grep -v '^/tmp\\|^/dev\\|^/proc\\|^/sys' || true");
                assertThat(writable.output().strip()).as("paths the operator's user could write").isEmpty();
            } finally {
                operator.descendants().forEach(ProcessHandle::destroy);
                operator.destroy();
                if (!operator.waitFor(30, TimeUnit.SECONDS)) {
                    operator.descendants().forEach(ProcessHandle::destroyForcibly);
                    operator.destroyForcibly();
                }
                run(Duration.ofMinutes(1), "buildah", "rm", container);
            }
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> imageConfig(String image) throws Exception {
        Result inspect = run(Duration.ofMinutes(1), "buildah", "inspect", "--type", "image", image);
        assertThat(inspect.exitCode()).as(inspect.output()).isZero();
        Map<String, Object> all = new KubernetesClientBuilder().build().getKubernetesSerialization()
                .unmarshal(inspect.output(), Map.class);
        return (Map<String, Object>) ((Map<String, Object>) all.get("OCIv1")).get("config");
    }

    record Result(int exitCode, String output) {
    }

    static Result run(Duration timeout, String... command) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(command).directory(PROJECT.toFile()).redirectErrorStream(false);
        builder.environment().putIfAbsent("STORAGE_DRIVER", "vfs");
        builder.redirectError(ProcessBuilder.Redirect.INHERIT);
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " did not finish within " + timeout);
        }
        return new Result(p.exitValue(), out);
    }
}
