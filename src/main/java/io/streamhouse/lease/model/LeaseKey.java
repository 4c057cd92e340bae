package io.streamhouse.lease.model;

/** Identity of one lease: a partition of a topic. Validated on construction. */
public record LeaseKey(String topic, int partition) implements Comparable<LeaseKey> {

    public LeaseKey {
        Names.topic(topic);
        Names.partition(partition);
    }

    public static LeaseKey of(String topic, int partition) {
        return new LeaseKey(topic, partition);
    }

    @Override
    public int compareTo(LeaseKey other) {
        int byTopic = topic.compareTo(other.topic);
        return byTopic != 0 ? byTopic : Integer.compare(partition, other.partition);
    }

    /**
     * The record's default (31 * topic + partition) collides badly for topics whose names differ
     * in their last character ("t-1/0" and "t-0/31"): 10,000 partitions of 10 such topics fell
     * into about 1,300 hash values. A large odd multiplier keeps topics far apart.
     */
    @Override
    public int hashCode() {
        return topic.hashCode() * 0x9E3779B1 + partition;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LeaseKey k && partition == k.partition && topic.equals(k.topic);
    }

    @Override
    public String toString() {
        return topic + "/" + partition;
    }
}
