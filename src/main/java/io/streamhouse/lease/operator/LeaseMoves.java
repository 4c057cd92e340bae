package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.assign.MoveLimiter;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * Planned moves away from a live holder: a move needs one of a limited number of slots, and is a
 * handoff (the holder is asked to release) when the holder can release by itself, forced once
 * the handoff timeout has passed. The clock is passed in, so the timeout rule is tested without
 * waiting.
 */
final class LeaseMoves {

    /** A lease waiting for a move slot is nudged when one frees; this is only the fallback. */
    static final Duration WAIT_FOR_SLOT = Duration.ofSeconds(5);

    /** What to do about a planned move. */
    sealed interface Decision {
        /** No slot free: look again when one frees (or after {@code recheck}). */
        record WaitForSlot(Duration recheck) implements Decision {
        }

        /** Ask the holder to release to {@code move.target()}; force the move after {@code recheck}. */
        record AskHolder(MoveLimiter.Move move, Duration recheck) implements Decision {
        }

        /** Take the lease over now; {@code forced} when the holder was asked and did not release in time. */
        record TakeOver(boolean forced) implements Decision {
        }
    }

    private final MoveLimiter<ResourceID> slots;
    private final Duration handoffTimeout;
    private final LongSupplier nanos;

    LeaseMoves(int maxInFlight, Duration handoffTimeout, LongSupplier nanos) {
        this.slots = new MoveLimiter<>(maxInFlight);
        this.handoffTimeout = handoffTimeout;
        this.nanos = nanos;
    }

    /** The move of {@code key} to {@code target}, whose holder is {@code holder} (null when not a known agent). */
    Decision decide(LeaseKey key, AgentId target, AgentView holder, Instant now, ResourceID lease) {
        Optional<MoveLimiter.Move> started = slots.start(key, target, nanos.getAsLong(), now, lease);
        if (started.isEmpty()) {
            return new Decision.WaitForSlot(WAIT_FOR_SLOT);
        }
        MoveLimiter.Move move = started.get();
        Duration asked = Duration.ofNanos(nanos.getAsLong() - move.startedNanos());
        boolean releases = holder != null && holder.releasesOnRequest();
        if (releases && asked.compareTo(handoffTimeout) < 0) {
            return new Decision.AskHolder(move, handoffTimeout.minus(asked));
        }
        return new Decision.TakeOver(releases);
    }

    Duration handoffTimeout() {
        return handoffTimeout;
    }

    /** True while a move of {@code key} is in flight (its acquisition is then a Handoff). */
    boolean inFlight(LeaseKey key) {
        return slots.current(key).isPresent();
    }

    /** The agent a move of {@code key} in flight goes to. */
    Optional<AgentId> target(LeaseKey key) {
        return slots.current(key).map(MoveLimiter.Move::target);
    }

    /** Ends the move of {@code key}, if any; returns the leases that waited for a slot, to be nudged. */
    List<ResourceID> finish(LeaseKey key) {
        return slots.finish(key);
    }

    /** The lease is gone: it no longer waits for a slot. */
    void cancel(ResourceID lease) {
        slots.cancel(lease);
    }

    Set<LeaseKey> keysInFlight() {
        return slots.keysInFlight();
    }
}
