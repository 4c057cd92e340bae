package io.streamhouse.lease.operator;

import static io.streamhouse.lease.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.api.v1alpha1.HeldTopic;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import io.streamhouse.lease.api.v1alpha1.StreamTopicStatus;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AgentRegistration;
import io.streamhouse.lease.store.Lease;
import io.streamhouse.lease.testing.Namespaces;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * StreamTopic on the Fabric8 mock API server and the real embedded PostgreSQL: a topic's
 * partitions are rows, assigned, grown, failed over and released without a Kubernetes object per
 * partition, and one (topic, partition) has one owner, a StreamTopic or a PartitionLease.
 */
@QuarkusTest
@WithKubernetesTestServer
@org.junit.jupiter.api.extension.ExtendWith(io.streamhouse.lease.testing.DumpThreadsOnTimeout.class)
class StreamTopicOperatorTest extends OperatorTestSupport {

    StreamTopic createTopic(String name, int partitions) {
        return client.resource(Fixtures.topic(ns, name, topic, partitions, "g1")).create();
    }

    StreamTopic topicResource(String name) {
        return client.resources(StreamTopic.class).inNamespace(ns).withName(name).get();
    }

    Map<Integer, Lease> rows() {
        return store.leasesOf(topic).stream().collect(Collectors.toMap(l -> l.key().partition(), Function.identity()));
    }

    void awaitHeld(String name, int held) {
        eventually().untilAsserted(() -> {
            StreamTopicStatus status = topicResource(name).getStatus();
            assertThat(status).isNotNull();
            assertThat(status.getHeld()).isEqualTo(held);
            assertThat(status.getUnassigned()).isZero();
            assertThat(status.condition("Ready").getStatus()).isEqualTo("True");
        });
    }

    @Test
    void aTopicsPartitionsAreAssignedInBalanceAndListedOnTheAgents() {
        createAgent("a");
        createAgent("b");
        awaitAgentReady("a");
        awaitAgentReady("b");

        createTopic("orders", 6);

        awaitHeld("orders", 6);
        StreamTopicStatus status = topicResource("orders").getStatus();
        assertThat(status.getAgentsHolding()).isEqualTo(2);
        assertThat(status.getAgents()).extracting(StreamTopicStatus.AgentCount::getPartitions).containsOnly(3);
        assertThat(rows()).hasSize(6);
        assertThat(rows().values()).allSatisfy(l -> assertThat(l.epoch()).isEqualTo(1));
        assertThat(client.resources(PartitionLease.class).inNamespace(ns).list().getItems())
                .as("no object per partition").isEmpty();
        eventually().untilAsserted(() -> {
            int listed = 0;
            for (String agent : List.of("a", "b")) {
                List<HeldTopic> leases = agent(agent).getStatus().getLeases();
                assertThat(leases).isNotNull();
                listed += leases.stream().filter(h -> h.getTopic().equals(topic)).mapToInt(HeldTopic::getCount).sum();
            }
            assertThat(listed).isEqualTo(6);
        });
    }

    @Test
    void growingATopicAssignsOnlyTheNewPartitions() {
        createAgent("a");
        createAgent("b");
        awaitAgentReady("a");
        awaitAgentReady("b");
        createTopic("orders", 4);
        awaitHeld("orders", 4);
        Map<Integer, Lease> before = rows();

        specPatch(StreamTopic.class, "orders", "{\"partitions\":6}");

        awaitHeld("orders", 6);
        Map<Integer, Lease> after = rows();
        for (int p = 0; p < 4; p++) {
            assertThat(after.get(p).holder()).as("partition %d stays with its holder", p).isEqualTo(before.get(p).holder());
            assertThat(after.get(p).epoch()).isEqualTo(before.get(p).epoch());
        }
        assertThat(after.get(4).epoch()).isEqualTo(1);
        assertThat(topicResource("orders").getStatus().getPartitions()).isEqualTo(6);
    }

    /**
     * A change made behind the reconciler's back (a holder giving a partition up through the
     * protocol, as a handoff's release does) reaches the topic's cached rows through the change
     * feed: the partition is given out again at once. A cache that kept its entry would show it
     * held and leave it unheld until the entry aged out (10 minutes).
     */
    @Test
    void aPartitionReleasedByItsHolderIsGivenOutAgainThoughTheTopicsRowsAreCached() {
        createAgent("a");
        createAgent("b");
        awaitAgentReady("a");
        awaitAgentReady("b");
        createTopic("orders", 4);
        awaitHeld("orders", 4);
        Lease row = rows().get(0);

        assertThat(store.release(row.key(), row.holder(), row.holderSession(), row.epoch(), "Handoff").released()).isTrue();

        eventually().untilAsserted(() -> {
            Lease now = rows().get(0);
            assertThat(now.holder()).isNotNull();
            assertThat(now.epoch()).isEqualTo(row.epoch() + 1);
        });
        awaitHeld("orders", 4);
    }

    /** The mock server, like the 1.20 one, ignores the CRD's CEL rules: the reconciler refuses a shrink itself. */
    @Test
    void aShrinkIsRefusedAndTheTopicKeepsItsPartitions() {
        createAgent("a");
        awaitAgentReady("a");
        createTopic("orders", 4);
        awaitHeld("orders", 4);

        specPatch(StreamTopic.class, "orders", "{\"partitions\":2}");

        eventually().untilAsserted(() -> {
            StreamTopicStatus status = topicResource("orders").getStatus();
            assertThat(status.condition("SpecAccepted").getStatus()).isEqualTo("False");
            assertThat(status.condition("SpecAccepted").getReason()).isEqualTo("PartitionsShrunk");
            assertThat(status.condition("SpecAccepted").getMessage()).contains("4 applied", "asks for 2");
        });
        assertThat(topicResource("orders").getStatus().getPartitions()).isEqualTo(4);
        assertThat(topicResource("orders").getStatus().getHeld()).isEqualTo(4);
        assertThat(rows().values()).allSatisfy(l -> assertThat(l.holder()).isEqualTo(AgentId.of(id("a"))));
    }

    /**
     * Deleting a topic gives its partitions up and keeps their rows: created again, it continues
     * from the old epochs, so no fencing token is handed out twice.
     */
    @Test
    void aDeletedTopicReleasesItsPartitionsAndATopicCreatedAgainContinuesTheirEpochs() {
        createAgent("a");
        awaitAgentReady("a");
        createTopic("orders", 3);
        awaitHeld("orders", 3);

        client.resources(StreamTopic.class).inNamespace(ns).withName("orders").delete();

        eventually().until(() -> topicResource("orders") == null);
        assertThat(rows()).hasSize(3);
        assertThat(rows().values()).allSatisfy(l -> {
            assertThat(l.holder()).isNull();
            assertThat(l.epoch()).isEqualTo(1);
        });
        assertThat(store.history(LeaseKey.of(topic, 0))).last()
                .satisfies(h -> assertThat(h.reason()).isEqualTo("TopicDeleted"));

        // Another object for the same topic: what continues the epochs is spec.topic. (The same
        // object name raced here once: the mock server answers the removal of the last finalizer
        // with no object, Java Operator SDK 5.3's cleanup fails on it and its retry ran against the
        // object created meanwhile under that name, removing its finalizer.)
        createTopic("orders-again", 3);
        awaitHeld("orders-again", 3);
        assertThat(rows().values()).allSatisfy(l -> assertThat(l.epoch()).isEqualTo(2));
    }

    /**
     * A PartitionLease that had a partition before the topic covered it keeps it until it is
     * deleted; a new one for a covered partition is refused, naming the topic.
     */
    @Test
    void aPartitionLeaseKeepsItsPartitionAndANewOneIsRefused() {
        createAgent("a");
        awaitAgentReady("a");
        createLease("old", 1);
        awaitHeldBy("old", "a", 1);

        createTopic("orders", 3);

        eventually().untilAsserted(() -> {
            StreamTopicStatus status = topicResource("orders").getStatus();
            assertThat(status).isNotNull();
            assertThat(status.getHeld()).isEqualTo(2);
            assertThat(status.getOwnedByPartitionLeases()).isEqualTo(1);
            assertThat(status.condition("PartitionLeasesOwn").getMessage()).contains(ns + "/old", "partition 1");
            assertThat(status.condition("Ready").getStatus()).isEqualTo("True");
        });
        createLease("new", 2);
        eventually().untilAsserted(() -> {
            PartitionLease refused = get("new");
            assertThat(refused.getStatus()).isNotNull();
            assertThat(refused.getStatus().getPhase()).isEqualTo(PartitionLeasePhase.Conflict);
            assertThat(refused.getStatus().condition("Held").getReason()).isEqualTo("DuplicatePartition");
            assertThat(refused.getStatus().condition("Held").getMessage()).contains("StreamTopic " + ns + "/orders");
        });
        assertThat(get("old").getStatus().getPhase()).isEqualTo(PartitionLeasePhase.Held);

        client.resources(PartitionLease.class).inNamespace(ns).withName("old").delete();

        awaitHeld("orders", 3);
        assertThat(topicResource("orders").getStatus().getOwnedByPartitionLeases()).isNull();
        assertThat(rows().get(1).epoch()).as("the row is adopted as it is, holder and epoch; history %s",
                store.history(LeaseKey.of(topic, 1))).isEqualTo(1);
        assertThat(store.history(LeaseKey.of(topic, 1))).as("never released").hasSize(1);
    }

    @Test
    void aSecondTopicOfTheSameNameInAnotherNamespaceIsRefused() {
        createAgent("a");
        awaitAgentReady("a");
        createTopic("orders", 2);
        awaitHeld("orders", 2);
        String other = Namespaces.unique("t");

        client.resource(Fixtures.topic(other, "orders", topic, 5, "g1")).create();

        eventually().untilAsserted(() -> {
            StreamTopic second = client.resources(StreamTopic.class).inNamespace(other).withName("orders").get();
            assertThat(second.getStatus()).isNotNull();
            assertThat(second.getStatus().condition("Ready").getReason()).isEqualTo("DuplicateTopic");
            assertThat(second.getStatus().condition("Ready").getMessage()).contains("StreamTopic " + ns + "/orders");
        });
        assertThat(rows()).hasSize(2);
    }

    /**
     * A crash: an agent running the library stops renewing; just after its session's expiry
     * its partitions go to the other agent, in one batch, at a new epoch.
     */
    @Test
    void aCrashedAgentsPartitionsFailOverAtItsExpiry() {
        createAgent("b");
        awaitAgentReady("b");
        // Long enough to be assigned its share first, even on a slow machine.
        store.register(new AgentRegistration(AgentId.of(id("crashing")), "g1", "", "", Duration.ofSeconds(8)));
        StreamAgent crashing = Fixtures.agent(ns, "crashing", id("crashing"), "g1");
        crashing.getSpec().setSessionKeeper(SessionKeeper.Agent);
        client.resource(crashing).create();
        awaitAgentReady("crashing");
        createTopic("orders", 4);
        awaitHeld("orders", 4);
        long held = rows().values().stream().filter(l -> l.holder().equals(AgentId.of(id("crashing")))).count();
        assertThat(held).as("the crashing agent's share, assigned before its expiry").isEqualTo(2);

        // Nobody renews "crashing": its session expires 8 s after it was opened.
        eventually().untilAsserted(() -> assertThat(rows().values())
                .allSatisfy(l -> assertThat(l.holder()).isEqualTo(AgentId.of(id("b")))));
        assertThat(rows().values().stream().filter(l -> l.epoch() == 2).count()).isEqualTo(held);
        awaitHeld("orders", 4);
        assertThat(store.history(rows().values().stream().filter(l -> l.epoch() == 2).findFirst().orElseThrow().key()))
                .last().satisfies(h -> assertThat(h.reason()).isEqualTo("AgentLost"));
    }

    /**
     * A crashed agent's partitions of every topic of its group fail over in one transaction (one
     * wake-up and one read of its leases per new holder, not one per topic): every AgentLost entry
     * in the history carries the same transaction time. Per-topic batches would leave one time per topic.
     */
    @Test
    void aCrashedAgentsPartitionsOfSeveralTopicsFailOverInOneTransaction() {
        createAgent("b");
        awaitAgentReady("b");
        store.register(new AgentRegistration(AgentId.of(id("crashing")), "g1", "", "", Duration.ofSeconds(8)));
        StreamAgent crashing = Fixtures.agent(ns, "crashing", id("crashing"), "g1");
        crashing.getSpec().setSessionKeeper(SessionKeeper.Agent);
        client.resource(crashing).create();
        awaitAgentReady("crashing");
        List<String> names = List.of("orders", "payments", "refunds");
        for (String name : names) {
            client.resource(Fixtures.topic(ns, name, name + "-" + ns, 4, "g1")).create();
        }
        for (String name : names) {
            awaitHeld(name, 4);
        }
        List<LeaseKey> onCrashing = names.stream().flatMap(n -> store.leasesOf(n + "-" + ns).stream())
                .filter(l -> l.holder().equals(AgentId.of(id("crashing")))).map(Lease::key).toList();
        assertThat(onCrashing).as("the crashing agent's share of three topics, assigned before its expiry").hasSize(6);

        eventually().untilAsserted(() -> assertThat(onCrashing).allSatisfy(k ->
                assertThat(store.lease(k).orElseThrow().holder()).isEqualTo(AgentId.of(id("b")))));
        assertThat(onCrashing.stream().map(k -> store.history(k).get(store.history(k).size() - 1)).toList())
                .allSatisfy(h -> assertThat(h.reason()).isEqualTo("AgentLost"))
                .extracting(io.streamhouse.lease.store.HistoryEntry::at).as("one transaction time").containsOnly(
                        store.history(onCrashing.get(0)).get(store.history(onCrashing.get(0)).size() - 1).at());
    }

    /**
     * An agent that stops gracefully releases everything in one transaction; its partitions of
     * every topic of the group are then assigned in one transaction too (each new holder told and
     * reading its leases once): every Assigned entry after the stop carries the same transaction
     * time. Per-topic batches would leave one time per topic.
     */
    @Test
    void aStoppedAgentsPartitionsOfSeveralTopicsAreAssignedInOneTransaction() {
        createAgent("b");
        awaitAgentReady("b");
        io.streamhouse.lease.store.Session leaving = store.register(
                new AgentRegistration(AgentId.of(id("leaving")), "g1", "", "", Duration.ofSeconds(30)));
        StreamAgent agent = Fixtures.agent(ns, "leaving", id("leaving"), "g1");
        agent.getSpec().setSessionKeeper(SessionKeeper.Agent);
        client.resource(agent).create();
        awaitAgentReady("leaving");
        List<String> names = List.of("orders", "payments", "refunds");
        for (String name : names) {
            client.resource(Fixtures.topic(ns, name, name + "-" + ns, 4, "g1")).create();
        }
        for (String name : names) {
            awaitHeld(name, 4);
        }
        List<LeaseKey> onLeaving = names.stream().flatMap(n -> store.leasesOf(n + "-" + ns).stream())
                .filter(l -> l.holder().equals(AgentId.of(id("leaving")))).map(Lease::key).toList();
        assertThat(onLeaving).as("the leaving agent's share of three topics").hasSize(6);

        assertThat(store.shutdown(AgentId.of(id("leaving")), leaving.sessionEpoch(), "Shutdown")).hasSize(6);

        eventually().untilAsserted(() -> assertThat(onLeaving).allSatisfy(k ->
                assertThat(store.lease(k).orElseThrow().holder()).isEqualTo(AgentId.of(id("b")))));
        assertThat(onLeaving.stream().map(k -> store.history(k).get(store.history(k).size() - 1)).toList())
                .allSatisfy(h -> assertThat(h.reason()).isEqualTo("Assigned"))
                .extracting(io.streamhouse.lease.store.HistoryEntry::at).as("one transaction time").containsOnly(
                        store.history(onLeaving.get(0)).get(store.history(onLeaving.get(0)).size() - 1).at());
    }

    @jakarta.inject.Inject
    javax.sql.DataSource dataSource;

    /**
     * Agents use the same library calls for a topic's partitions as for PartitionLeases: the
     * library learns them from the database, writes through the fence, and its graceful stop
     * hands them to the other agent, whose first write carries the next epoch.
     */
    @Test
    void anAgentRunningTheLibraryWritesATopicsPartitionsAndItsStopMovesThem() throws Exception {
        for (String name : List.of("lib-a", "lib-b")) {
            StreamAgent agent = Fixtures.agent(ns, name, id(name), "g1");
            agent.getSpec().setSessionKeeper(SessionKeeper.Agent);
            client.resource(agent).create();
        }
        try (var a = io.streamhouse.lease.agent.LeaseClient.builder(
                io.streamhouse.lease.agent.AgentIdentity.of(ns, "lib-a"), client, dataSource).build().start();
             var b = io.streamhouse.lease.agent.LeaseClient.builder(
                     io.streamhouse.lease.agent.AgentIdentity.of(ns, "lib-b"), client, dataSource).build().start()) {
            awaitAgentReady("lib-a");
            awaitAgentReady("lib-b");
            createTopic("orders", 4);
            awaitHeld("orders", 4);
            int onA = (int) rows().values().stream().filter(l -> l.holder().equals(AgentId.of(id("lib-a")))).count();
            assertThat(onA).isEqualTo(2);
            int partition = rows().values().stream().filter(l -> l.holder().equals(AgentId.of(id("lib-a"))))
                    .findFirst().orElseThrow().key().partition();
            long epoch = a.ensureLease(topic, partition, Duration.ofSeconds(30));
            String written = a.fenced(topic, partition, epoch, c -> "written by a");
            assertThat(written).isEqualTo("written by a");

            a.close();

            long next = b.ensureLease(topic, partition, Duration.ofSeconds(30));
            assertThat(next).isEqualTo(epoch + 1);
            String writtenByB = b.fenced(topic, partition, next, c -> "written by b");
            assertThat(writtenByB).isEqualTo("written by b");
            eventually().untilAsserted(() -> assertThat(rows().values())
                    .allSatisfy(l -> assertThat(l.holder()).isEqualTo(AgentId.of(id("lib-b")))));
            awaitHeld("orders", 4);
        }
    }
}
