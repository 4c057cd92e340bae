package io.streamhouse.lease.operator;

import static io.streamhouse.lease.testing.Eventually.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * StreamAgent behaviour (and the agent pods behind them), on the Fabric8 mock API server and the
 * real embedded PostgreSQL: who owns an agent id, and what a pod's lifecycle does to its agent.
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
}
