package io.streamhouse.lease.operator;

import static io.streamhouse.lease.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.store.AgentRegistration;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import io.streamhouse.lease.api.v1alpha1.HeldTopic;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * StreamAgent behaviour (and the agent pods behind them), on the Fabric8 mock API server and the
 * real embedded PostgreSQL: who owns an agent id, what a pod's lifecycle does to its agent, and
 * how it lists its leases.
 */
@QuarkusTest
@WithKubernetesTestServer
@org.junit.jupiter.api.extension.ExtendWith(io.streamhouse.lease.testing.DumpThreadsOnTimeout.class)
class StreamAgentOperatorTest extends OperatorTestSupport {

    @Test
    void aSecondAgentWithTheSameIdGetsAConditionAndNoLeases() {
        client.resource(Fixtures.agent(ns, "first", id("same"), "g1")).create();
        eventually().until(() -> agent("first").getStatus() != null && agent("first").getStatus().getPhase() == StreamAgentPhase.Ready);
        long session = agent("first").getStatus().getSessionEpoch();

        client.resource(Fixtures.agent(ns, "second", id("same"), "g1")).create();

        eventually().untilAsserted(() -> {
            StreamAgent second = agent("second");
            assertThat(second.getStatus()).isNotNull();
            assertThat(second.getStatus().getPhase()).isEqualTo(StreamAgentPhase.Conflict);
            assertThat(second.getStatus().condition("Ready").getReason()).isEqualTo("DuplicateAgentId");
            assertThat(second.getStatus().getSessionEpoch()).isNull();
        });
        assertThat(store.session(AgentId.of(id("same"))).orElseThrow().sessionEpoch()).isEqualTo(session);

        // The refused duplicate must not disturb assignment in its group.
        createLease("p0", 0);
        awaitHeldBy("p0", "same", 1);
    }

    /**
     * The login a pod names (annotation streamhouse.io/database-user) may act for its agent id in
     * the database once its StreamAgent is admitted, and no longer once that StreamAgent is gone;
     * a duplicate StreamAgent naming another login changes nothing.
     */
    @Test
    void thePodsDatabaseUserMayActForItsAgentIdUntilItsStreamAgentGoes() throws java.sql.SQLException {
        AgentId id = AgentId.of(id("db"));
        String login = "login-" + ns;
        Fixtures.node(client, "node-" + ns, "zone-a");
        Pod pod = Fixtures.readyAgentPod(client, ns, "db-pod", id.value(), "g1", "node-" + ns,
                java.util.Map.of(StreamAgent.DATABASE_USER_ANNOTATION, login));
        eventually().untilAsserted(() -> {
            assertThat(store.agentLogin(id)).contains(login);
            assertThat(agent("db-pod").getSpec().getDatabaseUser()).isEqualTo(login);
            assertThat(agent("db-pod").getStatus()).extracting(StreamAgentStatus::getDatabaseUser).isEqualTo(login);
        });

        StreamAgent duplicate = Fixtures.agent(ns, "dup", id.value(), "g1");
        duplicate.getSpec().setDatabaseUser("intruder");
        client.resource(duplicate).create();
        eventually().until(() -> agent("dup").getStatus() != null
                && agent("dup").getStatus().getPhase() == StreamAgentPhase.Conflict);
        client.resource(agent("dup")).delete();
        eventually().until(() -> agent("dup") == null);
        assertThat(store.agentLogin(id)).contains(login);

        // A lease came to it: the changes kept for its looks (lease_assignment_changes) name it.
        long session = store.session(id).orElseThrow().sessionEpoch();
        store.acquire(io.streamhouse.lease.store.AcquireRequest.ifFree(LeaseKey.of("db-" + ns, 0), id, session), "Assigned");
        assertThat(changesKeptFor(id)).isPositive();

        client.resource(pod).delete();
        client.resource(agent("db-pod")).delete();
        eventually().until(() -> store.agentLogin(id).isEmpty());
        eventually().until(() -> changesKeptFor(id) == 0); // forgotten with its StreamAgent, just after the login
    }

    @Inject
    javax.sql.DataSource dataSource;

    long changesKeptFor(AgentId id) throws java.sql.SQLException {
        try (var c = dataSource.getConnection();
             var ps = c.prepareStatement("SELECT count(*) FROM lease_agent_change_log WHERE agent_id = ?")) {
            ps.setString(1, id.value());
            try (var rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    @Test
    void aTerminatingPodIsDrainedWhileItStillExists() {
        Pod pod = podAgentHoldingP0WithStandbyB();
        // A finalizer keeps the pod Terminating, as a kubelet would while the container stops.
        client.pods().inNamespace(ns).withName("agent-pod").edit(p -> {
            p.getMetadata().setFinalizers(List.of("test.streamhouse.io/hold"));
            return p;
        });

        client.pods().inNamespace(ns).withName("agent-pod").delete();

        awaitHeldBy("p0", "b", 2);
        assertThat(client.pods().inNamespace(ns).withName("agent-pod").get().getMetadata().getDeletionTimestamp())
                .as("moved while the pod still exists").isNotNull();
        assertThat(agent("agent-pod").getStatus().getPhase()).isEqualTo(StreamAgentPhase.Draining);
        assertThat(store.history(LeaseKey.of(topic, 0))).last().satisfies(h -> assertThat(h.reason()).isEqualTo("Moved"));
        client.pods().inNamespace(ns).withName("agent-pod").edit(p -> {
            p.getMetadata().setFinalizers(List.of());
            return p;
        });
        assertThat(pod.getMetadata().getName()).isEqualTo("agent-pod");
    }

    /**
     * A StreamAgent lists the leases its live session holds, per topic with their epochs, and a
     * burst of moves to it (a failover batch of six) is one status write: a watch on it sees its
     * list change once, from nothing to all three of its leases at epoch 2.
     */
    @Test
    void anAgentListsItsLeasesAndABurstOfMovesIsOneWrite() {
        Fixtures.node(client, "node-" + ns, "zone-a");
        Fixtures.readyAgentPod(client, ns, "agent-pod", id("pod"), "g1", "node-" + ns);
        awaitAgentReady("agent-pod");
        for (int p = 0; p < 6; p++) {
            PartitionLease pl = Fixtures.lease(ns, "p" + p, topic, p, "g1");
            pl.getSpec().setPreferredAgent(id("pod")); // pinned, so that b and c joining move nothing
            client.resource(pl).create();
        }
        eventually().untilAsserted(() -> assertThat(agent("agent-pod").getStatus().getLeases())
                .containsExactly(new HeldTopic(topic, 6, "0-5@1")));
        createAgent("b");
        createAgent("c");
        awaitAgentReady("b");
        awaitAgentReady("c");
        List<List<HeldTopic>> seenByB = new CopyOnWriteArrayList<>();
        try (Watch watch = client.resources(StreamAgent.class).inNamespace(ns).withName("b").watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, StreamAgent resource) {
                List<HeldTopic> leases = resource.getStatus() == null ? null : resource.getStatus().getLeases();
                if (seenByB.isEmpty() || !Objects.equals(seenByB.get(seenByB.size() - 1), leases)) {
                    seenByB.add(leases);
                }
            }

            @Override
            public void onClose(WatcherException cause) {
            }
        })) {
            client.pods().inNamespace(ns).withName("agent-pod").withGracePeriod(0).delete();

            eventually().untilAsserted(() -> {
                Map<Integer, Long> onB = listed(agent("b"));
                Map<Integer, Long> onC = listed(agent("c"));
                assertThat(onB.size() + onC.size()).isEqualTo(6);
                assertThat(onB.values()).containsOnly(2L);
                assertThat(onC.values()).containsOnly(2L);
                assertThat(onB.keySet()).isEqualTo(partitionsHeldBy("b"));
                assertThat(onC.keySet()).isEqualTo(partitionsHeldBy("c"));
                assertThat(agent("b").getStatus().getLeaseCount()).isEqualTo(onB.size());
            });
            eventually().untilAsserted(() -> assertThat(seenByB).as("b's lease list, each distinct value a watch saw")
                    .hasSize(2).first().isNull());
        }
        eventually().untilAsserted(() -> assertThat(agent("agent-pod") == null
                || agent("agent-pod").getStatus().getLeases() == null).as("the lost agent lists nothing").isTrue());
    }

    @KubernetesTestServer
    KubernetesServer server;
    @Inject
    ChangeNotifications changes;

    /**
     * A session an agent keeps itself is looked at just after its expiry, even when the status
     * write of the reconcile that read it was slow: JOSDK counts a reschedule's delay from the
     * reconcile's end, so a delay taken at the read (expiry - read) came late by the write's time
     * (0.2-0.9 s on the bench's loaded API server). Here that write takes 3 s; the session
     * expires 5 s after it was opened, and the agent must show Lost well before expiry + 3 s.
     */
    @Test
    void aSessionsExpiryIsLookedAtOnTimeAfterASlowStatusWrite() throws Exception {
        AgentId id = AgentId.of(id("slow"));
        java.util.Set<AgentId> registered = java.util.concurrent.ConcurrentHashMap.newKeySet();
        changes.subscribe(new io.streamhouse.lease.store.ChangeFeed.Listener() {
            @Override
            public void leaseChanged(io.streamhouse.lease.store.ChangeFeed.LeaseChange change) {
            }

            @Override
            public void sessionChanged(AgentId agent) {
                registered.add(agent);
            }

            @Override
            public void resynced() {
            }
        });
        store.register(new AgentRegistration(id, "g1", "", "", Duration.ofSeconds(5)));
        Instant expiresAt = store.session(id).orElseThrow().expiresAt();
        // The registration's notification is in before the StreamAgent exists: it would otherwise
        // reconcile the agent a second time, after the slow write, and hide a late look.
        eventually().until(() -> registered.contains(id));

        StreamAgent agent = Fixtures.agent(ns, "slow", id.value(), "g1");
        agent.getSpec().setSessionKeeper(SessionKeeper.Agent);
        var created = new java.util.concurrent.CompletableFuture<StreamAgent>();
        java.util.concurrent.atomic.AtomicBoolean slowWriteServed = new java.util.concurrent.atomic.AtomicBoolean();
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        server.expect().patch().delay(3_000)
                .withPath("/apis/" + PartitionLease.GROUP + "/" + PartitionLease.VERSION + "/namespaces/" + ns
                        + "/streamagents/slow/status")
                .andReply(200, request -> {
                    // Answers as the server would (the object with the patched status) without storing
                    // it: the next status write, Lost, goes to the store as usual.
                    try {
                        StreamAgent written = client.getKubernetesSerialization().clone(created.get(10, TimeUnit.SECONDS));
                        written.setStatus(json.convertValue(json.readTree(request.getUtf8Body()).get(0).get("value"),
                                io.streamhouse.lease.api.v1alpha1.StreamAgentStatus.class));
                        slowWriteServed.set(true);
                        return client.getKubernetesSerialization().asJson(written);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }).once();
        created.complete(client.resource(agent).create());

        eventually().until(() -> agent("slow").getStatus() != null
                && agent("slow").getStatus().getPhase() == StreamAgentPhase.Lost);
        Instant seenLost = Instant.now();
        assertThat(slowWriteServed).as("the first status write was the slow one").isTrue();
        assertThat(Duration.between(expiresAt, seenLost))
                .as("Lost shown after the session's expiry at %s", expiresAt)
                .isLessThan(Duration.ofMillis(1_500));
    }

    Map<Integer, Long> listed(StreamAgent agent) {
        Map<Integer, Long> out = new java.util.HashMap<>();
        if (agent.getStatus().getLeases() != null) {
            agent.getStatus().getLeases().forEach(h -> {
                assertThat(h.getTopic()).isEqualTo(topic);
                out.putAll(h.epochsByPartition());
            });
        }
        return out;
    }

    java.util.Set<Integer> partitionsHeldBy(String name) {
        return store.leasesHeldBy(AgentId.of(id(name))).stream().map(l -> l.key().partition())
                .collect(java.util.stream.Collectors.toSet());
    }
}
