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

    /**
     * The schema owner, for migrations and grants ({@code streamhouse.db.migration.*}); absent,
     * the operator migrates as {@link #user()} (one database user for everything: not least
     * privilege, fine for the embedded database and for trying things out).
     */
    Migration migration();

    interface Migration {
        Optional<String> user();

        /** As {@link DatabaseConfig#password()}: absent or empty is none. */
        Optional<String> password();
    }

    /**
     * Roles to grant privileges to after each migration ({@code streamhouse.db.grant.*}): both or
     * neither. They must exist (deploy/postgres/roles.sql); the operator's login ({@link #user()})
     * is a member of {@code operator}, every agent's login of {@code agents}.
     */
    Grant grant();

    interface Grant {
        Optional<String> operator();

        Optional<String> agents();
    }

    /**
     * The database user an agent acts as when its pod names none (annotation
     * {@code streamhouse.io/database-user}): a fixed name (every agent shares one login, as the
     * pods of one Deployment do), or a template where {@code {agentId}} stands for the agent id
     * (a login per agent, as a StatefulSet's pods may have). Absent: only agents whose pod names
     * a user are mapped; the others can act only through a trusted login (the operator's, the
     * owner's).
     */
    Optional<String> agentUser();

    Embedded embedded();

    interface Embedded {
        /** Data directory of the embedded PostgreSQL; kept across restarts. */
        @WithDefault("streamhouse-data/postgres")
        Path dataDir();
    }
}
