package io.streamhouse.lease.store;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.time.Duration;
import java.util.Objects;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.MigrationInfo;
import org.flywaydb.core.api.MigrationInfoService;
import org.flywaydb.core.api.MigrationState;
import org.flywaydb.core.api.output.MigrateResult;

/** Builds the connection pool and brings the schema up to date with Flyway. */
public final class Database {

    /** Where the versioned schema lives on the classpath. */
    public static final String MIGRATIONS = "classpath:db/migration";

    private Database() {
    }

    /** Settings for the pool; {@code connectTimeout} bounds how long a caller waits when the database is down. */
    public record PoolSettings(String url, String user, String password, int maxPoolSize,
                               Duration connectTimeout) {
        public PoolSettings {
            Objects.requireNonNull(url, "url");
            if (!url.startsWith("jdbc:postgresql:")) {
                throw new IllegalArgumentException("database url must start with jdbc:postgresql:, got "
                        + url.replaceAll("password=[^&]*", "password=***"));
            }
            if (maxPoolSize < 1) {
                throw new IllegalArgumentException("pool size must be >= 1, got " + maxPoolSize);
            }
        }
    }

    public static HikariDataSource pool(PoolSettings settings) {
        return pool(settings, "streamhouse-lease-store");
    }

    public static HikariDataSource pool(PoolSettings settings, String name) {
        return pool(settings, name, null);
    }

    /**
     * As above, with the pool's own metrics (connections active, idle, pending; acquire and usage
     * times) in {@code metricRegistry}, a Micrometer MeterRegistry (typed Object so that this
     * package needs no Micrometer), or none when null.
     */
    public static HikariDataSource pool(PoolSettings settings, String name, Object metricRegistry) {
        HikariConfig config = new HikariConfig();
        if (metricRegistry != null) {
            config.setMetricRegistry(metricRegistry);
        }
        config.setPoolName(name);
        config.setJdbcUrl(settings.url());
        config.setUsername(settings.user());
        config.setPassword(settings.password());
        config.setMaximumPoolSize(settings.maxPoolSize());
        config.setConnectionTimeout(settings.connectTimeout().toMillis());
        // Start even when the database is down: callers get StoreUnavailableException and retry,
        // instead of the process dying at boot.
        config.setInitializationFailTimeout(-1);
        // Statements are short; a stuck one must not hold a lease row lock forever.
        config.addDataSourceProperty("options", "-c statement_timeout=30s -c lock_timeout=10s"
                + " -c idle_in_transaction_session_timeout=60s");
        config.addDataSourceProperty("ApplicationName", "streamhouse-lease-operator");
        // Fail fast when the server vanishes instead of hanging on a dead socket.
        config.addDataSourceProperty("connectTimeout", String.valueOf(Math.max(1, settings.connectTimeout().toSeconds())));
        config.addDataSourceProperty("socketTimeout", "60");
        config.addDataSourceProperty("tcpKeepAlive", "true");
        return new HikariDataSource(config);
    }

    /**
     * Applies pending migrations; returns how many were applied. Migrations applied by a newer
     * build (versions this one does not know) are accepted, not refused: Flyway ignores "future"
     * migrations by default, and the schema only ever grows compatibly (docs/upgrading.md).
     */
    public static int migrate(DataSource dataSource) {
        return migrate(dataSource, MIGRATIONS);
    }

    /** As above, from these classpath locations (tests add a later release's migration). */
    public static int migrate(DataSource dataSource, String... locations) {
        MigrateResult result = flyway(dataSource, locations).migrate();
        return result.migrationsExecuted;
    }

    /** Where the schema stands against this build: the version applied and the newest this build has. */
    public record SchemaStatus(String applied, String known, int pending) {
        public boolean current() {
            return pending == 0;
        }
    }

    /** Reads the schema's version without changing anything (a replica that does not lead). */
    public static SchemaStatus status(DataSource dataSource) {
        MigrationInfoService info = flyway(dataSource, MIGRATIONS).info();
        MigrationInfo current = info.current();
        MigrationInfo[] all = info.all();
        String known = "none";
        for (MigrationInfo m : all) {
            if (m.getVersion() != null && m.getState() != MigrationState.FUTURE_SUCCESS
                    && m.getState() != MigrationState.FUTURE_FAILED) {
                known = m.getVersion().getVersion();
            }
        }
        return new SchemaStatus(current == null ? "none" : current.getVersion().getVersion(), known, info.pending().length);
    }

    private static Flyway flyway(DataSource dataSource, String... locations) {
        return Flyway.configure().dataSource(dataSource).locations(locations).load();
    }
}
