package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** An agent's list is reused only while nothing says it changed; each test makes one thing say so. */
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

    private void moveIn() {
        database.add(new LeaseLists.Held(LeaseKey.of("orders", 1), 8));
    }

    @Test
    void theSameIncarnationWithNoChangeIsReadOnce() {
        lists.held(A, 1, read);
        assertThat(lists.held(A, 1, read)).isEqualTo(database);
        assertThat(reads).hasValue(1);
    }

    @Test
    void aNotifiedChangeIsReadAgain() {
        lists.held(A, 1, read);
        moveIn();
        lists.changed(A);
        assertThat(lists.held(A, 1, read)).hasSize(2);
    }

    @Test
    void aChangeNotifiedWhileTheReadRanIsNotServedFromThatRead() {
        Supplier<List<LeaseLists.Held>> overtaken = () -> {
            List<LeaseLists.Held> before = read.get();
            moveIn();
            lists.changed(A);
            return before;
        };
        assertThat(lists.held(A, 1, overtaken)).hasSize(1);
        assertThat(lists.held(A, 1, read)).hasSize(2);
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
        moveIn(); // behind the triggers' back
        nanos.addAndGet(Duration.ofMillis(1).toNanos());
        assertThat(lists.held(A, 1, read)).hasSize(2);
    }
}
