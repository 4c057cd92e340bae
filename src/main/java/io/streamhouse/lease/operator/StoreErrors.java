package io.streamhouse.lease.operator;

import io.streamhouse.lease.store.StoreUnavailableException;

/** How the reconcilers tell "the database is away" (retried, shown in status) from other failures. */
final class StoreErrors {

    private StoreErrors() {
    }

    /** The {@link StoreUnavailableException} in {@code e}'s causes, or null. */
    static StoreUnavailableException unavailable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof StoreUnavailableException u) {
                return u;
            }
        }
        return null;
    }
}
