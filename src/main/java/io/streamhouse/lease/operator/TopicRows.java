package io.streamhouse.lease.operator;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.Lease;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiPredicate;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The lease rows of each StreamTopic's partitions as last read from the database, kept current
 * by the change feed, so that a reconcile whose topic has not changed since does not read its
 * rows again. A crash of one agent at 100,000 partitions in topics of 1,000 made each of the
 * hundred topics read its thousand rows three times (the expiry, the dead agent's StreamAgent,
 * the status after the lease lists): three seconds of the database's time, on the same cores as
 * the agents' first writes after the failover.
 *
 * <p>An entry is served only while nothing says it may be out of date:
 * <ul>
 *   <li>every change of holder is notified (the lease history's trigger); one that the entry
 *       does not already show makes its topic's entry stale, and a read that began before that
 *       notification is not kept (its version is taken before the read);</li>
 *   <li>a session that starts, moves to a new incarnation or ends is notified too, and makes every
 *       entry stale (a row's holder liveness is judged on the session); an expiry, which the
 *       database notifies to no one, is overlaid from {@link EndedSessions}: a row whose holder
 *       incarnation is known over is served as not live;</li>
 *   <li>while the change feed is not connected nothing is served, and its reconnection (after
 *       which changes made meanwhile are unknown) makes every entry stale;</li>
 *   <li>an entry is never served past {@link #MAX_AGE}: notifications only speed reactions up
 *       (a change made behind the triggers' back, a connection that died without an error), the
 *       periodic read is what converges.</li>
 * </ul>
 * Our own compare-and-swaps update the entry with the rows they returned ({@link #committed}),
 * so their notifications find them known (those that arrive before the answers wait for them). Served rows are never a reason to
 * write: every change of holder is still a compare-and-swap that the database decides.
 */
final class TopicRows {

    /**
     * The longest an entry is served after its read: as long as a missed notification went
     * unseen before (the StreamTopic's periodic reconcile). Each topic is looked at again when
     * its entry reaches it ({@link #untilStale}), so a crash finds the entries current.
     */
    static final Duration MAX_AGE = Duration.ofMinutes(10);

    private static final class Entry {
        final long version;
        final long generation;
        final long readAt;
        final Map<LeaseKey, Lease> rows;

        Entry(long version, long generation, long readAt, Map<LeaseKey, Lease> rows) {
            this.version = version;
            this.generation = generation;
            this.readAt = readAt;
            this.rows = rows;
        }
    }

    private final BooleanSupplier feedConnected;
    private final BiPredicate<AgentId, Long> over;
    private final LongSupplier nanos;
    private final Map<String, Entry> entries = new HashMap<>(); // guarded by this
    /** Per topic: bumped by each change not known to its entry. */
    private final Map<String, Long> versions = new HashMap<>(); // guarded by this
    /** Bumped by each session change and feed reconnection: every entry is stale. */
    private long generation; // guarded by this
    /** Per topic: our compare-and-swaps running now, and the changes notified meanwhile (see {@link #begin}). */
    private final Map<String, Integer> committing = new HashMap<>(); // guarded by this
    private final Map<String, List<Lease>> notifiedWhileCommitting = new HashMap<>(); // guarded by this
    private long hits; // guarded by this
    private long reads; // guarded by this

    /**
     * @param feedConnected whether the change feed is listening now
     * @param over          whether an agent incarnation (agent, session epoch) is known to be over
     */
    TopicRows(BooleanSupplier feedConnected, BiPredicate<AgentId, Long> over, LongSupplier nanos) {
        this.feedConnected = feedConnected;
        this.over = over;
        this.nanos = nanos;
    }

    /**
     * The rows of {@code topic}: the entry when it is current, else {@code read} (the database),
     * kept when nothing changed while it ran.
     */
    List<Lease> rows(String topic, Supplier<List<Lease>> read) {
        long version;
        long gen;
        boolean connected = feedConnected.getAsBoolean();
        synchronized (this) {
            version = versions.getOrDefault(topic, 0L);
            gen = generation;
            Entry e = entries.get(topic);
            if (connected && e != null && e.version == version && e.generation == gen
                    && nanos.getAsLong() - e.readAt < MAX_AGE.toNanos() && !notifiedWhileCommitting.containsKey(topic)) {
                hits++;
                return overlaid(e.rows.values());
            }
        }
        long readAt = nanos.getAsLong();
        List<Lease> fresh = read.get();
        synchronized (this) {
            reads++;
            if (connected && versions.getOrDefault(topic, 0L) == version && generation == gen) {
                Map<LeaseKey, Lease> rows = new HashMap<>();
                fresh.forEach(r -> rows.put(r.key(), r));
                entries.put(topic, new Entry(version, gen, readAt, rows));
            } else {
                entries.remove(topic); // changed while read: the next reconcile reads again
            }
        }
        return overlaid(fresh);
    }

    private List<Lease> overlaid(java.util.Collection<Lease> rows) {
        List<Lease> out = new ArrayList<>(rows.size());
        for (Lease r : rows) {
            out.add(r.holderLive() && over.test(r.holder(), r.holderSession())
                    ? new Lease(r.key(), r.holder(), r.holderSession(), r.epoch(), r.previousHolder(), r.acquiredAt(),
                            r.updatedAt(), false)
                    : r);
        }
        return out;
    }

    /**
     * A row as one of our compare-and-swaps left it (won or lost, the database's answer at its
     * commit): put in a current entry, so that its notification finds it known. A row the entry
     * shows at a later epoch is left alone; one at the same epoch with another holder makes the
     * entry stale (which came last cannot be told).
     */
    synchronized void committed(Lease row) {
        String topic = row.key().topic();
        Entry e = entries.get(topic);
        if (e == null || e.version != versions.getOrDefault(topic, 0L) || e.generation != generation) {
            return;
        }
        Lease known = e.rows.get(row.key());
        if (known == null || row.epoch() > known.epoch()) {
            e.rows.put(row.key(), row);
        } else if (row.epoch() == known.epoch() && !Objects.equals(row.holder(), known.holder())) {
            stale(topic);
        }
    }

    /**
     * The change feed reported a change of holder: the topic's entry is stale unless it shows it.
     * While one of our compare-and-swaps on the topic runs, the feed may report its changes
     * before it returns them (the notification is sent at the commit, the answer parsed after):
     * such a change is judged when the compare-and-swap ends, against the rows it returned, and
     * the entry is not served meanwhile.
     */
    synchronized void changed(LeaseKey key, long epoch, AgentId holder) {
        if (shows(key, epoch, holder)) {
            return;
        }
        if (committing.containsKey(key.topic()) && entries.containsKey(key.topic())) {
            notifiedWhileCommitting.computeIfAbsent(key.topic(), t -> new ArrayList<>())
                    .add(new Lease(key, holder, 0, epoch, null, null, null, false));
            return;
        }
        stale(key.topic());
    }

    private boolean shows(LeaseKey key, long epoch, AgentId holder) {
        Entry e = entries.get(key.topic());
        Lease known = e == null ? null : e.rows.get(key);
        return known != null && known.epoch() == epoch && Objects.equals(known.holder(), holder);
    }

    /**
     * Our compare-and-swaps on {@code topics} begin; {@link Commit#end} (in a finally) after their
     * answers went through {@link #committed}.
     */
    synchronized Commit begin(java.util.Collection<String> topics) {
        List<String> mine = List.copyOf(new java.util.HashSet<>(topics));
        mine.forEach(t -> committing.merge(t, 1, Integer::sum));
        return () -> end(mine);
    }

    /** The end of {@link #begin}'s compare-and-swaps. */
    interface Commit extends AutoCloseable {
        @Override
        void close();
    }

    private synchronized void end(List<String> topics) {
        for (String topic : topics) {
            if (committing.merge(topic, -1, Integer::sum) > 0) {
                continue;
            }
            committing.remove(topic);
            List<Lease> notified = notifiedWhileCommitting.remove(topic);
            if (notified != null && !notified.stream().allMatch(n -> shows(n.key(), n.epoch(), n.holder()))) {
                stale(topic); // a change that was not ours, or that our answers did not show
            }
        }
    }

    private void stale(String topic) {
        versions.merge(topic, 1L, Long::sum);
        entries.remove(topic);
        notifiedWhileCommitting.remove(topic);
    }

    /** A session started, changed incarnation or ended, or the feed reconnected: every entry is stale. */
    synchronized void allStale() {
        generation++;
        entries.clear();
        notifiedWhileCommitting.clear();
    }

    /** How long until the topic's entry is no longer served by age; null when there is none. */
    synchronized Duration untilStale(String topic) {
        Entry e = entries.get(topic);
        return e == null ? null : Duration.ofNanos(Math.max(0, MAX_AGE.toNanos() - (nanos.getAsLong() - e.readAt)));
    }

    /** The topic is gone: its entry too. */
    synchronized void forget(String topic) {
        stale(topic);
    }

    /** Reads served from entries and reads of the database, since the start (for tests and logs). */
    synchronized long[] counts() {
        return new long[] {hits, reads};
    }
}
