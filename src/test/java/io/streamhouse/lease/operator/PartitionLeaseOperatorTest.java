package io.streamhouse.lease.operator;

import static io.streamhouse.lease.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.api.v1alpha1.Condition;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.AcquireResult;
import io.streamhouse.lease.store.HistoryEntry;
import io.streamhouse.lease.store.Lease;
import jakarta.inject.Inject;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * PartitionLease behaviour, every reconcile flow, on the Fabric8 mock API server (CRUD) and the
 * real embedded PostgreSQL. Each test works in its own namespace, topic and agent ids
 * ({@link OperatorTestSupport}), so tests never see each other.
 */
@QuarkusTest
@WithKubernetesTestServer
@org.junit.jupiter.api.extension.ExtendWith(io.streamhouse.lease.testing.DumpThreadsOnTimeout.class)
class PartitionLeaseOperatorTest extends OperatorTestSupport {
    @Inject
    OperatorMetrics metrics;

    @Test
    void assignsALeaseAndProjectsTheRowIntoStatusLabelAndEvent() {
        createAgent("a1");
        awaitAgentReady("a1");
        createLease("p0", 0);

        PartitionLease held = awaitHeldBy("p0", "a1", 1);

        Lease row = store.lease(LeaseKey.of(topic, 0)).orElseThrow();
        assertThat(row.holder()).isEqualTo(AgentId.of(id("a1")));
        assertThat(held.getStatus().getPhase()).isEqualTo(PartitionLeasePhase.Held);
        assertThat(held.getStatus().getBoundKey()).isEqualTo(topic + "/0");
        assertThat(held.getStatus().getAcquiredAt()).isEqualTo(row.acquiredAt().toString());
        assertThat(held.getStatus().getObservedGeneration()).isEqualTo(held.getMetadata().getGeneration());
        Condition ready = held.getStatus().condition("Ready");
        assertThat(ready.getReason()).isEqualTo("LeaseAcquired");
        assertThat(ready.getMessage()).isEqualTo("held by " + id("a1") + " at epoch 1");
        eventually().until(() -> eventMessages("p0").contains("acquired by " + id("a1") + " at epoch 1"));
        eventually().until(() -> agent("a1").getStatus().getLeaseCount() == 1);
    }

    @Test
    void waitsWithNoEligibleAgentThenAssignsWhenOneJoins() {
        createLease("p0", 0);
        eventually().untilAsserted(() -> {
            PartitionLease pl = get("p0");
            assertThat(pl.getStatus()).isNotNull();
            assertThat(pl.getStatus().getPhase()).isEqualTo(PartitionLeasePhase.Unassigned);
            assertThat(pl.getStatus().condition("Ready").getReason()).isEqualTo("NoEligibleAgent");
        });
        createAgent("a1");
        awaitHeldBy("p0", "a1", 1);
    }

    @Test
    void failsOverWithEpochPlusOneWhenTheHolderPodIsGone() {
        Fixtures.node(client, "node-" + ns, "zone-a");
        Pod pod = Fixtures.readyAgentPod(client, ns, "agent-pod", id("pod"), "g1", "node-" + ns);
        eventually().untilAsserted(() -> {
            StreamAgent sa = agent("agent-pod");
            assertThat(sa).isNotNull();
            assertThat(sa.getSpec().getAgentId()).isEqualTo(id("pod"));
            assertThat(sa.getSpec().getZone()).isEqualTo("zone-a");
            assertThat(sa.getSpec().getAddress()).isEqualTo("agent-pod:9092");
            assertThat(sa.getMetadata().getOwnerReferences()).singleElement()
                    .satisfies(o -> assertThat(o.getUid()).isEqualTo(pod.getMetadata().getUid()));
        });
        awaitAgentReady("agent-pod");
        createLease("p0", 0);
        awaitHeldBy("p0", "pod", 1);
        createAgent("b");
        awaitAgentReady("b");

        client.pods().inNamespace(ns).withName("agent-pod").withGracePeriod(0).delete();

        PartitionLease moved = awaitHeldBy("p0", "b", 2);
        assertThat(moved.getStatus().getPreviousHolder()).isEqualTo(id("pod"));
        assertThat(moved.getStatus().getTransitions()).isEqualTo(2);
        eventually().until(() -> agent("agent-pod").getStatus().getPhase() == StreamAgentPhase.Lost);
        assertThat(agent("agent-pod").getStatus().condition("Ready").getReason()).isEqualTo("PodGone");
    }

    @Test
    void failsOverAfterTheSessionExpiresWhenThePodIsNotReady() {
        Pod pod = podAgentHoldingP0WithStandbyB();

        Fixtures.setReady(client, pod, false);

        eventually().until(() -> "PodNotReady".equals(agent("agent-pod").getStatus().condition("Ready").getReason()));
        assertThat(get("p0").getStatus().getHolder()).as("kept until the session expires").isEqualTo(id("pod"));
        awaitHeldBy("p0", "b", 2);
        assertThat(agent("agent-pod").getStatus().condition("Ready").getReason()).isEqualTo("SessionExpired");
    }

    @Test
    void drainsACordonedAgentToAnother() {
        createAgent("a");
        awaitAgentReady("a");
        createLease("p0", 0);
        awaitHeldBy("p0", "a", 1);
        createAgent("b");
        awaitAgentReady("b");

        specPatch(StreamAgent.class, "a", "{\"cordoned\":true}");

        awaitHeldBy("p0", "b", 2);
        eventually().until(() -> agent("a").getStatus().getPhase() == StreamAgentPhase.Draining);
        List<HistoryEntry> history = store.history(LeaseKey.of(topic, 0));
        assertThat(history).extracting(HistoryEntry::reason).containsExactly("Assigned", "Moved");
    }

    @Test
    void aSecondLeaseForTheSamePartitionIsRefusedAndTakesOverWhenTheFirstGoes() {
        createAgent("a");
        awaitAgentReady("a");
        createLease("first", 0);
        awaitHeldBy("first", "a", 1);

        createLease("second", 0);
        eventually().untilAsserted(() -> {
            PartitionLease second = get("second");
            assertThat(second.getStatus()).isNotNull();
            assertThat(second.getStatus().getPhase()).isEqualTo(PartitionLeasePhase.Conflict);
            assertThat(second.getStatus().condition("Ready").getReason()).isEqualTo("DuplicatePartition");
            assertThat(second.getStatus().condition("Ready").getMessage())
                    .isEqualTo("partition " + topic + "/0 is already managed by PartitionLease " + ns + "/first");
            assertThat(second.getStatus().getHolder()).isNull();
        });
        assertThat(store.history(LeaseKey.of(topic, 0))).hasSize(1);

        client.resources(PartitionLease.class).inNamespace(ns).withName("first").delete();

        awaitHeldBy("second", "a", 2);
        assertThat(store.history(LeaseKey.of(topic, 0))).extracting(HistoryEntry::reason)
                .containsExactly("Assigned", "LeaseDeleted", "Assigned");
    }

    @Test
    void changingThePinMovesTheLease() {
        createAgent("a");
        createAgent("b");
        awaitAgentReady("a");
        awaitAgentReady("b");
        createLease("p0", 0);
        awaitHeldBy("p0", "a", 1); // equal load, no zones: the lowest id

        specPatch(PartitionLease.class, "p0", "{\"preferredAgent\":\"" + id("b") + "\"}");

        awaitHeldBy("p0", "b", 2);
    }

    @Test
    void refusesAChangeOfPartitionAndLeavesTheRowAlone() {
        createAgent("a");
        awaitAgentReady("a");
        createLease("p0", 0);
        awaitHeldBy("p0", "a", 1);

        specPatch(PartitionLease.class, "p0", "{\"partition\":5}");

        eventually().untilAsserted(() -> {
            PartitionLease pl = get("p0");
            assertThat(pl.getStatus().getPhase()).isEqualTo(PartitionLeasePhase.Invalid);
            assertThat(pl.getStatus().condition("Ready").getReason()).isEqualTo("SpecImmutable");
        });
        assertThat(store.lease(LeaseKey.of(topic, 5))).isEmpty();
        assertThat(store.lease(LeaseKey.of(topic, 0)).orElseThrow().epoch()).isEqualTo(1);
    }

    @Test
    void deletingALeaseReleasesItsRowAndRecordsIt() {
        createAgent("a");
        awaitAgentReady("a");
        createLease("p0", 0);
        awaitHeldBy("p0", "a", 1);

        client.resources(PartitionLease.class).inNamespace(ns).withName("p0").delete();

        eventually().until(() -> get("p0") == null);
        Lease row = store.lease(LeaseKey.of(topic, 0)).orElseThrow();
        assertThat(row.holder()).isNull();
        assertThat(row.epoch()).as("kept, so a re-created lease continues above it").isEqualTo(1);
        assertThat(store.history(LeaseKey.of(topic, 0))).last().satisfies(h -> {
            assertThat(h.reason()).isEqualTo("LeaseDeleted");
            assertThat(h.from()).isEqualTo(AgentId.of(id("a")));
        });
    }

    @Test
    void repairsStatusFromTheRowAfterACrashBetweenCasAndStatusWrite() {
        createAgent("a");
        createAgent("b");
        awaitAgentReady("a");
        awaitAgentReady("b");
        createLease("p0", 0);
        PartitionLease held = awaitHeldBy("p0", "a", 1);
        // The CAS happened (say, by a previous leader) but its status write never did.
        long sessionB = agent("b").getStatus().getSessionEpoch();
        store.acquire(AcquireRequest.takeOver(LeaseKey.of(topic, 0), AgentId.of(id("b")), sessionB,
                AgentId.of(id("a")), 1), "Moved");
        assertThat(get("p0").getStatus().getHolder()).isEqualTo(id("a"));

        // Any event on the lease's agents makes it reconcile; status is rebuilt from the row.
        specPatch(StreamAgent.class, "a", "{\"weight\":2}");

        awaitHeldBy("p0", "b", 2);
        assertThat(held.getStatus().getEpoch()).isEqualTo(1);
    }

    @Test
    void failoverDelayKeepsTheLeaseForAnAgentThatComesBack() {
        Fixtures.node(client, "node-" + ns, "zone-a");
        Pod pod = Fixtures.readyAgentPod(client, ns, "agent-pod", id("pod"), "g1", "node-" + ns);
        awaitAgentReady("agent-pod");
        PartitionLease sticky = Fixtures.lease(ns, "p0", topic, 0, "g1");
        sticky.getSpec().setFailoverDelaySeconds(60);
        client.resource(sticky).create();
        awaitHeldBy("p0", "pod", 1);
        createAgent("b");
        awaitAgentReady("b");

        Fixtures.setReady(client, pod, false); // its session expires after 3 s, not renewed
        eventually().untilAsserted(() -> {
            Condition held = get("p0").getStatus().condition("Held");
            assertThat(held.getStatus()).isEqualTo("False");
            assertThat(held.getReason()).isEqualTo("WaitingForHolder");
        });
        assertThat(get("p0").getStatus().getHolder()).as("not given to b during the delay").isEqualTo(id("pod"));

        Fixtures.setReady(client, pod, true); // back: a new incarnation, so a new epoch

        PartitionLease back = awaitHeldBy("p0", "pod", 2);
        assertThat(back.getStatus().getPreviousHolder()).isEqualTo(id("pod"));
    }

    // ------------------------------------------------------------ handoffs, move limits, failover

    void cordon(String agentName) {
        specPatch(StreamAgent.class, agentName, "{\"cordoned\":true}");
    }

    /** Library agent "a" holds p0 at epoch 1; operator-kept "b" is ready; then "a" is cordoned. */
    void libraryHolderOfP0CordonedWithStandbyB() {
        libraryAgent("a");
        createLease("p0", 0);
        awaitHeldBy("p0", "a", 1);
        createAgent("b");
        awaitAgentReady("b");

        cordon("a");
    }

    @Test
    void aLibraryHolderIsAskedToHandOffAndTheNewHolderGetsTheNextEpochWhenItReleases() {
        libraryHolderOfP0CordonedWithStandbyB();

        eventually().until(() -> id("b").equals(get("p0").getStatus().getHandoffTo()));
        PartitionLease asked = get("p0");
        assertThat(asked.getStatus().getHolder()).as("still the holder until it releases").isEqualTo(id("a"));
        assertThat(asked.getStatus().getEpoch()).isEqualTo(1);
        assertThat(asked.getStatus().getHandoffRequestedAt()).isNotNull();
        eventually().until(() -> eventMessages("p0").stream().anyMatch(m -> m.startsWith(id("a") + " is asked to release epoch 1 for " + id("b"))));

        // What the library does on seeing handoffTo: finish the in-flight write, then release.
        long session = store.lease(LeaseKey.of(topic, 0)).orElseThrow().holderSession();
        assertThat(store.release(LeaseKey.of(topic, 0), AgentId.of(id("a")), session, 1, "Released").released()).isTrue();

        PartitionLease moved = awaitHeldBy("p0", "b", 2);
        assertThat(moved.getStatus().getHandoffTo()).isNull();
        assertThat(store.history(LeaseKey.of(topic, 0))).extracting(HistoryEntry::reason)
                .as("taken on the release, not forced at the timeout").containsExactly("Assigned", "Released", "Handoff");
    }

    @Test
    void aHandoffTheHolderIgnoresIsForcedAfterTheTimeout() {
        libraryHolderOfP0CordonedWithStandbyB();
        eventually().until(() -> id("b").equals(get("p0").getStatus().getHandoffTo()));

        awaitHeldBy("p0", "b", 2);
        assertThat(store.history(LeaseKey.of(topic, 0))).extracting(HistoryEntry::reason)
                .containsExactly("Assigned", "HandoffForced");
        eventually().until(() -> eventMessages("p0").stream()
                .anyMatch(m -> m.startsWith(id("a") + " did not release within 4000 ms; moved to " + id("b"))));
        assertThat(store.validate(LeaseKey.of(topic, 0), AgentId.of(id("a")),
                store.session(AgentId.of(id("a"))).orElseThrow().sessionEpoch(), 1).isValid())
                .as("the old holder is fenced").isFalse();
    }

    @Test
    void plannedMovesNeverExceedTheLimitInFlight() {
        libraryAgent("a");
        int leases = 5;
        for (int p = 0; p < leases; p++) {
            createLease("p" + p, p);
        }
        for (int p = 0; p < leases; p++) {
            awaitHeldBy("p" + p, "a", 1);
        }
        createAgent("b");
        awaitAgentReady("b");

        cordon("a");

        // Play the library: release whatever is asked. A move is in flight from the request until
        // the new holder has the next epoch in the database; the test profile allows 2.
        // Count first, release after: releasing during the count would let the operator start the
        // next move before the count is done, and count one move twice.
        AtomicInteger most = new AtomicInteger();
        eventually().until(() -> {
            List<Lease> asked = new java.util.ArrayList<>();
            for (int p = 0; p < leases; p++) {
                PartitionLease pl = get("p" + p);
                Lease row = store.lease(LeaseKey.of(topic, p)).orElseThrow();
                if (pl.getStatus().getHandoffTo() != null && row.epoch() == pl.getStatus().getEpoch()) {
                    asked.add(row);
                }
            }
            most.accumulateAndGet(asked.size(), Math::max);
            asked.stream().filter(row -> row.holder() != null)
                    .forEach(row -> store.release(row.key(), row.holder(), row.holderSession(), row.epoch(), "Released"));
            return store.leasesHeldBy(AgentId.of(id("b"))).size() == leases;
        });
        assertThat(most.get()).isBetween(1, 2);
        for (int p = 0; p < leases; p++) {
            awaitHeldBy("p" + p, "b", 2);
        }
    }

    @Test
    void aLostAgentsLeasesFailOverTogetherInOneBatch() {
        Fixtures.node(client, "node-" + ns, "zone-a");
        Fixtures.readyAgentPod(client, ns, "agent-pod", id("pod"), "g1", "node-" + ns);
        awaitAgentReady("agent-pod");
        int leases = 6;
        for (int p = 0; p < leases; p++) {
            // Pinned, so the standbys joining below do not rebalance them away first.
            PartitionLease pl = Fixtures.lease(ns, "p" + p, topic, p, "g1");
            pl.getSpec().setPreferredAgent(id("pod"));
            client.resource(pl).create();
        }
        for (int p = 0; p < leases; p++) {
            awaitHeldBy("p" + p, "pod", 1);
        }
        createAgent("b");
        createAgent("c");
        awaitAgentReady("b");
        awaitAgentReady("c");

        client.pods().inNamespace(ns).withName("agent-pod").withGracePeriod(0).delete();

        eventually().until(() -> store.leasesHeldBy(AgentId.of(id("b"))).size()
                + store.leasesHeldBy(AgentId.of(id("c"))).size() == leases);
        List<Lease> rows = new java.util.ArrayList<>();
        for (int p = 0; p < leases; p++) {
            rows.add(store.lease(LeaseKey.of(topic, p)).orElseThrow());
        }
        assertThat(rows).extracting(Lease::epoch).containsOnly(2L);
        for (int p = 0; p < leases; p++) {
            assertThat(store.history(LeaseKey.of(topic, p))).extracting(HistoryEntry::reason).containsExactly("Assigned", "AgentLost");
        }
        assertThat(rows).extracting(Lease::acquiredAt).as("one transaction: one database now()").containsOnly(rows.get(0).acquiredAt());
        assertThat(rows).extracting(Lease::holder).containsOnly(AgentId.of(id("b")), AgentId.of(id("c")));
        for (int p = 0; p < leases; p++) {
            int partition = p;
            eventually().untilAsserted(() -> assertThat(get("p" + partition).getStatus().getEpoch())
                    .as(() -> "p" + partition + " history " + store.history(LeaseKey.of(topic, partition))).isEqualTo(2));
        }
    }

    /**
     * Free leases go in batches: six leases waiting with no agent are assigned in one transaction
     * (one database now()) once one joins, and when that agent stops gracefully (it released all
     * six in one transaction) they go to the next agent batched again.
     */
    @Test
    void freeLeasesAreAssignedInOneBatch() {
        int leases = 6;
        for (int p = 0; p < leases; p++) {
            // Pinned to a, so that b joining later moves nothing until a is gone.
            PartitionLease pl = Fixtures.lease(ns, "p" + p, topic, p, "g1");
            pl.getSpec().setPreferredAgent(id("a"));
            client.resource(pl).create();
        }
        eventually().until(() -> get("p5").getStatus() != null);
        libraryAgent("a");
        List<Lease> rows = new java.util.ArrayList<>();
        eventually().untilAsserted(() -> {
            rows.clear();
            for (int p = 0; p < leases; p++) {
                rows.add(store.lease(LeaseKey.of(topic, p)).orElse(null)); // not written yet: null, asserted below
            }
            assertThat(rows).doesNotContainNull().extracting(Lease::holder).containsOnly(AgentId.of(id("a")));
        });
        assertThat(rows).extracting(Lease::acquiredAt).as("one transaction").containsOnly(rows.get(0).acquiredAt());

        libraryAgent("b");
        eventually().until(() -> get("p5").getStatus().getHolder() != null); // statuses caught up; nothing moves
        double sentToTheLeaver = metrics.casLostCount(AcquireResult.Outcome.AGENT_NOT_LIVE);
        // a's StreamAgent still says Ready for a few moments after this, and every lease is pinned
        // to a: planned from the StreamAgent alone, the released leases would go straight back to a.
        store.shutdown(AgentId.of(id("a")), store.session(AgentId.of(id("a"))).orElseThrow().sessionEpoch(), "Shutdown");
        eventually().untilAsserted(() -> {
            rows.clear();
            for (int p = 0; p < leases; p++) {
                rows.add(store.lease(LeaseKey.of(topic, p)).orElseThrow());
            }
            assertThat(rows).extracting(Lease::holder).containsOnly(AgentId.of(id("b")));
        });
        // At most one batch sent the leases back to a: one planned by a reconcile already running
        // when the stop committed, before the change feed said a's session was over. Every plan
        // after that knows (EndedSessions, told by the feed or by that lost batch), whatever a's
        // StreamAgent still says; before, every plan until that StreamAgent caught up was lost.
        assertThat(metrics.casLostCount(AcquireResult.Outcome.AGENT_NOT_LIVE) - sentToTheLeaver)
                .as("compare-and-swaps that sent a released lease back to the agent that left").isLessThanOrEqualTo(leases);
        // Batched again, as the feed reports the six releases together (endOfBatch). At most two
        // transactions: a lease reconciled for another reason (a's StreamAgent changing) before
        // the feed's batch goes alone. Without the batch each lease is a transaction of its own.
        assertThat(rows.stream().map(Lease::acquiredAt).distinct().count()).as("transactions for six leases")
                .isLessThanOrEqualTo(2);
        for (int p = 0; p < leases; p++) {
            assertThat(store.history(LeaseKey.of(topic, p))).extracting(HistoryEntry::reason)
                    .containsExactly("Assigned", "Shutdown", "Assigned");
        }
    }
}
