package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.testing.SettableClock;
import java.time.Duration;
import java.time.Instant;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Which StreamAgents hold a group's free partitions back, and for how long at most. */
class SettlingTest {

    final SettableClock clock = new SettableClock(Instant.parse("2026-12-07T10:00:00Z"));

    StreamAgent agent(String name, Instant created, StreamAgentPhase phase) {
        StreamAgent a = Fixtures.agent("ns", name, name, "g1");
        a.getMetadata().setCreationTimestamp(created == null ? null : created.toString());
        if (phase != null) {
            StreamAgentStatus status = new StreamAgentStatus();
            status.setPhase(phase);
            a.setStatus(status);
        }
        return a;
    }

    @Test
    void anAgentWithoutAStatusHoldsTheGroupBackForTenSecondsFromItsCreation() {
        Settling settling = new Settling(clock);
        clock.advance(Duration.ofMinutes(5)); // long after the operator's start
        Instant created = clock.instant();
        StreamAgent ready = agent("agent-1", created.minusSeconds(60), StreamAgentPhase.Ready);
        StreamAgent fresh = agent("agent-2", created, null);

        assertThat(settling.awaited(Stream.of(ready, fresh))).containsExactly("agent-2");
        clock.advance(Duration.ofSeconds(9));
        assertThat(settling.awaited(Stream.of(ready, fresh))).containsExactly("agent-2");
        clock.advance(Duration.ofSeconds(1));
        assertThat(settling.awaited(Stream.of(ready, fresh))).as("bounded: it never got a status").isEmpty();
        assertThat(settling.awaited(Stream.of(ready, agent("agent-2", created, StreamAgentPhase.Ready))))
                .as("looked at").isEmpty();
    }

    @Test
    void afterTheOperatorStartsEveryAgentNotLookedAtYetCountsFromTheStart() {
        StreamAgent old = agent("agent-1", clock.instant().minus(Duration.ofDays(3)), null);
        Settling settling = new Settling(clock);
        assertThat(settling.awaited(Stream.of(old))).containsExactly("agent-1");
        clock.advance(Duration.ofSeconds(10));
        assertThat(settling.awaited(Stream.of(old))).isEmpty();
        assertThat(settling.awaited(Stream.of(agent("agent-3", null, StreamAgentPhase.Ready)))).isEmpty();
    }
}
