package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.Condition;
import io.streamhouse.lease.api.v1alpha1.ConditionedStatus;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Condition types and reasons, and the one way conditions are set (transition time kept unless the status flips). */
public final class Conditions {

    public static final String HELD = "Held";
    public static final String READY = "Ready";

    public static final String LEASE_ACQUIRED = "LeaseAcquired";
    public static final String NO_ELIGIBLE_AGENT = "NoEligibleAgent";
    public static final String SESSION_EXPIRED = "SessionExpired";
    public static final String WAITING_FOR_HOLDER = "WaitingForHolder";
    /** A free lease waits, a few seconds at most, for StreamAgents of its group not looked at yet ({@link Settling}). */
    public static final String AWAITING_AGENTS = "AwaitingAgents";
    /** Event: the holder (an agent running the library) is asked to release for a planned move. */
    public static final String HANDOFF_REQUESTED = "HandoffRequested";
    /** Event: the holder did not release in time and the move was forced. */
    public static final String HANDOFF_FORCED = "HandoffForced";
    public static final String STORE_UNAVAILABLE = "StoreUnavailable";
    public static final String DUPLICATE_PARTITION = "DuplicatePartition";
    public static final String INVALID_SPEC = "InvalidSpec";
    public static final String SPEC_IMMUTABLE = "SpecImmutable";

    public static final String AGENT_READY = "AgentReady";
    public static final String DRAINING = "Draining";
    public static final String POD_NOT_READY = "PodNotReady";
    public static final String POD_GONE = "PodGone";
    /** StreamAgent: this agent id has never had a session (its pod not Ready yet, or a self-kept agent not started). */
    public static final String NO_SESSION = "NoSession";
    public static final String DUPLICATE_AGENT_ID = "DuplicateAgentId";

    private Conditions() {
    }

    /**
     * Sets a condition on {@code next}, taking lastTransitionTime from {@code previous} when the
     * status did not flip, so an unchanged status compares equal and is not patched.
     */
    public static void set(ConditionedStatus next, ConditionedStatus previous, String type, boolean status,
                           String reason, String message, Instant now) {
        String value = status ? "True" : "False";
        Condition before = previous == null ? null : previous.condition(type);
        String since = before != null && value.equals(before.getStatus()) && before.getLastTransitionTime() != null
                ? before.getLastTransitionTime() : now.toString();
        Condition condition = new Condition(type, value, reason, message, since, next.getObservedGeneration());
        List<Condition> conditions = new ArrayList<>(next.getConditions());
        conditions.removeIf(c -> type.equals(c.getType()));
        conditions.add(condition);
        conditions.sort(java.util.Comparator.comparing(Condition::getType));
        next.setConditions(conditions);
    }
}
