package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** What the user asks for: a topic, how many partitions it has, and who may write them. */
@ValidationRule(value = "!has(self.pins) || self.pins.all(p, p.partition < self.partitions)",
        message = "every pin must name a partition below spec.partitions")
public class StreamTopicSpec {

    /**
     * Most partitions of one topic: what one operator was measured at (bench/assign-bench.sh), and
     * a bound on the work one reconcile of the topic does.
     */
    public static final int MAX_PARTITIONS = 100_000;
    /** Most pins of one topic: pins are exceptions; the assignment balances the rest. */
    public static final int MAX_PINS = 1_000;

    @Required
    @Size(min = 1, max = 249)
    @Pattern("^[A-Za-z0-9._-]+$")
    @ValidationRule(value = "self == oldSelf", message = "topic is immutable: create a new StreamTopic instead")
    @JsonPropertyDescription("Topic name (letters, digits, '.', '_', '-'; at most 249). Unique in the database,"
            + " whatever the namespace: one StreamHouse cluster per database. Immutable.")
    private String topic;

    @Required
    @Min(1)
    @Max(MAX_PARTITIONS)
    @ValidationRule(value = "self >= oldSelf", message = "partitions may only grow: a partition's lease and"
            + " its epochs are kept for good")
    @JsonPropertyDescription("Number of partitions, 0 to partitions-1, from 1 to 100000. May only grow.")
    private Integer partitions;

    @Default(StreamAgentSpec.DEFAULT_GROUP)
    @Size(min = 1, max = 63)
    @Pattern("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    @JsonPropertyDescription("Group of StreamAgents (spec.group) in this namespace that may hold the partitions.")
    private String agentGroup = StreamAgentSpec.DEFAULT_GROUP;

    @Min(0)
    @Max(3600)
    @JsonPropertyDescription("Seconds to keep a partition for a holder whose session expired before giving it"
            + " to another agent. Default 0: fail over as soon as the session has expired.")
    private Integer failoverDelaySeconds;

    @Size(max = MAX_PINS)
    @JsonPropertyDescription("Partitions pinned to an agent while that agent is live and not cordoned; each"
            + " falls back to automatic assignment otherwise. At most 1000.")
    private List<TopicPin> pins = new ArrayList<>();

    public String getTopic() {
        return topic;
    }

    public void setTopic(String topic) {
        this.topic = topic;
    }

    public Integer getPartitions() {
        return partitions;
    }

    public void setPartitions(Integer partitions) {
        this.partitions = partitions;
    }

    /** The agent group, {@link StreamAgentSpec#DEFAULT_GROUP} when unset. */
    public String groupOrDefault() {
        return agentGroup == null ? StreamAgentSpec.DEFAULT_GROUP : agentGroup;
    }

    public String getAgentGroup() {
        return agentGroup;
    }

    public void setAgentGroup(String agentGroup) {
        this.agentGroup = agentGroup;
    }

    public Integer getFailoverDelaySeconds() {
        return failoverDelaySeconds;
    }

    public void setFailoverDelaySeconds(Integer failoverDelaySeconds) {
        this.failoverDelaySeconds = failoverDelaySeconds;
    }

    public List<TopicPin> getPins() {
        return pins;
    }

    public void setPins(List<TopicPin> pins) {
        this.pins = pins == null ? new ArrayList<>() : pins;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamTopicSpec s && Objects.equals(topic, s.topic)
                && Objects.equals(partitions, s.partitions) && Objects.equals(agentGroup, s.agentGroup)
                && Objects.equals(failoverDelaySeconds, s.failoverDelaySeconds) && Objects.equals(pins, s.pins);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, partitions, agentGroup, failoverDelaySeconds, pins);
    }
}
