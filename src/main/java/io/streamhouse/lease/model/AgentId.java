package io.streamhouse.lease.model;

/** Identity of an agent; valid as a Kubernetes label value, so tools may label by it. */
public record AgentId(String value) implements Comparable<AgentId> {

    public AgentId {
        Names.labelValue("agent id", value);
    }

    public static AgentId of(String value) {
        return new AgentId(value);
    }

    @Override
    public int compareTo(AgentId other) {
        return value.compareTo(other.value);
    }

    @Override
    public String toString() {
        return value;
    }
}
