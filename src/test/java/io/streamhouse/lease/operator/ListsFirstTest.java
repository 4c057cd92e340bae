package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ListsFirstTest {

    final AtomicLong now = new AtomicLong(1_000_000_000L);
    final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    final ListsFirst lists = new ListsFirst(now::get, timer);
    final AtomicInteger woken = new AtomicInteger();

    @AfterEach
    void stop() {
        timer.shutdownNow();
    }

    @Test
    void aTopicStatusWaitsWhileListsAreDueAndIsWokenWhenTheLastIsOut() {
        assertThat(lists.defer("topic", woken::incrementAndGet)).as("no list due: write now").isFalse();

        lists.due("agent-1");
        lists.due("agent-2");
        assertThat(lists.defer("topic", woken::incrementAndGet)).isTrue();
        lists.out("agent-1");
        assertThat(woken).hasValue(0);
        lists.out("agent-2");
        assertThat(woken).as("woken once the last list is out").hasValue(1);

        assertThat(lists.defer("topic", woken::incrementAndGet)).as("then it writes").isFalse();
    }

    @Test
    void nothingWaitsLongerThanMaxWait() {
        lists.due("agent-1");
        assertThat(lists.defer("topic", woken::incrementAndGet)).isTrue();

        now.addAndGet(ListsFirst.MAX_WAIT.toNanos() - 1);
        lists.due("agent-2"); // lists keep coming
        assertThat(lists.defer("topic", woken::incrementAndGet)).as("still within its wait").isTrue();
        now.addAndGet(1);
        assertThat(lists.defer("topic", woken::incrementAndGet)).as("waited MAX_WAIT: writes").isFalse();
    }

    @Test
    void aListNeverWrittenIsForgottenAfterMaxWait() {
        lists.due("agent-without-a-streamagent");
        assertThat(lists.pending()).isEqualTo(1);
        now.addAndGet(ListsFirst.MAX_WAIT.toNanos());
        assertThat(lists.pending()).isZero();
        assertThat(lists.defer("topic", woken::incrementAndGet)).isFalse();
    }

    @Test
    void anAgentDueAgainKeepsItsFirstTime() {
        lists.due("agent-1");
        now.addAndGet(ListsFirst.MAX_WAIT.toNanos() / 2);
        lists.due("agent-1");
        now.addAndGet(ListsFirst.MAX_WAIT.toNanos() / 2);
        assertThat(lists.pending()).as("due since the first change, not the last").isZero();
    }
}
