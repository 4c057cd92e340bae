package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.Objects;

/** Identity and placement of an agent. */
public class StreamAgentSpec {

    /** The group of agents and leases that name none (the CRDs' default for spec.group and spec.agentGroup). */
    public static final String DEFAULT_GROUP = "default";

    /**
     * Session timeout of an agent whose spec sets none, in the operator's configuration syntax:
     * the default of {@code streamhouse.agent.session-timeout} and of the agent library's builder.
     */
    public static final String DEFAULT_SESSION_TIMEOUT = "20s";

    @Required
    @Size(min = 1, max = 63)
    @Pattern("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    @JsonPropertyDescription("Identity of the agent, unique in the cluster; PartitionLease status.holder"
            + " names it, and this StreamAgent's status lists the leases it holds.")
    private String agentId;

    @Default(DEFAULT_GROUP)
    @Size(min = 1, max = 63)
    @Pattern("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
    @JsonPropertyDescription("Agent group; the agent may hold leases whose spec.agentGroup matches.")
    private String group = DEFAULT_GROUP;

    @Size(max = 63)
    @JsonPropertyDescription("Failure zone (from the node's topology.kubernetes.io/zone for pods);"
            + " assignment spreads each topic across zones.")
    private String zone;

    @Size(max = 255)
    @Pattern("^[A-Za-z0-9._:/\\[\\]%@+-]*$")
    @JsonPropertyDescription("Address where the agent serves its partitions (host:port or URL), for clients.")
    private String address;

    @Min(1)
    @Max(1000000)
    @JsonPropertyDescription("Most leases this agent may hold; unset means no limit.")
    private Integer capacity;

    @Default("1")
    @Min(1)
    @Max(1000)
    @JsonPropertyDescription("Relative share of leases: an agent of weight 2 gets twice the leases of weight 1.")
    private Integer weight = 1;

    @Default("false")
    @JsonPropertyDescription("When true the agent receives no new leases and its leases are moved to others.")
    private Boolean cordoned = false;

    @Min(1)
    @Max(3600)
    @JsonPropertyDescription("Session timeout in seconds for this agent; defaults to the operator's"
            + " streamhouse.agent.session-timeout.")
    private Integer sessionTimeoutSeconds;

    @Default("Operator")
    @JsonPropertyDescription("Who keeps the agent's database session alive. Operator: the operator renews it"
            + " while the pod is Ready, and moves its leases at once when they must move. Agent: the agent"
            + " runs the StreamHouse agent library, which renews its own session and releases a lease when"
            + " status.handoffTo asks it to (the move is forced after the operator's handoff timeout).")
    private SessionKeeper sessionKeeper = SessionKeeper.Operator;

    @Size(min = 1, max = 63)
    @Pattern("^[A-Za-z0-9_.@-]+$")
    @JsonPropertyDescription("PostgreSQL login this agent connects as; the operator lets only that login act for"
            + " the agent id in the database (for pods: annotation streamhouse.io/database-user). Unset: the"
            + " operator's streamhouse.db.agent-user, if configured. See docs/database-security.md.")
    private String databaseUser;

    public String getDatabaseUser() {
        return databaseUser;
    }

    public void setDatabaseUser(String databaseUser) {
        this.databaseUser = databaseUser;
    }

    public String getAgentId() {
        return agentId;
    }

    public void setAgentId(String agentId) {
        this.agentId = agentId;
    }

    /** The group, {@link #DEFAULT_GROUP} when unset: what every reader of the group must use. */
    public String groupOrDefault() {
        return group == null ? DEFAULT_GROUP : group;
    }

    public String getGroup() {
        return group;
    }

    public void setGroup(String group) {
        this.group = group;
    }

    public String getZone() {
        return zone;
    }

    public void setZone(String zone) {
        this.zone = zone;
    }

    public String getAddress() {
        return address;
    }

    public void setAddress(String address) {
        this.address = address;
    }

    public Integer getCapacity() {
        return capacity;
    }

    public void setCapacity(Integer capacity) {
        this.capacity = capacity;
    }

    public Integer getWeight() {
        return weight;
    }

    public void setWeight(Integer weight) {
        this.weight = weight;
    }

    public Boolean getCordoned() {
        return cordoned;
    }

    public void setCordoned(Boolean cordoned) {
        this.cordoned = cordoned;
    }

    public Integer getSessionTimeoutSeconds() {
        return sessionTimeoutSeconds;
    }

    public void setSessionTimeoutSeconds(Integer sessionTimeoutSeconds) {
        this.sessionTimeoutSeconds = sessionTimeoutSeconds;
    }

    public SessionKeeper getSessionKeeper() {
        return sessionKeeper;
    }

    public void setSessionKeeper(SessionKeeper sessionKeeper) {
        this.sessionKeeper = sessionKeeper;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StreamAgentSpec s && Objects.equals(agentId, s.agentId) && Objects.equals(group, s.group)
                && Objects.equals(zone, s.zone) && Objects.equals(address, s.address)
                && Objects.equals(capacity, s.capacity) && Objects.equals(weight, s.weight)
                && Objects.equals(cordoned, s.cordoned) && Objects.equals(sessionTimeoutSeconds, s.sessionTimeoutSeconds)
                && sessionKeeper == s.sessionKeeper && Objects.equals(databaseUser, s.databaseUser);
    }

    @Override
    public int hashCode() {
        return Objects.hash(agentId, group, zone, address, capacity, weight, cordoned, sessionTimeoutSeconds, sessionKeeper,
                databaseUser);
    }
}
