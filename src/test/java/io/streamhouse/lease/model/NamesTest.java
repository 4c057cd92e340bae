package io.streamhouse.lease.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class NamesTest {

    @Test
    void acceptsOrdinaryNames() {
        assertThat(LeaseKey.of("orders.v2_eu-1", 0)).hasToString("orders.v2_eu-1/0");
        assertThat(AgentId.of("agent-7.eu_west")).hasToString("agent-7.eu_west");
        assertThat(Names.zone("")).isEmpty();
        assertThat(Names.zone(null)).isEmpty();
        assertThat(Names.address("10.0.0.7:9092")).isEqualTo("10.0.0.7:9092");
        assertThat(Names.address("[fe80::1]:9092")).isEqualTo("[fe80::1]:9092");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "a b", "orders'; DROP TABLE partition_lease; --", "t\"x", "t;x", "t\nx", "é"})
    void refusesBadTopics(String topic) {
        assertThatThrownBy(() -> LeaseKey.of(topic, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("topic");
    }

    @Test
    void refusesTopicsLongerThanTheSchema() {
        assertThat(LeaseKey.of("t".repeat(249), 0).topic()).hasSize(249);
        assertThatThrownBy(() -> LeaseKey.of("t".repeat(250), 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("topic must be at most 249 characters, got 250");
    }

    @Test
    void refusesNegativePartitions() {
        assertThatThrownBy(() -> LeaseKey.of("orders", -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("partition must be >= 0, got -1");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-agent", "agent-", "agent 1", "a'; --", "Agent/1"})
    void refusesBadAgentIds(String id) {
        assertThatThrownBy(() -> AgentId.of(id))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("agent id");
    }

    @Test
    void agentIdsAreLabelValuesOfAtMost63Characters() {
        assertThat(AgentId.of("a".repeat(63)).value()).hasSize(63);
        assertThatThrownBy(() -> AgentId.of("a".repeat(64)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("agent id must be at most 63 characters, got 64");
    }

    @Test
    void refusesAddressesWithQuotesOrSpaces() {
        assertThatThrownBy(() -> Names.address("host:1; DROP"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("address");
        assertThatThrownBy(() -> Names.address("x".repeat(256)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("address must be at most 255 characters, got 256");
    }

    @Test
    void keysOrderByTopicThenPartition() {
        assertThat(LeaseKey.of("a", 10)).isLessThan(LeaseKey.of("b", 0));
        assertThat(LeaseKey.of("a", 2)).isLessThan(LeaseKey.of("a", 10));
    }
}
