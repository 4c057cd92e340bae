package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.Names;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Keeps a StreamAgent, owned by the pod and named after it, for every pod labelled
 * {@code streamhouse.io/agent=true}: identity from annotations, zone from the node. Only the
 * fields it derives are written; capacity, weight and cordoned stay as people set them.
 */
@ControllerConfiguration(name = "agentpod", informer = @Informer(labelSelector = StreamAgent.AGENT_LABEL + "=true"))
@GradualRetry(maxAttempts = -1, initialInterval = 500, intervalMultiplier = 2.0, maxInterval = 30_000)
public class AgentPodReconciler implements Reconciler<Pod> {

    static final String INVALID_ANNOTATION = "InvalidAgentAnnotation";

    private final EventRecorder events;
    // Pods already warned about, so a bad annotation is reported once per pod version, not per resync.
    private final Set<String> warned = ConcurrentHashMap.newKeySet();

    public AgentPodReconciler(EventRecorder events) {
        this.events = events;
    }

    @Override
    public UpdateControl<Pod> reconcile(Pod pod, Context<Pod> context) {
        if (pod.getMetadata().getDeletionTimestamp() != null) {
            return UpdateControl.noUpdate(); // the StreamAgent reconciler drains it
        }
        KubernetesClient client = context.getClient();
        StreamAgentSpec derived;
        try {
            derived = derive(pod, client);
        } catch (IllegalArgumentException e) {
            String once = pod.getMetadata().getUid() + "/" + pod.getMetadata().getResourceVersion();
            if (warned.add(once)) {
                events.warning(pod, INVALID_ANNOTATION, "no StreamAgent for this pod: " + e.getMessage());
            }
            return UpdateControl.noUpdate();
        }
        String namespace = pod.getMetadata().getNamespace();
        var existing = client.resources(StreamAgent.class).inNamespace(namespace).withName(pod.getMetadata().getName());
        StreamAgent current = existing.get();
        if (current == null) {
            StreamAgent agent = new StreamAgent();
            agent.getMetadata().setName(pod.getMetadata().getName());
            agent.getMetadata().setNamespace(namespace);
            agent.getMetadata().setOwnerReferences(java.util.List.of(new OwnerReferenceBuilder()
                    .withApiVersion("v1").withKind("Pod").withName(pod.getMetadata().getName())
                    .withUid(pod.getMetadata().getUid()).withController(true).withBlockOwnerDeletion(false).build()));
            agent.setSpec(derived);
            client.resources(StreamAgent.class).inNamespace(namespace).resource(agent).create();
        } else if (!sameDerived(current.getSpec(), derived)) {
            existing.edit(a -> {
                a.getSpec().setAgentId(derived.getAgentId());
                a.getSpec().setGroup(derived.getGroup());
                a.getSpec().setZone(derived.getZone());
                a.getSpec().setAddress(derived.getAddress());
                a.getSpec().setSessionKeeper(derived.getSessionKeeper());
                a.getSpec().setDatabaseUser(derived.getDatabaseUser());
                return a;
            });
        }
        return UpdateControl.noUpdate();
    }

    /** The spec fields a pod determines; throws IllegalArgumentException naming the bad annotation. */
    static StreamAgentSpec derive(Pod pod, KubernetesClient client) {
        Map<String, String> annotations = Objects.requireNonNullElse(pod.getMetadata().getAnnotations(), Map.of());
        // Without the annotation the pod's name is the id: unique, which is what a Deployment's
        // pods need (they share one template); a StatefulSet may annotate stable ids instead.
        String id = annotations.getOrDefault(StreamAgent.AGENT_ID_ANNOTATION, pod.getMetadata().getName());
        StreamAgentSpec spec = new StreamAgentSpec();
        spec.setAgentId(annotated(StreamAgent.AGENT_ID_ANNOTATION, () -> AgentId.of(id).value()));
        spec.setGroup(annotated(StreamAgent.GROUP_ANNOTATION,
                () -> Names.labelValue("agent group", annotations.getOrDefault(StreamAgent.GROUP_ANNOTATION, StreamAgentSpec.DEFAULT_GROUP))));
        // Optional fields a pod does not give are left out of the resource (null), never written
        // as "" or null: what a user sees is what was set, and no server refuses an empty value.
        spec.setAddress(annotated(StreamAgent.ADDRESS_ANNOTATION,
                () -> emptyToNull(Names.address(annotations.getOrDefault(StreamAgent.ADDRESS_ANNOTATION, "")))));
        spec.setSessionKeeper(annotated(StreamAgent.SESSION_KEEPER_ANNOTATION,
                () -> sessionKeeper(annotations.getOrDefault(StreamAgent.SESSION_KEEPER_ANNOTATION, "operator"))));
        spec.setDatabaseUser(annotated(StreamAgent.DATABASE_USER_ANNOTATION,
                () -> annotations.containsKey(StreamAgent.DATABASE_USER_ANNOTATION)
                        ? Names.databaseUser(annotations.get(StreamAgent.DATABASE_USER_ANNOTATION)) : null));
        spec.setZone(emptyToNull(zoneOf(pod, client)));
        return spec;
    }

    private static String emptyToNull(String value) {
        return value == null || value.isEmpty() ? null : value;
    }

    private static SessionKeeper sessionKeeper(String value) {
        return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "operator" -> SessionKeeper.Operator;
            case "agent" -> SessionKeeper.Agent;
            default -> throw new IllegalArgumentException("must be 'operator' or 'agent', got '" + value + "'");
        };
    }

    private static <T> T annotated(String annotation, java.util.function.Supplier<T> value) {
        try {
            return value.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("annotation " + annotation + ": " + e.getMessage(), e);
        }
    }

    private static String zoneOf(Pod pod, KubernetesClient client) {
        String nodeName = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
        if (nodeName == null) {
            return "";
        }
        Node node = client.nodes().withName(nodeName).get();
        String zone = node == null || node.getMetadata().getLabels() == null ? null
                : node.getMetadata().getLabels().get(StreamAgent.ZONE_NODE_LABEL);
        try {
            return Names.zone(zone);
        } catch (IllegalArgumentException e) {
            return ""; // an odd zone label only costs spreading, never the agent
        }
    }

    private static boolean sameDerived(StreamAgentSpec a, StreamAgentSpec b) {
        // An existing StreamAgent may hold "" where a pod gives nothing (written by older versions):
        // both mean unset, and rewriting one into the other would be a pointless write.
        return a != null && Objects.equals(a.getAgentId(), b.getAgentId()) && Objects.equals(a.getGroup(), b.getGroup())
                && Objects.equals(emptyToNull(a.getZone()), b.getZone())
                && Objects.equals(emptyToNull(a.getAddress()), b.getAddress())
                && Objects.requireNonNullElse(a.getSessionKeeper(), SessionKeeper.Operator) == b.getSessionKeeper()
                && Objects.equals(a.getDatabaseUser(), b.getDatabaseUser());
    }
}
