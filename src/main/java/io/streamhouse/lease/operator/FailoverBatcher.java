package io.streamhouse.lease.operator;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * One failover batch per dead incarnation at a time: the first reconcile of one of its leases
 * runs the batch (all of that incarnation's leases in one round trip); the others that arrive
 * meanwhile wait for it, then run their own (cheap) follow-up, which finds their row already moved.
 */
final class FailoverBatcher {

    private final Map<String, CompletableFuture<Void>> running = new ConcurrentHashMap<>();

    /**
     * Runs {@code lead} when no batch named {@code batch} is running; otherwise waits for that
     * batch to end and runs {@code follow}.
     */
    <T> T run(String batch, Supplier<T> lead, Supplier<T> follow) {
        CompletableFuture<Void> mine = new CompletableFuture<>();
        CompletableFuture<Void> other = running.putIfAbsent(batch, mine);
        if (other != null) {
            other.join();
            return follow.get();
        }
        try {
            return lead.get();
        } finally {
            running.remove(batch, mine);
            mine.complete(null);
        }
    }

    /** Batches running now (for tests and diagnostics). */
    int running() {
        return running.size();
    }
}
