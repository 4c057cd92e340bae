package io.streamhouse.lease.store;

/**
 * The database refused the caller's user: it may not act for the agent id it named (SQLSTATE
 * SH009: no mapping in {@code lease_agent_login} to this user) or lacks a privilege (42501, such
 * as an agent calling an operator function). Retrying does not help until an administrator or the
 * operator changes the grants or the mapping.
 */
public class AccessDeniedException extends StoreException {
    public AccessDeniedException(String message, Throwable cause) {
        super(message, cause);
    }
}
