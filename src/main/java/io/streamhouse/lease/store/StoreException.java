package io.streamhouse.lease.store;

/** The store could not complete an operation; nothing was half-written. */
public class StoreException extends RuntimeException {
    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
