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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
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
}
