package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;
import java.util.Objects;

/**
 * Counts, never a list of partitions: its shape does not change as the topic grows. Which agent
 * holds which partition at which epoch is on the StreamAgents ({@code status.leases}).
 */
public class StreamTopicStatus extends ConditionedStatus {

    @JsonPropertyDescription("The topic this resource was bound to when first accepted (spec.topic may not change).")
    private String topic;

    @JsonPropertyDescription("Partitions the operator has applied (spec.partitions once accepted; it may only grow).")
    private Integer partitions;

    @JsonPropertyDescription("Partitions held by an agent whose session is live.")
    private Integer held;

    @JsonPropertyDescription("Partitions nobody holds (no eligible agent, or just freed).")
    private Integer unassigned;

    @JsonPropertyDescription("Partitions still owned by a PartitionLease created before this topic covered them;"
            + " they stay with it until it is deleted (condition PartitionLeasesOwn names one).")
    private Integer ownedByPartitionLeases;

    @JsonPropertyDescription("Number of agents holding at least one partition.")
    private Integer agentsHolding;

    @JsonPropertyDescription("Partitions held per agent, by agent id. Each agent's StreamAgent lists which ones,"
            + " with their epochs.")
    private List<AgentCount> agents;

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

    public Integer getHeld() {
        return held;
    }

    public void setHeld(Integer held) {
        this.held = held;
    }

    public Integer getUnassigned() {
        return unassigned;
    }

    public void setUnassigned(Integer unassigned) {
        this.unassigned = unassigned;
    }

    public Integer getOwnedByPartitionLeases() {
        return ownedByPartitionLeases;
    }

    public void setOwnedByPartitionLeases(Integer ownedByPartitionLeases) {
        this.ownedByPartitionLeases = ownedByPartitionLeases;
    }

    public Integer getAgentsHolding() {
        return agentsHolding;
    }

    public void setAgentsHolding(Integer agentsHolding) {
        this.agentsHolding = agentsHolding;
    }

    public List<AgentCount> getAgents() {
        return agents;
    }

    public void setAgents(List<AgentCount> agents) {
        this.agents = agents;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamTopicStatus s && sameConditions(s) && Objects.equals(topic, s.topic)
                && Objects.equals(partitions, s.partitions) && Objects.equals(held, s.held)
                && Objects.equals(unassigned, s.unassigned) && Objects.equals(ownedByPartitionLeases, s.ownedByPartitionLeases)
                && Objects.equals(agentsHolding, s.agentsHolding) && Objects.equals(agents, s.agents);
    }

    @Override
    public int hashCode() {
        return Objects.hash(topic, partitions, held, unassigned, agentsHolding);
    }

    /** How many partitions of the topic one agent holds. */
    public static class AgentCount {

        @JsonPropertyDescription("Agent id.")
        private String agent;

        @JsonPropertyDescription("Partitions of this topic it holds.")
        private Integer partitions;

        public AgentCount() {
        }

        public AgentCount(String agent, int partitions) {
            this.agent = agent;
            this.partitions = partitions;
        }

        public String getAgent() {
            return agent;
        }

        public void setAgent(String agent) {
            this.agent = agent;
        }

        public Integer getPartitions() {
            return partitions;
        }

        public void setPartitions(Integer partitions) {
            this.partitions = partitions;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof AgentCount c && Objects.equals(agent, c.agent) && Objects.equals(partitions, c.partitions);
        }

        @Override
        public int hashCode() {
            return Objects.hash(agent, partitions);
        }
    }
}
