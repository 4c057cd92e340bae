package io.streamhouse.lease.agent;

import io.streamhouse.lease.store.DatabaseGrants;
import io.streamhouse.lease.store.Database;
import static io.streamhouse.lease.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.testing.Registrations;
import io.streamhouse.lease.store.AcquireResult;
import io.streamhouse.lease.operator.Fixtures;
import io.streamhouse.lease.store.FencingException;
import io.streamhouse.lease.store.HistoryEntry;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.Session;
import io.streamhouse.lease.store.Validation;
import io.streamhouse.lease.testing.CuttableDataSource;
import io.streamhouse.lease.testing.HoldingDataSource;
import io.streamhouse.lease.testing.Namespaces;
import jakarta.inject.Inject;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The agent library against the running operator: the Fabric8 mock API server and the real
 * embedded PostgreSQL (session timeout 3 s, handoff timeout 4 s in the test profile). Each
 * test has its own namespace, topic and agent ids.
 */
@QuarkusTest
@WithKubernetesTestServer
@org.junit.jupiter.api.extension.ExtendWith(io.streamhouse.lease.testing.DumpThreadsOnTimeout.class)
class LeaseClientTest {

    static final Duration TTL = Duration.ofSeconds(3);

    @Inject
    KubernetesClient client;
    @Inject
    DataSource dataSource;
    @Inject
    LeaseStore store;

    String ns;
    String topic;
    final List<LeaseClient> opened = new ArrayList<>();

    @BeforeEach
    void isolate() throws SQLException {
        ns = Namespaces.unique("lib");
        topic = "events-" + ns;
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS agent_write (topic text, partition int, epoch bigint, seq bigint)");
        }
    }

    @AfterEach
    void closeClients() {
        opened.forEach(LeaseClient::close);
    }

    String id(String name) {
        return name + "-" + ns;
    }

    /** A StreamAgent whose session the agent keeps itself, as the pod annotation session-keeper: agent gives. */
    void selfKeptAgent(String name) {
        StreamAgent agent = Fixtures.agent(ns, name, id(name), "g1");
        agent.getSpec().setSessionKeeper(SessionKeeper.Agent);
        client.resource(agent).create();
    }

    LeaseClient library(String name, Recorder recorder) {
        return library(name, recorder, dataSource, System::nanoTime);
    }

    LeaseClient library(String name, Recorder recorder, DataSource ds, java.util.function.LongSupplier clock) {
        LeaseClient c = LeaseClient.builder(AgentIdentity.of(ns, name), client, ds)
                .defaultSessionTimeout(TTL).listener(recorder).nanoClock(clock).build();
        opened.add(c);
        return c.start();
    }

    /**
     * {@link LeaseClient#ensureLease} for 30 s; when it times out, the failure says what the
     * operator showed meanwhile (the lease's and the agent's statuses, the row), so that a rare
     * timeout on a loaded machine can be read afterwards.
     */
    long ensure(LeaseClient c, int partition) {
        try {
            return c.ensureLease(topic, partition, Duration.ofSeconds(30));
        } catch (LeaseNotHeldException e) {
            var serialization = client.getKubernetesSerialization();
            PartitionLease pl = client.resources(PartitionLease.class).inNamespace(ns).withName("p" + partition).get();
            List<StreamAgent> agents = client.resources(StreamAgent.class).inNamespace(ns).list().getItems();
            throw new AssertionError(e.getMessage() + "\nlease: " + (pl == null ? null : serialization.asJson(pl.getStatus()))
                    + "\nagents: " + agents.stream().map(a -> a.getMetadata().getName() + "=" + serialization.asJson(a.getStatus())).toList()
                    + "\nrow: " + store.lease(LeaseKey.of(topic, partition)), e);
        }
    }

    void createLease(String name, int partition) {
        client.resource(Fixtures.lease(ns, name, topic, partition, "g1")).create();
    }

    void awaitHolder(int partition, String agentName, long epoch) {
        eventually().until(() -> {
            PartitionLease pl = client.resources(PartitionLease.class).inNamespace(ns).withName("p" + partition).get();
            return pl != null && pl.getStatus() != null && id(agentName).equals(pl.getStatus().getHolder())
                    && pl.getStatus().getEpoch() == epoch && pl.getStatus().getPhase() == PartitionLeasePhase.Held;
        });
    }

    List<String> reasons(int partition) {
        return store.history(LeaseKey.of(topic, partition)).stream().map(HistoryEntry::reason).toList();
    }

    int writes(int partition) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM agent_write WHERE topic = ? AND partition = ?")) {
            ps.setString(1, topic);
            ps.setInt(2, partition);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    Integer write(LeaseClient c, int partition, long epoch) {
        return c.fenced(topic, partition, epoch, conn -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO agent_write VALUES (?, ?, ?, 1)")) {
                ps.setString(1, topic);
                ps.setInt(2, partition);
                ps.setLong(3, epoch);
                return ps.executeUpdate();
            }
        });
    }

    /** Logins (roles with no password: the embedded server trusts local connections) in the agents' role. */
    void agentLogins(String... logins) throws SQLException {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sh_test_agents') THEN"
                    + " CREATE ROLE sh_test_agents NOLOGIN; END IF; END $$");
            for (String login : logins) {
                s.execute("CREATE ROLE \"" + login + "\" LOGIN IN ROLE sh_test_agents");
            }
            // The application's own table is the application's to grant.
            s.execute("GRANT SELECT, INSERT ON agent_write TO sh_test_agents");
        }
        // The operator here runs as the superuser (trusted); only the agents' grants matter.
        DatabaseGrants.grant(dataSource, "postgres", "sh_test_agents");
    }

    HikariDataSource loginPool(String login) {
        String url = ((HikariDataSource) dataSource).getJdbcUrl().replaceAll("\\?.*", "");
        return Database.pool(new Database.PoolSettings(url, login, null, 4, Duration.ofSeconds(5)), "pool-" + login);
    }

    /**
     * An agent on a database login of its own, which may touch no table: the operator maps the
     * login its StreamAgent names to its id, and the library works through the agent functions
     * alone. The same login cannot open another agent's session, and a notification another agent
     * forges on its channel costs it one look and changes nothing.
     */
    @Test
    void anAgentOnALoginOfItsOwnWorksAndThatLoginActsForNoOtherAgent() throws SQLException {
        String loginA = "login-a-" + ns;
        String loginB = "login-b-" + ns;
        agentLogins(loginA, loginB);
        for (String name : List.of("a", "b")) {
            StreamAgent agent = Fixtures.agent(ns, name, id(name), "g1");
            agent.getSpec().setSessionKeeper(SessionKeeper.Agent);
            agent.getSpec().setDatabaseUser(name.equals("a") ? loginA : loginB);
            agent.getSpec().setSessionTimeoutSeconds(60); // renewals (each a look) 20 s apart: the looks below are the notification's
            client.resource(agent).create();
        }
        createLease("p0", 0);
        try (HikariDataSource poolA = loginPool(loginA); HikariDataSource poolB = loginPool(loginB)) {
            Recorder events = new Recorder();
            LeaseClient a = library("a", events, poolA, System::nanoTime);
            long epoch = ensure(a, 0);
            assertThat(write(a, 0, epoch)).isEqualTo(1);
            eventually().until(() -> {
                StreamAgent sa = client.resources(StreamAgent.class).inNamespace(ns).withName("a").get();
                return sa.getStatus() != null && loginA.equals(sa.getStatus().getDatabaseUser());
            });

            LeaseClient impostor = LeaseClient.builder(AgentIdentity.of(ns, "b"), client, poolA)
                    .startTimeout(Duration.ofSeconds(2)).build();
            opened.add(impostor);
            assertThatThrownBy(impostor::start).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("database user " + loginA + " may not act for agent " + id("b"));

            long looks = a.stats().looks();
            long checks = a.stats().checks();
            List<String> seen = List.copyOf(events.seen());
            try (Connection c = poolB.getConnection(); Statement st = c.createStatement()) {
                String channel;
                try (ResultSet rs = st.executeQuery("SELECT lease_agent_channel('" + id("a") + "')")) {
                    rs.next();
                    channel = rs.getString(1);
                }
                st.execute("NOTIFY " + channel);
            }
            eventually().until(() -> a.stats().checks() > checks);
            assertThat(a.stats().looks()).as("a forged notification costs a check of one row, not a look").isEqualTo(looks);
            assertThat(a.epoch(topic, 0)).isEqualTo(epoch);
            assertThat(events.seen()).isEqualTo(seen);
            assertThat(write(a, 0, epoch)).isEqualTo(1);
            assertThat(store.lease(LeaseKey.of(topic, 0))).get()
                    .satisfies(l -> assertThat(List.of(l.holder(), l.epoch())).containsExactly(AgentId.of(id("a")), epoch));
        }
    }

    @Test
    void learnsItsLeasesFromTheDatabaseAndWritesFenced() throws SQLException {
        selfKeptAgent("a");
        Recorder events = new Recorder();
        LeaseClient a = library("a", events);
        createLease("p0", 0);
        createLease("p1", 1);

        assertThat(ensure(a, 0)).isEqualTo(1);
        assertThat(a.ensureLease(topic, 1, Duration.ofSeconds(30))).isEqualTo(1);
        assertThat(a.epoch(topic, 0)).isEqualTo(1);
        assertThat(a.epoch(topic, 7)).isEqualTo(LeaseClient.NO_EPOCH);
        assertThat(a.held()).containsOnlyKeys(LeaseKey.of(topic, 0), LeaseKey.of(topic, 1));
        // Listeners are told on the event thread, just after the lease is held (ensureLease may return first).
        eventually().until(() -> events.seen().containsAll(List.of("acquired " + topic + "/0@1", "acquired " + topic + "/1@1")));
        assertThat(a.validateEpoch(topic, 0, 1).status()).isEqualTo(Validation.Status.VALID);

        assertThat(write(a, 0, 1)).isEqualTo(1);
        assertThat(writes(0)).isEqualTo(1);
        assertThatThrownBy(() -> write(a, 0, 0)).isInstanceOf(FencingException.class);
        assertThat(writes(0)).isEqualTo(1);
        assertThat(a.stats()).extracting(LeaseClient.Stats::fencedCommitted, LeaseClient.Stats::fencedRefused,
                LeaseClient.Stats::sessionsLost, LeaseClient.Stats::held).containsExactly(1L, 1L, 0L, 2);
        assertThat(a.stats().looks()).as("it learned its leases by looking").isPositive();
        // Each renewal checks the assignments version (one row); nothing changed, so no look.
        long looks = a.stats().looks();
        long checks = a.stats().checks();
        eventually().until(() -> a.stats().checks() >= checks + 2);
        assertThat(a.stats().looks()).as("renewals with nothing new are checks, not looks").isEqualTo(looks);
        long fullLooks = a.stats().fullLooks();
        createLease("p2", 2);
        assertThat(ensure(a, 2)).isEqualTo(1);
        assertThat(a.stats().looks()).as("a lease that came is a look").isGreaterThan(looks);
        assertThat(a.stats().fullLooks()).as("of what changed only, not of every lease").isEqualTo(fullLooks);
        // The StreamAgent shows the session the library opened.
        eventually().until(() -> {
            StreamAgent sa = client.resources(StreamAgent.class).inNamespace(ns).withName("a").get();
            return sa.getStatus() != null && sa.getStatus().getPhase() == StreamAgentPhase.Ready
                    && sa.getStatus().getSessionEpoch() == a.sessionEpoch();
        });
    }

    /**
     * After its first look the agent reads only what changed since the last one: a lease taken
     * from it and one given to it are learned without reading the others. When the database no
     * longer keeps its changes (forgotten here, as when more than 1,024 versions passed between
     * two looks), it reads everything and learns all the same. A look that ignored the leases
     * that left, or trusted changes the database could no longer list, would keep one it lost.
     */
    @Test
    void learnsWhatChangedFromTheChangesAloneAndEverythingWhenTheyAreNoLongerKept() throws SQLException {
        selfKeptAgent("a");
        Recorder events = new Recorder();
        LeaseClient a = library("a", events);
        AgentId agentA = AgentId.of(id("a"));
        List<AcquireResult> given = new ArrayList<>();
        for (int p = 0; p < 3; p++) {
            given.add(store.acquire(AcquireRequest.ifFree(LeaseKey.of(topic, p), agentA, a.sessionEpoch()), "Assigned"));
        }
        eventually().until(() -> a.held().size() == 3);
        long fullLooks = a.stats().fullLooks();

        AgentId agentB = AgentId.of(id("b"));
        var sessionB = store.register(Registrations.registration(agentB, Duration.ofSeconds(30)));
        store.acquireAll(List.of(AcquireRequest.takeOver(LeaseKey.of(topic, 1), agentB, sessionB.sessionEpoch(),
                agentA, given.get(1).lease().epoch())), "Moved");
        eventually().until(() -> a.epoch(topic, 1) == LeaseClient.NO_EPOCH);
        assertThat(events.seen()).contains("revoked " + LeaseKey.of(topic, 1) + "@1 MOVED");
        assertThat(a.held()).containsOnlyKeys(LeaseKey.of(topic, 0), LeaseKey.of(topic, 2));
        assertThat(a.stats().fullLooks()).as("learned from the change alone").isEqualTo(fullLooks);

        // Taken and forgotten in one transaction: the agent's last look is from before what the
        // database still keeps, whenever it looks next.
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement take = c.prepareStatement("SELECT * FROM lease_acquire(?, ?, ?, ?, ?, ?, 'Moved')");
                 PreparedStatement forget = c.prepareStatement("SELECT lease_forget_agent_changes(?)")) {
                take.setString(1, topic);
                take.setInt(2, 2);
                take.setString(3, agentB.value());
                take.setLong(4, sessionB.sessionEpoch());
                take.setString(5, agentA.value());
                take.setLong(6, given.get(2).lease().epoch());
                take.executeQuery().close();
                forget.setString(1, agentA.value());
                forget.executeQuery().close();
            }
            c.commit();
        }
        store.acquire(AcquireRequest.ifFree(LeaseKey.of(topic, 3), agentA, a.sessionEpoch()), "Assigned");
        eventually().until(() -> a.epoch(topic, 3) == 1 && a.epoch(topic, 2) == LeaseClient.NO_EPOCH);
        assertThat(a.held()).containsOnlyKeys(LeaseKey.of(topic, 0), LeaseKey.of(topic, 3));
        assertThat(a.stats().fullLooks()).as("the changes since its last look are gone: it read everything")
                .isGreaterThan(fullLooks);
    }

    /**
     * An agent built on this library against a schema before V11 (the operator not upgraded yet):
     * the function is missing (SQLSTATE 42883, made here by renaming it), so every look reads
     * everything, and leases that come and go are learned all the same.
     */
    @Test
    void withoutTheChangesFunctionEveryLookReadsEverything() throws SQLException {
        selfKeptAgent("a");
        LeaseClient a = library("a", new Recorder());
        AgentId agentA = AgentId.of(id("a"));
        try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
            st.execute("ALTER FUNCTION lease_assignment_changes(varchar, bigint, bigint) RENAME TO lease_assignment_changes_v11");
        }
        try {
            long fullLooks = a.stats().fullLooks();
            AcquireResult first = store.acquire(AcquireRequest.ifFree(LeaseKey.of(topic, 0), agentA, a.sessionEpoch()),
                    "Assigned");
            eventually().until(() -> a.epoch(topic, 0) == first.lease().epoch());
            AcquireResult second = store.acquire(AcquireRequest.ifFree(LeaseKey.of(topic, 1), agentA, a.sessionEpoch()),
                    "Assigned");
            eventually().until(() -> a.epoch(topic, 1) == second.lease().epoch());
            assertThat(a.stats().fullLooks()).as("each look read everything").isGreaterThanOrEqualTo(fullLooks + 2);
        } finally {
            try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
                st.execute("ALTER FUNCTION lease_assignment_changes_v11(varchar, bigint, bigint) RENAME TO lease_assignment_changes");
            }
        }
    }

    /**
     * A notification lost (the channel's trigger disabled here, as a connection that died without
     * an error would lose it): the check after the next renewal finds the lease all the same, by
     * the assignments version, which the same transaction moved. A check that trusted the
     * notifications, or a version some change did not move, would never learn it.
     */
    @Test
    void aLeaseWhoseNotificationWasLostIsLearnedAtTheNextRenewal() throws SQLException {
        selfKeptAgent("a");
        LeaseClient a = library("a", new Recorder());
        LeaseKey key = LeaseKey.of(topic, 5);
        long looks = a.stats().looks();
        try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
            st.execute("ALTER TABLE lease_history DISABLE TRIGGER lease_history_notify");
        }
        try {
            AcquireResult given = store.acquire(AcquireRequest.ifFree(key, AgentId.of(id("a")), a.sessionEpoch()), "Assigned");
            assertThat(given.outcome()).isEqualTo(AcquireResult.Outcome.ACQUIRED);
            eventually().until(() -> a.epoch(topic, 5) == given.lease().epoch());
            assertThat(a.stats().looks()).isGreaterThan(looks);
        } finally {
            try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
                st.execute("ALTER TABLE lease_history ENABLE TRIGGER lease_history_notify");
            }
        }
    }

    /**
     * After its start the library makes no API server request: its client is closed once the
     * client has started, and it still learns a new lease, hands one off when the operator moves
     * it, and writes fenced. (A request on the closed client would fail the test with its error.)
     */
    @Test
    void learnsAndHandsOffThroughTheDatabaseWithNoApiServer() throws SQLException {
        selfKeptAgent("a");
        Recorder aEvents = new Recorder();
        LeaseClient a;
        try (KubernetesClient own = new io.fabric8.kubernetes.client.KubernetesClientBuilder()
                .withConfig(client.getConfiguration()).build()) {
            a = LeaseClient.builder(AgentIdentity.of(ns, "a"), own, dataSource).defaultSessionTimeout(TTL)
                    .listener(aEvents).build();
            opened.add(a);
            a.start();
        } // from here on, any API server request of the library would fail
        createLease("p0", 0);
        createLease("p1", 1);
        assertThat(ensure(a, 0)).isEqualTo(1);
        assertThat(a.ensureLease(topic, 1, Duration.ofSeconds(30))).isEqualTo(1);
        assertThat(write(a, 0, 1)).isEqualTo(1);

        selfKeptAgent("b");
        LeaseClient b = library("b", new Recorder());
        eventually().until(() -> b.held().size() == 1 && a.held().size() == 1);
        LeaseKey moved = b.held().keySet().iterator().next();
        assertThat(aEvents.seen()).containsSubsequence("handoff " + moved + "@1 -> " + id("b"),
                "revoked " + moved + "@1 HANDED_OFF");
        assertThat(reasons(moved.partition())).containsExactly("Assigned", LeaseClient.HANDED_OFF, "Handoff");
        LeaseKey kept = a.held().keySet().iterator().next();
        assertThat(write(a, kept.partition(), 1)).isEqualTo(1);
    }

    @Test
    void releaseAndReleaseAllGiveLeasesUpAndCountInMetrics() {
        selfKeptAgent("a");
        selfKeptAgent("b");
        Recorder aEvents = new Recorder();
        LeaseClient a = library("a", aEvents);
        LeaseClient b = library("b", new Recorder());
        var registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        new LeaseClientMetrics(a).bindTo(registry);
        for (int p = 0; p < 4; p++) {
            createLease("p" + p, p);
        }
        eventually().until(() -> a.held().size() == 2 && b.held().size() == 2);
        assertThat(registry.get("streamhouse.agent.leases.held").gauge().value()).isEqualTo(2);
        LeaseKey first = a.held().keySet().stream().sorted().findFirst().orElseThrow();
        long epoch = a.held().get(first);

        assertThat(a.release(first.topic(), first.partition())).isTrue();

        assertThat(aEvents.seen()).contains("revoked " + first + "@" + epoch + " RELEASED");
        assertThat(reasons(first.partition())).contains(LeaseClient.RELEASED);
        assertThatThrownBy(() -> write(a, first.partition(), epoch)).isInstanceOf(FencingException.class);
        assertThat(registry.get("streamhouse.agent.fenced.writes").tag("outcome", "refused").functionCounter().count())
                .isEqualTo(1);
        assertThat(a.release(topic, 99)).isFalse(); // never held: nothing to do

        // The released lease is assigned again (the plan keeps two each); releaseAll gives up both.
        eventually().until(() -> a.held().size() == 2 && b.held().size() == 2);
        var mine = a.held();
        assertThat(a.releaseAll()).containsExactlyInAnyOrderElementsOf(mine.keySet());
        mine.forEach((key, e) -> assertThat(aEvents.seen()).contains("revoked " + key + "@" + e + " RELEASED"));
    }

    @Test
    void ensureLeaseFailsNamingTheHolder() {
        selfKeptAgent("a");
        client.resource(Fixtures.agent(ns, "b", id("b"), "g1")).create(); // kept by the operator
        LeaseClient a = library("a", new Recorder());
        // b Ready first: otherwise the lease may go to a and then move to its pin at epoch 2.
        eventually().until(() -> {
            StreamAgent b = client.resources(StreamAgent.class).inNamespace(ns).withName("b").get();
            return b.getStatus() != null && b.getStatus().getPhase() == StreamAgentPhase.Ready;
        });
        var lease = Fixtures.lease(ns, "p0", topic, 0, "g1");
        lease.getSpec().setPreferredAgent(id("b"));
        client.resource(lease).create();
        awaitHolder(0, "b", 1);

        assertThatThrownBy(() -> a.ensureLease(topic, 0, Duration.ofMillis(300)))
                .isInstanceOf(LeaseNotHeldException.class)
                .hasMessageContaining(topic + "/0 was not assigned to " + id("a"))
                .hasMessageContaining("held by " + id("b") + " at epoch 1")
                .satisfies(e -> assertThat(((LeaseNotHeldException) e).currentHolder()).isEqualTo(AgentId.of(id("b"))));
        assertThatThrownBy(() -> a.ensureLease(topic, 5, Duration.ofMillis(100)))
                .isInstanceOf(LeaseNotHeldException.class).hasMessageContaining("nobody holds it");
    }

    @Test
    void handsALeaseOffWhenTheOperatorMovesIt() {
        selfKeptAgent("a");
        Recorder aEvents = new Recorder();
        LeaseClient a = library("a", aEvents);
        createLease("p0", 0);
        createLease("p1", 1);
        ensure(a, 0);
        a.ensureLease(topic, 1, Duration.ofSeconds(30));

        selfKeptAgent("b");
        Recorder bEvents = new Recorder();
        LeaseClient b = library("b", bEvents);

        // Balance moves one of the two to b, as a handoff: a is asked, releases, b gets epoch 2.
        eventually().until(() -> b.held().size() == 1 && a.held().size() == 1);
        LeaseKey moved = b.held().keySet().iterator().next();
        assertThat(b.held().get(moved)).isEqualTo(2);
        assertThat(aEvents.seen()).containsSubsequence("handoff " + moved + "@1 -> " + id("b"),
                "revoked " + moved + "@1 HANDED_OFF");
        assertThat(reasons(moved.partition())).containsExactly("Assigned", LeaseClient.HANDED_OFF, "Handoff");
        // Refused by the library at once (its revoke stops new writes, so the release never queues
        // behind them), and by the database for anyone who asks it directly.
        assertThatThrownBy(() -> write(a, moved.partition(), 1)).isInstanceOf(FencingException.class)
                .hasMessageContaining("is not the holder at epoch 1");
        assertThatThrownBy(() -> store.fenced(moved, AgentId.of(id("a")), a.sessionEpoch(), 1, c -> 1))
                .isInstanceOf(FencingException.class).hasMessageContaining("stale epoch 1");
        assertThat(write(b, moved.partition(), 2)).isEqualTo(1);
    }

    @Test
    void closeReleasesEverythingSoAnotherAgentTakesOverAtOnce() {
        selfKeptAgent("a");
        selfKeptAgent("b");
        LeaseClient a = library("a", new Recorder());
        LeaseClient b = library("b", new Recorder());
        for (int p = 0; p < 4; p++) {
            createLease("p" + p, p);
        }
        eventually().until(() -> a.held().size() + b.held().size() == 4);
        long session = a.sessionEpoch();
        List<LeaseKey> fromA = new ArrayList<>(a.held().keySet());

        a.close();

        assertThat(store.session(AgentId.of(id("a"))).orElseThrow().live()).isFalse();
        eventually().until(() -> b.held().size() == 4);
        for (LeaseKey key : fromA) {
            // The release and the next holder's acquisition are adjacent; whatever follows (a
            // session of b's lost on a starved machine, say) is not this test's business.
            List<HistoryEntry> history = store.history(key);
            int shutdown = history.stream().map(HistoryEntry::reason).toList().indexOf(LeaseClient.SHUTDOWN);
            assertThat(shutdown).as("history of %s: %s", key, history).isNotNegative();
            assertThat(history).as("history of %s", key).hasSizeGreaterThan(shutdown + 1);
            HistoryEntry next = history.get(shutdown + 1);
            assertThat(next.reason()).as("after the release: %s", history).isEqualTo("Assigned");
            assertThat(next.to()).isEqualTo(AgentId.of(id("b")));
        }
        assertThat(a.epoch(topic, 0)).isEqualTo(LeaseClient.NO_EPOCH);
        assertThat(session).isPositive();
    }

    /**
     * A renewal in flight while the agent closes reaches the database after the close ended the
     * session, and is answered "ended": that answer must not open a new incarnation. One that did
     * would look live to the operator, which would give it leases (the ones just released, even)
     * that then wait a whole session timeout for a failover. Seen in the bench at 100 agents.
     */
    @Test
    void aRenewalInFlightWhenTheAgentClosesOpensNoNewSession() throws Exception {
        selfKeptAgent("a");
        HoldingDataSource ds = new HoldingDataSource(dataSource);
        LeaseClient a = library("a", new Recorder(), ds, System::nanoTime);
        createLease("p0", 0);
        ensure(a, 0);
        long session = a.sessionEpoch();
        int registered = ds.executions("lease_register(");

        // The next renewal (within a third of the timeout) waits at the database's door, and
        // close() waits just after its shutdown committed: the renewal then reaches the database
        // while the client is still closing, and is told the session ended.
        HoldingDataSource.Gate renewal = ds.before("lease_renew(");
        HoldingDataSource.Gate shutdown = ds.after("lease_shutdown(");
        Thread renewing = renewal.awaitHeld(TTL);
        Thread closing = new Thread(a::close, "closing");
        closing.start();
        shutdown.awaitHeld(Duration.ofSeconds(30));
        renewal.release();
        // That renewal round ends: registered anew (the bug), or back in its timer's queue.
        eventually().until(() -> ds.executions("lease_register(") > registered || idleInItsTimer(renewing));
        shutdown.release();
        closing.join(Duration.ofSeconds(30).toMillis());

        assertThat(ds.executions("lease_register(")).as("registrations after the close began").isEqualTo(registered);
        Session s = store.session(AgentId.of(id("a"))).orElseThrow();
        assertThat(s.sessionEpoch()).as("no incarnation opened after the close").isEqualTo(session);
        assertThat(s.live()).isFalse();
    }

    /** True when {@code t} is a pool thread waiting for its next scheduled task. */
    static boolean idleInItsTimer(Thread t) {
        return !t.isAlive() || java.util.Arrays.stream(t.getStackTrace())
                .anyMatch(f -> f.getClassName().contains("DelayedWorkQueue") && f.getMethodName().equals("take"));
    }

    @Test
    void stopsWritingWhenItsSessionCannotBeConfirmedAndRecovers() {
        selfKeptAgent("a");
        Recorder events = new Recorder();
        CuttableDataSource ds = new CuttableDataSource(dataSource);
        LeaseClient a = library("a", events, ds, System::nanoTime);
        createLease("p0", 0);
        long epoch = ensure(a, 0);

        ds.cut.set(true); // the agent loses its database; the operator does not
        eventually().until(() -> a.epoch(topic, 0) == LeaseClient.NO_EPOCH);
        eventually().until(() -> events.seen().contains("revoked " + topic + "/0@" + epoch + " SESSION_UNCONFIRMED"));
        assertThatThrownBy(() -> write(a, 0, epoch)).isInstanceOf(FencingException.class)
                .hasMessageContaining("session of " + id("a") + " (session");

        ds.cut.set(false);
        // Either the session survived (renewed in time) or it is registered anew and the lease reassigned.
        eventually().until(() -> a.epoch(topic, 0) != LeaseClient.NO_EPOCH);
        assertThat(write(a, 0, a.epoch(topic, 0))).isEqualTo(1);
    }

    /**
     * The application's fenced writes fill their pool (two writers stuck inside their
     * transactions, longer than two session timeouts). With a session DataSource of its own the
     * agent keeps renewing and keeps its lease the whole time; on the shared pool the same writers
     * starve the renewal and the session is lost (the second half shows the first can fail).
     */
    @Test
    void writesThatHoldEveryConnectionDoNotStarveTheSessionGivenItsOwnDataSource() throws Exception {
        try (HikariDataSource writes = pool(dataSource, "writes"); HikariDataSource session = pool(dataSource, "session")) {
            selfKeptAgent("a");
            try (LeaseClient a = LeaseClient.builder(AgentIdentity.of(ns, "a"), client, writes).sessionDataSource(session)
                    .defaultSessionTimeout(TTL).listener(new Recorder()).build()) {
                a.start();
                createLease("p0", 0);
                long epoch = ensure(a, 0);
                try (StuckWriters stuck = new StuckWriters(a, 0, epoch, 2)) {
                    org.awaitility.Awaitility.await().during(TTL.multipliedBy(2)).atMost(TTL.multipliedBy(3))
                            .pollInterval(Duration.ofMillis(50)).until(() -> a.epoch(topic, 0) == epoch);
                }
                assertThat(a.stats().sessionsLost()).isZero();
            }
        }
        try (HikariDataSource shared = pool(dataSource, "shared")) {
            selfKeptAgent("b");
            try (LeaseClient b = LeaseClient.builder(AgentIdentity.of(ns, "b"), client, shared)
                    .defaultSessionTimeout(TTL).listener(new Recorder()).build()) {
                b.start();
                createLease("p1", 1);
                long epoch = ensure(b, 1);
                try (StuckWriters stuck = new StuckWriters(b, 1, epoch, 1)) { // the channel holds the other connection
                    eventually().until(() -> b.epoch(topic, 1) == LeaseClient.NO_EPOCH);
                }
            }
        }
    }

    /** Two connections, given up after 500 ms of waiting (as a pool's connection timeout would). */
    static HikariDataSource pool(DataSource over, String name) {
        HikariConfig config = new HikariConfig();
        config.setDataSource(over);
        config.setMaximumPoolSize(2);
        config.setMinimumIdle(0);
        config.setConnectionTimeout(500);
        config.setPoolName("lib-" + name);
        return new HikariDataSource(config);
    }

    /** Writers blocked inside fenced transactions, each holding a connection, until closed. */
    final class StuckWriters implements AutoCloseable {
        final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        final java.util.concurrent.ExecutorService threads;

        StuckWriters(LeaseClient c, int partition, long epoch, int n) throws InterruptedException {
            threads = java.util.concurrent.Executors.newFixedThreadPool(n);
            java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(n);
            for (int i = 0; i < n; i++) {
                threads.execute(() -> {
                    try {
                        c.fenced(topic, partition, epoch, conn -> {
                            inside.countDown();
                            try {
                                release.await();
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                            return 0;
                        });
                    } catch (RuntimeException e) {
                        // the server ended the transaction when the session's time ran out: expected
                    }
                });
            }
            assertThat(inside.await(10, java.util.concurrent.TimeUnit.SECONDS)).as("writers inside their transactions").isTrue();
        }

        @Override
        public void close() throws InterruptedException {
            release.countDown();
            threads.shutdown();
            assertThat(threads.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void aProcessPausedPastItsSessionRefusesWritesTheMomentItResumes() {
        selfKeptAgent("a");
        AtomicLong skew = new AtomicLong();
        LeaseClient a = library("a", new Recorder(), dataSource, () -> System.nanoTime() + skew.get());
        createLease("p0", 0);
        long epoch = ensure(a, 0);

        skew.addAndGet(TTL.multipliedBy(2).toNanos()); // as if every thread had been frozen for two timeouts

        assertThat(a.epoch(topic, 0)).isEqualTo(LeaseClient.NO_EPOCH);
        assertThatThrownBy(() -> write(a, 0, epoch)).isInstanceOf(FencingException.class);
        // The next renewal confirms the (still live) session again.
        eventually().until(() -> a.epoch(topic, 0) == epoch);
    }

    @Test
    void aLostSessionIsRevokedAndANewIncarnationGetsItsLeasesBack() {
        selfKeptAgent("a");
        Recorder events = new Recorder();
        LeaseClient a = library("a", events);
        createLease("p0", 0);
        assertThat(ensure(a, 0)).isEqualTo(1);
        long first = a.sessionEpoch();

        store.expire(AgentId.of(id("a")), first); // as the database sees a session that ran out

        eventually().until(() -> events.seen().contains("revoked " + topic + "/0@1 SESSION_LOST"));
        eventually().untilAsserted(() -> assertThat(a.epoch(topic, 0))
                .as("held %s, session %d, row %s", a.held(), a.sessionEpoch(), store.lease(LeaseKey.of(topic, 0)))
                .isEqualTo(2));
        assertThat(a.sessionEpoch()).isGreaterThan(first);
        assertThatThrownBy(() -> write(a, 0, 1)).isInstanceOf(FencingException.class);
        assertThat(a.stats().sessionsLost()).isEqualTo(1);
    }

    @Test
    void refusesToStartForAnAgentWhoseSessionTheOperatorKeeps() {
        client.resource(Fixtures.agent(ns, "op", id("op"), "g1")).create();
        LeaseClient c = LeaseClient.builder(AgentIdentity.of(ns, "op"), client, dataSource).build();
        opened.add(c);
        assertThatThrownBy(c::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(StreamAgent.SESSION_KEEPER_ANNOTATION + ": agent");

        LeaseClient missing = LeaseClient.builder(AgentIdentity.of(ns, "nobody"), client, dataSource)
                .startTimeout(Duration.ofMillis(200)).build();
        opened.add(missing);
        assertThatThrownBy(missing::start).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("StreamAgent " + ns + "/nobody did not appear");
    }

    /** Everything the listener heard, as short strings. */
    @Test
    void twoProcessesWithOneIdentityNeverWriteOneEpochFromTwoIncarnations() throws Exception {
        // The zombie case: a process P keeps running while Q starts with the same identity (a
        // force-deleted pod on a partitioned node, a template that sets the agent id). Each
        // writes as fast as it can, tagging every row with the incarnation that wrote it.
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS incarnation_write (topic text, epoch bigint, session bigint)");
        }
        selfKeptAgent("a");
        createLease("p0", 0);
        Recorder pEvents = new Recorder();
        LeaseClient p = library("a", pEvents);
        ensure(p, 0);
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.ExecutorService writers = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            writers.submit(() -> writeTagged(p, stop));
            eventually().until(() -> taggedRows(p.sessionEpoch()) > 20);

            Recorder qEvents = new Recorder();
            LeaseClient q = library("a", qEvents);
            writers.submit(() -> writeTagged(q, stop));

            eventually().until(() -> q.epoch(topic, 0) > 0 && taggedRows(q.sessionEpoch()) > 20);
            eventually().until(p::isClosed);
            assertThat(pEvents.seen()).contains("stopped " + LeaseListener.Reason.SUPERSEDED);
            assertThat(q.isClosed()).isFalse();
            assertThat(store.session(AgentId.of(id("a"))).orElseThrow().sessionEpoch())
                    .as("P did not register again").isEqualTo(q.sessionEpoch());
        } finally {
            stop.set(true);
            writers.shutdown();
            assertThat(writers.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        }
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT epoch, count(DISTINCT session) FROM incarnation_write"
                     + " WHERE topic = ? GROUP BY epoch ORDER BY epoch")) {
            ps.setString(1, topic);
            try (ResultSet rs = ps.executeQuery()) {
                int epochs = 0;
                while (rs.next()) {
                    epochs++;
                    assertThat(rs.getLong(2)).as("incarnations that wrote epoch %d", rs.getLong(1)).isEqualTo(1);
                }
                assertThat(epochs).as("P wrote one epoch, Q another").isEqualTo(2);
            }
        }
    }

    /** Writes rows tagged (epoch, session) through the fence until told to stop; refusals are expected. */
    Void writeTagged(LeaseClient c, java.util.concurrent.atomic.AtomicBoolean stop) {
        while (!stop.get() && !c.isClosed()) {
            long epoch = c.epoch(topic, 0);
            long session = c.sessionEpoch();
            if (epoch == LeaseClient.NO_EPOCH) {
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000); // pacing, not synchronisation
                continue;
            }
            try {
                c.fenced(topic, 0, epoch, conn -> {
                    try (PreparedStatement ps = conn.prepareStatement("INSERT INTO incarnation_write VALUES (?, ?, ?)")) {
                        ps.setString(1, topic);
                        ps.setLong(2, epoch);
                        ps.setLong(3, session);
                        return ps.executeUpdate();
                    }
                });
            } catch (FencingException | IllegalStateException e) {
                // refused: the lease moved, the session was superseded, the client stopped
            }
        }
        return null;
    }

    long taggedRows(long session) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM incarnation_write WHERE topic = ? AND session = ?")) {
            ps.setString(1, topic);
            ps.setLong(2, session);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    @Test
    void anAgentWhoseStreamAgentIsInConflictRefusesToStartNamingTheOther() {
        selfKeptAgent("a");
        StreamAgent twin = Fixtures.agent(ns, "twin", id("a"), "g1");
        twin.getSpec().setSessionKeeper(SessionKeeper.Agent);
        client.resource(twin).create();
        eventually().until(() -> {
            StreamAgent t = client.resources(StreamAgent.class).inNamespace(ns).withName("twin").get();
            return t.getStatus() != null && t.getStatus().getPhase() == StreamAgentPhase.Conflict;
        });

        assertThatThrownBy(() -> library("twin", new Recorder())).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("StreamAgent " + ns + "/twin is in Conflict")
                .hasMessageContaining("already used by StreamAgent " + ns + "/a");
    }

    static final class Recorder implements LeaseListener {
        private final List<String> seen = new CopyOnWriteArrayList<>();

        @Override
        public void acquired(LeaseKey key, long epoch) {
            seen.add("acquired " + key + "@" + epoch);
        }

        @Override
        public void revoked(LeaseKey key, long epoch, Reason reason) {
            seen.add("revoked " + key + "@" + epoch + " " + reason);
        }

        @Override
        public void handoffRequested(LeaseKey key, long epoch, AgentId target) {
            seen.add("handoff " + key + "@" + epoch + " -> " + target);
        }

        @Override
        public void stopped(Reason reason) {
            seen.add("stopped " + reason);
        }

        List<String> seen() {
            return List.copyOf(seen);
        }
    }
}
