package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

/** The agent's session as the operator last saw it; written only when something changes. */
public class StreamAgentStatus extends ConditionedStatus {

    /** Phases (status.phase): the operator writes them, the agent library and tools read them. */
    public static final String READY = "Ready";
    public static final String DRAINING = "Draining";
    public static final String LOST = "Lost";
    public static final String CONFLICT = "Conflict";
    public static final String INVALID = "Invalid";

    @JsonPropertyDescription("Ready (may hold leases), Draining (leases being moved away: pod terminating"
            + " or cordoned), Lost (session expired or pod gone) or Conflict (agent id used by another"
            + " StreamAgent).")
    private String phase;

    @JsonPropertyDescription("Incarnation number of the agent's current session in the database.")
    private Long sessionEpoch;

    @JsonPropertyDescription("Last session renewal seen when this status was last written (database clock)."
            + " Not refreshed on every renewal, so that an idle cluster makes no API writes.")
    private String lastHeartbeat;

    @JsonPropertyDescription("Number of leases this agent holds.")
    private Integer leaseCount;

    public String getPhase() {
        return phase;
    }

    public void setPhase(String phase) {
        this.phase = phase;
    }

    public Long getSessionEpoch() {
        return sessionEpoch;
    }

    public void setSessionEpoch(Long sessionEpoch) {
        this.sessionEpoch = sessionEpoch;
    }

    public String getLastHeartbeat() {
        return lastHeartbeat;
    }

    public void setLastHeartbeat(String lastHeartbeat) {
        this.lastHeartbeat = lastHeartbeat;
    }

    public Integer getLeaseCount() {
        return leaseCount;
    }

    public void setLeaseCount(Integer leaseCount) {
        this.leaseCount = leaseCount;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamAgentStatus s && sameConditions(s) && Objects.equals(phase, s.phase)
                && Objects.equals(sessionEpoch, s.sessionEpoch) && Objects.equals(lastHeartbeat, s.lastHeartbeat)
                && Objects.equals(leaseCount, s.leaseCount);
    }

    @Override
    public int hashCode() {
        return Objects.hash(phase, sessionEpoch, lastHeartbeat, leaseCount, getObservedGeneration(), getConditions());
    }
}
