package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.Objects;

/** What the user asks for: a partition, the group of agents that may write it, and options. */
public class PartitionLeaseSpec {

    @Required
    @Size(min = 1, max = 249)
    @Pattern("^[A-Za-z0-9._-]+$")
    @ValidationRule(value = "self == oldSelf", message = "topic is immutable: create a new PartitionLease instead")
    @JsonPropertyDescription("Topic of the partition (letters, digits, '.', '_', '-'; at most 249). Immutable.")
    private String topic;

    @Required
    @Min(0)
    @Max(2147483647)
    @ValidationRule(value = "self == oldSelf", message = "partition is immutable: create a new PartitionLease instead")
    @JsonPropertyDescription("Partition number within the topic, from 0. Immutable.")
    private Integer partition;

    @Default(StreamAgentSpec.DEFAULT_GROUP)
    @Size(min = 1, max = 63)
    @Pattern("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    @JsonPropertyDescription("Group of StreamAgents (spec.group) in this namespace that may hold this lease.")
    private String agentGroup = StreamAgentSpec.DEFAULT_GROUP;

    @Size(min = 1, max = 63)
    @Pattern("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    @JsonPropertyDescription("Agent id to pin this lease to while that agent is live and not cordoned;"
            + " the lease falls back to automatic assignment otherwise.")
    private String preferredAgent;

    @Min(0)
    @Max(3600)
    @JsonPropertyDescription("Seconds to keep the lease for a holder whose session expired before giving it"
            + " to another agent, so a quickly restarting agent gets its partition back. Default 0:"
            + " fail over as soon as the session has expired.")
    private Integer failoverDelaySeconds;

    public String getTopic() {
        return topic;
    }

    public void setTopic(String topic) {
        this.topic = topic;
    }

    public Integer getPartition() {
        return partition;
    }

    public void setPartition(Integer partition) {
        this.partition = partition;
    }

    /** The agent group, {@link StreamAgentSpec#DEFAULT_GROUP} when unset: what every reader of the group must use. */
    public String groupOrDefault() {
        return agentGroup == null ? StreamAgentSpec.DEFAULT_GROUP : agentGroup;
    }

    public String getAgentGroup() {
        return agentGroup;
    }

    public void setAgentGroup(String agentGroup) {
        this.agentGroup = agentGroup;
    }

    public String getPreferredAgent() {
        return preferredAgent;
    }

    public void setPreferredAgent(String preferredAgent) {
        this.preferredAgent = preferredAgent;
    }

    public Integer getFailoverDelaySeconds() {
        return failoverDelaySeconds;
    }

    public void setFailoverDelaySeconds(Integer failoverDelaySeconds) {
        this.failoverDelaySeconds = failoverDelaySeconds;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PartitionLeaseSpec s && Objects.equals(topic, s.topic)
                && Objects.equals(partition, s.partition) && Objects.equals(agentGroup, s.agentGroup)
                && Objects.equals(preferredAgent, s.preferredAgent)
                && Objects.equals(failoverDelaySeconds, s.failoverDelaySeconds);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, partition, agentGroup, preferredAgent, failoverDelaySeconds);
    }
}
