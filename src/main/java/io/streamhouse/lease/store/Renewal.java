package io.streamhouse.lease.store;

/** What became of a session renewal. */
public enum Renewal {
    /** The session lives on for another ttl. */
    RENEWED,
    /** The session had expired or was ended: a new incarnation may register. */
    EXPIRED,
    /**
     * A newer incarnation of the same agent id has registered (another process with this id):
     * this one must stop, and must not register again, or the two would take turns forever.
     */
    SUPERSEDED,
    /** No such session (never registered, or a session number from elsewhere). */
    UNKNOWN
}
