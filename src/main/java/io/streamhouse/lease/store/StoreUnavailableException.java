package io.streamhouse.lease.store;

/**
 * PostgreSQL could not be reached (or the connection dropped). The operation either did not
 * happen or, for a commit that lost its connection, its outcome is unknown: callers retry
 * idempotently and never assume success.
 */
public class StoreUnavailableException extends StoreException {
    public StoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
