package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.assign.AgentView;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.api.v1alpha1.HeldTopic;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.Session;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
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
        assertThat(AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, session(true), held(0), false, NOW).getPhase())
                .isEqualTo(StreamAgentPhase.Ready);
        assertThat(AgentStatuses.of(null, 1, AgentStatuses.Presence.DRAINING, session(true), held(0), false, NOW).getPhase())
                .isEqualTo(StreamAgentPhase.Draining);
        StreamAgentStatus notReady = AgentStatuses.of(null, 1, AgentStatuses.Presence.POD_NOT_READY, session(true), held(0),
                false, NOW);
        assertThat(notReady.getPhase()).isEqualTo(StreamAgentPhase.Lost);
        assertThat(AgentStatuses.readyReason(notReady)).isEqualTo(Conditions.POD_NOT_READY);
        StreamAgentStatus expired = AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, session(false), held(0), false, NOW);
        assertThat(expired.getPhase()).isEqualTo(StreamAgentPhase.Lost);
        assertThat(AgentStatuses.readyReason(expired)).isEqualTo(Conditions.SESSION_EXPIRED);
        assertThat(AgentStatuses.readyReason(AgentStatuses.of(null, 1, AgentStatuses.Presence.POD_GONE, null, held(0), false,
                NOW))).isEqualTo(Conditions.POD_GONE);
    }

    /** An agent id that never had a session is not said to have lost one: nothing crashed. */
    @Test
    void neverASessionIsNoSessionNotExpired() {
        StreamAgentStatus podNotReadyYet = AgentStatuses.of(null, 1, AgentStatuses.Presence.POD_NOT_READY, null, held(0),
                false, NOW);
        assertThat(podNotReadyYet.getPhase()).isEqualTo(StreamAgentPhase.Lost);
        assertThat(AgentStatuses.readyReason(podNotReadyYet)).isEqualTo(Conditions.NO_SESSION);
        assertThat(podNotReadyYet.getConditions().get(0).getMessage()).contains("pod is not Ready yet");
        StreamAgentStatus notStarted = AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, null, held(0), true, NOW);
        assertThat(AgentStatuses.readyReason(notStarted)).isEqualTo(Conditions.NO_SESSION);
        assertThat(notStarted.getConditions().get(0).getMessage()).contains("the agent opens it when it starts");
        StreamAgent agent = Fixtures.agent("ns", "a", "a", "default");
        agent.setStatus(podNotReadyYet);
        AgentView view = AgentViews.view(agent).orElseThrow();
        assertThat(view.acceptsLeases()).isFalse();
        assertThat(view.keepsLeases()).as("nothing to keep, and no session to keep it with").isFalse();
    }

    @Test
    void theHeartbeatAloneNeverMakesANewStatus() {
        StreamAgentStatus first = AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, session(true), held(2), true, NOW);
        Session renewed = new Session(AgentId.of("a"), 3, "default", "", "", Duration.ofSeconds(20), NOW,
                NOW.plusSeconds(5), NOW.plusSeconds(25), true, NOW.plusSeconds(5));
        StreamAgentStatus again = AgentStatuses.of(first, 1, AgentStatuses.Presence.READY, renewed, held(2), true,
                NOW.plusSeconds(5));
        assertThat(again).isEqualTo(first);
        StreamAgentStatus moreLeases = AgentStatuses.of(first, 1, AgentStatuses.Presence.READY, renewed, held(3), true,
                NOW.plusSeconds(5));
        assertThat(moreLeases.getLeaseCount()).isEqualTo(3);
        assertThat(moreLeases.getLastHeartbeat()).isEqualTo(renewed.renewedAt().toString()); // refreshed with the change
    }

    @Test
    void theStatusListsTheLeasesPerTopicInRunsAndCountsThem() {
        List<LeaseLists.Held> held = List.of(new LeaseLists.Held(LeaseKey.of("orders", 0), 1),
                new LeaseLists.Held(LeaseKey.of("orders", 1), 1), new LeaseLists.Held(LeaseKey.of("orders", 2), 3),
                new LeaseLists.Held(LeaseKey.of("audit", 9), 2));
        StreamAgentStatus s = AgentStatuses.of(null, 1, AgentStatuses.Presence.READY, session(true), held, false, NOW);
        assertThat(s.getLeaseCount()).isEqualTo(4);
        assertThat(s.getLeases()).containsExactly(new HeldTopic("audit", 1, "9@2"), new HeldTopic("orders", 3, "0-1@1,2@3"));
        assertThat(s.getLeasesNotListed()).isNull();
        StreamAgentStatus none = AgentStatuses.of(s, 1, AgentStatuses.Presence.READY, session(true), List.of(), false, NOW);
        assertThat(none.getLeases()).as("omitted, not an empty list").isNull();
        assertThat(none).isNotEqualTo(s);
    }

    static List<LeaseLists.Held> held(int n) {
        List<LeaseLists.Held> out = new java.util.ArrayList<>();
        for (int p = 0; p < n; p++) {
            out.add(new LeaseLists.Held(LeaseKey.of("t", p), 1));
        }
        return out;
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
