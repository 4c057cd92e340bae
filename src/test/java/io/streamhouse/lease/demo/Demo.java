package io.streamhouse.lease.demo;

import com.zaxxer.hikari.HikariDataSource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.streamhouse.lease.agent.AgentIdentity;
import io.streamhouse.lease.agent.LeaseClient;
import io.streamhouse.lease.agent.LeaseListener;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.operator.Fixtures;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.LocalPostgres;
import io.streamhouse.lease.testing.LeaseTracker;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The local demo (hack/demo.sh): on the real local API server (KUBECONFIG) and an embedded
 * PostgreSQL, starts the packaged operator and three agents running the agent library, applies
 * six leases of topic "orders", then stops one agent gracefully and crashes another, printing
 * the leases' holders and epochs before and after and how long each move took.
 */
public final class Demo {

    static final String NS = "demo";
    static final int SESSION_TIMEOUT_SECONDS = 5;
    static final List<String> AGENTS = List.of("agent-a", "agent-b", "agent-c");

    private final LeaseTracker leases = new LeaseTracker();

    public static void main(String[] args) throws Exception {
        new Demo().run();
        System.exit(0);
    }

    void run() throws Exception {
        Path jar = Path.of("target/quarkus-app/quarkus-run.jar");
        Path data = Files.createTempDirectory("streamhouse-demo-pg");
        Process operator = null;
        List<LeaseClient> clients = new ArrayList<>();
        List<HikariDataSource> pools = new ArrayList<>();
        try (LocalPostgres pg = LocalPostgres.start(data);
             KubernetesClient kube = new KubernetesClientBuilder().build()) {
            say("PostgreSQL (embedded) on port " + pg.port() + "; Kubernetes API server " + kube.getMasterUrl());
            operator = startOperator(jar, pg.jdbcUrl("postgres"));
            kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build())
                    .createOr(n -> n.update());
            var informer = kube.resources(PartitionLease.class).inNamespace(NS).inform(leases);

            // Three agents outside the cluster (no kubelet here): their StreamAgents applied by
            // hand, their sessions kept by the agent library, each in its own zone.
            for (int i = 0; i < AGENTS.size(); i++) {
                kube.resource(agent(AGENTS.get(i), "zone-" + (char) ('a' + i))).serverSideApply();
            }
            for (String name : AGENTS) {
                HikariDataSource pool = Database.pool(new Database.PoolSettings(pg.jdbcUrl("postgres"), "postgres",
                        "postgres", 2, Duration.ofSeconds(5)), name);
                pools.add(pool);
                clients.add(LeaseClient.builder(AgentIdentity.of(NS, name), kube, pool)
                        .startTimeout(Duration.ofSeconds(60)).listener(printer(name)).build().start());
            }
            say("started the operator and 3 agents (agent library, session timeout " + SESSION_TIMEOUT_SECONDS + " s)");

            for (int p = 0; p < 6; p++) {
                kube.resource(lease(p)).serverSideApply();
            }
            long t0 = System.nanoTime();
            waitFor(Duration.ofSeconds(120), () -> leases.held() == 6);
            say(String.format("applied 6 PartitionLeases of topic orders: all Held after %.2f s", secs(t0)));
            Map<String, LeaseTracker.Seen> before = leases.snapshot();
            table(before, null);

            say("graceful stop of agent-b: LeaseClient.close() (as its preStop hook would) releases its leases and ends its session");
            long g0 = System.nanoTime();
            clients.get(1).close();
            waitFor(Duration.ofSeconds(60), () -> leases.heldBy("agent-b") == 0 && leases.held() == 6);
            Map<String, LeaseTracker.Seen> afterGraceful = leases.snapshot();
            table(before, afterGraceful);
            say(String.format("moved %d lease(s); the last one Held by its new holder %.2f s after close()",
                    moved(before, afterGraceful), lastChange("agent-b", g0)));

            say("crash of agent-c: its database connections cut (no release, no renewal); the operator waits for its"
                    + " session to expire, then fails its leases over in one batch");
            Instant crashed = Instant.now();
            long c0 = System.nanoTime();
            pools.get(2).close();
            waitFor(Duration.ofSeconds(60), () -> leases.heldBy("agent-c") == 0 && leases.held() == 6);
            Map<String, LeaseTracker.Seen> afterCrash = leases.snapshot();
            table(afterGraceful, afterCrash);
            Instant expired = sessionExpiry(pg, "agent-c");
            double total = lastChange("agent-c", c0);
            say(String.format("moved %d lease(s); the last one Held %.2f s after the crash, %.2f s after its session"
                    + " expired (timeout %d s)", moved(afterGraceful, afterCrash), total,
                    total - Duration.between(crashed, expired).toNanos() / 1e9, SESSION_TIMEOUT_SECONDS));
            say("every change of holder raised the epoch: a write still carrying an old epoch is refused by PostgreSQL");
            informer.close();
        } finally {
            for (LeaseClient c : clients) {
                c.close();
            }
            pools.forEach(HikariDataSource::close);
            if (operator != null) {
                operator.destroy();
                operator.waitFor(20, TimeUnit.SECONDS);
            }
        }
    }

    // ------------------------------------------------------------------ setup

    static Process startOperator(Path jar, String dbUrl) throws Exception {
        Path log = Path.of("target/demo-operator.log");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-Dquarkus.http.port=0",
                "-Dstreamhouse.db.url=" + dbUrl, "-Dstreamhouse.db.user=postgres", "-Dstreamhouse.db.password=postgres",
                "-Dstreamhouse.db.require-durable=false", // the demo's own local PostgreSQL runs with fsync off
                "-jar", jar.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Runtime.getRuntime().addShutdownHook(new Thread(p::destroyForcibly));
        say("operator log: " + log);
        return p;
    }

    static StreamAgent agent(String name, String zone) {
        StreamAgent a = new StreamAgent();
        a.getMetadata().setName(name);
        a.getMetadata().setNamespace(NS);
        StreamAgentSpec spec = new StreamAgentSpec();
        spec.setAgentId(name);
        spec.setZone(zone);
        spec.setSessionKeeper(SessionKeeper.Agent);
        spec.setSessionTimeoutSeconds(SESSION_TIMEOUT_SECONDS);
        a.setSpec(spec);
        return a;
    }

    static PartitionLease lease(int partition) {
        return Fixtures.lease(NS, "orders-" + partition, "orders", partition, "default");
    }

    static LeaseListener printer(String agent) {
        return new LeaseListener() {
            @Override
            public void acquired(LeaseKey key, long epoch) {
                say("  [" + agent + "] acquired " + key + " at epoch " + epoch);
            }

            @Override
            public void revoked(LeaseKey key, long epoch, Reason reason) {
                say("  [" + agent + "] lost " + key + " (epoch " + epoch + "): " + reason);
            }
        };
    }

    // ------------------------------------------------------------------ observing

    /** Nanoseconds from {@code since} to the last change of holder seen after it. */
    double lastChange(String from, long since) {
        return leases.movedFrom(from, since).stream().mapToLong(Long::longValue).max().orElse(0) / 1e9;
    }

    static long moved(Map<String, LeaseTracker.Seen> before, Map<String, LeaseTracker.Seen> after) {
        return after.entrySet().stream()
                .filter(e -> !java.util.Objects.equals(e.getValue().holder(), before.get(e.getKey()).holder())).count();
    }

    static void table(Map<String, LeaseTracker.Seen> before, Map<String, LeaseTracker.Seen> after) {
        System.out.printf("    %-10s %s%n", "LEASE", after == null ? "HOLDER @EPOCH" : "BEFORE            AFTER");
        before.forEach((name, b) -> {
            String was = b.holder() + " @" + b.epoch();
            if (after == null) {
                System.out.printf("    %-10s %s%n", name, was);
            } else {
                String now = after.get(name).holder() + " @" + after.get(name).epoch();
                System.out.printf("    %-10s %-14s -> %-14s%s%n", name, was, now, was.equals(now) ? "" : "  moved");
            }
        });
    }

    static Instant sessionExpiry(LocalPostgres pg, String agent) throws Exception {
        try (Connection c = java.sql.DriverManager.getConnection(pg.jdbcUrl("postgres"), "postgres", "postgres");
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT expires_at FROM agent_session WHERE agent_id = '" + agent + "'")) {
            rs.next();
            return rs.getTimestamp(1).toInstant();
        }
    }

    static void waitFor(Duration atMost, BooleanSupplier condition) {
        org.awaitility.Awaitility.await("demo step (see target/demo-operator.log)").atMost(atMost)
                .pollInterval(Duration.ofMillis(10)).until(condition::getAsBoolean);
    }

    static double secs(long since) {
        return (System.nanoTime() - since) / 1e9;
    }

    static void say(String line) {
        System.out.println(line);
    }
}
