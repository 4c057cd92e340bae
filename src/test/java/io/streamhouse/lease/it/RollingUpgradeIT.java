package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.operator.Fixtures;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.LocalPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Schema migrations during a rolling update (docs/upgrading.md), with the packaged operator as its
 * own process in the prod profile (leader election on) against a real API server: a replica that
 * does not lead never migrates, and migrates as soon as it leads, before it reconciles; a replica
 * of this build on the schema of a later release (a test-only migration) runs without touching it.
 */
class RollingUpgradeIT {

    static final Path PROJECT = LocalApiServer.projectDir();
    static LocalApiServer api;
    static KubernetesClient client;
    static LocalPostgres pg;
    Process operator;
    Path log;

    @BeforeAll
    static void cluster() throws Exception {
        api = LocalApiServer.start(null);
        client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(Files.readString(api.kubeconfig()))).build();
        for (String crd : new String[] {"partitionleases", "streamagents", "streamtopics"}) {
            // Replaced, not server-side applied: the 1.20 server refuses the CRDs' CEL rules otherwise.
            for (var r : client.load(Files.newInputStream(PROJECT.resolve("crds/" + crd + ".streamhouse.io-v1.yml"))).items()) {
                client.resource(r).createOr(existing -> existing.update());
            }
        }
        pg = LocalPostgres.start(null);
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

    @AfterEach
    void stopOperator() throws InterruptedException {
        if (operator != null && operator.isAlive()) {
            operator.destroy();
            if (!operator.waitFor(30, TimeUnit.SECONDS)) {
                operator.destroyForcibly();
            }
        }
    }

    @Test
    void aReplicaThatDoesNotLeadNeverMigratesAndMigratesOnceItLeads() throws Exception {
        String db = database("behind");
        String newest;
        String behind; // one release behind this build's newest migration
        try (HikariDataSource ds = pool(db)) {
            newest = Database.status(ds).known();
            behind = String.valueOf(Integer.parseInt(newest) - 1);
            Flyway.configure().dataSource(ds).locations(Database.MIGRATIONS).target(behind).load().migrate();
        }
        String leaseNs = namespace("le-behind");
        // Another replica (of the old version, say) leads, and keeps renewing.
        client.resource(new LeaseBuilder().withNewMetadata().withName("streamhouse-lease-operator").withNamespace(leaseNs)
                .endMetadata().withNewSpec().withHolderIdentity("old-replica").withLeaseDurationSeconds(3600)
                .withAcquireTime(now()).withRenewTime(now()).endSpec().build()).create();

        start(db, leaseNs);
        await("a standby's start").during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(500))
                .until(() -> schemaVersion(db).equals(behind));
        assertThat(Files.readString(log)).contains("schema at version " + behind + ", this build's newest " + newest
                + " (migrated when this replica leads)");

        // The old leader goes away: this replica leads, migrates, then reconciles.
        client.leases().inNamespace(leaseNs).withName("streamhouse-lease-operator").delete();
        await("leading and migrated").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).until(() -> schemaVersion(db).equals(newest));
        assertThat(Files.readString(log)).contains("leading: schema brought to this build's version (1 migration(s) applied)");
        leaseIsHeld("behind");
    }

    @Test
    void thisBuildRunsOnTheSchemaOfALaterReleaseWithoutTouchingIt() throws Exception {
        String db = database("ahead");
        try (HikariDataSource ds = pool(db)) {
            Database.migrate(ds, Database.MIGRATIONS, "classpath:db/later");
        }
        start(db, namespace("le-ahead"));
        await("leading").atMost(Duration.ofSeconds(60))
                .until(() -> Files.readString(log).contains("leading: schema brought to this build's version (0 migration(s) applied)"));
        assertThat(schemaVersion(db)).isEqualTo("9999");
        leaseIsHeld("ahead");
    }

    @Test
    void aLeaderThatLosesItsLeaseExitsInsteadOfReconcilingBesideTheNextOne() throws Exception {
        String db = database("usurped");
        String leaseNs = namespace("le-usurped");
        start(db, leaseNs);
        await("leading").atMost(Duration.ofSeconds(60))
                .until(() -> Files.readString(log).contains("leading: schema brought to this build's version"));

        // Another replica takes the Lease over (as after a partition that outlasted the lease).
        // A merge patch, not an edit: the leader renews every 2 s, and an edit (which names the
        // version it read) could meet a renewal in between and be refused. The leader's next
        // renewal is then the one refused, and it finds the Lease held by someone else.
        String renewed = now().format(java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"));
        client.leases().inNamespace(leaseNs).withName("streamhouse-lease-operator").patch(
                io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
                "{\"spec\":{\"holderIdentity\":\"usurper\",\"leaseDurationSeconds\":3600,\"renewTime\":\"" + renewed + "\"}}");

        await("exited, log " + log).atMost(Duration.ofSeconds(60)).until(() -> !operator.isAlive());
        assertThat(operator.exitValue()).isEqualTo(1);
        assertThat(Files.readString(log)).contains("lost the leadership of streamhouse-lease-operator while running: exiting");
    }

    @Test
    void aLeaderAskedToStopStopsCleanly() throws Exception {
        start(database("stopped"), namespace("le-stopped"));
        await("leading").atMost(Duration.ofSeconds(60))
                .until(() -> Files.readString(log).contains("leading: schema brought to this build's version"));
        operator.destroy(); // SIGTERM, as Kubernetes stops a pod
        assertThat(operator.waitFor(30, TimeUnit.SECONDS)).as("stopped within 30 s, log " + log).isTrue();
        assertThat(Files.readString(log)).doesNotContain("lost the leadership");
    }

    // ------------------------------------------------------------------ helpers

    void start(String db, String leaseNamespace) throws Exception {
        log = Files.createTempFile("upgrade-operator-", ".log");
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder builder = new ProcessBuilder(java, "-Xmx384m", "-Dquarkus.http.port=0",
                "-Dstreamhouse.db.url=" + url(db), "-Dstreamhouse.db.user=postgres",
                "-jar", PROJECT.resolve("target/quarkus-app/quarkus-run.jar").toString()) // the prod profile
                .redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("KUBECONFIG", api.kubeconfig().toString());
        builder.environment().put("KUBERNETES_NAMESPACE", leaseNamespace); // where its coordination Lease lives
        builder.environment().put("HOSTNAME", "new-replica-" + leaseNamespace);
        operator = builder.start();
        await("operator started, log " + log).atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200))
                .until(() -> Files.readString(log).contains(" started in "));
    }

    /** A StreamAgent and a PartitionLease in a namespace of their own: held once this replica reconciles. */
    void leaseIsHeld(String name) {
        String ns = namespace(name);
        client.resource(Fixtures.agent(ns, "a", "agent-" + ns, "default")).create();
        client.resource(Fixtures.lease(ns, "p0", "topic-" + ns, 0, "default")).create();
        await("held, log " + log).atMost(Duration.ofSeconds(60)).until(() -> {
            PartitionLease pl = client.resources(PartitionLease.class).inNamespace(ns).withName("p0").get();
            return pl.getStatus() != null && pl.getStatus().getPhase() == PartitionLeasePhase.Held;
        });
    }

    String namespace(String prefix) {
        String ns = prefix + "-" + System.nanoTime() % 100000;
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
        return ns;
    }

    static String database(String prefix) throws Exception {
        String db = prefix + "_" + System.nanoTime() % 100000;
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl("postgres"), "postgres", "postgres");
             Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + db);
        }
        return db;
    }

    static String url(String db) {
        return pg.jdbcUrl(db).replaceAll("\\?.*", "");
    }

    static HikariDataSource pool(String db) {
        return Database.pool(new Database.PoolSettings(url(db), "postgres", null, 2, Duration.ofSeconds(5)), "it-" + db);
    }

    static String schemaVersion(String db) {
        try (HikariDataSource ds = pool(db)) {
            return Database.status(ds).applied();
        }
    }

    static ZonedDateTime now() {
        return ZonedDateTime.now(java.time.ZoneOffset.UTC);
    }
}
