package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.testing.TestDatabases;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The README's "agent protocol in SQL" walkthrough runs as written, on a fresh database, one
 * statement at a time as psql sends them; the statement its comment says fails, fails with that
 * SQLSTATE, and every other one succeeds.
 */
class SqlProtocolReadmeTest {

    static String walkthrough() throws IOException {
        String readme = Files.readString(Path.of("README.md"));
        int section = readme.indexOf("\n## The agent protocol in SQL");
        assertThat(section).as("README section 'The agent protocol in SQL'").isPositive();
        int start = readme.indexOf("```sql\n", section);
        int end = readme.indexOf("```", start + 7);
        return readme.substring(start + 7, end);
    }

    /** Statements, each with the SQLSTATE its trailing comment says it raises (or null). */
    record Step(String sql, String expectedState) {
    }

    static List<Step> steps(String block) {
        List<Step> steps = new ArrayList<>();
        StringBuilder sql = new StringBuilder();
        for (String line : block.lines().toList()) {
            String trimmed = line.trim();
            if (trimmed.isEmpty() || trimmed.startsWith("--")) {
                continue;
            }
            int comment = line.indexOf("--");
            String code = comment < 0 ? line : line.substring(0, comment);
            String state = null;
            if (comment >= 0) {
                var m = java.util.regex.Pattern.compile("ERROR \\((\\w{5})\\)").matcher(line.substring(comment));
                state = m.find() ? m.group(1) : null;
            }
            sql.append(code.trim()).append(' ');
            if (code.trim().endsWith(";")) {
                steps.add(new Step(sql.toString().trim(), state));
                sql.setLength(0);
            }
        }
        return steps;
    }

    @Test
    void theWalkthroughRunsAsWritten() throws Exception {
        List<Step> steps = steps(walkthrough());
        assertThat(steps).extracting(Step::sql).anyMatch(s -> s.startsWith("SELECT lease_fence("))
                .anyMatch(s -> s.startsWith("SELECT lease_register(") || s.contains("FROM lease_register("));
        try (HikariDataSource db = TestDatabases.fresh("readme", 2);
             Connection c = db.getConnection(); Statement st = c.createStatement()) {
            for (Step step : steps) {
                if (step.expectedState() == null) {
                    st.execute(step.sql());
                } else {
                    assertThatThrownBy(() -> st.execute(step.sql())).as(step.sql())
                            .isInstanceOfSatisfying(SQLException.class,
                                    e -> assertThat(e.getSQLState()).isEqualTo(step.expectedState()));
                }
            }
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM orders_log")) {
                rs.next();
                assertThat(rs.getLong(1)).as("the fenced write committed").isEqualTo(1);
            }
            try (ResultSet rs = st.executeQuery("SELECT ended_at IS NOT NULL FROM agent_session WHERE agent_id = 'agent-7'")) {
                rs.next();
                assertThat(rs.getBoolean(1)).as("the session ended").isTrue();
            }
            // The channel the walkthrough listens on is agent-7's, and the assignment reached it.
            String channel = ChangeFeed.agentChannel(c, io.streamhouse.lease.model.AgentId.of("agent-7"));
            assertThat(steps).extracting(Step::sql).contains("LISTEN " + channel + ";");
            org.postgresql.PGNotification[] heard = c.unwrap(org.postgresql.PGConnection.class).getNotifications(1000);
            assertThat(heard).extracting(org.postgresql.PGNotification::getName).contains(channel);
        }
    }
}
