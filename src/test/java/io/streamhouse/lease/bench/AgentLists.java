package io.streamhouse.lease.bench;

import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.streamhouse.lease.api.v1alpha1.HeldTopic;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.model.LeaseKey;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * What the StreamAgents' lease lists show, as a watch sees them: for each lease, the highest
 * epoch listed and when it first appeared there; and the largest StreamAgent seen, in bytes of
 * JSON (the size of the objects Kubernetes now carries leadership in).
 */
final class AgentLists implements ResourceEventHandler<StreamAgent> {

    record Listed(String agent, long epoch, long nanos) {
    }

    private final Map<LeaseKey, Listed> listed = new ConcurrentHashMap<>();
    private final AtomicInteger largest = new AtomicInteger();
    private final Function<StreamAgent, String> json;

    AgentLists(Function<StreamAgent, String> json) {
        this.json = json;
    }

    @Override
    public void onAdd(StreamAgent agent) {
        record(agent);
    }

    @Override
    public void onUpdate(StreamAgent old, StreamAgent agent) {
        record(agent);
    }

    @Override
    public void onDelete(StreamAgent agent, boolean unknown) {
    }

    private void record(StreamAgent agent) {
        long now = System.nanoTime();
        largest.accumulateAndGet(json.apply(agent).getBytes(StandardCharsets.UTF_8).length, Math::max);
        if (agent.getStatus() == null || agent.getStatus().getLeases() == null) {
            return;
        }
        for (HeldTopic topic : agent.getStatus().getLeases()) {
            topic.epochsByPartition().forEach((partition, epoch) -> listed.merge(LeaseKey.of(topic.getTopic(), partition),
                    new Listed(agent.getMetadata().getName(), epoch, now),
                    (old, mine) -> mine.epoch() > old.epoch() ? mine : old));
        }
    }

    Listed listed(LeaseKey key) {
        return listed.get(key);
    }

    /** The leases whose highest listed epoch is {@code agent}'s, with that epoch. */
    Map<LeaseKey, Long> heldBy(String agent) {
        Map<LeaseKey, Long> out = new java.util.HashMap<>();
        listed.forEach((key, l) -> {
            if (l.agent().equals(agent)) {
                out.put(key, l.epoch());
            }
        });
        return out;
    }

    int largestBytes() {
        return largest.get();
    }

    /** Nanoseconds after {@code t0} at which each of {@code keys} was listed at an epoch above {@code epochs}, sorted; null when one is not yet. */
    List<Long> visibleAfter(Map<LeaseKey, Long> epochs, long t0) {
        List<Long> times = new ArrayList<>();
        for (Map.Entry<LeaseKey, Long> e : epochs.entrySet()) {
            Listed l = listed.get(e.getKey());
            if (l == null || l.epoch() <= e.getValue()) {
                return null;
            }
            times.add(l.nanos() - t0);
        }
        times.sort(null);
        return times;
    }
}
