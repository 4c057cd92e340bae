package io.streamhouse.lease.operator;

import com.zaxxer.hikari.HikariDataSource;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.Startup;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.store.DatabaseGrants;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.LocalPostgres;
import io.streamhouse.lease.store.PostgresLeaseStore;
import jakarta.annotation.PreDestroy;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.sql.DataSource;
import io.quarkus.runtime.configuration.ConfigUtils;
import org.eclipse.microprofile.config.ConfigProvider;
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
    private HikariDataSource renewalPool;
    private Database.PoolSettings settings;
    private DatabaseConfig config;
    private String url;

    @Produces
    @Singleton
    @Startup // migrate at boot: a broken schema or database shows up now, not on first reconcile
    DataSource dataSource(DatabaseConfig config, MeterRegistry registry) {
        String url = config.url().filter(u -> !u.isBlank()).orElse(null);
        if (url == null) {
            // Stopped by stop() below once the operator has stopped, not by a JVM hook of its own that
            // would race the operator's shutdown (JVM shutdown hooks run concurrently).
            embedded = LocalPostgres.start(config.embedded().dataDir().toAbsolutePath(), Map.of(), 0, false);
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
        settings = new Database.PoolSettings(url, config.user(), config.password().filter(p -> !p.isEmpty()).orElse(null),
                config.poolSize(),
                config.connectTimeout());
        // hikaricp_connections_* (active, idle, pending, timeouts) for the dashboard and alerts.
        pool = Database.pool(settings, "streamhouse-lease-store", registry);
        this.config = config;
        this.url = url;
        try {
            if (leaderElected()) {
                // Several replicas: only the one that leads migrates, when it starts leading
                // (LeaderElection's callback, before any reconcile), so that a replica of a new version
                // that is not (yet) the leader never changes the schema under the one that leads.
                Database.SchemaStatus status = Database.status(pool);
                LOG.infof("lease store on %s as %s: schema at version %s, this build's newest %s%s", redact(url), config.user(),
                        status.applied(), status.known(), status.current() ? "" : " (migrated when this replica leads)");
            } else {
                int applied = migrateAndGrant();
                LOG.infof("lease store ready on %s as %s (%d migration(s) applied)", redact(url), config.user(), applied);
            }
        } catch (RuntimeException e) {
            String unreachable = unreachable(e);
            if (unreachable == null) {
                throw e;
            }
            // One line that says what to fix, not Quarkus's start-up stack trace around a refused connection.
            LOG.errorf("cannot use the lease store at %s as %s: %s. Check streamhouse.db.url, streamhouse.db.user and"
                    + " streamhouse.db.password (STREAMHOUSE_DB_URL, _USER, _PASSWORD), and that PostgreSQL accepts"
                    + " connections from here.", redact(url), config.user(), unreachable.replaceAll("[.\\s]+$", ""));
            pool.close();
            if (embedded != null) {
                embedded.close();
            }
            System.out.flush();
            System.err.flush();
            Runtime.getRuntime().halt(1); // as ClusterCheck: exit would wait for this very start-up
        }
        return pool;
    }

    /**
     * The database's own words when {@code e} is about reaching or logging in to it (SQLSTATE
     * class 08, connection, or 28, authorization; or no connection within the pool's timeout);
     * null for anything else (a failed migration keeps its stack trace).
     */
    static String unreachable(Throwable e) {
        // The deepest match: the pool's timeout carries its last failure's SQLSTATE, and that
        // failure, its cause, says what happened (refused, unknown host, password).
        String found = null;
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.sql.SQLException sql) {
                String state = sql.getSQLState();
                if (state != null && (state.startsWith("08") || state.startsWith("28"))
                        || sql instanceof java.sql.SQLTransientConnectionException) {
                    found = sql.getMessage();
                }
            }
        }
        return found;
    }

    /** Whether replicas elect a leader in this profile (quarkus.operator-sdk.activate-leader-election-for-profiles). */
    static boolean leaderElected() {
        List<String> electing = ConfigProvider.getConfig()
                .getOptionalValues("quarkus.operator-sdk.activate-leader-election-for-profiles", String.class)
                .orElse(List.of());
        return ConfigUtils.getProfiles().stream().anyMatch(electing::contains);
    }

    /**
     * Called by the replica that has just become the leader, before it reconciles anything: brings
     * the schema up to this build's version and grants. A failure stops the process (as losing
     * leadership does): reconciling on a schema older than the code expects is not an option, and
     * another replica, or this one restarted, tries again.
     */
    void migrateAsLeader() {
        try {
            int applied = migrateAndGrant();
            LOG.infof("leading: schema brought to this build's version (%d migration(s) applied)", applied);
        } catch (RuntimeException e) {
            LOG.errorf(e, "leading, but the schema could not be migrated (%s): exiting, to be restarted", e.getMessage());
            System.exit(1);
        }
    }

    /**
     * Migrates as the schema owner ({@code streamhouse.db.migration.user}, on a connection of its
     * own that is closed afterwards) or, when none is configured, as the operator's user; then
     * grants the operator's and the agents' privileges when their roles are configured.
     */
    private synchronized int migrateAndGrant() {
        Optional<String> operatorRole = config.grant().operator().filter(r -> !r.isBlank());
        Optional<String> agentRole = config.grant().agents().filter(r -> !r.isBlank());
        String owner = schemaOwner(config, url);
        if (owner.equals(config.user())) {
            LOG.warnf("one database user (%s) owns the schema and runs the operator: an agent given this login may act"
                    + " for any agent. That is not least privilege; fine for the embedded database and for trying"
                    + " things out. For production see docs/database-security.md (streamhouse.db.migration.user,"
                    + " streamhouse.db.grant.*).", owner);
            int applied = Database.migrate(pool);
            operatorRole.ifPresent(op -> DatabaseGrants.grant(pool, op, agentRole.get()));
            return applied;
        }
        try (HikariDataSource ownerPool = Database.pool(new Database.PoolSettings(url, owner,
                // Two: Flyway holds one connection for its lock on the schema history and migrates on another.
                config.migration().password().filter(p -> !p.isEmpty()).orElse(null), 2, config.connectTimeout()),
                "streamhouse-migrations")) {
            int applied = Database.migrate(ownerPool);
            if (operatorRole.isPresent()) {
                DatabaseGrants.grant(ownerPool, operatorRole.get(), agentRole.get());
                LOG.infof("granted the operator's privileges to role %s and the agents' to role %s", operatorRole.get(),
                        agentRole.get());
            }
            return applied;
        }
    }

    @Produces
    @Singleton
    LeaseStore leaseStore(DataSource dataSource) {
        return new PostgresLeaseStore(dataSource);
    }

    /**
     * Session renewals on a connection of their own: a burst of lease work (thousands of leases
     * at start-up or failover) must never delay the renewals that keep every agent alive.
     * {@code main} is asked for so that the main pool (and the embedded server) exist first.
     */
    synchronized LeaseStore renewalStore(DataSource main) {
        if (renewalPool != null) {
            return new PostgresLeaseStore(renewalPool);
        }
        renewalPool = Database.pool(new Database.PoolSettings(settings.url(), settings.user(), settings.password(), 1,
                settings.connectTimeout()), "streamhouse-session-renewals");
        return new PostgresLeaseStore(renewalPool);
    }

    /**
     * Closes the pools, then the embedded server, after every other shutdown observer (the
     * operator SDK's stop, the change feed, the session renewer) has run with the database still
     * up. Also called when the container is destroyed, which covers a start that failed before any
     * shutdown event.
     */
    synchronized void stop(@Observes @Priority(Integer.MAX_VALUE) ShutdownEvent event) {
        if (renewalPool != null) {
            renewalPool.close();
        }
        if (pool != null) {
            pool.close();
        }
        if (embedded != null) {
            embedded.close();
            embedded = null;
        }
    }

    @PreDestroy
    void destroyed() {
        stop(null);
    }

    /**
     * The user that migrates and grants: {@code streamhouse.db.migration.user}, else the operator's.
     * Refuses settings that would not do what they say: one grant role without the other, and a
     * URL naming a user next to a separate owner (pgjdbc lets the URL's user win over the one a
     * pool is given, so both pools would log in as it).
     */
    static String schemaOwner(DatabaseConfig config, String url) {
        boolean operatorRole = config.grant().operator().filter(r -> !r.isBlank()).isPresent();
        boolean agentRole = config.grant().agents().filter(r -> !r.isBlank()).isPresent();
        if (operatorRole != agentRole) {
            throw new IllegalArgumentException("streamhouse.db.grant.operator and streamhouse.db.grant.agents go"
                    + " together: set both (roles the schema owner grants to) or neither");
        }
        String owner = config.migration().user().filter(u -> !u.isBlank()).orElse(config.user());
        if (!owner.equals(config.user()) && url.matches(".*[?&]user=.*")) {
            throw new IllegalArgumentException("streamhouse.db.url names a user ("
                    + redact(url).replaceAll(".*[?&](user=[^&]*).*", "$1") + "): with streamhouse.db.migration.user"
                    + " set, give the users in streamhouse.db.user and streamhouse.db.migration.user only");
        }
        return owner;
    }

    static String redact(String url) {
        return url.replaceAll("password=[^&]*", "password=***");
    }
}
