package io.streamhouse.lease.testing;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.LocalPostgres;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One real PostgreSQL per test JVM, started on first use; each caller gets a fresh, migrated
 * database of its own so test classes never see each other's rows.
 */
public final class TestDatabases {

    private static final AtomicInteger COUNTER = new AtomicInteger();
    private static LocalPostgres server;

    private TestDatabases() {
    }

    public static synchronized LocalPostgres server() {
        if (server == null) {
            // Commit timestamps let the fencing race test order commits after the fact.
            server = LocalPostgres.start(null, Map.of("track_commit_timestamp", "on"));
            LocalPostgres started = server;
            Runtime.getRuntime().addShutdownHook(new Thread(started::close, "embedded-postgres-stop"));
        }
        return server;
    }

    /** A new empty database with the schema applied, behind a pool of {@code poolSize}. */
    public static HikariDataSource fresh(String prefix, int poolSize) {
        String name = (prefix + "_" + COUNTER.incrementAndGet() + "_" + ProcessHandle.current().pid())
                .toLowerCase().replaceAll("[^a-z0-9_]", "_");
        LocalPostgres pg = server();
        try (Connection c = java.sql.DriverManager.getConnection(pg.jdbcUrl("postgres"), "postgres", "postgres");
             Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException("could not create test database " + name, e);
        }
        HikariDataSource ds = Database.pool(new Database.PoolSettings(
                pg.jdbcUrl(name), "postgres", "postgres", poolSize, Duration.ofSeconds(5)));
        Database.migrate(ds);
        return ds;
    }
}
