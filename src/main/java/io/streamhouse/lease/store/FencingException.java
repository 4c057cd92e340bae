package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;

/** A fenced write was refused: the caller is not the valid holder at that epoch. */
public class FencingException extends RuntimeException {

    private final LeaseKey key;
    private final Validation validation;

    public FencingException(LeaseKey key, AgentId agent, long epoch, Validation validation) {
        super("write refused, " + validation.describe(key, agent, epoch));
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
