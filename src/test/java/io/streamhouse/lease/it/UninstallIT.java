package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import io.streamhouse.lease.operator.Fixtures;
import io.streamhouse.lease.store.LocalPostgres;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The README's uninstall, `hack/uninstall.sh` with the release manifest, on a real API server of
 * its own, with the packaged operator as its own process: in the documented order (the operator
 * still running) every partition is released in PostgreSQL and nothing is left; with the
 * operator removed first, the finalizers would keep the resources (and the CRDs) forever, and the
 * script removes them after its wait, leaving the partitions with their holders in the database.
 * The local server is v1.20, which does not serve policy/v1: the PodDisruptionBudget is left out
 * of the manifest this test installs and removes.
 */
class UninstallIT {

    static final Path PROJECT = LocalApiServer.projectDir();
    static LocalApiServer api;
    static KubernetesClient client;
    static LocalPostgres pg;
    static Path release;
    Process operator;

    @BeforeAll
    static void cluster() throws Exception {
        api = LocalApiServer.start(null);
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(Files.readString(api.kubeconfig()))).build();
        pg = LocalPostgres.start(null);
        Path rendered = PROJECT.resolve("target/release/streamhouse-lease-operator-" + InstallManifestsIT.projectVersion() + ".yaml");
        assertThat(rendered).as("rendered by mvn package").exists();
        List<HasMetadata> items = new ArrayList<>(client.load(Files.newInputStream(rendered)).items());
        items.removeIf(r -> "PodDisruptionBudget".equals(r.getKind()));
        release = Files.createTempFile("release-", ".yaml");
        Files.writeString(release, items.stream().map(r -> client.getKubernetesSerialization().asYaml(r))
                .collect(Collectors.joining("\n---\n")));
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (pg != null) {
            pg.close();
        }
        if (api != null) {
            api.close();
        }
    }

    @Test
    void inTheDocumentedOrderEveryPartitionIsReleasedAndNothingIsLeft() throws Exception {
        install();
        String ns = resources("ordered");
        int code = uninstall("120s");
        stopOperator();

        assertThat(code).isZero();
        assertGone(ns);
        assertThat(holders("ordered")).as("rows kept, no holder").hasSize(3).containsOnlyNulls();
    }

    @Test
    void withTheOperatorRemovedFirstTheScriptUnblocksTheResourcesAfterItsWait() throws Exception {
        install();
        String ns = resources("orphaned");
        stopOperator(); // removed first: nobody will remove the finalizers
        client.resources(PartitionLease.class).inNamespace(ns).withName("p0").delete();
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10)).until(() ->
                client.resources(PartitionLease.class).inNamespace(ns).withName("p0").get() != null);

        int code = uninstall("10s");

        assertThat(code).isZero();
        assertGone(ns);
        assertThat(holders("orphaned")).as("not released: still with their holder until its session ends")
                .hasSize(3).doesNotContainNull();
    }

    // ------------------------------------------------------------------ helpers

    void install() throws Exception {
        for (HasMetadata item : client.load(Files.newInputStream(release)).items()) {
            // Replaced, not server-side applied: the 1.20 server refuses the CRDs' CEL rules otherwise.
            client.resource(item).createOr(existing -> existing.update());
        }
        for (String crd : List.of("partitionleases", "streamagents", "streamtopics")) {
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                CustomResourceDefinition d = client.apiextensions().v1().customResourceDefinitions()
                        .withName(crd + ".streamhouse.io").get();
                return d != null && d.getStatus() != null && d.getStatus().getConditions().stream()
                        .anyMatch(c -> "Established".equals(c.getType()) && "True".equals(c.getStatus()));
            });
        }
        Path log = Files.createTempFile("uninstall-operator-", ".log");
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder builder = new ProcessBuilder(java, "-Xmx384m", "-Dquarkus.profile=it", "-Dquarkus.http.port=0",
                "-Dstreamhouse.db.url=" + pg.jdbcUrl("postgres").replaceAll("\\?.*", ""), "-Dstreamhouse.db.user=postgres",
                "-jar", PROJECT.resolve("target/quarkus-app/quarkus-run.jar").toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("KUBECONFIG", api.kubeconfig().toString());
        operator = builder.start();
        await("operator started, log " + log).atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200))
                .until(() -> Files.readString(log).contains(" started in "));
    }

    /** An agent, a PartitionLease and a StreamTopic of two partitions, all held. */
    String resources(String topicPrefix) {
        String ns = topicPrefix + "-" + System.nanoTime() % 100000;
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
        client.resource(Fixtures.agent(ns, "a", "agent-" + ns, "default")).create();
        client.resource(Fixtures.lease(ns, "p0", topicPrefix + "-lease", 0, "default")).create();
        client.resource(Fixtures.topic(ns, "t", topicPrefix + "-topic", 2, "default")).create();
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            PartitionLease pl = client.resources(PartitionLease.class).inNamespace(ns).withName("p0").get();
            StreamTopic t = client.resources(StreamTopic.class).inNamespace(ns).withName("t").get();
            return pl != null && pl.getStatus() != null && pl.getStatus().getPhase() == PartitionLeasePhase.Held
                    && t != null && t.getStatus() != null && Integer.valueOf(2).equals(t.getStatus().getHeld());
        });
        return ns;
    }

    int uninstall(String wait) throws Exception {
        ProcessBuilder builder = new ProcessBuilder("bash", "hack/uninstall.sh", release.toString(), wait)
                .directory(PROJECT.toFile()).redirectErrorStream(true);
        builder.environment().put("KUBECONFIG", api.kubeconfig().toString());
        Process p = builder.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
        System.out.println(output);
        return p.exitValue();
    }

    void stopOperator() throws InterruptedException {
        if (operator != null && operator.isAlive()) {
            operator.destroy();
            if (!operator.waitFor(30, TimeUnit.SECONDS)) {
                operator.destroyForcibly();
            }
        }
    }

    void assertGone(String ns) {
        await().atMost(Duration.ofSeconds(60)).until(() -> client.apiextensions().v1().customResourceDefinitions().list()
                .getItems().stream().noneMatch(d -> d.getSpec().getGroup().equals("streamhouse.io")));
        assertThat(client.rbac().clusterRoles().withName("streamhouse-lease-operator").get()).isNull();
        await().atMost(Duration.ofSeconds(60)).until(() -> client.namespaces().withName("streamhouse").get() == null);
        assertThat(client.namespaces().withName(ns).get()).as("the user's own namespace stays").isNotNull();
    }

    /** The holders of the lease rows of the topics starting with {@code prefix} (null: released). */
    List<String> holders(String prefix) throws Exception {
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl("postgres"), "postgres", "postgres");
             PreparedStatement ps = c.prepareStatement("SELECT holder FROM partition_lease WHERE topic LIKE ? ORDER BY 1")) {
            ps.setString(1, prefix + "-%");
            List<String> holders = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    holders.add(rs.getString(1));
                }
            }
            return holders;
        }
    }
}
