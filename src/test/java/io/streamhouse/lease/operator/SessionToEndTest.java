package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.Session;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * When a StreamAgent (or its pod) goes, the operator ends the session it names, never a newer one:
 * a StatefulSet pod recreated under the same name runs a new process whose fresh session must not
 * be cut by the old resource's cleanup.
 */
class SessionToEndTest {

    static Optional<Session> session(long epoch, boolean live) {
        Instant t = Instant.parse("2026-12-01T00:00:00Z");
        return Optional.of(new Session(AgentId.of("x"), epoch, "default", "", "", Duration.ofSeconds(10), t, t,
                t.plusSeconds(10), live, t));
    }

    @Test
    void endsTheLiveIncarnationTheResourceNames() {
        assertThat(StreamAgentReconciler.sessionToEnd(session(3, true), 3L)).isPresent();
    }

    @Test
    void leavesANewerIncarnationOfTheSameAgentIdAlone() {
        assertThat(StreamAgentReconciler.sessionToEnd(session(4, true), 3L)).isEmpty();
    }

    @Test
    void endsNothingThatIsAlreadyDeadOrUnnamed() {
        assertThat(StreamAgentReconciler.sessionToEnd(session(3, false), 3L)).isEmpty();
        assertThat(StreamAgentReconciler.sessionToEnd(session(3, true), null)).isEmpty();
        assertThat(StreamAgentReconciler.sessionToEnd(Optional.empty(), 3L)).isEmpty();
    }
}
