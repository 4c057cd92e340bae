package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.testing.TestDatabases;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Reading the server's promise about acknowledged commits, and judging it. */
class DurabilityTest {

    @Test
    void aServerWithFsyncOffCanLoseAcknowledgedCommits() {
        try (HikariDataSource db = TestDatabases.fresh("durability", 2)) { // the test server runs with fsync off
            Durability d = Durability.read(db);
            assertThat(d.fsync()).isFalse();
            assertThat(d.synchronousCommit()).isEqualTo("on");
            assertThat(d.risks()).singleElement().asString().startsWith("fsync is off");
            assertThat(d.durable()).isFalse();
        }
    }

    @Test
    void aServerWithFsyncOnAndNoStandbysPromisesDurability() {
        try (LocalPostgres pg = LocalPostgres.start(null, Map.of("fsync", "on"));
             HikariDataSource db = Database.pool(new Database.PoolSettings(pg.jdbcUrl("postgres"), "postgres", null, 1,
                     Duration.ofSeconds(5)))) {
            Durability d = Durability.read(db);
            assertThat(d.risks()).isEmpty();
            assertThat(d.durable()).isTrue();
        }
    }

    @Test
    void judgesEachSettingThatCanLoseACommit() {
        assertThat(new Durability(true, true, "on", "", 0).risks()).isEmpty();
        assertThat(new Durability(true, false, "on", "", 0).risks()).singleElement().asString()
                .startsWith("full_page_writes is off");
        assertThat(new Durability(true, true, "on", "", 2).risks()).singleElement().asString()
                .contains("2 standby(s) replicate asynchronously");
        assertThat(new Durability(true, true, "on", "ANY 1 (a, b)", 2).risks()).as("synchronous standbys").isEmpty();
        assertThat(new Durability(true, true, "off", "", 0).risks())
                .as("the server default does not matter: lease transactions set synchronous_commit on").isEmpty();
        assertThat(new Durability(false, false, "on", "", 1).risks()).hasSize(3);
    }
}
