package io.streamhouse.lease.store;

/**
 * Outcome of a release. When {@code released} is false, the caller was not the holder at that
 * epoch and {@code lease} says who is.
 */
public record ReleaseResult(boolean released, Lease lease) {
}
