package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The move-slot and handoff rules on a hand clock. */
class LeaseMovesTest {

    final AtomicLong nanos = new AtomicLong(1_000);
    final LeaseMoves moves = new LeaseMoves(1, Duration.ofSeconds(2), nanos::get);
    final Instant now = Instant.parse("2026-12-02T00:00:00Z");
    final LeaseKey k0 = LeaseKey.of("t", 0);
    final LeaseKey k1 = LeaseKey.of("t", 1);
    final AgentId b = AgentId.of("b");

    static AgentView holder(boolean runsTheLibrary) {
        return new AgentView(AgentId.of("a"), 1, "", 1, null, runsTheLibrary, true, true);
    }

    @Test
    void aHolderRunningTheLibraryIsAskedThenForcedAfterTheTimeout() {
        var asked = moves.decide(k0, b, holder(true), now, new ResourceID("l0", "ns"));
        assertThat(asked).isInstanceOfSatisfying(LeaseMoves.Decision.AskHolder.class, a -> {
            assertThat(a.move().target()).isEqualTo(b);
            assertThat(a.recheck()).isEqualTo(Duration.ofSeconds(2));
        });
        nanos.addAndGet(Duration.ofMillis(1500).toNanos());
        assertThat(moves.decide(k0, b, holder(true), now, new ResourceID("l0", "ns")))
                .isEqualTo(new LeaseMoves.Decision.AskHolder(((LeaseMoves.Decision.AskHolder) asked).move(),
                        Duration.ofMillis(500)));
        nanos.addAndGet(Duration.ofMillis(500).toNanos());
        assertThat(moves.decide(k0, b, holder(true), now, new ResourceID("l0", "ns")))
                .isEqualTo(new LeaseMoves.Decision.TakeOver(true));
        assertThat(moves.inFlight(k0)).isTrue();
    }

    @Test
    void aHolderThatCannotReleaseIsMovedAtOnce() {
        assertThat(moves.decide(k0, b, holder(false), now, new ResourceID("l0", "ns")))
                .isEqualTo(new LeaseMoves.Decision.TakeOver(false));
        assertThat(moves.decide(k1, b, null, now, new ResourceID("l1", "ns")))
                .isInstanceOf(LeaseMoves.Decision.WaitForSlot.class); // the one slot is taken by k0
    }

    @Test
    void aMoveWaitsForASlotAndIsNudgedWhenOneFrees() {
        moves.decide(k0, b, holder(true), now, new ResourceID("l0", "ns"));
        ResourceID waiting = new ResourceID("l1", "ns");
        assertThat(moves.decide(k1, b, holder(true), now, waiting))
                .isEqualTo(new LeaseMoves.Decision.WaitForSlot(LeaseMoves.WAIT_FOR_SLOT));
        assertThat(moves.finish(k0)).containsExactly(waiting);
        assertThat(moves.decide(k1, b, holder(true), now, waiting)).isInstanceOf(LeaseMoves.Decision.AskHolder.class);
        assertThat(moves.keysInFlight()).containsExactly(k1);
    }
}
