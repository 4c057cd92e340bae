package io.streamhouse.lease.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.streamhouse.lease.api.v1alpha1.HeldTopic;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.operator.Fixtures;
import io.streamhouse.lease.testing.Eventually;
import jakarta.inject.Inject;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What the mock API server cannot prove, on a real kube-apiserver v1.20 + etcd + garbage
 * collector: the generated CRDs install, bad input is refused by the schema with clear messages,
 * unknown fields are pruned, the status patch the operator ships with works, informers survive
 * watch restarts, and a StreamAgent goes away with its pod.
 */
@QuarkusTest
@TestProfile(RealApiServerIT.Real.class)
class RealApiServerIT {

    /** Its own profile, so the application restarts pointed at the real server. */
    public static class Real implements QuarkusTestProfile {
        @Override
        public java.util.List<TestResourceEntry> testResources() {
            return java.util.List.of(new TestResourceEntry(RealApiServerResource.class));
        }
    }

    static final Instant STARTED = Instant.now();

    @Inject
    KubernetesClient client;

    String ns;

    @BeforeEach
    void namespace() {
        ns = freshNamespace(client, "it-");
    }

    /** A new namespace for one test, so that tests sharing the server and the operator never meet. */
    static String freshNamespace(KubernetesClient client, String prefix) {
        String ns = prefix + Long.toHexString(System.nanoTime());
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
        return ns;
    }

    /** How long the real-server tests wait for the operator: generous, polled often. */
    static org.awaitility.core.ConditionFactory eventually() {
        return Eventually.eventually(Duration.ofSeconds(60)); // watches on this server end every 5-10 s
    }

    GenericKubernetesResource raw(String yaml) {
        return Serialization.unmarshal(yaml.replace("NS", ns), GenericKubernetesResource.class);
    }

    KubernetesClientException rejected(String yaml) {
        GenericKubernetesResource resource = raw(yaml);
        try {
            client.genericKubernetesResources("streamhouse.io/v1alpha1", resource.getKind()).inNamespace(ns)
                    .resource(resource).create();
        } catch (KubernetesClientException e) {
            return e;
        }
        throw new AssertionError("the API server accepted " + yaml);
    }

    @Test
    void theGeneratedCrdsInstallAndAreEstablished() {
        for (String name : new String[] {"partitionleases.streamhouse.io", "streamagents.streamhouse.io",
                "streamtopics.streamhouse.io"}) {
            CustomResourceDefinition crd = client.apiextensions().v1().customResourceDefinitions().withName(name).get();
            assertThat(crd).as(name).isNotNull();
            assertThat(crd.getStatus().getConditions())
                    .anySatisfy(c -> {
                        assertThat(c.getType()).isEqualTo("Established");
                        assertThat(c.getStatus()).isEqualTo("True");
                    });
        }
    }

    @Test
    void badInputIsRefusedByTheSchemaWithClearMessages() {
        KubernetesClientException negative = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: PartitionLease
                metadata: {name: neg, namespace: NS}
                spec: {topic: orders, partition: -1}
                """);
        assertThat(negative.getCode()).isEqualTo(422);
        assertThat(negative.getMessage()).contains("spec.partition").contains("greater than or equal to 0");

        KubernetesClientException missing = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: PartitionLease
                metadata: {name: missing, namespace: NS}
                spec: {partition: 1}
                """);
        assertThat(missing.getMessage()).contains("spec.topic: Required value");

        KubernetesClientException wrongType = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: PartitionLease
                metadata: {name: wrongtype, namespace: NS}
                spec: {topic: orders, partition: "three"}
                """);
        assertThat(wrongType.getMessage()).contains("spec.partition").contains("must be of type integer");

        KubernetesClientException badTopic = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: PartitionLease
                metadata: {name: badtopic, namespace: NS}
                spec: {topic: "orders; DROP TABLE", partition: 1}
                """);
        assertThat(badTopic.getMessage()).contains("spec.topic").contains("should match");

        KubernetesClientException noPartitions = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: StreamTopic
                metadata: {name: none, namespace: NS}
                spec: {topic: orders, partitions: 0}
                """);
        assertThat(noPartitions.getMessage()).contains("spec.partitions").contains("greater than or equal to 1");

        KubernetesClientException tooMany = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: StreamTopic
                metadata: {name: toomany, namespace: NS}
                spec: {topic: orders, partitions: 100001}
                """);
        assertThat(tooMany.getMessage()).contains("spec.partitions").contains("less than or equal to 100000");

        KubernetesClientException badTopicName = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: StreamTopic
                metadata: {name: badname, namespace: NS}
                spec: {topic: "orders/eu", partitions: 3}
                """);
        assertThat(badTopicName.getMessage()).contains("spec.topic").contains("should match");

        KubernetesClientException noCount = rejected("""
                apiVersion: streamhouse.io/v1alpha1
                kind: StreamTopic
                metadata: {name: nocount, namespace: NS}
                spec: {topic: orders}
                """);
        assertThat(noCount.getMessage()).contains("spec.partitions: Required value");
    }

    /**
     * This server (1.20) ignores the CRD's CEL rules (x-kubernetes-validations), so a shrink of a
     * StreamTopic gets through; the reconciler refuses it and keeps the partitions it applied.
     */
    @Test
    void aStreamTopicShrinkThatTheServerLetsThroughIsRefusedByTheOperator() {
        StreamAgent agent = new StreamAgent();
        agent.getMetadata().setName("shrink-agent");
        agent.setSpec(new io.streamhouse.lease.api.v1alpha1.StreamAgentSpec());
        agent.getSpec().setAgentId("shrink-agent-" + ns);
        client.resource(agent).inNamespace(ns).create();
        client.genericKubernetesResources("streamhouse.io/v1alpha1", "StreamTopic").inNamespace(ns).resource(raw("""
                apiVersion: streamhouse.io/v1alpha1
                kind: StreamTopic
                metadata: {name: shrink, namespace: NS}
                spec: {topic: shrink-NS, partitions: 4}
                """)).create();
        var topic = client.resources(io.streamhouse.lease.api.v1alpha1.StreamTopic.class).inNamespace(ns).withName("shrink");
        eventually().until(() -> topic.get().getStatus() != null && Integer.valueOf(4).equals(topic.get().getStatus().getHeld()));

        topic.patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
                "{\"spec\":{\"partitions\":2}}");

        eventually().untilAsserted(() -> {
            var status = topic.get().getStatus();
            assertThat(status.condition("SpecAccepted").getReason()).isEqualTo("PartitionsShrunk");
            assertThat(status.getPartitions()).isEqualTo(4);
            assertThat(status.getHeld()).isEqualTo(4);
        });
    }

    @Test
    void unknownFieldsArePrunedAndDefaultsApplied() {
        client.genericKubernetesResources("streamhouse.io/v1alpha1", "PartitionLease").inNamespace(ns).resource(raw("""
                apiVersion: streamhouse.io/v1alpha1
                kind: PartitionLease
                metadata: {name: pruned, namespace: NS}
                spec: {topic: pruned-topic, partition: 0, color: blue}
                """)).create();

        GenericKubernetesResource stored = client.genericKubernetesResources("streamhouse.io/v1alpha1", "PartitionLease")
                .inNamespace(ns).withName("pruned").get();
        @SuppressWarnings("unchecked")
        java.util.Map<String, Object> spec = (java.util.Map<String, Object>) stored.getAdditionalProperties().get("spec");
        assertThat(spec).doesNotContainKey("color").containsEntry("agentGroup", "default");
    }

    @Test
    void theOperatorWritesTheLeaseStatusAndTheAgentsLeaseListOnARealServer() {
        client.resource(Fixtures.agent(ns, "a1", "a1-" + ns, "default")).create();
        PartitionLease old = Fixtures.lease(ns, "p0", "real-" + ns, 0, "default");
        // As version 0.1.0 left it: the operator removes the label it no longer writes.
        old.getMetadata().setLabels(java.util.Map.of(PartitionLease.HOLDER_LABEL, "someone-else"));
        client.resource(old).create();

        eventually().untilAsserted(() -> {
            PartitionLease lease = client.resources(PartitionLease.class).inNamespace(ns).withName("p0").get();
            assertThat(lease.getStatus()).isNotNull();
            assertThat(lease.getStatus().getHolder()).isEqualTo("a1-" + ns);
            assertThat(lease.getStatus().getEpoch()).isEqualTo(1);
            assertThat(lease.getStatus().condition("Ready").getStatus()).isEqualTo("True");
            assertThat(lease.getMetadata().getLabels()).doesNotContainKey(PartitionLease.HOLDER_LABEL);
        });
        // The holder's StreamAgent lists it, in the schema the real server validates and keeps.
        eventually().untilAsserted(() -> assertThat(client.resources(StreamAgent.class).inNamespace(ns).withName("a1")
                .get().getStatus().getLeases()).containsExactly(new HeldTopic("real-" + ns, 1, "0@1")));
        eventually().until(() -> client.v1().events().inNamespace(ns).list().getItems().stream()
                .anyMatch(e -> ("acquired by a1-" + ns + " at epoch 1").equals(e.getMessage())));
    }

    @Test
    void informersKeepWorkingAfterTheirWatchesAreRestarted() {
        // The server ends every watch after 5-10 s (--min-request-timeout=5): once 12 s have
        // passed since start-up, each informer has had to re-watch at least once.
        await().atMost(Duration.ofSeconds(30))
                .until(() -> Duration.between(STARTED, Instant.now()).toSeconds() >= 12);
        client.resource(Fixtures.agent(ns, "late", "late-" + ns, "default")).create();
        client.resource(Fixtures.lease(ns, "after-rewatch", "rewatch-" + ns, 0, "default")).create();

        eventually().untilAsserted(() -> {
            PartitionLease lease = client.resources(PartitionLease.class).inNamespace(ns).withName("after-rewatch").get();
            assertThat(lease.getStatus()).isNotNull();
            assertThat(lease.getStatus().getHolder()).isEqualTo("late-" + ns);
        });
    }

    @Test
    void aStreamAgentIsGarbageCollectedWithItsPod() {
        Fixtures.node(client, "node-" + ns, "zone-" + ns.substring(3, 6));
        Pod pod = Fixtures.readyAgentPod(client, ns, "agent-pod", "pod-" + ns, "default", "node-" + ns);
        eventually().untilAsserted(() -> {
            StreamAgent agent = client.resources(StreamAgent.class).inNamespace(ns).withName("agent-pod").get();
            assertThat(agent).isNotNull();
            assertThat(agent.getSpec().getZone()).isEqualTo("zone-" + ns.substring(3, 6));
            assertThat(agent.getMetadata().getOwnerReferences()).singleElement()
                    .satisfies(o -> assertThat(o.getUid()).isEqualTo(pod.getMetadata().getUid()));
        });

        client.pods().inNamespace(ns).withName("agent-pod").withGracePeriod(0).delete();

        // GC discovers CRDs created after it started within 30 s, then collects in about 1 s.
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500))
                .until(() -> client.resources(StreamAgent.class).inNamespace(ns).withName("agent-pod").get() == null);
    }
}
