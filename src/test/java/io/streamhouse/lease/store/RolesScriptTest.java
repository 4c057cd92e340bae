package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * deploy/postgres/roles.sql as the docs say to run it (psql, twice: the second run changes
 * nothing), then the install it prepares: the owner migrates and grants, the agents' login may
 * call the agent functions and read no table. Skipped, saying so, where no psql client exists.
 */
class RolesScriptTest {

    static Optional<Path> psql() {
        return Stream.concat(Stream.of(System.getenv().getOrDefault("PATH", "").split(":")).map(Path::of),
                        Stream.of(Path.of("/usr/lib/postgresql/17/bin"), Path.of("/usr/lib/postgresql/15/bin")))
                .map(dir -> dir.resolve("psql")).filter(Files::isExecutable).findFirst();
    }

    @Test
    void theScriptCreatesTheRolesOnceAndTheInstallWorksWithThem() throws Exception {
        Optional<Path> psql = psql();
        Assumptions.assumeTrue(psql.isPresent(), "no psql client on this machine: deploy/postgres/roles.sql not run");
        try (LocalPostgres server = LocalPostgres.start(null)) {
            for (int run = 0; run < 2; run++) {
                Process p = new ProcessBuilder(psql.get().toString(), "-h", "localhost", "-p", String.valueOf(server.port()),
                        "-U", "postgres", "-d", "postgres", "-v", "owner_password=o", "-v", "operator_password=p",
                        "-v", "agent_password=a", "-f", "deploy/postgres/roles.sql")
                        .redirectErrorStream(true).start();
                String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
                assertThat(p.exitValue()).as(output).isZero();
                if (run == 1) {
                    assertThat(output).as("a second run creates nothing").doesNotContain("CREATE");
                }
            }
            String url = server.jdbcUrl("streamhouse").replaceAll("\\?.*", "");
            try (HikariDataSource owner = pool(url, "streamhouse_owner");
                 HikariDataSource agent = pool(url, "streamhouse_agent")) {
                Database.migrate(owner);
                DatabaseGrants.grant(owner, "streamhouse_operator", "streamhouse_agents");
                try (Connection c = agent.getConnection(); Statement s = c.createStatement()) {
                    try (ResultSet rs = s.executeQuery("SELECT lease_agent_channel('agent-7')")) {
                        rs.next();
                        assertThat(rs.getString(1)).startsWith("streamhouse_agent_");
                    }
                    try {
                        s.executeQuery("SELECT * FROM partition_lease").close();
                        throw new AssertionError("the agents' login read partition_lease");
                    } catch (SQLException e) {
                        assertThat(e.getSQLState()).isEqualTo("42501");
                    }
                }
            }
        }
    }

    static HikariDataSource pool(String url, String user) {
        return Database.pool(new Database.PoolSettings(url, user, null, 2, Duration.ofSeconds(5)), "pool-" + user);
    }
}
