package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.Lease;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which StreamAgents may take and keep leases, without a cluster. */
class AgentViewsTest {

    static final Instant NOW = Instant.parse("2026-12-02T00:00:00Z");

    static StreamAgent agent(String name, String id, StreamAgentPhase phase, String readyReason, String created) {
        StreamAgent a = Fixtures.agent("ns", name, id, "default");
        a.getMetadata().setCreationTimestamp(created);
        a.getMetadata().setUid(name + "-uid");
        if (phase != null) {
            StreamAgentStatus status = new StreamAgentStatus();
            status.setPhase(phase);
            status.setSessionEpoch(4L);
            Conditions.set(status, null, Conditions.READY, phase == StreamAgentPhase.Ready, readyReason, "", NOW);
            a.setStatus(status);
        }
        return a;
    }

    @Test
    void aReadyAgentTakesAndKeepsLeases() {
        StreamAgent a = agent("a", "a", StreamAgentPhase.Ready, Conditions.AGENT_READY, "2026-01-01T00:00:00Z");
        a.getSpec().setZone("z1");
        a.getSpec().setWeight(3);
        a.getSpec().setSessionKeeper(SessionKeeper.Agent);
        AgentView v = AgentViews.view(a).orElseThrow();
        assertThat(v).isEqualTo(new AgentView(AgentId.of("a"), 4, "z1", 3, null, true, true, true));
    }

    @Test
    void aCordonedAgentTakesNoneAndGivesItsOwnUp() {
        StreamAgent a = agent("a", "a", StreamAgentPhase.Ready, Conditions.AGENT_READY, "2026-01-01T00:00:00Z");
        a.getSpec().setCordoned(true);
        AgentView v = AgentViews.view(a).orElseThrow();
        assertThat(v.acceptsLeases()).isFalse();
        assertThat(v.keepsLeases()).isFalse();
    }

    @Test
    void aLostAgentKeepsItsLeasesOnlyWhileItsSessionRuns() {
        AgentView podNotReady = AgentViews.view(agent("a", "a", StreamAgentPhase.Lost, Conditions.POD_NOT_READY,
                "2026-01-01T00:00:00Z")).orElseThrow();
        AgentView expired = AgentViews.view(agent("b", "b", StreamAgentPhase.Lost, Conditions.SESSION_EXPIRED,
                "2026-01-01T00:00:00Z")).orElseThrow();
        assertThat(podNotReady.acceptsLeases()).isFalse();
        assertThat(podNotReady.keepsLeases()).isTrue();
        assertThat(expired.keepsLeases()).isFalse();
    }

    @Test
    void oneViewPerIdTheOldestClaimantAndNeverAConflictOrAnInvalidOne() {
        StreamAgent owner = agent("owner", "x", StreamAgentPhase.Ready, Conditions.AGENT_READY, "2026-01-01T00:00:00Z");
        StreamAgent younger = agent("younger", "x", null, null, "2026-02-01T00:00:00Z"); // not yet reconciled
        StreamAgent conflict = agent("conflict", "x", StreamAgentPhase.Conflict, Conditions.DUPLICATE_AGENT_ID,
                "2025-01-01T00:00:00Z"); // older, but refused
        StreamAgent invalid = agent("invalid", "not a valid id!", StreamAgentPhase.Ready, Conditions.AGENT_READY,
                "2026-01-01T00:00:00Z");
        List<AgentView> views = AgentViews.of(List.of(younger, conflict, owner, invalid));
        assertThat(views).singleElement().satisfies(v -> {
            assertThat(v.id()).isEqualTo(AgentId.of("x"));
            assertThat(v.acceptsLeases()).isTrue(); // the owner's view, not the unreconciled younger one
        });
    }

    @Test
    void thePrintChangesWithWhatAssignmentReadsOnly() {
        StreamAgent a = agent("a", "a", StreamAgentPhase.Ready, Conditions.AGENT_READY, "2026-01-01T00:00:00Z");
        String before = AgentViews.assignmentPrint(a);
        a.getStatus().setLeaseCount(7);
        a.getStatus().setLastHeartbeat("2026-12-02T00:00:01Z");
        assertThat(AgentViews.assignmentPrint(a)).isEqualTo(before);
        a.getSpec().setCordoned(true);
        assertThat(AgentViews.assignmentPrint(a)).isNotEqualTo(before);
    }

    @Test
    void aViewStillCallingADeadIncarnationLiveIsStaleButANewIncarnationIsNot() {
        AgentView ready = AgentViews.view(agent("a", "a", StreamAgentPhase.Ready, Conditions.AGENT_READY,
                "2026-01-01T00:00:00Z")).orElseThrow(); // session 4
        java.util.Map<AgentId, AgentView> views = java.util.Map.of(ready.id(), ready);
        LeaseKey key = LeaseKey.of("t", 0);
        Lease deadSameIncarnation = new Lease(key, AgentId.of("a"), 4, 7, null, NOW, NOW, false);
        Lease deadOlderIncarnation = new Lease(key, AgentId.of("a"), 3, 7, null, NOW, NOW, false);
        Lease live = new Lease(key, AgentId.of("a"), 4, 7, null, NOW, NOW, true);
        Lease free = new Lease(key, null, 0, 7, AgentId.of("a"), NOW, NOW, false);
        Lease deadOther = new Lease(key, AgentId.of("b"), 4, 7, null, NOW, NOW, false);

        assertThat(AgentViews.staleFor(deadSameIncarnation, views)).as("the StreamAgent has not caught up").isTrue();
        assertThat(AgentViews.staleFor(deadOlderIncarnation, views)).as("back as a new incarnation").isFalse();
        assertThat(AgentViews.staleFor(live, views)).isFalse();
        assertThat(AgentViews.staleFor(free, views)).isFalse();
        assertThat(AgentViews.staleFor(deadOther, views)).as("no view of b").isFalse();
        assertThat(AgentViews.staleFor(null, views)).isFalse();
    }
}
