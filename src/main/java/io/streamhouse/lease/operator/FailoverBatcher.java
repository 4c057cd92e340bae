package io.streamhouse.lease.operator;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One failover batch per dead incarnation at a time: the first reconcile of one of its leases
 * runs the batch (all of that incarnation's leases in one round trip); the others that arrive
 * meanwhile wait for it, then run their own (cheap) follow-up, which finds their row already moved.
 */
final class FailoverBatcher {

    private final Map<String, CompletableFuture<Object>> running = new ConcurrentHashMap<>();

    /**
     * Runs {@code lead} when no batch named {@code batch} is running; otherwise waits for that
     * batch to end and runs {@code follow}.
     */
    <T> T run(String batch, Supplier<T> lead, Supplier<T> follow) {
        return share(batch, lead, leaderResult -> follow.get());
    }

    /**
     * As {@link #run}, and a follower is given what the batch it waited for returned (null when
     * that batch failed), so that it need not read again what the batch just wrote.
     */
    @SuppressWarnings("unchecked")
    <T> T share(String batch, Supplier<T> lead, Function<T, T> follow) {
        CompletableFuture<Object> mine = new CompletableFuture<>();
        CompletableFuture<Object> other = running.putIfAbsent(batch, mine);
        if (other != null) {
            return follow.apply((T) other.join());
        }
        Object result = null;
        try {
            T led = lead.get();
            result = led;
            return led;
        } finally {
            running.remove(batch, mine);
            mine.complete(result);
        }
    }

    /** Batches running now (for tests and diagnostics). */
    int running() {
        return running.size();
    }
}
