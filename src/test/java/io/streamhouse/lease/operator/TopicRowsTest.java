package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.Lease;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The cache of each StreamTopic's rows: served only while nothing says it may be out of date.
 * Each test produces the interleaving that would serve a stale row to code without the guard.
 */
class TopicRowsTest {

    private static final AgentId A = AgentId.of("agent-a");
    private static final AgentId B = AgentId.of("agent-b");
    private static final LeaseKey P0 = LeaseKey.of("orders", 0);
    private static final LeaseKey P1 = LeaseKey.of("orders", 1);

    private final AtomicBoolean connected = new AtomicBoolean(true);
    private final Set<String> over = new HashSet<>();
    private final AtomicLong nanos = new AtomicLong(1_000);
    private final TopicRows cache = new TopicRows(connected::get, (agent, session) -> over.contains(agent + "#" + session),
            nanos::get);

    /** The "database": its rows now, and how many times it was read. */
    private final List<Lease> database = new ArrayList<>(List.of(held(P0, A, 1, 3), held(P1, B, 1, 5)));
    private final AtomicInteger reads = new AtomicInteger();
    private final Supplier<List<Lease>> read = () -> {
        reads.incrementAndGet();
        return List.copyOf(database);
    };

    private static Lease held(LeaseKey key, AgentId holder, long session, long epoch) {
        return new Lease(key, holder, session, epoch, null, Instant.EPOCH, Instant.EPOCH, true);
    }

    private static Lease released(LeaseKey key, long epoch) {
        return new Lease(key, null, 0, epoch, null, Instant.EPOCH, Instant.EPOCH, false);
    }

    private Lease rowOf(List<Lease> rows, LeaseKey key) {
        return rows.stream().filter(r -> r.key().equals(key)).findFirst().orElseThrow();
    }

    @Test
    void anUnchangedTopicIsReadOnce() {
        assertThat(cache.rows("orders", read)).containsExactlyInAnyOrderElementsOf(database);
        assertThat(cache.rows("orders", read)).containsExactlyInAnyOrderElementsOf(database);
        assertThat(reads).hasValue(1);
    }

    @Test
    void aChangeMadeByAnotherIsReadAgain() {
        cache.rows("orders", read);
        database.set(0, released(P0, 3)); // agent-a released it (a handoff, say)
        cache.changed(P0, 3, null);
        assertThat(rowOf(cache.rows("orders", read), P0).holder()).isNull();
        assertThat(reads).hasValue(2);
    }

    @Test
    void ourOwnCommitIsKnownWhenItsNotificationArrives() {
        cache.rows("orders", read);
        Lease moved = held(P0, B, 1, 4);
        database.set(0, moved);
        cache.committed(moved); // the compare-and-swap's answer
        cache.changed(P0, 4, B); // its notification, later
        assertThat(rowOf(cache.rows("orders", read), P0)).isEqualTo(moved);
        assertThat(reads).hasValue(1);
    }

    @Test
    void aChangeNotifiedWhileTheReadRanIsNotServedFromThatRead() {
        // The read sees the database before agent-a's release; the notification arrives while it
        // is still running. Kept, that read would hide the release until the entry aged out.
        Supplier<List<Lease>> slowRead = () -> {
            List<Lease> before = read.get();
            database.set(0, released(P0, 3));
            cache.changed(P0, 3, null);
            return before;
        };
        assertThat(rowOf(cache.rows("orders", slowRead), P0).holder()).isEqualTo(A);
        assertThat(rowOf(cache.rows("orders", read), P0).holder()).isNull();
        assertThat(reads).hasValue(2);
    }

    @Test
    void nothingIsServedWhileTheFeedIsAwayAndItsReturnMakesEveryEntryStale() {
        cache.rows("orders", read);
        connected.set(false);
        database.set(0, released(P0, 3)); // not notified: the feed is away
        assertThat(rowOf(cache.rows("orders", read), P0).holder()).isNull();
        assertThat(reads).hasValue(2);

        // Read while away: not kept. Back, the feed says nothing of what it missed.
        connected.set(true);
        cache.allStale(); // resynced
        database.set(0, held(P0, B, 1, 4));
        assertThat(rowOf(cache.rows("orders", read), P0).holder()).isEqualTo(B);
        assertThat(reads).hasValue(3);
    }

    @Test
    void aReadRacingAReconnectionIsNotKept() {
        Supplier<List<Lease>> readAcrossReconnect = () -> {
            List<Lease> before = read.get();
            database.set(0, released(P0, 3)); // made while the feed was away, never notified
            cache.allStale(); // the feed came back
            return before;
        };
        cache.rows("orders", readAcrossReconnect);
        assertThat(rowOf(cache.rows("orders", read), P0).holder()).isNull();
    }

    @Test
    void anExpiredHolderIsServedNotLiveOnceItsEndIsKnown() {
        cache.rows("orders", read);
        over.add(A + "#1"); // its session expired: the database notifies no one of that
        Lease p0 = rowOf(cache.rows("orders", read), P0);
        assertThat(p0.holder()).isEqualTo(A);
        assertThat(p0.holderLive()).isFalse();
        assertThat(rowOf(cache.rows("orders", read), P1).holderLive()).isTrue();
        assertThat(reads).hasValue(1);
    }

    @Test
    void aSessionChangeMakesEveryTopicStale() {
        cache.rows("orders", read);
        cache.allStale(); // agent-a came back as a new incarnation: its old rows are not live
        database.set(0, new Lease(P0, A, 1, 3, null, Instant.EPOCH, Instant.EPOCH, false));
        assertThat(rowOf(cache.rows("orders", read), P0).holderLive()).isFalse();
        assertThat(reads).hasValue(2);
    }

    @Test
    void anEntryIsNotServedPastItsAgeAndSaysWhenItWillBeStale() {
        cache.rows("orders", read);
        nanos.addAndGet(TopicRows.MAX_AGE.minusSeconds(1).toNanos());
        assertThat(cache.untilStale("orders")).isEqualTo(Duration.ofSeconds(1));
        cache.rows("orders", read);
        assertThat(reads).hasValue(1);
        database.set(0, released(P0, 3)); // behind the triggers' back: only the age shows it
        nanos.addAndGet(Duration.ofSeconds(1).toNanos());
        assertThat(rowOf(cache.rows("orders", read), P0).holder()).isNull();
        assertThat(reads).hasValue(2);
    }

    @Test
    void anOlderAnswerDoesNotOverwriteANewerRowAndAnAmbiguousOneMakesTheEntryStale() {
        cache.rows("orders", read);
        cache.committed(held(P1, A, 1, 4)); // a lost compare-and-swap's older answer
        assertThat(rowOf(cache.rows("orders", read), P1)).isEqualTo(held(P1, B, 1, 5));
        assertThat(reads).hasValue(1);

        cache.committed(released(P1, 5)); // same epoch, another holder: which came last?
        cache.rows("orders", read);
        assertThat(reads).hasValue(2);
    }

    @Test
    void aCommitIntoAStaleEntryIsNotKept() {
        cache.rows("orders", read);
        cache.changed(P1, 6, A); // someone else's change, not read yet
        cache.committed(held(P0, B, 1, 4));
        database.set(0, held(P0, B, 1, 4));
        database.set(1, held(P1, A, 1, 6));
        assertThat(rowOf(cache.rows("orders", read), P1)).isEqualTo(held(P1, A, 1, 6));
        assertThat(reads).hasValue(2);
    }

    @Test
    void otherTopicsKeepTheirEntriesAndAForgottenTopicIsReadAgain() {
        List<Lease> payments = List.of(held(LeaseKey.of("payments", 0), A, 1, 1));
        AtomicInteger paymentReads = new AtomicInteger();
        Supplier<List<Lease>> readPayments = () -> {
            paymentReads.incrementAndGet();
            return payments;
        };
        cache.rows("orders", read);
        cache.rows("payments", readPayments);
        cache.changed(P0, 3, null);
        cache.rows("payments", readPayments);
        assertThat(paymentReads).hasValue(1);
        cache.forget("payments");
        cache.rows("payments", readPayments);
        assertThat(paymentReads).hasValue(2);
    }

    @Test
    void ourChangeNotifiedBeforeItsAnswerIsBackIsJudgedAgainstTheAnswer() {
        cache.rows("orders", read);
        Lease moved = held(P0, B, 1, 4);
        try (TopicRows.Commit commit = cache.begin(List.of("orders"))) {
            database.set(0, moved);
            cache.changed(P0, 4, B); // sent at the commit, read by the feed before the answer is parsed
            cache.rows("orders", read); // not served meanwhile
            cache.committed(moved);
        }
        assertThat(reads).hasValue(2);
        assertThat(rowOf(cache.rows("orders", read), P0)).isEqualTo(moved);
        assertThat(reads).hasValue(2);
    }

    @Test
    void someoneElsesChangeNotifiedDuringOurCommitIsNotLost() {
        cache.rows("orders", read);
        Lease ours = held(P0, B, 1, 4);
        try (TopicRows.Commit commit = cache.begin(List.of("orders"))) {
            database.set(0, ours);
            database.set(1, released(P1, 5)); // agent-b released partition 1 at the same moment
            cache.changed(P1, 5, null);
            cache.changed(P0, 4, B);
            cache.committed(ours);
        }
        assertThat(rowOf(cache.rows("orders", read), P1).holder()).isNull();
    }

    @Test
    void aCommitThatFailedLeavesItsNotifiedChangesToTheDatabase() {
        cache.rows("orders", read);
        try (TopicRows.Commit commit = cache.begin(List.of("orders"))) {
            database.set(0, held(P0, B, 1, 4)); // committed, but the answer was lost with the connection
            cache.changed(P0, 4, B);
        }
        assertThat(rowOf(cache.rows("orders", read), P0).holder()).isEqualTo(B);
    }
}
