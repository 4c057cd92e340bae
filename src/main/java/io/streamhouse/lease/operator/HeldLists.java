package io.streamhouse.lease.operator;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.ChangeFeed;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Each agent's live leases for its StreamAgent's list: read once, then kept current from the
 * change feed. A StreamAgent is looked at again just after each expected expiry of its session
 * (about five times a second at 100 agents) and after every change of holder to or from it; each
 * look read the agent's thousand rows, and after a crash the 99 new holders' reads (0.6-1.8 s of
 * database time at 100,000 x 100) ran on the same cores as their first writes.
 *
 * <p>Why the deltas keep an entry equal to the database: the feed delivers every change of
 * holder in commit order (PostgreSQL's one notification queue, both channels on one connection),
 * and each one says where the lease is now (holder and epoch), not what happened. An entry starts
 * from a read whose snapshot is S; notifications delivered while the read runs make it not kept
 * (whether the read saw them is unknown). Those delivered after the read are applied in order. A
 * change committed before S but delivered after the read is stale; every later change of the same
 * lease committed before S follows it in the queue, so once they are applied the lease is as S
 * showed it; changes after S make it current. A stale "came to this agent" for a lease its older
 * incarnation held is undone by the registration of the current one, which comes later in the
 * queue and drops the entry ({@link #forget}). Each lease's epoch only grows, so a delta older
 * than what the entry holds is ignored. Between two such deliveries a reconcile may publish the
 * stale state for a moment; the later delivery publishes again.
 *
 * <p>An entry serves only its incarnation, while the feed is connected and has not reconnected
 * since the read, and for at most {@link #MAX_AGE}: the periodic read is what converges when a
 * notification is lost without an error.
 */
final class HeldLists {

    /** The longest an entry is served after its read (the StreamAgents' periodic reconcile). */
    static final Duration MAX_AGE = Duration.ofMinutes(10);

    /** Guarded by the HeldLists' lock. */
    private record Entry(long session, long generation, long readAt, Map<LeaseKey, Long> epochs) {
    }

    private final BooleanSupplier feedConnected;
    private final LongSupplier nanos;
    private final Map<AgentId, Entry> entries = new HashMap<>(); // guarded by this
    private final Map<AgentId, Long> versions = new HashMap<>(); // guarded by this: notifications per agent
    private long generation; // guarded by this
    private long applied; // guarded by this: deltas applied to an entry (tests, logs)

    HeldLists(BooleanSupplier feedConnected, LongSupplier nanos) {
        this.feedConnected = feedConnected;
        this.nanos = nanos;
    }

    /**
     * The live leases of {@code agent}'s incarnation {@code liveSession} (0 when it has no live
     * session: nothing is served or kept then): the entry when it is current, else {@code read}.
     */
    List<LeaseLists.Held> held(AgentId agent, long liveSession, Supplier<List<LeaseLists.Held>> read) {
        boolean connected = feedConnected.getAsBoolean();
        long version;
        long gen;
        synchronized (this) {
            version = versions.getOrDefault(agent, 0L);
            gen = generation;
            Entry e = entries.get(agent);
            if (connected && liveSession > 0 && e != null && e.session() == liveSession && e.generation() == gen
                    && nanos.getAsLong() - e.readAt() < MAX_AGE.toNanos()) {
                List<LeaseLists.Held> out = new ArrayList<>(e.epochs().size());
                e.epochs().forEach((key, epoch) -> out.add(new LeaseLists.Held(key, epoch)));
                return out;
            }
        }
        long readAt = nanos.getAsLong();
        List<LeaseLists.Held> fresh = List.copyOf(read.get());
        synchronized (this) {
            if (connected && liveSession > 0 && versions.getOrDefault(agent, 0L) == version && generation == gen) {
                Map<LeaseKey, Long> epochs = new HashMap<>();
                fresh.forEach(h -> epochs.put(h.key(), h.epoch()));
                entries.put(agent, new Entry(liveSession, gen, readAt, epochs));
            } else {
                entries.remove(agent); // overtaken by a notification: whether the read saw it is unknown
            }
        }
        return fresh;
    }

    /** A change of holder from the feed: applied to the entries of both ends. */
    synchronized void changed(ChangeFeed.LeaseChange change) {
        LeaseKey key = change.key();
        if (change.previous() != null) {
            versions.merge(change.previous(), 1L, Long::sum);
            Entry from = entries.get(change.previous());
            Long had = from == null ? null : from.epochs().get(key);
            // A release keeps the epoch; a move raises it. An entry newer than the change keeps its lease.
            if (had != null && had <= change.epoch()) {
                from.epochs().remove(key);
                applied++;
            }
        }
        if (change.holder() != null) {
            versions.merge(change.holder(), 1L, Long::sum);
            Entry to = entries.get(change.holder());
            if (to != null) {
                Long had = to.epochs().get(key);
                if (had == null || had < change.epoch()) {
                    to.epochs().put(key, change.epoch());
                    applied++;
                }
            }
        }
    }

    /** The feed reconnected: what changed meanwhile was not reported. */
    synchronized void allStale() {
        generation++;
        entries.clear();
    }

    /**
     * The agent's session changed (a new incarnation, an end) or its StreamAgent is gone: read
     * again. Also what undoes a stale delta for an older incarnation (see the class comment).
     */
    synchronized void forget(AgentId agent) {
        versions.merge(agent, 1L, Long::sum);
        entries.remove(agent);
    }

    /** Deltas applied to entries since start. */
    synchronized long applied() {
        return applied;
    }
}
