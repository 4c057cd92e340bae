package io.streamhouse.lease.agent;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;

/** {@link LeaseClient#ensureLease} timed out: the message names who holds the partition instead. */
public class LeaseNotHeldException extends RuntimeException {

    private final LeaseKey key;
    private final AgentId currentHolder;
    private final long currentEpoch;

    public LeaseNotHeldException(String message, LeaseKey key, AgentId currentHolder, long currentEpoch) {
        super(message);
        this.key = key;
        this.currentHolder = currentHolder;
        this.currentEpoch = currentEpoch;
    }

    public LeaseKey key() {
        return key;
    }

    /** The holder in the database when we gave up, or null when nobody holds it. */
    public AgentId currentHolder() {
        return currentHolder;
    }

    public long currentEpoch() {
        return currentEpoch;
    }
}
