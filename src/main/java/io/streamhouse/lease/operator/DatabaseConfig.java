package io.streamhouse.lease.operator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * {@code streamhouse.db.*}: where the lease store lives. Every key can be set from the
 * environment ({@code STREAMHOUSE_DB_URL}, {@code STREAMHOUSE_DB_USER}, ...).
 */
@ConfigMapping(prefix = "streamhouse.db")
public interface DatabaseConfig {

    /** JDBC URL of PostgreSQL; when absent an embedded server is started (local use only). */
    Optional<String> url();

    @WithDefault("postgres")
    String user();

    /**
     * Absent or empty means no password (trust, certificate or peer authentication): never a
     * silent default, which would hide a Secret that was not mounted. An empty environment
     * variable counts as absent, so {@code STREAMHOUSE_DB_PASSWORD=} is accepted.
     */
    Optional<String> password();

    /**
     * When true (the default), the operator is not ready while the database's settings can lose
     * an acknowledged commit (fsync or full_page_writes off, asynchronous standbys). The embedded
     * local database is exempt, with a warning.
     */
    @WithDefault("true")
    boolean requireDurable();

    /** Connections in the pool; the operator needs few, each statement is short. */
    @WithDefault("8")
    int poolSize();

    /** How long a caller waits for a connection before the store is reported unavailable. */
    @WithDefault("5s")
    Duration connectTimeout();

    Embedded embedded();

    interface Embedded {
        /** Data directory of the embedded PostgreSQL; kept across restarts. */
        @WithDefault("streamhouse-data/postgres")
        Path dataDir();
    }
}
