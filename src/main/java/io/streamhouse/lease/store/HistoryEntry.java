package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Instant;

/** One change of holder (or release) of a partition; {@code from}/{@code to} may be null. */
public record HistoryEntry(long id, LeaseKey key, long epoch, AgentId from, AgentId to,
                           String reason, Instant at) {
}
