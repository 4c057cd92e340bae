package io.streamhouse.lease.operator;

import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.model.AgentId;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Agent incarnations the database has said are over, learned from the change feed moments after
 * the session ended, while their StreamAgents may still show them Ready: the StreamAgent follows
 * at the API server's pace, one write later. A graceful stop ends the session and releases every
 * lease in one transaction; planned with the StreamAgent alone, the released leases would be
 * sent straight back to the agent that just left (compare-and-swaps that must fail, then a
 * retry), which is most of a failover's time. An incarnation, once over, never comes back (a
 * returning agent gets a new session epoch), so an entry is never wrong, only unneeded once the
 * StreamAgent has caught up; entries are forgotten after {@link #KEEP}.
 *
 * <p>Two sources: the change feed (an agent ended its session, or the operator ended it when the
 * pod went), and the StreamAgent reconciler, which looks just after each session's expiry (an
 * expiry writes nothing, so the database says nothing of it). Either way the dead holder's leases
 * fail over from here, without waiting for its StreamAgent's status to go through the API server.
 */
@Singleton
final class EndedSessions {

    /** Far longer than a StreamAgent takes to show a session's end. */
    static final Duration KEEP = Duration.ofMinutes(10);

    private record Ended(long sessionEpoch, long atNanos) {
    }

    private final Map<AgentId, Ended> ended = new ConcurrentHashMap<>();
    private final List<Consumer<AgentId>> expiryListeners = new CopyOnWriteArrayList<>();
    private final LongSupplier nanos;

    EndedSessions() {
        this(System::nanoTime);
    }

    EndedSessions(LongSupplier nanos) {
        this.nanos = nanos;
    }

    /**
     * The database said {@code agent}'s session {@code sessionEpoch} is over: true when that is
     * news (not known already, nor a newer end).
     */
    boolean ended(AgentId agent, long sessionEpoch) {
        long now = nanos.getAsLong();
        ended.values().removeIf(e -> now - e.atNanos() > KEEP.toNanos());
        boolean[] news = {false};
        ended.compute(agent, (id, old) -> {
            if (old != null && old.sessionEpoch() >= sessionEpoch) {
                return old;
            }
            news[0] = true;
            return new Ended(sessionEpoch, now);
        });
        return news[0];
    }

    /**
     * A session found expired (read after its expiry): recorded as {@link #ended}, and when
     * that is news, the listeners are told, so that its leases fail over now.
     */
    void expired(AgentId agent, long sessionEpoch) {
        if (ended(agent, sessionEpoch)) {
            expiryListeners.forEach(l -> l.accept(agent));
        }
    }

    /** Told of each session found expired before anything else said it was over. */
    void onExpiry(Consumer<AgentId> listener) {
        expiryListeners.add(listener);
    }

    /** True when the database has said this incarnation is over. */
    boolean over(AgentId agent, long sessionEpoch) {
        Ended e = ended.get(agent);
        return e != null && sessionEpoch <= e.sessionEpoch();
    }

    /** {@code views} with every incarnation known to be over taking and keeping no leases. */
    List<AgentView> apply(List<AgentView> views) {
        if (ended.isEmpty()) {
            return views;
        }
        return views.stream().map(v -> v.acceptsLeases() || v.keepsLeases() ? withoutLeases(v) : v).toList();
    }

    private AgentView withoutLeases(AgentView v) {
        if (!over(v.id(), v.sessionEpoch())) {
            return v;
        }
        return new AgentView(v.id(), v.sessionEpoch(), v.zone(), v.weight(), v.capacity(), v.releasesOnRequest(),
                false, false);
    }

    /** Entries held now (for tests). */
    int size() {
        return ended.size();
    }
}
