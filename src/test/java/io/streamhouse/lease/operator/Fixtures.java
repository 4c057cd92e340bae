package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseSpec;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import java.util.Map;

/** Builders for the resources tests create; shared by the mock and real API server tiers. */
public final class Fixtures {

    private Fixtures() {
    }

    public static PartitionLease lease(String namespace, String name, String topic, int partition, String group) {
        PartitionLease lease = new PartitionLease();
        lease.getMetadata().setName(name);
        lease.getMetadata().setNamespace(namespace);
        PartitionLeaseSpec spec = new PartitionLeaseSpec();
        spec.setTopic(topic);
        spec.setPartition(partition);
        spec.setAgentGroup(group);
        lease.setSpec(spec);
        return lease;
    }

    public static io.streamhouse.lease.api.v1alpha1.StreamTopic topic(String namespace, String name, String topic,
                                                                       int partitions, String group) {
        var resource = new io.streamhouse.lease.api.v1alpha1.StreamTopic();
        resource.getMetadata().setName(name);
        resource.getMetadata().setNamespace(namespace);
        var spec = new io.streamhouse.lease.api.v1alpha1.StreamTopicSpec();
        spec.setTopic(topic);
        spec.setPartitions(partitions);
        spec.setAgentGroup(group);
        resource.setSpec(spec);
        return resource;
    }

    public static StreamAgent agent(String namespace, String name, String agentId, String group) {
        StreamAgent agent = new StreamAgent();
        agent.getMetadata().setName(name);
        agent.getMetadata().setNamespace(namespace);
        StreamAgentSpec spec = new StreamAgentSpec();
        spec.setAgentId(agentId);
        spec.setGroup(group);
        agent.setSpec(spec);
        return agent;
    }

    public static void node(KubernetesClient client, String name, String zone) {
        client.nodes().resource(new NodeBuilder().withNewMetadata().withName(name)
                .withLabels(Map.of(StreamAgent.ZONE_NODE_LABEL, zone)).endMetadata().build()).createOr(n -> n.update());
    }

    /** An agent pod bound to a node, created and then marked Running and Ready through the status subresource. */
    public static Pod readyAgentPod(KubernetesClient client, String namespace, String name, String agentId,
                                    String group, String node) {
        return readyAgentPod(client, namespace, name, agentId, group, node, Map.of());
    }

    /** As above, with more annotations. */
    public static Pod readyAgentPod(KubernetesClient client, String namespace, String name, String agentId,
                                    String group, String node, Map<String, String> more) {
        Map<String, String> annotations = new java.util.HashMap<>(Map.of(StreamAgent.AGENT_ID_ANNOTATION, agentId,
                StreamAgent.GROUP_ANNOTATION, group, StreamAgent.ADDRESS_ANNOTATION, name + ":9092"));
        annotations.putAll(more);
        Pod pod = client.pods().inNamespace(namespace).resource(new PodBuilder()
                .withNewMetadata().withName(name).withNamespace(namespace)
                    .withLabels(Map.of(StreamAgent.AGENT_LABEL, "true"))
                    .withAnnotations(annotations)
                .endMetadata()
                .withNewSpec().withNodeName(node)
                    .addNewContainer().withName("agent").withImage("streamhouse/agent:test").endContainer()
                .endSpec().build()).create();
        return setReady(client, pod, true);
    }

    public static Pod setReady(KubernetesClient client, Pod pod, boolean ready) {
        Pod fresh = client.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName()).get();
        fresh.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Running")
                .addNewCondition().withType("Ready").withStatus(ready ? "True" : "False").endCondition().build());
        return client.pods().inNamespace(pod.getMetadata().getNamespace()).resource(fresh).updateStatus();
    }
}
