package io.streamhouse.lease.operator;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * A client-side budget for API writes of one kind: at most {@code perSecond} on average, and a
 * burst of {@code burst} at once, so that a burst of moves never starves the rest of the cluster
 * (the API server's Priority and Fairness shares its capacity between all clients).
 *
 * <p>A writer that finds no room is given a turn, a moment reserved for it alone, and is told
 * how long until then: it comes back at that moment and writes without asking again. So a
 * deferred write costs one more look, never a poll, and writers are served in the order they
 * arrived. The arithmetic is the generic cell rate algorithm (one "theoretical arrival time",
 * no timer); a turn is kept per key, which the rate limiters at hand do not offer.
 *
 * @param <K> what a turn is reserved for (a resource)
 */
final class WriteBudget<K> {

    private final long interval;
    private final long tolerance;
    private final LongSupplier nanos;
    private final Map<K, Long> turns = new HashMap<>();
    private long theoretical;
    /** When the last quiet window ended ({@link #yieldFor}); null before the first. */
    private Long quietEnd;

    /** @param nanos a monotonic clock in nanoseconds (tests drive it by hand) */
    WriteBudget(double perSecond, int burst, LongSupplier nanos) {
        if (!(perSecond > 0) || burst < 1) {
            throw new IllegalArgumentException("a write budget needs perSecond > 0 and burst >= 1, got "
                    + perSecond + " and " + burst);
        }
        this.interval = Math.max(1, (long) (1_000_000_000L / perSecond));
        this.tolerance = (burst - 1) * interval;
        this.nanos = nanos;
        this.theoretical = nanos.getAsLong();
    }

    /**
     * {@link Duration#ZERO} when {@code key} may write now (its turn has come, or there is room);
     * otherwise how long until its turn, which is kept for it.
     */
    synchronized Duration turn(K key) {
        long now = nanos.getAsLong();
        Long reserved = turns.get(key);
        if (reserved != null) {
            if (reserved - now <= 0) {
                turns.remove(key);
                return Duration.ZERO;
            }
            return Duration.ofNanos(reserved - now);
        }
        long at = Math.max(theoretical, now);
        long allowed = at - tolerance;
        theoretical = at + interval;
        if (allowed - now <= 0) {
            return Duration.ZERO;
        }
        turns.put(key, allowed);
        return Duration.ofNanos(allowed - now);
    }

    /**
     * Reserves a turn for {@code key} now, for a write someone else will make: how long until it
     * (zero when there is room now). Unlike {@link #turn}, a turn due at once is kept too, so the
     * writer's own {@link #turn} then finds it due and takes no second slot. A turn already
     * reserved is kept as it is.
     */
    synchronized Duration reserve(K key) {
        long now = nanos.getAsLong();
        Long reserved = turns.get(key);
        if (reserved == null) {
            long at = Math.max(theoretical, now);
            theoretical = at + interval;
            reserved = Math.max(at - tolerance, now);
            turns.put(key, reserved);
        }
        return Duration.ofNanos(Math.max(0, reserved - now));
    }

    /**
     * True when there is room now (taken); false otherwise, reserving nothing: for writes that are
     * sampled in a burst (dropped and counted) rather than deferred.
     */
    synchronized boolean tryNow() {
        long now = nanos.getAsLong();
        long at = Math.max(theoretical, now);
        if (at - tolerance - now > 0) {
            return false;
        }
        theoretical = at + interval;
        return true;
    }

    /**
     * A write that goes before every turn already reserved (a StreamAgent's lease list, which is
     * what agents' operators and tools read first): it takes the next slot now, never waiting, and
     * every turn not yet due moves one interval later, so the writes still go out at the budget's
     * pace overall. The writes that cut in are bounded by the number of agents (one per agent per
     * burst of moves), so the turns they push back are never starved.
     */
    synchronized void cutIn() {
        long now = nanos.getAsLong();
        theoretical = Math.max(theoretical, now) + interval;
        turns.replaceAll((key, at) -> at - now > 0 ? at + interval : at);
    }

    /**
     * Leaves the next {@code quiet} to writes of another kind (the StreamAgent lease lists a batch
     * of moves makes due, which people and tools read first): every turn not yet due moves
     * {@code quiet} later and no new turn comes before its end, in the same order and at the same
     * pace (no burst when it ends). Turns already due keep their place. Windows never follow each
     * other closely: one asked for within {@code quiet} of the last one's end is not granted, so
     * a storm of batches delays these writes at most half the time, never starves them.
     *
     * @return whether the window was granted
     */
    synchronized boolean yieldFor(Duration quiet) {
        long now = nanos.getAsLong();
        long length = quiet.toNanos();
        if (length <= 0 || quietEnd != null && now - quietEnd < length) {
            return false;
        }
        long end = now + length;
        turns.replaceAll((key, at) -> at - now > 0 ? at + length : at);
        // The backlog resumes where it was, shifted; an idle budget starts at the end, paced.
        theoretical = Math.max(Math.max(theoretical, now) + length, end + tolerance);
        quietEnd = end;
        return true;
    }

    /** How long until {@code key}'s reserved turn ({@link Duration#ZERO} when due, or none). */
    synchronized Duration dueIn(K key) {
        Long reserved = turns.get(key);
        return reserved == null ? Duration.ZERO : Duration.ofNanos(Math.max(0, reserved - nanos.getAsLong()));
    }

    /** {@code key} no longer needs its turn (nothing to write any more, or deleted). */
    synchronized void forget(K key) {
        turns.remove(key);
    }

    /** True when a turn is reserved for {@code key} (a reconcile of it is due then anyway). */
    synchronized boolean hasTurn(K key) {
        return turns.containsKey(key);
    }

    /** Turns reserved now (writes waiting), for the metrics. */
    synchronized int waiting() {
        return turns.size();
    }
}
