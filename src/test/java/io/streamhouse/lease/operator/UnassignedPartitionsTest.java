package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import io.streamhouse.lease.api.v1alpha1.StreamTopicStatus;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** What the unassigned gauge counts, per namespace and group, from PartitionLeases and StreamTopics. */
class UnassignedPartitionsTest {

    static PartitionLease lease(String ns, String group, PartitionLeasePhase phase) {
        PartitionLease pl = Fixtures.lease(ns, "p-" + phase, "t", 0, group);
        if (phase != null) {
            PartitionLeaseStatus status = new PartitionLeaseStatus();
            status.setPhase(phase);
            pl.setStatus(status);
        }
        return pl;
    }

    static StreamTopic topic(String ns, String group, int partitions, Integer unassigned) {
        StreamTopic t = Fixtures.topic(ns, "topic", "topic", partitions, group);
        if (unassigned != null) {
            StreamTopicStatus status = new StreamTopicStatus();
            status.setUnassigned(unassigned);
            t.setStatus(status);
        }
        return t;
    }

    @Test
    void pendingUnassignedAndNotYetSeenLeasesAndATopicsUnassignedCountPerNamespaceAndGroup() {
        Map<List<String>, Long> counts = UnassignedPartitions.count(Stream.of(
                lease("a", "g1", PartitionLeasePhase.Held), lease("a", "g1", PartitionLeasePhase.Pending),
                lease("a", "g2", PartitionLeasePhase.Unassigned), lease("b", "g1", null),
                lease("b", "g1", PartitionLeasePhase.Held)),
                Stream.of(topic("a", "g1", 12, 3), topic("c", "g1", 4, null), topic("c", "g2", 4, 0)));

        assertThat(counts).containsOnly(Map.entry(List.of("a", "g1"), 4L), Map.entry(List.of("a", "g2"), 1L),
                Map.entry(List.of("b", "g1"), 1L), Map.entry(List.of("c", "g1"), 4L), Map.entry(List.of("c", "g2"), 0L));
        // a/g1: one Pending lease and 3 of the topic; b/g1: a lease not reconciled yet has no holder;
        // c/g1: a topic without a status yet counts all its partitions; c/g2: present with 0, so
        // that an alert on it resolves.
    }
}
