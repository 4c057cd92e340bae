package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;

/**
 * A fenced write was refused, and nothing of it committed: the caller's incarnation is not the
 * valid holder at that epoch, or its session ended before the transaction could commit.
 */
public class FencingException extends RuntimeException {

    private final LeaseKey key;
    private final Validation validation;

    public FencingException(LeaseKey key, AgentId agent, long session, long epoch, Validation validation) {
        this(key, agent, session, epoch, validation, null, null);
    }

    /** With the database's own words ({@code detail}) and the refusal it raised ({@code cause}). */
    public FencingException(LeaseKey key, AgentId agent, long session, long epoch, Validation validation,
                            String detail, Throwable cause) {
        super("write refused, " + validation.describe(key, agent, session, epoch)
                + (detail == null ? "" : ": " + detail), cause);
        this.key = key;
        this.validation = validation;
    }

    public LeaseKey key() {
        return key;
    }

    public Validation validation() {
        return validation;
    }
}
