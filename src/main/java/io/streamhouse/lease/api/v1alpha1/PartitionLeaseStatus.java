package io.streamhouse.lease.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.Objects;

/**
 * A projection of the lease row in PostgreSQL, rebuilt on every reconcile; never read back as
 * state (except {@code boundKey}, which records what the resource was first bound to).
 */
public class PartitionLeaseStatus extends ConditionedStatus {

    @JsonPropertyDescription("Agent id of the current holder, from the database; absent when nobody holds it.")
    private String holder;

    @JsonPropertyDescription("Fencing epoch of the partition: grows by one at every change of holder."
            + " Writes carrying an older epoch are refused by the database.")
    private Long epoch;

    @JsonPropertyDescription("When the current holder acquired the lease (database clock, RFC 3339).")
    private String acquiredAt;

    @JsonPropertyDescription("Agent id of the holder before the current one.")
    private String previousHolder;

    @JsonPropertyDescription("Number of changes of holder so far.")
    private Long transitions;

    @JsonPropertyDescription("Pending, Held, Unassigned (no eligible agent), Conflict (another PartitionLease"
            + " owns this partition) or Invalid (spec refused).")
    private PartitionLeasePhase phase;

    @JsonPropertyDescription("topic/partition this resource is bound to; set on first reconcile, used to"
            + " refuse changes of topic or partition on servers that do not enforce immutability.")
    private String boundKey;

    @JsonPropertyDescription("Set while the operator asks the holder to hand this lease to another agent: the"
            + " agent that will get it. A holder running the agent library finishes its in-flight write and"
            + " releases; the new holder then gets epoch + 1 at once. If the holder does not release in time"
            + " the move is forced (the old epoch is fenced either way).")
    private String handoffTo;

    @JsonPropertyDescription("When the handoff in handoffTo was requested (operator clock, RFC 3339).")
    private String handoffRequestedAt;

    public String getHandoffTo() {
        return handoffTo;
    }

    public void setHandoffTo(String handoffTo) {
        this.handoffTo = handoffTo;
    }

    public String getHandoffRequestedAt() {
        return handoffRequestedAt;
    }

    public void setHandoffRequestedAt(String handoffRequestedAt) {
        this.handoffRequestedAt = handoffRequestedAt;
    }

    public String getHolder() {
        return holder;
    }

    public void setHolder(String holder) {
        this.holder = holder;
    }

    public Long getEpoch() {
        return epoch;
    }

    public void setEpoch(Long epoch) {
        this.epoch = epoch;
    }

    public String getAcquiredAt() {
        return acquiredAt;
    }

    public void setAcquiredAt(String acquiredAt) {
        this.acquiredAt = acquiredAt;
    }

    public String getPreviousHolder() {
        return previousHolder;
    }

    public void setPreviousHolder(String previousHolder) {
        this.previousHolder = previousHolder;
    }

    public Long getTransitions() {
        return transitions;
    }

    public void setTransitions(Long transitions) {
        this.transitions = transitions;
    }

    public PartitionLeasePhase getPhase() {
        return phase;
    }

    public void setPhase(PartitionLeasePhase phase) {
        this.phase = phase;
    }

    public String getBoundKey() {
        return boundKey;
    }

    public void setBoundKey(String boundKey) {
        this.boundKey = boundKey;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PartitionLeaseStatus s && sameConditions(s) && Objects.equals(holder, s.holder)
                && Objects.equals(epoch, s.epoch) && Objects.equals(acquiredAt, s.acquiredAt)
                && Objects.equals(previousHolder, s.previousHolder) && Objects.equals(transitions, s.transitions)
                && Objects.equals(phase, s.phase) && Objects.equals(boundKey, s.boundKey)
                && Objects.equals(handoffTo, s.handoffTo) && Objects.equals(handoffRequestedAt, s.handoffRequestedAt);
    }

    @Override
    public int hashCode() {
        return Objects.hash(holder, epoch, acquiredAt, previousHolder, transitions, phase, boundKey, handoffTo,
                getObservedGeneration(), getConditions());
    }
}
