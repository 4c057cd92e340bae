package io.streamhouse.lease.operator;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * After a batch of moves, the new holders' StreamAgent lease lists go to the API server before the
 * StreamTopic statuses that summarise the same moves. The lists are what says, per partition, who
 * may write (people and tools read them first); a StreamTopic's counts can follow. At 100,000
 * partitions x 100 agents a crash makes 99 lists and 100 topic statuses due in the same moment,
 * and this API server takes about 45 such writes a second: sent together, the last list went out
 * after 7-8 s; lists first, they are out after the 99 alone.
 *
 * <p>An agent's list is due from the lease change that concerns it until its StreamAgent status
 * is written ({@link #due}, {@link #out}). A StreamTopic reconcile that would write a changed
 * status while lists are due leaves it for later ({@link #defer}) and is woken when the last one
 * is out. Nothing waits for long: an entry is forgotten {@link #MAX_WAIT} after it was made due (a
 * StreamAgent that never publishes, say) and a topic status is written at the latest
 * {@code MAX_WAIT} after it was first deferred, however busy the lists are.
 */
final class ListsFirst {

    static final Duration MAX_WAIT = Duration.ofSeconds(5);

    private final LongSupplier nanos;
    private final ScheduledExecutorService timer;
    /** Agent ids whose lists are due, and since when. */
    private final Map<Object, Long> due = new ConcurrentHashMap<>();
    /** Topics whose status waits, and since when it first did. */
    private final Map<Object, Long> deferred = new ConcurrentHashMap<>();
    private final List<Runnable> wakes = new ArrayList<>(); // guarded by this

    ListsFirst(LongSupplier nanos, ScheduledExecutorService timer) {
        this.nanos = nanos;
        this.timer = timer;
    }

    /** A lease change concerns {@code agent}: its list is due. */
    void due(Object agent) {
        due.putIfAbsent(agent, nanos.getAsLong());
    }

    /** {@code agent}'s list was written (or found unchanged): it is out. */
    void out(Object agent) {
        if (due.remove(agent) != null && pending() == 0) {
            wakeAll();
        }
    }

    /** Lists due and not yet out (entries older than {@link #MAX_WAIT} are dropped). */
    int pending() {
        long now = nanos.getAsLong();
        due.values().removeIf(since -> now - since >= MAX_WAIT.toNanos());
        return due.size();
    }

    /**
     * Whether {@code topic}'s status write should wait for the lists due; when it should, {@code wake}
     * runs once they are out, or when the topic has waited {@link #MAX_WAIT}, whichever is first.
     */
    boolean defer(Object topic, Runnable wake) {
        long now = nanos.getAsLong();
        if (pending() == 0) {
            deferred.remove(topic);
            return false;
        }
        long since = deferred.computeIfAbsent(topic, t -> now);
        long left = MAX_WAIT.toNanos() - (now - since);
        if (left <= 0) {
            deferred.remove(topic);
            return false;
        }
        synchronized (this) {
            wakes.add(wake);
        }
        timer.schedule(wake, left, TimeUnit.NANOSECONDS);
        if (pending() == 0) { // the last list went out meanwhile: do not wait for the timer
            wakeAll();
        }
        return true;
    }

    private void wakeAll() {
        List<Runnable> now;
        synchronized (this) {
            now = new ArrayList<>(wakes);
            wakes.clear();
        }
        now.forEach(Runnable::run);
    }
}
