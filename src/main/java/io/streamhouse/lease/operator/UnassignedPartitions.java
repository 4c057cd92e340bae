package io.streamhouse.lease.operator;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * {@code streamhouse_partitions_unassigned{namespace, group}}: partitions nobody holds, of
 * PartitionLeases (Pending or Unassigned) and of StreamTopics (their status's unassigned count),
 * per namespace and agent group, so that an alert says where. Counted every
 * {@link #PERIOD_SECONDS} seconds from the informer caches (nothing is read from the API server
 * or the database); a namespace and group with nothing unassigned reads 0 while it has leases.
 */
@ApplicationScoped
public class UnassignedPartitions {

    static final int PERIOD_SECONDS = 5;

    private final MeterRegistry registry;
    private volatile Supplier<Stream<PartitionLease>> leases = Stream::empty;
    private volatile Supplier<Stream<StreamTopic>> topics = Stream::empty;
    private MultiGauge gauge;
    private ScheduledExecutorService counter;

    public UnassignedPartitions(MeterRegistry registry) {
        this.registry = registry;
    }

    void leases(Supplier<Stream<PartitionLease>> source) {
        this.leases = source;
    }

    void topics(Supplier<Stream<StreamTopic>> source) {
        this.topics = source;
    }

    void start(@Observes StartupEvent event) {
        registry.find("streamhouse.partitions.unassigned").meters().forEach(registry::remove);
        gauge = MultiGauge.builder("streamhouse.partitions.unassigned")
                .description("Partitions nobody holds, of PartitionLeases and StreamTopics, per namespace and agent group")
                .register(registry);
        counter = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "unassigned-partitions");
            t.setDaemon(true);
            return t;
        });
        counter.scheduleWithFixedDelay(this::publish, 0, PERIOD_SECONDS, TimeUnit.SECONDS);
    }

    void stop(@Observes ShutdownEvent event) {
        if (counter != null) {
            counter.shutdownNow();
        }
    }

    private void publish() {
        try {
            Map<List<String>, Long> counts = count(leases.get(), topics.get());
            gauge.register(counts.entrySet().stream().map(e -> MultiGauge.Row.of(
                    Tags.of("namespace", e.getKey().get(0), "group", e.getKey().get(1)), e.getValue())).toList(), true);
        } catch (RuntimeException e) {
            // A cache not started yet, say: counted again at the next period.
        }
    }

    /** Unassigned partitions per (namespace, group); every pair that has leases or topics appears. */
    static Map<List<String>, Long> count(Stream<PartitionLease> leases, Stream<StreamTopic> topics) {
        Map<List<String>, Long> counts = new TreeMap<>(java.util.Comparator.comparing((List<String> k) -> k.get(0))
                .thenComparing(k -> k.get(1)));
        leases.forEach(pl -> {
            List<String> key = List.of(pl.getMetadata().getNamespace(), PartitionLeaseReconciler.group(pl.getSpec()));
            boolean unheld = pl.getStatus() == null || pl.getStatus().getPhase() == PartitionLeasePhase.Unassigned
                    || pl.getStatus().getPhase() == PartitionLeasePhase.Pending;
            counts.merge(key, unheld ? 1L : 0L, Long::sum);
        });
        topics.forEach(t -> {
            String group = t.getSpec() == null ? io.streamhouse.lease.api.v1alpha1.StreamAgentSpec.DEFAULT_GROUP
                    : t.getSpec().groupOrDefault();
            List<String> key = List.of(t.getMetadata().getNamespace(), group);
            long unheld;
            if (t.getStatus() != null && t.getStatus().getUnassigned() != null) {
                unheld = t.getStatus().getUnassigned();
            } else {
                unheld = t.getSpec() == null || t.getSpec().getPartitions() == null ? 0 : t.getSpec().getPartitions();
            }
            counts.merge(key, unheld, Long::sum);
        });
        return counts;
    }
}
