package io.streamhouse.lease.testing;

import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Holder, epoch and phase of every PartitionLease as a watch shows them (what an agent or
 * kubectl sees), and when each one last changed holder. For benches and the demo.
 */
public final class LeaseTracker implements ResourceEventHandler<PartitionLease> {

    /** One lease as last seen. */
    public record Seen(String holder, Long epoch, String phase) {
        public boolean held() {
            return "Held".equals(phase);
        }
    }

    private final Map<String, Seen> seen = new ConcurrentHashMap<>();
    private final Map<String, String> lastHolder = new ConcurrentHashMap<>();
    private final Map<String, String> previousHolder = new ConcurrentHashMap<>();
    private final Map<String, Long> changedAt = new ConcurrentHashMap<>(); // nanoTime of the last change of holder

    @Override
    public void onAdd(PartitionLease pl) {
        record(pl);
    }

    @Override
    public void onUpdate(PartitionLease old, PartitionLease pl) {
        record(pl);
    }

    @Override
    public void onDelete(PartitionLease pl, boolean unknown) {
        seen.remove(pl.getMetadata().getName());
    }

    private void record(PartitionLease pl) {
        var s = pl.getStatus();
        String name = pl.getMetadata().getName();
        Seen now = s == null ? new Seen(null, null, null) : new Seen(s.getHolder(), s.getEpoch(), s.getPhase() == null ? null : s.getPhase().name());
        seen.put(name, now);
        // A move is a new holder after another one, even with a moment of no holder between
        // (a release, then the next acquisition).
        String last = lastHolder.get(name);
        if (now.holder() != null && !now.holder().equals(last)) {
            if (last != null) {
                previousHolder.put(name, last);
                changedAt.put(name, System.nanoTime());
            }
            lastHolder.put(name, now.holder());
        }
    }

    public long held() {
        return seen.values().stream().filter(Seen::held).count();
    }

    public int heldBy(String agent) {
        return (int) seen.values().stream().filter(h -> agent.equals(h.holder())).count();
    }

    /** Every lease by name, sorted. */
    public Map<String, Seen> snapshot() {
        return new TreeMap<>(seen);
    }

    /** The agent holding the most leases (ties: by name), other than {@code except}. */
    public String busiest(String except) {
        Map<String, Integer> counts = new HashMap<>();
        seen.values().forEach(h -> {
            if (h.holder() != null && !h.holder().equals(except)) {
                counts.merge(h.holder(), 1, Integer::sum);
            }
        });
        return counts.entrySet().stream().max(Map.Entry.<String, Integer>comparingByValue()
                .thenComparing(Map.Entry.comparingByKey())).orElseThrow().getKey();
    }

    /** Nanoseconds after {@code t0} at which leases taken from {@code agent} changed holder, sorted. */
    public List<Long> movedFrom(String agent, long t0) {
        List<Long> times = new ArrayList<>();
        previousHolder.forEach((name, before) -> {
            Long at = changedAt.get(name);
            if (agent.equals(before) && at != null && at >= t0) {
                times.add(at - t0);
            }
        });
        times.sort(null);
        return times;
    }
}
