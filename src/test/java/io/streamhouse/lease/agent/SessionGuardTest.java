package io.streamhouse.lease.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class SessionGuardTest {

    static final long SECOND = 1_000_000_000L;

    @Test
    void nothingIsConfirmedBeforeTheFirstRenewal() {
        SessionGuard guard = new SessionGuard(Duration.ofSeconds(10), Duration.ofSeconds(1));
        assertThat(guard.isConfirmed(0)).isFalse();
        assertThat(guard.nanosLeft(0)).isNegative();
    }

    @Test
    void aRenewalCountsFromWhenItWasSentMinusTheMargin() {
        SessionGuard guard = new SessionGuard(Duration.ofSeconds(10), Duration.ofSeconds(1));
        guard.confirmed(5 * SECOND); // sent at t=5s: alive in the database until at least t=15s
        assertThat(guard.isConfirmed(13 * SECOND)).isTrue();
        assertThat(guard.isConfirmed(14 * SECOND - 1)).isTrue();
        assertThat(guard.isConfirmed(14 * SECOND)).isFalse(); // the margin: one second early
        assertThat(guard.nanosLeft(13 * SECOND)).isEqualTo(SECOND);
    }

    @Test
    void survivesTheNanoTimeWrap() {
        SessionGuard guard = new SessionGuard(Duration.ofSeconds(10), Duration.ofSeconds(1));
        long sent = Long.MAX_VALUE - 2 * SECOND; // nanoTime may be anywhere, even about to overflow
        guard.confirmed(sent);
        assertThat(guard.isConfirmed(sent + 8 * SECOND)).isTrue(); // wrapped to a negative value
        assertThat(guard.isConfirmed(sent + 9 * SECOND)).isFalse();
    }

    @Test
    void invalidateStopsAtOnceAndTheNextConfirmationRestarts() {
        SessionGuard guard = new SessionGuard(Duration.ofSeconds(10), Duration.ofSeconds(1));
        guard.confirmed(0);
        guard.invalidate();
        assertThat(guard.isConfirmed(1)).isFalse();
        guard.confirmed(2 * SECOND);
        assertThat(guard.isConfirmed(3 * SECOND)).isTrue();
    }

    @Test
    void refusesAMarginOverHalfTheTimeout() {
        assertThatThrownBy(() -> new SessionGuard(Duration.ofSeconds(10), Duration.ofSeconds(6)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("safety margin");
        assertThatThrownBy(() -> new SessionGuard(Duration.ofSeconds(10), Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
