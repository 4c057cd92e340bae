package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Keeps many sessions alive with one statement per round ({@link LeaseStore#renewAll}), on its
 * own thread, every third of the shortest session timeout it keeps. Liveness must never wait
 * behind lease traffic: give it a store on its own connection pool.
 *
 * <p>A session whose renewal does not take (expired, ended, superseded) is dropped and reported
 * to {@code lost}; whoever registered it decides what to do next.
 */
public final class SessionRenewer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(SessionRenewer.class.getName());

    private record Kept(long sessionEpoch, Duration ttl) {
    }

    private final LeaseStore store;
    private final Consumer<AgentId> lost;
    private final Duration idleTick;
    private final Map<AgentId, Kept> kept = new ConcurrentHashMap<>();
    private ScheduledFuture<?> next;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "session-renewer");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param idleTick how often to look when nothing is kept yet (a third of the default timeout)
     */
    public SessionRenewer(LeaseStore store, Duration idleTick, Consumer<AgentId> lost) {
        this.store = Objects.requireNonNull(store, "store");
        this.lost = Objects.requireNonNull(lost, "lost");
        this.idleTick = Objects.requireNonNull(idleTick, "idleTick");
        schedule(Duration.ZERO);
    }

    /** Keeps this incarnation alive from now on (replacing any other incarnation of the agent). */
    public void keep(AgentId agent, long sessionEpoch, Duration ttl) {
        kept.put(agent, new Kept(sessionEpoch, ttl));
        synchronized (this) {
            // A shorter timeout than the others may need the next round sooner than planned.
            if (next != null && next.getDelay(TimeUnit.MILLISECONDS) > ttl.dividedBy(3).toMillis()) {
                schedule(ttl.dividedBy(3));
            }
        }
    }

    /** Stops renewing the agent's session; it expires after its timeout unless ended before. */
    public void drop(AgentId agent) {
        kept.remove(agent);
    }

    public boolean keeps(AgentId agent, long sessionEpoch) {
        Kept k = kept.get(agent);
        return k != null && k.sessionEpoch() == sessionEpoch;
    }

    private void round() {
        try {
            Map<AgentId, Kept> now = Map.copyOf(kept);
            if (!now.isEmpty()) {
                List<LeaseStore.SessionRef> refs = now.entrySet().stream()
                        .map(e -> new LeaseStore.SessionRef(e.getKey(), e.getValue().sessionEpoch())).toList();
                var renewed = store.renewAll(refs);
                now.forEach((agent, k) -> {
                    if (!renewed.contains(agent) && kept.remove(agent, k)) {
                        LOG.log(System.Logger.Level.WARNING, "session " + k.sessionEpoch() + " of " + agent
                                + " could not be renewed (expired, ended or superseded)");
                        lost.accept(agent);
                    }
                });
            }
        } catch (RuntimeException e) {
            // Store down: try again next round; the sessions expire only if it stays down past their timeout.
            LOG.log(System.Logger.Level.WARNING, "session renewal round failed: " + e.getMessage());
        } finally {
            schedule(nextTick());
        }
    }

    /** Replaces the pending round by one after {@code delay}. */
    private synchronized void schedule(Duration delay) {
        if (timer.isShutdown()) {
            return;
        }
        if (next != null) {
            next.cancel(false);
        }
        next = timer.schedule(this::round, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private Duration nextTick() {
        return kept.values().stream().map(Kept::ttl).min(Duration::compareTo).map(t -> t.dividedBy(3)).orElse(idleTick);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
