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

    @Override
    public String toString() {
        return topic + "/" + partition;
    }
}
