package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Agent events to the leases they concern, and the memo that makes repeated calls cheap and stable. */
class AgentEventMapperTest {

    final ResourceID held = new ResourceID("held", "ns");
    final ResourceID unheld = new ResourceID("unheld", "ns");
    final ResourceID moved = new ResourceID("moved", "ns");
    final AtomicInteger asked = new AtomicInteger();
    final AtomicInteger planChanges = new AtomicInteger();
    final Set<ResourceID> present = new HashSet<>();

    final AgentEventMapper mapper = new AgentEventMapper(new AgentEventMapper.Leases() {
        @Override
        public Collection<ResourceID> heldBy(String namespace, String agentId, Long sessionEpoch) {
            asked.incrementAndGet();
            return "a".equals(agentId) && "ns".equals(namespace) ? List.of(held) : List.of();
        }

        @Override
        public Collection<ResourceID> unheldIn(String namespace, String group) {
            return "default".equals(group) ? List.of(unheld) : List.of();
        }

        @Override
        public Collection<ResourceID> movedIn(String namespace, String group) {
            return List.of(moved);
        }
    }, present::contains, planChanges::incrementAndGet);

    StreamAgent agent(String version) {
        StreamAgent a = AgentViewsTest.agent("a", "a", StreamAgentPhase.Ready, Conditions.AGENT_READY, "2026-01-01T00:00:00Z");
        a.getMetadata().setResourceVersion(version);
        present.add(ResourceID.fromResource(a));
        return a;
    }

    @Test
    void aChangeAssignmentReadsConcernsHeldUnheldAndMovedLeases() {
        assertThat(mapper.affectedBy(agent("1"))).containsExactlyInAnyOrder(held, unheld, moved);
        assertThat(planChanges).hasValue(1);
    }

    @Test
    void everyCallForOneVersionAnswersTheSameWithoutAskingAgain() {
        StreamAgent a = agent("1");
        Set<ResourceID> first = mapper.affectedBy(a);
        Set<ResourceID> second = mapper.affectedBy(a);
        assertThat(second).isEqualTo(first).isNotEmpty();
        assertThat(asked).hasValue(1);
    }

    @Test
    void aNewVersionThatChangesNothingAssignmentReadsConcernsNoLease() {
        mapper.affectedBy(agent("1"));
        StreamAgent heartbeat = agent("2");
        heartbeat.getStatus().setLeaseCount(3);
        assertThat(mapper.affectedBy(heartbeat)).isEmpty();
        assertThat(planChanges).hasValue(1);
        StreamAgent cordoned = agent("3");
        cordoned.getSpec().setCordoned(true);
        assertThat(mapper.affectedBy(cordoned)).containsExactlyInAnyOrder(held, unheld, moved);
        assertThat(planChanges).hasValue(2);
    }

    @Test
    void anAgentThatIsGoneConcernsItsLeasesOnceAndIsForgotten() {
        mapper.affectedBy(agent("1"));
        StreamAgent gone = agent("2");
        present.clear();
        assertThat(mapper.affectedBy(gone)).containsExactlyInAnyOrder(held, unheld, moved);
        // Forgotten: the same agent coming back is a change again.
        assertThat(mapper.affectedBy(agent("3"))).isNotEmpty();
    }

    @Test
    void anAgentWithoutAnIdConcernsNothing() {
        StreamAgent a = agent("1");
        a.getSpec().setAgentId(null);
        assertThat(mapper.affectedBy(a)).isEmpty();
        assertThat(planChanges).hasValue(0);
    }
}
