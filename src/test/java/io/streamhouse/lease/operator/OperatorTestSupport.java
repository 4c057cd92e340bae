package io.streamhouse.lease.operator;

import static io.streamhouse.lease.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.AgentRegistration;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.testing.Namespaces;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;

/**
 * What the operator's Quarkus tests share: the injected client and store, a namespace, topic and
 * agent ids of their own per test, and the fixtures and waits every resource's tests use.
 */
abstract class OperatorTestSupport {


    @Inject
    KubernetesClient client;
    @Inject
    LeaseStore store;

    String ns;
    String topic;

    @BeforeEach
    void isolate() {
        ns = Namespaces.unique("t");
        topic = "orders-" + ns;
    }

    String id(String name) {
        return name + "-" + ns;
    }

    StreamAgent createAgent(String name) {
        return client.resource(Fixtures.agent(ns, name, id(name), "g1")).create();
    }

    PartitionLease createLease(String name, int partition) {
        return client.resource(Fixtures.lease(ns, name, topic, partition, "g1")).create();
    }

    PartitionLease get(String name) {
        return client.resources(PartitionLease.class).inNamespace(ns).withName(name).get();
    }

    StreamAgent agent(String name) {
        return client.resources(StreamAgent.class).inNamespace(ns).withName(name).get();
    }

    /**
     * An agent that runs the agent library (sessionKeeper Agent): the test plays the library,
     * registering its session in the store (long ttl, so no renewals are needed).
     */
    void libraryAgent(String name) {
        store.register(new AgentRegistration(AgentId.of(id(name)), "g1", "", "", Duration.ofMinutes(5)));
        StreamAgent agent = Fixtures.agent(ns, name, id(name), "g1");
        agent.getSpec().setSessionKeeper(SessionKeeper.Agent);
        client.resource(agent).create();
        awaitAgentReady(name);
    }

    void awaitAgentReady(String name) {
        eventually().until(() -> agent(name) != null && agent(name).getStatus() != null
                && agent(name).getStatus().getPhase() == StreamAgentPhase.Ready);
    }

    PartitionLease awaitHeldBy(String lease, String agentName, long epoch) {
        eventually().untilAsserted(() -> {
            PartitionLease pl = get(lease);
            assertThat(pl.getStatus()).isNotNull();
            assertThat(pl.getStatus().getHolder()).isEqualTo(id(agentName));
            assertThat(pl.getStatus().getEpoch()).isEqualTo(epoch);
            assertThat(pl.getStatus().condition("Held").getStatus()).isEqualTo("True");
        });
        return get(lease);
    }

    List<String> eventMessages(String involved) {
        return client.v1().events().inNamespace(ns).list().getItems().stream()
                .filter(e -> involved.equals(e.getInvolvedObject().getName())).map(Event::getMessage).toList();
    }

    /** An agent pod (agent id "pod") holding lease p0 at epoch 1, and a hand-applied agent "b" ready to take over. */
    Pod podAgentHoldingP0WithStandbyB() {
        Fixtures.node(client, "node-" + ns, "zone-a");
        Pod pod = Fixtures.readyAgentPod(client, ns, "agent-pod", id("pod"), "g1", "node-" + ns);
        awaitAgentReady("agent-pod");
        createLease("p0", 0);
        awaitHeldBy("p0", "pod", 1);
        createAgent("b");
        awaitAgentReady("b");
        return pod;
    }

    /**
     * Changes spec fields as a user's kubectl would, with a merge patch that names no
     * resourceVersion: an edit (read, then a patch naming the version read) conflicts with the
     * operator's own status writes now and then, which is the test racing, not the operator.
     */
    <T extends io.fabric8.kubernetes.api.model.HasMetadata> void specPatch(Class<T> kind, String name, String specJson) {
        client.resources(kind).inNamespace(ns).withName(name).patch(
                io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
                "{\"spec\":" + specJson + "}");
    }
}
