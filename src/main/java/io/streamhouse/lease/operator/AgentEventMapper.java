package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * Maps a StreamAgent event to the PartitionLeases it concerns: those the agent holds, the unheld
 * ones of its group, and those whose planned holder moved. Most agent events change nothing
 * assignment reads (a lease count, a heartbeat): those cost a string compare, whatever the number
 * of leases. The Java Operator SDK calls the mapper more than once per event (to index and to
 * dispatch), so the answer is remembered per resourceVersion and every call for one version
 * answers the same.
 */
final class AgentEventMapper {

    /** The lease side, as the mapper needs it. */
    interface Leases {
        /**
         * Leases in {@code namespace} whose status names {@code agentId} as holder, for an event of
         * its StreamAgent naming session {@code sessionEpoch} (null when it has none).
         */
        Collection<ResourceID> heldBy(String namespace, String agentId, Long sessionEpoch);

        /** Leases of {@code namespace}/{@code group} that nobody holds. */
        Collection<ResourceID> unheldIn(String namespace, String group);

        /** Leases of {@code namespace}/{@code group} whose planned holder is not their holder, after a re-plan. */
        Collection<ResourceID> movedIn(String namespace, String group);
    }

    private record Memo(String resourceVersion, String print, Set<ResourceID> affected) {
    }

    private final Leases leases;
    private final Predicate<ResourceID> present;
    private final Runnable planChanged;
    private final Map<ResourceID, Memo> memos = new ConcurrentHashMap<>();

    /**
     * @param present     whether the StreamAgent is (still) in the informer's cache
     * @param planChanged called when an event changes what assignment reads (plans go stale)
     */
    AgentEventMapper(Leases leases, Predicate<ResourceID> present, Runnable planChanged) {
        this.leases = leases;
        this.present = present;
        this.planChanged = planChanged;
    }

    Set<ResourceID> affectedBy(StreamAgent agent) {
        if (agent.getSpec() == null || agent.getSpec().getAgentId() == null) {
            return Set.of();
        }
        ResourceID id = ResourceID.fromResource(agent);
        String version = agent.getMetadata().getResourceVersion();
        Memo last = memos.get(id);
        if (last != null && version != null && version.equals(last.resourceVersion())) {
            return last.affected();
        }
        boolean here = present.test(id);
        String print = here ? AgentViews.assignmentPrint(agent) : "gone";
        Set<ResourceID> affected = new HashSet<>();
        if (last == null || !print.equals(last.print())) {
            planChanged.run();
            String namespace = agent.getMetadata().getNamespace();
            String group = agent.getSpec().groupOrDefault();
            Long session = agent.getStatus() == null ? null : agent.getStatus().getSessionEpoch();
            affected.addAll(leases.heldBy(namespace, agent.getSpec().getAgentId(), session));
            affected.addAll(leases.unheldIn(namespace, group));
            affected.addAll(leases.movedIn(namespace, group));
        }
        if (here) {
            memos.put(id, new Memo(version, print, Set.copyOf(affected)));
        } else {
            memos.remove(id);
        }
        return Set.copyOf(affected);
    }
}
