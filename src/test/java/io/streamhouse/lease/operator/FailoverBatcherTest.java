package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** One batch per dead incarnation: the first caller leads, the others wait for it and follow. */
class FailoverBatcherTest {

    final FailoverBatcher batches = new FailoverBatcher();

    @Test
    void aCallerWhileABatchRunsWaitsForItThenFollows() throws Exception {
        CountDownLatch inBatch = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<String> leader = CompletableFuture.supplyAsync(() -> batches.run("a#1", () -> {
            inBatch.countDown();
            awaitLatch(release);
            return "led";
        }, () -> "followed"));
        assertThat(inBatch.await(10, TimeUnit.SECONDS)).isTrue();
        CompletableFuture<String> follower = CompletableFuture.supplyAsync(() -> batches.run("a#1", () -> "led too",
                () -> "followed"));
        // The follower is parked on the running batch, not leading a second one.
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(2)).until(() -> !follower.isDone());
        release.countDown();
        assertThat(leader.get(10, TimeUnit.SECONDS)).isEqualTo("led");
        assertThat(follower.get(10, TimeUnit.SECONDS)).isEqualTo("followed");
        assertThat(batches.running()).isZero();
    }

    @Test
    void batchesOfDifferentIncarnationsDoNotWaitForEachOther() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> batches.run("a#1", () -> {
            awaitLatch(release);
            return "a";
        }, () -> "no"));
        await().atMost(Duration.ofSeconds(10)).until(() -> batches.running() == 1);
        assertThat(batches.run("b#1", () -> "b", () -> "no")).isEqualTo("b");
        release.countDown();
        assertThat(first.get(10, TimeUnit.SECONDS)).isEqualTo("a");
    }

    @Test
    void aFailedBatchLetsTheNextCallerLead() {
        try {
            batches.run("a#1", () -> {
                throw new IllegalStateException("database away");
            }, () -> "no");
        } catch (IllegalStateException expected) {
            // the batch failed; its map entry must be gone
        }
        assertThat(batches.run("a#1", () -> "led", () -> "followed")).isEqualTo("led");
    }

    static void awaitLatch(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
