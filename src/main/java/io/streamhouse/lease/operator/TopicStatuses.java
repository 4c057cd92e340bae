package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.StreamTopicStatus;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.Lease;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A StreamTopic's status from its rows: counts only (held, unassigned, per agent), so its size
 * depends on the number of agents, never on the number of partitions. Plain Java.
 */
final class TopicStatuses {

    static final String PARTITION_LEASES_OWN = "PartitionLeasesOwn";
    static final String SPEC_ACCEPTED = "SpecAccepted";
    static final String ALL_HELD = "AllPartitionsHeld";
    static final String PARTITIONS_UNHELD = "PartitionsUnheld";
    static final String OWNED_BY_PARTITION_LEASE = "OwnedByPartitionLease";
    static final String PARTITIONS_SHRUNK = "PartitionsShrunk";
    static final String DUPLICATE_TOPIC = "DuplicateTopic";

    private TopicStatuses() {
    }

    /** What the spec asked for that was not applied, if anything (a topic applied as it was bound). */
    record Refused(String reason, String message) {
    }

    /**
     * @param owned          the partitions this topic owns (the rest of 0..partitions-1 is owned by PartitionLeases)
     * @param rows           the rows of the topic, by key
     * @param partitionLeases the PartitionLeases owning partitions of it, by key (namespace/name)
     * @param refused        the spec's refused part, or null when it was applied whole
     */
    static StreamTopicStatus of(StreamTopicStatus previous, long generation, String topic, int partitions,
                                Collection<LeaseKey> owned, Map<LeaseKey, Lease> rows,
                                Map<LeaseKey, String> partitionLeases, Refused refused, Instant now) {
        StreamTopicStatus next = new StreamTopicStatus();
        next.setObservedGeneration(generation);
        if (previous != null) {
            next.setConditions(previous.getConditions());
        }
        next.setTopic(topic);
        next.setPartitions(partitions);
        Map<String, Integer> perAgent = new TreeMap<>();
        int held = 0;
        for (LeaseKey key : owned) {
            Lease row = rows.get(key);
            if (row != null && row.holder() != null && row.holderLive()) {
                held++;
                perAgent.merge(row.holder().value(), 1, Integer::sum);
            }
        }
        int unheld = owned.size() - held;
        next.setHeld(held);
        next.setUnassigned(unheld);
        next.setOwnedByPartitionLeases(partitionLeases.isEmpty() ? null : partitionLeases.size());
        next.setAgentsHolding(perAgent.size());
        List<StreamTopicStatus.AgentCount> agents = new ArrayList<>();
        perAgent.forEach((agent, count) -> agents.add(new StreamTopicStatus.AgentCount(agent, count)));
        next.setAgents(agents.isEmpty() ? null : agents);
        Conditions.set(next, previous, Conditions.READY, unheld == 0, unheld == 0 ? ALL_HELD : PARTITIONS_UNHELD,
                unheld == 0 ? "every one of " + owned.size() + " partition(s) is held by a live agent"
                        : unheld + " of " + owned.size() + " partition(s) held by no live agent", now);
        if (partitionLeases.isEmpty()) {
            remove(next, PARTITION_LEASES_OWN);
        } else {
            var first = partitionLeases.entrySet().stream().min(Map.Entry.comparingByKey(
                    java.util.Comparator.comparing(LeaseKey::partition))).orElseThrow();
            Conditions.set(next, previous, PARTITION_LEASES_OWN, true, OWNED_BY_PARTITION_LEASE,
                    partitionLeases.size() + " partition(s) stay with the PartitionLeases that had them before this"
                            + " topic covered them, until they are deleted; partition " + first.getKey().partition()
                            + " with PartitionLease " + first.getValue(), now);
        }
        setAccepted(next, previous, refused, now);
        return next;
    }

    /** A topic refused whole (another StreamTopic owns the topic, or its spec was never valid): no partition is touched. */
    static StreamTopicStatus refused(StreamTopicStatus previous, long generation, String reason, String message, Instant now) {
        StreamTopicStatus next = new StreamTopicStatus();
        next.setObservedGeneration(generation);
        if (previous != null) {
            next.setConditions(previous.getConditions());
            next.setTopic(previous.getTopic());
            next.setPartitions(previous.getPartitions());
        }
        Conditions.set(next, previous, Conditions.READY, false, reason, message, now);
        setAccepted(next, previous, new Refused(reason, message), now);
        return next;
    }

    private static void setAccepted(StreamTopicStatus next, StreamTopicStatus previous, Refused refused, Instant now) {
        if (refused == null) {
            Conditions.set(next, previous, SPEC_ACCEPTED, true, "Applied", "the spec is applied", now);
        } else {
            Conditions.set(next, previous, SPEC_ACCEPTED, false, refused.reason(), refused.message(), now);
        }
    }

    private static void remove(StreamTopicStatus status, String type) {
        List<io.streamhouse.lease.api.v1alpha1.Condition> conditions = new ArrayList<>(status.getConditions());
        conditions.removeIf(c -> Objects.equals(type, c.getType()));
        status.setConditions(conditions);
    }
}
