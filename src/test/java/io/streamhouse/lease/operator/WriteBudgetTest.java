package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The write budget on a hand-driven clock: a burst, then turns in arrival order at the rate. */
class WriteBudgetTest {

    final AtomicLong now = new AtomicLong(5_000_000_000L);
    final WriteBudget<String> budget = new WriteBudget<>(10, 3, now::get); // 10/s: one per 100 ms, 3 at once

    @Test
    void aBurstGoesAtOnceThenEachWriterGetsItsOwnTurnInOrder() {
        assertThat(budget.turn("a")).isZero();
        assertThat(budget.turn("b")).isZero();
        assertThat(budget.turn("c")).isZero();
        assertThat(budget.turn("d")).isEqualTo(Duration.ofMillis(100));
        assertThat(budget.turn("e")).isEqualTo(Duration.ofMillis(200));
        assertThat(budget.waiting()).isEqualTo(2);

        assertThat(budget.turn("d")).as("asking again keeps the turn").isEqualTo(Duration.ofMillis(100));
        now.addAndGet(Duration.ofMillis(100).toNanos());
        assertThat(budget.turn("f")).as("a newcomer queues behind e").isEqualTo(Duration.ofMillis(200));
        assertThat(budget.turn("d")).as("d's turn has come").isZero();
        assertThat(budget.turn("e")).isEqualTo(Duration.ofMillis(100));
        now.addAndGet(Duration.ofMillis(100).toNanos());
        assertThat(budget.turn("e")).isZero();
    }

    /**
     * A turn reserved for another writer (a batch that moved many leases reserves each one's
     * status write) costs one slot, not two when that writer then asks for it.
     */
    @Test
    void aReservedTurnIsTakenOnceByItsWriter() {
        assertThat(budget.reserve("a")).isZero();
        assertThat(budget.reserve("b")).isZero();
        assertThat(budget.reserve("c")).isZero();
        assertThat(budget.reserve("d")).isEqualTo(Duration.ofMillis(100));
        assertThat(budget.reserve("d")).as("reserving again keeps the turn").isEqualTo(Duration.ofMillis(100));
        assertThat(budget.waiting()).isEqualTo(4);

        assertThat(budget.turn("a")).as("due now, and already paid for").isZero();
        assertThat(budget.turn("b")).isZero();
        assertThat(budget.turn("e")).as("a newcomer queues behind d").isEqualTo(Duration.ofMillis(200));
        now.addAndGet(Duration.ofMillis(100).toNanos());
        assertThat(budget.turn("d")).isZero();
        assertThat(budget.turn("c")).isZero();
        assertThat(budget.waiting()).isEqualTo(1);
    }

    /**
     * A StreamAgent's lease list cuts in: written at once, it pushes every turn not yet due one
     * interval later (turns already due keep their place), and a newcomer queues behind all of it.
     */
    @Test
    void aWriteThatCutsInPushesTheTurnsNotYetDueOneIntervalLater() {
        assertThat(budget.reserve("a")).isZero();
        budget.reserve("b");
        budget.reserve("c");
        assertThat(budget.reserve("d")).isEqualTo(Duration.ofMillis(100));
        assertThat(budget.reserve("e")).isEqualTo(Duration.ofMillis(200));

        budget.cutIn();
        budget.cutIn();
        assertThat(budget.dueIn("a")).as("due already: keeps its place").isZero();
        assertThat(budget.dueIn("d")).isEqualTo(Duration.ofMillis(300));
        assertThat(budget.dueIn("e")).isEqualTo(Duration.ofMillis(400));
        assertThat(budget.turn("f")).as("a newcomer behind both").isEqualTo(Duration.ofMillis(500));
        assertThat(budget.dueIn("nobody")).isZero();

        now.addAndGet(Duration.ofMillis(100).toNanos());
        assertThat(budget.turn("d")).as("its old moment is not its turn any more").isEqualTo(Duration.ofMillis(200));
        now.addAndGet(Duration.ofMillis(200).toNanos());
        assertThat(budget.turn("d")).isZero();
    }

    @Test
    void aTurnNoLongerNeededIsForgottenAndIdleTimeRefillsTheBurst() {
        budget.turn("a");
        budget.turn("b");
        budget.turn("c");
        assertThat(budget.turn("d")).isPositive();
        budget.forget("d");
        assertThat(budget.waiting()).isZero();
        now.addAndGet(Duration.ofSeconds(10).toNanos());
        assertThat(budget.turn("x")).isZero();
        assertThat(budget.turn("y")).isZero();
        assertThat(budget.turn("z")).isZero();
        assertThat(budget.turn("w")).isPositive();
    }

    @Test
    void theAverageRateHoldsOverALongBurst() {
        int writes = 0;
        long start = now.get();
        for (int i = 0; i < 1_000; i++) {
            Duration wait = budget.turn("lease-" + i);
            if (!wait.isZero()) {
                now.addAndGet(wait.toNanos()); // the writer comes back at its turn
                assertThat(budget.turn("lease-" + i)).isZero();
            }
            writes++;
        }
        double seconds = (now.get() - start) / 1e9;
        assertThat((writes - 3) / seconds).as("writes per second after the burst").isCloseTo(10, org.assertj.core.data.Offset.offset(0.1));
    }

    @Test
    void sampledWritesTakeRoomWhenThereIsSomeAndReserveNothing() {
        assertThat(budget.tryNow()).isTrue();
        assertThat(budget.tryNow()).isTrue();
        assertThat(budget.tryNow()).isTrue();
        assertThat(budget.tryNow()).as("the burst is spent").isFalse();
        assertThat(budget.waiting()).isZero();
        now.addAndGet(Duration.ofMillis(100).toNanos());
        assertThat(budget.tryNow()).isTrue();
        assertThat(budget.tryNow()).isFalse();
    }

    @Test
    void refusesABudgetThatAllowsNothing() {
        assertThatThrownBy(() -> new WriteBudget<String>(0, 1, now::get)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new WriteBudget<String>(1, 0, now::get)).isInstanceOf(IllegalArgumentException.class);
    }

    /**
     * A quiet window (a batch of moves leaves the API server to the StreamAgent lists first):
     * turns not yet due move past it, turns due keep their place, new turns start at its end one
     * interval apart (no burst), and a window asked for right after another is refused.
     */
    @Test
    void aQuietWindowMovesTurnsPastItWithoutABurstAtItsEnd() {
        assertThat(budget.reserve("a")).isZero();
        assertThat(budget.reserve("b")).isZero();
        assertThat(budget.reserve("c")).isZero();
        assertThat(budget.reserve("d")).isEqualTo(Duration.ofMillis(100));

        assertThat(budget.yieldFor(Duration.ofSeconds(1))).isTrue();

        assertThat(budget.dueIn("a")).as("due before the window: keeps its place").isZero();
        assertThat(budget.dueIn("d")).isEqualTo(Duration.ofMillis(1_100));
        assertThat(budget.reserve("e")).as("after d, past the window").isEqualTo(Duration.ofMillis(1_200));
        assertThat(budget.turn("f")).isEqualTo(Duration.ofMillis(1_300));
        assertThat(budget.yieldFor(Duration.ofSeconds(1))).as("inside the window").isFalse();

        now.addAndGet(Duration.ofMillis(1_500).toNanos()); // the window ended 500 ms ago
        assertThat(budget.yieldFor(Duration.ofSeconds(1))).as("within a window's length of the last").isFalse();
        now.addAndGet(Duration.ofMillis(600).toNanos());
        assertThat(budget.turn("g")).as("the budget had room again").isZero();
        assertThat(budget.yieldFor(Duration.ofSeconds(1))).isTrue();
        assertThat(budget.turn("h")).as("an idle budget resumes at the window's end").isEqualTo(Duration.ofSeconds(1));
        assertThat(budget.turn("i")).as("one interval later, not at once").isEqualTo(Duration.ofMillis(1_100));
    }

    @Test
    void noWindowForANonPositiveLength() {
        assertThat(budget.yieldFor(Duration.ZERO)).isFalse();
        assertThat(budget.turn("a")).isZero();
    }
}
