package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import java.time.Duration;
import java.time.Instant;

/**
 * An agent's session as the database sees it. {@code live} and {@code observedAt} come from the
 * database clock, so callers never compare {@code expiresAt} with their own clock.
 */
public record Session(AgentId agent, long sessionEpoch, String group, String zone, String address,
                      Duration ttl, Instant registeredAt, Instant renewedAt, Instant expiresAt,
                      boolean live, Instant observedAt) {
}
