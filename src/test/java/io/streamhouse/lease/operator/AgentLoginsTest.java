package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.PostgresLeaseStore;
import io.streamhouse.lease.testing.TestDatabases;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Which login the operator maps to an agent id: the StreamAgent's, else the configured template, else none. */
class AgentLoginsTest {

    static HikariDataSource dataSource;
    static PostgresLeaseStore store;

    @BeforeAll
    static void database() {
        dataSource = TestDatabases.fresh("agent_logins", 2);
        store = new PostgresLeaseStore(dataSource);
    }

    @AfterAll
    static void close() {
        dataSource.close();
    }

    static StreamAgentSpec spec(String databaseUser) {
        StreamAgentSpec spec = new StreamAgentSpec();
        spec.setDatabaseUser(databaseUser);
        return spec;
    }

    @Test
    void theStreamAgentsLoginWinsOverTheTemplateAndNoneWithdrawsTheMapping() {
        AgentId agent = AgentId.of("orders-0");
        AgentLogins templated = new AgentLogins(store, Optional.of("sh-{agentId}"));
        AgentLogins plain = new AgentLogins(store, Optional.empty());

        assertThat(templated.ensure(agent, spec(null))).contains("sh-orders-0");
        assertThat(store.agentLogin(agent)).contains("sh-orders-0");
        assertThat(templated.ensure(agent, spec("orders-writer"))).contains("orders-writer");
        assertThat(store.agentLogin(agent)).contains("orders-writer");
        // Without a template and a login in the spec, no login is mapped any more.
        assertThat(plain.ensure(agent, spec(null))).isEmpty();
        assertThat(store.agentLogin(agent)).isEmpty();
        // A fixed name (one login for the agents of a Deployment).
        assertThat(new AgentLogins(store, Optional.of("orders-agents")).ensure(agent, spec(null))).contains("orders-agents");
        plain.withdraw(agent);
        assertThat(store.agentLogin(agent)).isEmpty();
    }

    @Test
    void aTemplateThatGivesNoValidLoginIsRefusedWithItsReason() {
        assertThatThrownBy(() -> new AgentLogins(store, Optional.of("bad name {agentId}")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("streamhouse.db.agent-user 'bad name {agentId}'");
        AgentLogins longPrefix = new AgentLogins(store, Optional.of("a-rather-long-prefix-for-logins-{agentId}"));
        assertThatThrownBy(() -> longPrefix.ensure(AgentId.of("x".repeat(40)), spec(null)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 63 characters");
    }
}
