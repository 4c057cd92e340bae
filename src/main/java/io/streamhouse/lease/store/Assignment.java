package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.Objects;

/**
 * One lease as its holder sees it ({@code lease_assignments}): the partition, the epoch this
 * incarnation holds it at, and the agent a planned move asks it to release it for (null when none).
 */
public record Assignment(LeaseKey key, long epoch, AgentId handoffTo) {
    public Assignment {
        Objects.requireNonNull(key, "key");
    }
}
