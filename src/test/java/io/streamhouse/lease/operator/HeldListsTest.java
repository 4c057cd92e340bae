package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Duration;
import io.streamhouse.lease.store.ChangeFeed;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** An agent's list is read once and kept current from the feed; each test makes one thing happen to it. */
class HeldListsTest {

    private static final AgentId A = AgentId.of("agent-a");

    private final AtomicBoolean connected = new AtomicBoolean(true);
    private final AtomicLong nanos = new AtomicLong(1_000);
    private final HeldLists lists = new HeldLists(connected::get, nanos::get);
    private final List<LeaseLists.Held> database = new ArrayList<>(List.of(new LeaseLists.Held(LeaseKey.of("orders", 0), 3)));
    private final AtomicInteger reads = new AtomicInteger();
    private final Supplier<List<LeaseLists.Held>> read = () -> {
        reads.incrementAndGet();
        return List.copyOf(database);
    };

    private static final AgentId B = AgentId.of("agent-b");
    private static final LeaseKey P0 = LeaseKey.of("orders", 0);
    private static final LeaseKey P1 = LeaseKey.of("orders", 1);

    /** orders/1 comes to A at epoch 8, as the database and then the feed say. */
    private ChangeFeed.LeaseChange moveIn() {
        database.add(new LeaseLists.Held(P1, 8));
        return new ChangeFeed.LeaseChange(P1, 8, A, B);
    }

    private Map<LeaseKey, Long> asMap(List<LeaseLists.Held> held) {
        Map<LeaseKey, Long> out = new HashMap<>();
        held.forEach(h -> out.put(h.key(), h.epoch()));
        return out;
    }

    @Test
    void theSameIncarnationWithNoChangeIsReadOnce() {
        lists.held(A, 1, read);
        assertThat(lists.held(A, 1, read)).isEqualTo(database);
        assertThat(reads).hasValue(1);
    }

    @Test
    void leasesThatComeAndGoAreTakenFromTheFeedWithoutReadingAgain() {
        lists.held(A, 1, read);
        lists.changed(moveIn());
        assertThat(asMap(lists.held(A, 1, read))).isEqualTo(Map.of(P0, 3L, P1, 8L));
        lists.changed(new ChangeFeed.LeaseChange(P0, 4, B, A)); // moved to B
        lists.changed(new ChangeFeed.LeaseChange(P1, 8, null, A)); // released: the epoch stays
        assertThat(lists.held(A, 1, read)).isEmpty();
        assertThat(reads).hasValue(1);
        assertThat(lists.applied()).isEqualTo(3);
    }

    @Test
    void aChangeNotifiedWhileTheReadRanIsNotServedFromThatRead() {
        Supplier<List<LeaseLists.Held>> overtaken = () -> {
            List<LeaseLists.Held> before = read.get();
            lists.changed(moveIn());
            return before;
        };
        assertThat(lists.held(A, 1, overtaken)).hasSize(1);
        assertThat(lists.held(A, 1, read)).hasSize(2);
        assertThat(reads).hasValue(2);
    }

    /**
     * Changes committed before the read but delivered after it: orders/0 went from A to B and came
     * back at epoch 5 before the read, which showed it at 5. Applied in their order, the first
     * takes it away for a moment and the second gives it back; an older epoch never overwrites.
     */
    @Test
    void staleChangesDeliveredAfterTheReadEndAsTheReadShowed() {
        database.set(0, new LeaseLists.Held(P0, 5));
        lists.held(A, 1, read);
        lists.changed(new ChangeFeed.LeaseChange(P0, 4, B, A));
        assertThat(asMap(lists.held(A, 1, read))).as("an older epoch does not take the lease away")
                .isEqualTo(Map.of(P0, 5L));
        lists.changed(new ChangeFeed.LeaseChange(P0, 3, A, null));
        assertThat(asMap(lists.held(A, 1, read))).as("nor gives an older one").isEqualTo(Map.of(P0, 5L));
        lists.changed(new ChangeFeed.LeaseChange(P0, 5, A, B));
        assertThat(asMap(lists.held(A, 1, read))).isEqualTo(Map.of(P0, 5L));

        // Not yet in the entry: a lease of A's older incarnation, reported late, is listed until
        // the current incarnation's registration (later in the same queue) drops the entry.
        lists.changed(new ChangeFeed.LeaseChange(LeaseKey.of("audit", 0), 2, A, null));
        assertThat(lists.held(A, 1, read)).hasSize(2);
        lists.forget(A);
        assertThat(asMap(lists.held(A, 1, read))).isEqualTo(Map.of(P0, 5L));
        assertThat(reads).hasValue(2);
    }

    @Test
    void aChangeForAnAgentWithNoEntryIsRead() {
        lists.changed(moveIn());
        assertThat(lists.held(A, 1, read)).hasSize(2);
        assertThat(reads).hasValue(1);
    }

    @Test
    void anotherIncarnationOrNoLiveSessionIsAlwaysRead() {
        lists.held(A, 1, read);
        lists.held(A, 2, read); // the agent came back: its old rows are not live
        lists.held(A, 0, read);
        lists.held(A, 0, read);
        assertThat(reads).hasValue(4);
    }

    @Test
    void nothingIsReusedWhileTheFeedIsAwayNorAfterItReconnects() {
        lists.held(A, 1, read);
        connected.set(false);
        moveIn(); // not notified
        assertThat(lists.held(A, 1, read)).hasSize(2);
        connected.set(true);
        lists.allStale();
        database.remove(0); // moved away while the feed was away, never notified
        assertThat(lists.held(A, 1, read)).hasSize(1);
        assertThat(reads).hasValue(3);
    }

    @Test
    void anEntryIsReadAgainOnceOld() {
        lists.held(A, 1, read);
        nanos.addAndGet(HeldLists.MAX_AGE.minus(Duration.ofMillis(1)).toNanos());
        lists.held(A, 1, read);
        assertThat(reads).hasValue(1);
        moveIn(); // behind the triggers' back, never notified
        nanos.addAndGet(Duration.ofMillis(1).toNanos());
        assertThat(lists.held(A, 1, read)).hasSize(2);
    }
}
