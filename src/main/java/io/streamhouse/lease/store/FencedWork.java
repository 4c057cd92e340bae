package io.streamhouse.lease.store;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * The caller's writes, run inside a fenced transaction. Do not commit, roll back or change
 * auto-commit on the connection: the store owns the transaction.
 */
@FunctionalInterface
public interface FencedWork<T> {
    T run(Connection connection) throws SQLException;
}
