package io.streamhouse.lease.agent;

import io.streamhouse.lease.model.LeaseKey;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * The leases this agent holds, as last confirmed, and the hot path that answers "may I write
 * this partition, with which epoch?" without a database round trip.
 *
 * <p>An entry counts only while the session it was acquired under is the current one and that
 * session is still confirmed on the monotonic clock: a stale cache can never outlive the session.
 * Writers are changed by one thread (the client's event thread); readers are any thread.
 */
final class HeldLeases {

    /** Lookup key: no validation, no LeaseKey allocation on the hot path. */
    private record Slot(String topic, int partition) {
        @Override
        public int hashCode() {
            return topic.hashCode() * 0x9E3779B1 + partition; // as LeaseKey: spreads partitions of similar topics
        }
    }

    /** One held lease: its epoch, and the session incarnation it was acquired under. */
    record Held(LeaseKey key, long epoch, long session) {
    }

    private final ConcurrentHashMap<Slot, Held> held = new ConcurrentHashMap<>();
    /** Grows with every change of the entries or the session: a look skipped only when none happened since it. */
    private final java.util.concurrent.atomic.AtomicLong changes = new java.util.concurrent.atomic.AtomicLong();
    private final LongSupplier nanos;
    private volatile SessionGuard guard;
    private volatile long session;

    HeldLeases(LongSupplier nanos) {
        this.nanos = Objects.requireNonNull(nanos, "nanos");
    }

    /** The session the entries must belong to, and the guard that says whether it is still alive. */
    void session(long sessionEpoch, SessionGuard sessionGuard) {
        this.guard = sessionGuard;
        this.session = sessionEpoch;
        changes.incrementAndGet();
    }

    /** How many changes the entries and the session have had (see {@link #changes}). */
    long changes() {
        return changes.get();
    }

    long session() {
        return session;
    }

    /** The epoch to write {@code topic}/{@code partition} with, or {@link LeaseClient#NO_EPOCH}. */
    long epoch(String topic, int partition) {
        Held h = held.get(new Slot(topic, partition));
        SessionGuard g = guard;
        return h != null && h.session() == session && g != null && g.isConfirmed(nanos.getAsLong())
                ? h.epoch() : LeaseClient.NO_EPOCH;
    }

    Held get(LeaseKey key) {
        return held.get(slot(key));
    }

    void put(Held h) {
        held.put(slot(h.key()), h);
        changes.incrementAndGet();
    }

    /** Removes exactly this entry; false when it was already gone or replaced. */
    boolean remove(Held h) {
        boolean removed = held.remove(slot(h.key()), h);
        if (removed) {
            changes.incrementAndGet();
        }
        return removed;
    }

    List<Held> all() {
        return List.copyOf(held.values());
    }

    int size() {
        return held.size();
    }

    private static Slot slot(LeaseKey key) {
        return new Slot(key.topic(), key.partition());
    }
}
