package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.Session;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** What {@code kubectl get streamagents} shows, from presence and session, without a cluster. */
class AgentStatusesTest {

    static final Instant NOW = Instant.parse("2026-12-02T00:00:00Z");

    static Session session(boolean live) {
        return new Session(AgentId.of("a"), 3, "default", "", "", Duration.ofSeconds(20), NOW, NOW.minusSeconds(1),
                NOW.plusSeconds(19), live, NOW);
    }

    @Test
    void phaseFollowsPresenceAndSession() {
        assertThat(AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, session(true), 0, false, NOW).getPhase())
                .isEqualTo(StreamAgentPhase.Ready);
        assertThat(AgentStatuses.of(null, 1, AgentStatuses.Presence.DRAINING, session(true), 0, false, NOW).getPhase())
                .isEqualTo(StreamAgentPhase.Draining);
        StreamAgentStatus notReady = AgentStatuses.of(null, 1, AgentStatuses.Presence.POD_NOT_READY, session(true), 0,
                false, NOW);
        assertThat(notReady.getPhase()).isEqualTo(StreamAgentPhase.Lost);
        assertThat(AgentStatuses.readyReason(notReady)).isEqualTo(Conditions.POD_NOT_READY);
        StreamAgentStatus expired = AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, session(false), 0, false, NOW);
        assertThat(expired.getPhase()).isEqualTo(StreamAgentPhase.Lost);
        assertThat(AgentStatuses.readyReason(expired)).isEqualTo(Conditions.SESSION_EXPIRED);
        assertThat(AgentStatuses.readyReason(AgentStatuses.of(null, 1, AgentStatuses.Presence.POD_GONE, null, 0, false,
                NOW))).isEqualTo(Conditions.POD_GONE);
    }

    @Test
    void theHeartbeatAloneNeverMakesANewStatus() {
        StreamAgentStatus first = AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, session(true), 2, true, NOW);
        Session renewed = new Session(AgentId.of("a"), 3, "default", "", "", Duration.ofSeconds(20), NOW,
                NOW.plusSeconds(5), NOW.plusSeconds(25), true, NOW.plusSeconds(5));
        StreamAgentStatus again = AgentStatuses.of(first, 1, AgentStatuses.Presence.READY, renewed, 2, true,
                NOW.plusSeconds(5));
        assertThat(again).isEqualTo(first);
        StreamAgentStatus moreLeases = AgentStatuses.of(first, 1, AgentStatuses.Presence.READY, renewed, 3, true,
                NOW.plusSeconds(5));
        assertThat(AgentStatuses.onlyLeaseCountChanged(moreLeases, first)).isTrue();
        assertThat(moreLeases.getLastHeartbeat()).isEqualTo(renewed.renewedAt().toString()); // refreshed with the change
    }

    @Test
    void aRefusedAgentShowsItsPhaseAndNoLeases() {
        StreamAgentStatus s = AgentStatuses.refused(null, 2, StreamAgentPhase.Conflict, Conditions.DUPLICATE_AGENT_ID,
                "agent id a is used by StreamAgent ns/other", NOW);
        assertThat(s.getPhase()).isEqualTo(StreamAgentPhase.Conflict);
        assertThat(s.getLeaseCount()).isZero();
        assertThat(AgentStatuses.readyReason(s)).isEqualTo(Conditions.DUPLICATE_AGENT_ID);
    }
}
