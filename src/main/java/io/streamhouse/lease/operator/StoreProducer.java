package io.streamhouse.lease.operator;

import com.zaxxer.hikari.HikariDataSource;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.Startup;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.LocalPostgres;
import io.streamhouse.lease.store.PostgresLeaseStore;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import javax.sql.DataSource;
import org.jboss.logging.Logger;

/**
 * Wires the lease store: a HikariCP pool on the configured PostgreSQL, or on an embedded one
 * when no URL is configured, with the schema migrated before first use.
 */
@ApplicationScoped
public class StoreProducer {

    private static final Logger LOG = Logger.getLogger(StoreProducer.class);

    private LocalPostgres embedded;
    private HikariDataSource pool;

    @Produces
    @Singleton
    @Startup // migrate at boot: a broken schema or database shows up now, not on first reconcile
    DataSource dataSource(DatabaseConfig config) {
        String url = config.url().filter(u -> !u.isBlank()).orElse(null);
        if (url == null) {
            embedded = LocalPostgres.start(config.embedded().dataDir().toAbsolutePath());
            url = embedded.jdbcUrl("postgres");
            LOG.warnf("""

                    ************************************************************************
                    * No streamhouse.db.url configured: started an EMBEDDED PostgreSQL     *
                    * on port %d with data in %s.
                    * This is for local use only: no replication, no backups, fsync off.   *
                    * Set STREAMHOUSE_DB_URL (and _USER, _PASSWORD) for production.        *
                    ************************************************************************""",
                    embedded.port(), embedded.dataDirectory());
        }
        pool = Database.pool(new Database.PoolSettings(url, config.user(), config.password(),
                config.poolSize(), config.connectTimeout()));
        int applied = Database.migrate(pool);
        LOG.infof("lease store ready on %s (%d migration(s) applied)", redact(url), applied);
        return pool;
    }

    @Produces
    @Singleton
    LeaseStore leaseStore(DataSource dataSource) {
        return new PostgresLeaseStore(dataSource);
    }

    void stop(@Observes ShutdownEvent event) {
        if (pool != null) {
            pool.close();
        }
        if (embedded != null) {
            embedded.close();
        }
    }

    static String redact(String url) {
        return url.replaceAll("password=[^&]*", "password=***");
    }
}
