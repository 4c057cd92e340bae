package io.streamhouse.lease.assign;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class MoveLimiterTest {

    static final AgentId B = AgentId.of("b");
    static final AgentId C = AgentId.of("c");
    static final Instant T0 = Instant.parse("2026-11-27T10:00:00Z");

    static LeaseKey key(int p) {
        return LeaseKey.of("t", p);
    }

    @Test
    void neverMoreThanTheLimitInFlightAndWaitersComeBackOldestFirst() {
        MoveLimiter<String> limiter = new MoveLimiter<>(2);
        assertThat(limiter.start(key(0), B, 1, T0, "w0")).isPresent();
        assertThat(limiter.start(key(1), B, 2, T0, "w1")).isPresent();
        assertThat(limiter.start(key(2), B, 3, T0, "w2")).isEmpty();
        assertThat(limiter.start(key(3), B, 4, T0, "w3")).isEmpty();
        assertThat(limiter.inFlight()).isEqualTo(2);
        assertThat(limiter.waiting()).isEqualTo(2);

        assertThat(limiter.finish(key(0))).containsExactly("w2");
        assertThat(limiter.start(key(2), B, 5, T0, "w2")).isPresent();
        assertThat(limiter.finish(key(7))).as("nothing was in flight for it").isEmpty();
        assertThat(limiter.finish(key(1))).containsExactly("w3");
    }

    @Test
    void startingAgainKeepsTheMoveAndItsClockUnlessTheTargetChanged() {
        MoveLimiter<String> limiter = new MoveLimiter<>(1);
        MoveLimiter.Move first = limiter.start(key(0), B, 10, T0, "w0").orElseThrow();
        assertThat(limiter.start(key(0), B, 99, T0.plusSeconds(9), "w0")).contains(first);

        MoveLimiter.Move retargeted = limiter.start(key(0), C, 50, T0.plusSeconds(5), "w0").orElseThrow();
        assertThat(retargeted).isEqualTo(new MoveLimiter.Move(C, 50, T0.plusSeconds(5)));
        assertThat(limiter.inFlight()).as("the same slot").isEqualTo(1);
        assertThat(limiter.current(key(0))).contains(retargeted);
    }

    @Test
    void aCancelledWaiterIsNotHandedBack() {
        MoveLimiter<String> limiter = new MoveLimiter<>(1);
        limiter.start(key(0), B, 1, T0, "w0");
        limiter.start(key(1), B, 1, T0, "w1");
        limiter.start(key(2), B, 1, T0, "w2");
        limiter.cancel("w1");
        assertThat(limiter.finish(key(0))).containsExactly("w2");
    }

    @Test
    void refusesANonPositiveLimit() {
        assertThatThrownBy(() -> new MoveLimiter<String>(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("moves in flight must be >= 1, got 0");
    }
}
