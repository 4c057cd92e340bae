package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.Objects;

/** One partition of a StreamTopic pinned to one agent. */
public class TopicPin {

    @Required
    @Min(0)
    @Max(StreamTopicSpec.MAX_PARTITIONS - 1)
    @JsonPropertyDescription("Partition number, below spec.partitions.")
    private Integer partition;

    @Required
    @Size(min = 1, max = 63)
    @Pattern("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    @JsonPropertyDescription("Agent id to pin the partition to while that agent is live and not cordoned.")
    private String agent;

    public TopicPin() {
    }

    public TopicPin(int partition, String agent) {
        this.partition = partition;
        this.agent = agent;
    }

    public Integer getPartition() {
        return partition;
    }

    public void setPartition(Integer partition) {
        this.partition = partition;
    }

    public String getAgent() {
        return agent;
    }

    public void setAgent(String agent) {
        this.agent = agent;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TopicPin p && Objects.equals(partition, p.partition) && Objects.equals(agent, p.agent);
    }

    @Override
    public int hashCode() {
        return Objects.hash(partition, agent);
    }
}
