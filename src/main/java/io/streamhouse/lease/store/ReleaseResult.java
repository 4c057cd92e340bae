package io.streamhouse.lease.store;

/**
 * Outcome of a release. When {@code released} is false, the caller was not the holder at that
 * epoch and {@code lease} says who is. For a login that may not read the tables (an agent's own,
 * see docs/database-security.md) {@code lease} has the holder and epoch only.
 */
public record ReleaseResult(boolean released, Lease lease) {
}
