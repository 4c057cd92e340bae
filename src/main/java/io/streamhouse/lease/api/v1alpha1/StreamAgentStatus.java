package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.List;
import java.util.Objects;

/** The agent's session as the operator last saw it; written only when something changes. */
public class StreamAgentStatus extends ConditionedStatus {

    @JsonPropertyDescription("Ready (may hold leases), Draining (leases being moved away: pod terminating"
            + " or cordoned), Lost (session expired or pod gone) or Conflict (agent id used by another"
            + " StreamAgent).")
    private StreamAgentPhase phase;

    @JsonPropertyDescription("Incarnation number of the agent's current session in the database.")
    private Long sessionEpoch;

    @JsonPropertyDescription("Last session renewal seen when this status was last written (database clock)."
            + " Not refreshed on every renewal, so that an idle cluster makes no API writes.")
    private String lastHeartbeat;

    @JsonPropertyDescription("Number of leases this agent holds.")
    private Integer leaseCount;

    @JsonPropertyDescription("The leases this agent holds (its session is live), per topic with their epochs,"
            + " written once per burst of moves after the database commit. Agents learn their leases from"
            + " the database; this is the view for people and tools (kubectl get -o yaml, watches).")
    private List<HeldTopic> leases;

    @JsonPropertyDescription("Leases held but not listed in leases, because the list reached its size cap"
            + " (128 KiB); absent when every lease is listed. leaseCount always counts them all.")
    private Integer leasesNotListed;

    @JsonPropertyDescription("The PostgreSQL login the operator lets act for this agent id (spec.databaseUser,"
            + " or the operator's streamhouse.db.agent-user); absent when none is mapped, and then only a trusted"
            + " login (the operator's, the schema owner's) can act for it.")
    private String databaseUser;

    public String getDatabaseUser() {
        return databaseUser;
    }

    public void setDatabaseUser(String databaseUser) {
        this.databaseUser = databaseUser;
    }

    public StreamAgentPhase getPhase() {
        return phase;
    }

    public void setPhase(StreamAgentPhase phase) {
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

    public List<HeldTopic> getLeases() {
        return leases;
    }

    public void setLeases(List<HeldTopic> leases) {
        this.leases = leases;
    }

    public Integer getLeasesNotListed() {
        return leasesNotListed;
    }

    public void setLeasesNotListed(Integer leasesNotListed) {
        this.leasesNotListed = leasesNotListed;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamAgentStatus s && sameConditions(s) && Objects.equals(phase, s.phase)
                && Objects.equals(sessionEpoch, s.sessionEpoch) && Objects.equals(lastHeartbeat, s.lastHeartbeat)
                && Objects.equals(leaseCount, s.leaseCount) && Objects.equals(leases, s.leases)
                && Objects.equals(leasesNotListed, s.leasesNotListed) && Objects.equals(databaseUser, s.databaseUser);
    }

    @Override
    public int hashCode() {
        return Objects.hash(phase, sessionEpoch, lastHeartbeat, leaseCount, leases, leasesNotListed, databaseUser,
                getObservedGeneration(), getConditions());
    }
}
