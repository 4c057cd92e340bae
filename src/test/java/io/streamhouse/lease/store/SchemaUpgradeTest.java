package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.testing.TestDatabases;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;

/**
 * This build against a schema one release ahead (a test-only later migration, db/later) and one
 * behind (Flyway stopped at V8), as replicas of two versions meet during a rolling update
 * (docs/upgrading.md).
 */
class SchemaUpgradeTest {

    static HikariDataSource emptyDatabase(String name) throws Exception {
        LocalPostgres pg = TestDatabases.server();
        String db = name + "_" + ProcessHandle.current().pid() + "_" + System.nanoTime() % 100000;
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl("postgres"), "postgres", "postgres");
             Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + db);
        }
        return Database.pool(new Database.PoolSettings(pg.jdbcUrl(db), "postgres", "postgres", 4, Duration.ofSeconds(5)));
    }

    @Test
    void thisBuildRunsOnTheSchemaOfALaterReleaseWithoutTouchingIt() throws Exception {
        try (HikariDataSource ds = emptyDatabase("ahead")) {
            Database.migrate(ds, Database.MIGRATIONS, "classpath:db/later");

            assertThat(Database.migrate(ds)).as("a later release's migration is not refused, nothing applied").isZero();
            Database.SchemaStatus status = Database.status(ds);
            assertThat(status.applied()).isEqualTo("9999");
            assertThat(status.known()).isEqualTo("11");
            assertThat(status.current()).isTrue();

            PostgresLeaseStore store = new PostgresLeaseStore(ds);
            Session s = store.register(new AgentRegistration(AgentId.of("old-replica-agent"), "default", "", "",
                    Duration.ofSeconds(30)));
            LeaseKey key = LeaseKey.of("ahead", 0);
            assertThat(store.acquire(AcquireRequest.ifFree(key, s.agent(), s.sessionEpoch()), "Assigned").outcome())
                    .isEqualTo(AcquireResult.Outcome.ACQUIRED);
            Integer written = store.fenced(key, s.agent(), s.sessionEpoch(), 1, c -> 1);
            assertThat(written).isEqualTo(1);
        }
    }

    @Test
    void aSchemaOneReleaseBehindIsReportedAndMigratedOnlyWhenAsked() throws Exception {
        try (HikariDataSource ds = emptyDatabase("behind")) {
            Flyway.configure().dataSource(ds).locations(Database.MIGRATIONS).target("10").load().migrate();

            Database.SchemaStatus status = Database.status(ds);
            assertThat(status.applied()).isEqualTo("10");
            assertThat(status.known()).isEqualTo("11");
            assertThat(status.pending()).isEqualTo(1);
            assertThat(Database.status(ds).applied()).as("reading the status changes nothing").isEqualTo("10");

            assertThat(Database.migrate(ds)).isEqualTo(1);
            assertThat(Database.status(ds).current()).isTrue();
        }
    }

    /**
     * V9 drops and creates the compare-and-swap functions again (their result grew a column): the
     * EXECUTE grants given on V8, by DatabaseGrants or by hand, must survive it, or the operator's
     * login would be refused its compare-and-swap after an upgrade until the next grant pass.
     */
    @Test
    void theCompareAndSwapKeepsItsGrantsAcrossTheMigrationThatRecreatesIt() throws Exception {
        String operator = "op_" + ProcessHandle.current().pid() + "_" + System.nanoTime() % 100000;
        String agents = "ag_" + ProcessHandle.current().pid() + "_" + System.nanoTime() % 100000;
        try (HikariDataSource ds = emptyDatabase("grants")) {
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE ROLE " + operator);
                s.execute("CREATE ROLE " + agents);
            }
            Flyway.configure().dataSource(ds).locations(Database.MIGRATIONS).target("8").load().migrate();
            // What a V8 operator granted (this build's DatabaseGrants names functions of later
            // migrations, so it runs only after them, as the operator runs it).
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("GRANT EXECUTE ON FUNCTION lease_acquire(varchar, integer, varchar, bigint, varchar, bigint, varchar),"
                        + " lease_acquire_batch(varchar[], integer[], varchar[], bigint[], varchar[], bigint[], varchar) TO "
                        + operator);
            }

            assertThat(Database.migrate(ds)).as("every migration after V8")
                    .isEqualTo(Integer.parseInt(Database.status(ds).known()) - 8);

            try (Connection c = ds.getConnection(); Statement s = c.createStatement();
                 java.sql.ResultSet rs = s.executeQuery("SELECT has_function_privilege('" + operator + "', "
                         + "'lease_acquire_batch(varchar[], integer[], varchar[], bigint[], varchar[], bigint[], varchar)',"
                         + " 'EXECUTE'), has_function_privilege('" + operator + "',"
                         + " 'lease_acquire(varchar, integer, varchar, bigint, varchar, bigint, varchar)', 'EXECUTE'),"
                         + " has_function_privilege('" + agents + "',"
                         + " 'lease_acquire(varchar, integer, varchar, bigint, varchar, bigint, varchar)', 'EXECUTE'),"
                         + " has_function_privilege('" + operator + "',"
                         + " 'lease_unheld_since(varchar, bigint, bigint, timestamptz, boolean)', 'EXECUTE')")) {
                rs.next();
                assertThat(rs.getBoolean(1)).as("operator: batch").isTrue();
                assertThat(rs.getBoolean(2)).as("operator: single").isTrue();
                assertThat(rs.getBoolean(3)).as("agents: still not").isFalse();
                assertThat(rs.getBoolean(4)).as("internal: nobody").isFalse();
            }
        }
    }
}
