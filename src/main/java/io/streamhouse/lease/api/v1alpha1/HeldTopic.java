package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The partitions of one topic an agent holds, with their epochs, in a compact form: the size of a
 * StreamAgent's status grows with the number of runs, not of partitions, so an agent holding
 * 10,000 partitions still fits one object.
 */
public class HeldTopic {

    @JsonPropertyDescription("Topic name.")
    private String topic;

    @JsonPropertyDescription("Number of partitions of this topic the agent holds.")
    private Integer count;

    @JsonPropertyDescription("The partitions held and their epochs, as comma-separated runs"
            + " 'first[-last]@epoch' in partition order: a run is consecutive partitions held at one epoch."
            + " Example: '0-3@1,7@4' is partitions 0, 1, 2 and 3 at epoch 1 and partition 7 at epoch 4.")
    private String partitions;

    public HeldTopic() {
    }

    public HeldTopic(String topic, int count, String partitions) {
        this.topic = topic;
        this.count = count;
        this.partitions = partitions;
    }

    public String getTopic() {
        return topic;
    }

    public void setTopic(String topic) {
        this.topic = topic;
    }

    public Integer getCount() {
        return count;
    }

    public void setCount(Integer count) {
        this.count = count;
    }

    public String getPartitions() {
        return partitions;
    }

    public void setPartitions(String partitions) {
        this.partitions = partitions;
    }

    /**
     * The partitions as a map from partition to epoch, read from {@link #getPartitions()} (for
     * tools and for agents that follow their StreamAgent).
     *
     * @throws IllegalArgumentException when a run is not {@code first[-last]@epoch}
     */
    public Map<Integer, Long> epochsByPartition() {
        Map<Integer, Long> out = new LinkedHashMap<>();
        if (partitions == null || partitions.isEmpty()) {
            return out;
        }
        for (String run : partitions.split(",")) {
            int at = run.indexOf('@');
            if (at < 0) {
                throw new IllegalArgumentException("expected first[-last]@epoch, got '" + run + "'");
            }
            long epoch = Long.parseLong(run.substring(at + 1));
            String range = run.substring(0, at);
            int dash = range.indexOf('-');
            int first = Integer.parseInt(dash < 0 ? range : range.substring(0, dash));
            int last = dash < 0 ? first : Integer.parseInt(range.substring(dash + 1));
            for (int p = first; p <= last; p++) {
                out.put(p, epoch);
            }
        }
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HeldTopic h && Objects.equals(topic, h.topic) && Objects.equals(count, h.count)
                && Objects.equals(partitions, h.partitions);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, count, partitions);
    }

    @Override
    public String toString() {
        return topic + ":" + partitions;
    }
}
