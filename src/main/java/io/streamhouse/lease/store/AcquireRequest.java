package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.Objects;

/**
 * One compare-and-swap: give {@code key} to {@code agent} (incarnation {@code sessionEpoch}) if
 * the partition is free, its holder's session is dead, or it is still held by
 * {@code expectedHolder} at {@code expectedEpoch} (a planned move).
 *
 * @param expectedHolder null for "only if free or expired"
 */
public record AcquireRequest(LeaseKey key, AgentId agent, long sessionEpoch,
                             AgentId expectedHolder, long expectedEpoch) {

    public AcquireRequest {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(agent, "agent");
        if (sessionEpoch <= 0) {
            throw new IllegalArgumentException("session epoch must be > 0, got " + sessionEpoch);
        }
        if (expectedHolder != null && expectedEpoch <= 0) {
            throw new IllegalArgumentException(
                    "expected epoch must be > 0 when an expected holder is given, got " + expectedEpoch);
        }
    }

    /** Acquire only if nobody holds the partition or its holder's session is dead. */
    public static AcquireRequest ifFree(LeaseKey key, AgentId agent, long sessionEpoch) {
        return new AcquireRequest(key, agent, sessionEpoch, null, 0);
    }

    /** Take over from a live holder, only if it still holds the partition at that epoch. */
    public static AcquireRequest takeOver(LeaseKey key, AgentId agent, long sessionEpoch,
                                          AgentId expectedHolder, long expectedEpoch) {
        return new AcquireRequest(key, agent, sessionEpoch,
                Objects.requireNonNull(expectedHolder, "expectedHolder"), expectedEpoch);
    }
}
