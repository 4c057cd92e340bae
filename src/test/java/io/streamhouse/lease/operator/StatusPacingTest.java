package io.streamhouse.lease.operator;

import static io.streamhouse.lease.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.model.AgentId;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * PartitionLease statuses are written at the pace of the write budget (here 5 a second, 2 at
 * once), while the compare-and-swaps in the database go at once: agents learn from the database,
 * Kubernetes follows at the pace it can take.
 */
@QuarkusTest
@WithKubernetesTestServer
@TestProfile(StatusPacingTest.SlowBudget.class)
@org.junit.jupiter.api.extension.ExtendWith(io.streamhouse.lease.testing.DumpThreadsOnTimeout.class)
class StatusPacingTest extends OperatorTestSupport {

    public static class SlowBudget implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("streamhouse.publish.lease-status-writes-per-second", "5",
                    "streamhouse.publish.lease-status-burst", "2");
        }
    }

    static final int LEASES = 10;
    /** Leases an agent holds when it stops or dies, in the tests of what follows. */
    static final int MOVED = 40;

    @Test
    void statusesFollowAtTheBudgetWhileTheDatabaseMovesAtOnce() {
        createAgent("a");
        awaitAgentReady("a");
        List<Long> writes = new CopyOnWriteArrayList<>(); // when each status change was seen, in order
        Map<String, PartitionLeaseStatus> last = new ConcurrentHashMap<>();
        try (Watch watch = client.resources(PartitionLease.class).inNamespace(ns).watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, PartitionLease pl) {
                if (pl.getStatus() != null && !Objects.equals(last.put(pl.getMetadata().getName(), pl.getStatus()),
                        pl.getStatus())) {
                    writes.add(System.nanoTime());
                }
            }

            @Override
            public void onClose(WatcherException cause) {
            }
        })) {
            for (int p = 0; p < LEASES; p++) {
                createLease("p" + p, p);
            }
            long created = System.nanoTime();
            eventually().until(() -> store.leasesHeldBy(AgentId.of(id("a"))).size() == LEASES);
            long allInDatabase = System.nanoTime();
            for (int p = 0; p < LEASES; p++) {
                awaitHeldBy("p" + p, "a", 1);
            }
            long allShown = System.nanoTime();

            List<Long> seen = new ArrayList<>(writes);
            assertThat(seen).hasSizeGreaterThanOrEqualTo(LEASES);
            // k writes need at least (k - burst) / rate seconds after the first (a little slack for the watch).
            for (int k = 2; k < seen.size(); k++) {
                double earliest = (k + 1 - 2) / 5.0 - 0.15;
                assertThat((seen.get(k) - seen.get(0)) / 1e9).as("status write %d", k + 1).isGreaterThanOrEqualTo(earliest);
            }
            assertThat((allShown - seen.get(0)) / 1e9).as("ten Held statuses (and more) at 5 a second, 2 at once")
                    .isGreaterThan((LEASES - 2) / 5.0 - 0.15);
            assertThat((allInDatabase - created) / 1e9).as("the database did not wait for the statuses")
                    .isLessThan((allShown - created) / 1e9 - 0.5);
            assertThat(get("p9").getStatus().getPhase()).isEqualTo(PartitionLeasePhase.Held);
        }
    }

    @Inject
    MeterRegistry registry;

    /**
     * Deletes this test's leases (and waits until they are gone): the counter below is the whole
     * controller's, and unheld leases left behind would be reconciled every ten seconds in the
     * next test's window.
     */
    @AfterEach
    void deleteLeases() {
        client.resources(PartitionLease.class).inNamespace(ns).delete();
        eventually().until(() -> client.resources(PartitionLease.class).inNamespace(ns).list().getItems().isEmpty());
    }

    /** PartitionLease reconciles started so far (the operator SDK extension's own counter). */
    double leaseReconciles() {
        Counter started = registry.find("reconciliations.started.total").tag("controller.name", "partitionlease").counter();
        assertThat(started).as("the reconcile counter of the partitionlease controller").isNotNull();
        return started.count();
    }

    /** {@link #MOVED} leases pinned to library agent "a", all shown Held by it; library agent "b" ready. */
    void leasesOnAWithStandbyB() {
        libraryAgent("a");
        for (int p = 0; p < MOVED; p++) {
            PartitionLease pl = Fixtures.lease(ns, "p" + p, topic, p, "g1");
            pl.getSpec().setPreferredAgent(id("a")); // so that b joining moves nothing
            client.resource(pl).create();
        }
        for (int p = 0; p < MOVED; p++) {
            awaitHeldBy("p" + p, "a", 1);
        }
        libraryAgent("b");
    }

    void awaitAllShownHeldBy(String agent) {
        eventually().until(() -> store.leasesHeldBy(AgentId.of(id(agent))).size() == MOVED);
        for (int p = 0; p < MOVED; p++) {
            String name = "p" + p;
            eventually().until(() -> id(agent).equals(get(name).getStatus().getHolder()));
        }
    }

    /**
     * The leases an agent gave back when it stopped gracefully are reconciled once each (at their
     * status turn) plus one that leads their batch: never all at once first. A thousand such
     * reconciles queued at once held up every StreamAgent publication (one executor serves every
     * controller) by a second in the bench. Each lease reconciled on the feed's report of its
     * release, again for each change of the leaver's StreamAgent and again for the plan that
     * moved it, made about 5 x MOVED (199 for 40; 44 now).
     */
    @Test
    void aGracefulStopIsLedByOneLeaseNotReconciledLeaseByLease() {
        leasesOnAWithStandbyB();
        double before = leaseReconciles();
        store.shutdown(AgentId.of(id("a")), store.session(AgentId.of(id("a"))).orElseThrow().sessionEpoch(), "Shutdown");
        awaitAllShownHeldBy("b");
        assertThat(leaseReconciles() - before).as("lease reconciles for %d leases given back", MOVED)
                .isLessThanOrEqualTo(MOVED + 10);
    }

    /**
     * The same for a dead agent's leases (its session ended by the operator, as when its pod goes):
     * one leads the failover, the others are reconciled at their status turn (155 reconciles for
     * 40 before, 43 now).
     */
    @Test
    void aFailoverIsLedByOneLeaseNotReconciledLeaseByLease() {
        leasesOnAWithStandbyB();
        double before = leaseReconciles();
        store.expire(AgentId.of(id("a")), store.session(AgentId.of(id("a"))).orElseThrow().sessionEpoch());
        awaitAllShownHeldBy("b");
        assertThat(leaseReconciles() - before).as("lease reconciles for %d leases failed over", MOVED)
                .isLessThanOrEqualTo(MOVED + 10);
    }

    /**
     * When the leader cannot move its group (no live agent left), every lease of the dead agent
     * still comes to show it: none keeps naming the dead agent as its holder.
     */
    @Test
    void withNoAgentLeftEveryLeaseOfTheDeadOneShowsItUnheld() {
        libraryAgent("a");
        for (int p = 0; p < MOVED; p++) {
            createLease("p" + p, p);
        }
        for (int p = 0; p < MOVED; p++) {
            awaitHeldBy("p" + p, "a", 1);
        }
        store.expire(AgentId.of(id("a")), store.session(AgentId.of(id("a"))).orElseThrow().sessionEpoch());
        for (int p = 0; p < MOVED; p++) {
            String name = "p" + p;
            eventually().untilAsserted(() -> assertThat(get(name).getStatus().getPhase()).as(name)
                    .isNotEqualTo(PartitionLeasePhase.Held));
        }
    }
}
