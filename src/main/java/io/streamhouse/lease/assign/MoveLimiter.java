package io.streamhouse.lease.assign;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * At most {@code limit} planned moves (rebalance, drain, cordon) in flight at once, so that a
 * join or a cordon of a big agent never moves thousands of partitions in one burst. A move is in
 * flight from its start until {@link #finish} (new holder in place, or no longer wanted); leases
 * refused a slot wait in arrival order and are handed back when one frees. Unplanned failover
 * (holder dead) never asks for a slot: it goes ahead of any rebalance.
 *
 * <p>Thread-safe; plain Java, the caller supplies the clock and what "waiter" means.
 *
 * @param <W> what identifies a waiting lease to the caller (a resource id)
 */
public final class MoveLimiter<W> {

    /**
     * A move in flight toward {@code target}: {@code startedNanos} on the caller's monotonic clock
     * (for deadlines), {@code startedAt} on the wall clock (for people).
     */
    public record Move(AgentId target, long startedNanos, Instant startedAt) {
    }

    private final int limit;
    private final Map<LeaseKey, Move> inFlight = new HashMap<>();
    private final Set<W> waiting = new LinkedHashSet<>();

    public MoveLimiter(int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("moves in flight must be >= 1, got " + limit);
        }
        this.limit = limit;
    }

    /**
     * The move of {@code key} toward {@code target}: the one in flight (restarted if it was toward
     * another agent, since the plan changed), a new one if a slot is free, or empty when the
     * limit is reached ({@code waiter} is then queued for {@link #finish}).
     */
    public synchronized Optional<Move> start(LeaseKey key, AgentId target, long nowNanos, Instant now, W waiter) {
        Move current = inFlight.get(key);
        if (current != null && current.target().equals(target)) {
            return Optional.of(current);
        }
        if (current == null && inFlight.size() >= limit) {
            waiting.add(waiter);
            return Optional.empty();
        }
        Move started = new Move(target, nowNanos, now);
        inFlight.put(key, started);
        waiting.remove(waiter);
        return Optional.of(started);
    }

    /** The move of {@code key} in flight, if any. */
    public synchronized Optional<Move> current(LeaseKey key) {
        return Optional.ofNullable(inFlight.get(key));
    }

    /**
     * Ends the move of {@code key} (done, or not wanted any more). Returns the waiters that may
     * now start, oldest first, at most one per free slot; empty when nothing was in flight.
     */
    public synchronized List<W> finish(LeaseKey key) {
        if (inFlight.remove(key) == null) {
            return List.of();
        }
        List<W> next = new ArrayList<>();
        Iterator<W> it = waiting.iterator();
        while (it.hasNext() && inFlight.size() + next.size() < limit) {
            next.add(it.next());
            it.remove();
        }
        return next;
    }

    /** Forgets a waiter (its lease was deleted or no longer needs to move). */
    public synchronized void cancel(W waiter) {
        waiting.remove(waiter);
    }

    public synchronized int inFlight() {
        return inFlight.size();
    }

    public synchronized int waiting() {
        return waiting.size();
    }

    public synchronized Set<LeaseKey> keysInFlight() {
        return Set.copyOf(inFlight.keySet());
    }

    public int limit() {
        return limit;
    }
}
