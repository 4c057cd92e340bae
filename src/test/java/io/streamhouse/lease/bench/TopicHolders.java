package io.streamhouse.lease.bench;

import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import io.streamhouse.lease.api.v1alpha1.StreamTopicStatus;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;

/**
 * What the StreamTopics' statuses show, as a watch sees them: per topic, every status seen (when,
 * which agents hold how many, whether every partition is held). With topics there is no object
 * per partition, so "held" counts come from here and which partition is where from the
 * StreamAgents' lists ({@link AgentLists}).
 */
final class TopicHolders implements ResourceEventHandler<StreamTopic> {

    /** One status of one topic as seen at {@code nanos}. */
    record Seen(long nanos, Map<String, Integer> agents, int held, int partitions) {
        boolean full() {
            return held == partitions;
        }
    }

    private final Map<String, List<Seen>> seen = new ConcurrentHashMap<>();

    @Override
    public void onAdd(StreamTopic topic) {
        record(topic);
    }

    @Override
    public void onUpdate(StreamTopic old, StreamTopic topic) {
        record(topic);
    }

    @Override
    public void onDelete(StreamTopic topic, boolean unknown) {
    }

    private void record(StreamTopic topic) {
        StreamTopicStatus status = topic.getStatus();
        if (status == null || status.getHeld() == null) {
            return;
        }
        Map<String, Integer> agents = status.getAgents() == null ? Map.of() : status.getAgents().stream()
                .collect(Collectors.toMap(StreamTopicStatus.AgentCount::getAgent, StreamTopicStatus.AgentCount::getPartitions));
        seen.computeIfAbsent(topic.getMetadata().getName(), n -> new CopyOnWriteArrayList<>())
                .add(new Seen(System.nanoTime(), agents, status.getHeld(), topic.getSpec().getPartitions()));
    }

    private List<Seen> latest() {
        List<Seen> out = new ArrayList<>();
        seen.values().forEach(l -> {
            if (!l.isEmpty()) { // a topic's list is created just before its first status is added
                out.add(l.get(l.size() - 1));
            }
        });
        return out;
    }

    long held() {
        return latest().stream().mapToLong(Seen::held).sum();
    }

    int heldBy(String agent) {
        return latest().stream().mapToInt(s -> s.agents().getOrDefault(agent, 0)).sum();
    }

    String busiest(String except) {
        Map<String, Integer> counts = new HashMap<>();
        latest().forEach(s -> s.agents().forEach((agent, n) -> {
            if (!agent.equals(except)) {
                counts.merge(agent, n, Integer::sum);
            }
        }));
        return counts.entrySet().stream().max(Map.Entry.<String, Integer>comparingByValue()
                .thenComparing(Map.Entry.comparingByKey())).orElseThrow().getKey();
    }

    /**
     * Nanoseconds after {@code t0} at which each topic that {@code agent} held partitions of
     * before {@code t0} first showed every partition held, by others: one time per topic, sorted.
     */
    List<Long> movedFrom(String agent, long t0) {
        List<Long> times = new ArrayList<>();
        seen.values().forEach(list -> {
            boolean had = list.stream().anyMatch(s -> s.nanos() < t0 && s.agents().containsKey(agent));
            if (had) {
                list.stream().filter(s -> s.nanos() >= t0 && s.full() && !s.agents().containsKey(agent)).findFirst()
                        .ifPresent(s -> times.add(s.nanos() - t0));
            }
        });
        times.sort(null);
        return times;
    }

    /** The topics whose latest status counts partitions held by {@code agent}. */
    Set<String> topicsOf(String agent) {
        return seen.entrySet().stream().filter(e -> e.getValue().get(e.getValue().size() - 1).agents().containsKey(agent))
                .map(Map.Entry::getKey).collect(Collectors.toSet());
    }
}
