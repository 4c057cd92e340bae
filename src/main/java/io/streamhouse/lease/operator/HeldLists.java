package io.streamhouse.lease.operator;

import io.streamhouse.lease.model.AgentId;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Each agent's live leases as last read for its StreamAgent's list, reused by a reconcile when
 * nothing says they changed: a StreamAgent is looked at again just after each expected expiry of
 * its session (an agent renews it every third of its timeout), about five times a second at 100
 * agents, and each look read the agent's thousand rows though no lease had moved, on the same
 * cores as a failover's first writes.
 *
 * <p>An entry is reused only for the same live incarnation, while the change feed is connected
 * and has not reconnected since the read, when no change of holder to or from the agent was
 * notified since the read began (a read that a notification overtook is not kept), and for at
 * most {@link #MAX_AGE}: the periodic read is what converges when a notification is lost
 * without an error.
 */
final class HeldLists {

    /** The longest an entry is reused after its read (the StreamAgents' periodic reconcile). */
    static final Duration MAX_AGE = Duration.ofMinutes(10);

    private record Entry(long session, long version, long generation, long readAt, List<LeaseLists.Held> held) {
    }

    private final BooleanSupplier feedConnected;
    private final LongSupplier nanos;
    private final Map<AgentId, Entry> entries = new HashMap<>(); // guarded by this
    private final Map<AgentId, Long> versions = new HashMap<>(); // guarded by this
    private long generation; // guarded by this

    HeldLists(BooleanSupplier feedConnected, LongSupplier nanos) {
        this.feedConnected = feedConnected;
        this.nanos = nanos;
    }

    /**
     * The live leases of {@code agent}'s incarnation {@code liveSession} (0 when it has no live
     * session: nothing is reused or kept then): the entry when it is current, else {@code read}.
     */
    List<LeaseLists.Held> held(AgentId agent, long liveSession, Supplier<List<LeaseLists.Held>> read) {
        boolean connected = feedConnected.getAsBoolean();
        long version;
        long gen;
        synchronized (this) {
            version = versions.getOrDefault(agent, 0L);
            gen = generation;
            Entry e = entries.get(agent);
            if (connected && liveSession > 0 && e != null && e.session() == liveSession && e.version() == version
                    && e.generation() == gen && nanos.getAsLong() - e.readAt() < MAX_AGE.toNanos()) {
                return e.held();
            }
        }
        long readAt = nanos.getAsLong();
        List<LeaseLists.Held> fresh = List.copyOf(read.get());
        synchronized (this) {
            if (connected && liveSession > 0 && versions.getOrDefault(agent, 0L) == version && generation == gen) {
                entries.put(agent, new Entry(liveSession, version, gen, readAt, fresh));
            } else {
                entries.remove(agent);
            }
        }
        return fresh;
    }

    /** A change of holder to or from {@code agent} was notified. */
    synchronized void changed(AgentId agent) {
        versions.merge(agent, 1L, Long::sum);
        entries.remove(agent);
    }

    /** The feed reconnected: what changed meanwhile was not reported. */
    synchronized void allStale() {
        generation++;
        entries.clear();
    }

    /** The agent's StreamAgent is gone. */
    synchronized void forget(AgentId agent) {
        changed(agent);
    }
}
