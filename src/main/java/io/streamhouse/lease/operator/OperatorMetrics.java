package io.streamhouse.lease.operator;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.streamhouse.lease.store.AcquireResult;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;
import java.util.stream.DoubleStream;

/**
 * The operator's own Prometheus metrics (on /q/metrics, next to JOSDK's reconcile counts and
 * durations and the JVM's). Names as Prometheus shows them:
 * <ul>
 * <li>{@code streamhouse_lease_transitions_total{reason}}: changes of holder, by history reason
 *     (Assigned, Handoff, Moved, HandoffForced, AgentLost);</li>
 * <li>{@code streamhouse_partition_unheld_seconds{reason}}: how long each partition that got a new
 *     holder had gone without a valid one (histogram, database clock; a partition's first holder
 *     is not counted);</li>
 * <li>{@code streamhouse_failovers_total}, {@code streamhouse_failover_leases_total}: dead agent
 *     incarnations whose leases were moved, and how many leases that moved;</li>
 * <li>{@code streamhouse_store_cas_seconds}: compare-and-swap round trips to PostgreSQL (histogram);</li>
 * <li>{@code streamhouse_store_cas_lost_total{outcome}}: compare-and-swaps that changed nothing
 *     because the operator's view was stale (a retry each, never unsafe);</li>
 * <li>{@code streamhouse_leases_held{agent}}: leases per agent, as last counted for its StreamAgent;</li>
 * <li>{@code streamhouse_partitions_unassigned{namespace,group}}: partitions nobody holds
 *     ({@link UnassignedPartitions});</li>
 * <li>{@code streamhouse_agents{phase}}: StreamAgents by status phase (Conflict: an agent id used twice);</li>
 * <li>{@code streamhouse_events_dropped_total{cause}}: Kubernetes Events not written (budget, queue, error);</li>
 * <li>{@code streamhouse_agent_status_lag_seconds}: from the first change of an agent's leases the
 *     change feed reported to its StreamAgent status listing it (histogram): how far Kubernetes
 *     trails the database.</li>
 * </ul>
 */
@ApplicationScoped
public class OperatorMetrics {

    /**
     * Buckets of {@code streamhouse_partition_unheld_seconds}: from a handoff's tens of milliseconds
     * to a failover after a session timeout (seconds) to partitions stuck for minutes.
     */
    static final Duration[] UNHELD_BUCKETS = DoubleStream.of(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
            .mapToObj(s -> Duration.ofMillis((long) (s * 1000))).toArray(Duration[]::new);

    /** The history reasons of a change of holder made by the operator. */
    static final List<String> TRANSITION_REASONS = List.of("Assigned", "Handoff", "Moved", "HandoffForced", "AgentLost");

    private final MeterRegistry registry;
    private final Timer cas;
    private final Timer agentStatusLag;
    private final Counter failovers;
    private final Counter failoverLeases;
    private final Map<String, Counter> transitions = new ConcurrentHashMap<>();
    private final Map<String, Timer> unheld = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> held = new ConcurrentHashMap<>();

    public OperatorMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.cas = Timer.builder("streamhouse.store.cas")
                .description("Compare-and-swap round trips to PostgreSQL: one per acquire, one per failover batch")
                .publishPercentileHistogram().register(registry);
        this.agentStatusLag = Timer.builder("streamhouse.agent.status.lag")
                .description("From the first lease change the change feed reported for an agent to its StreamAgent status written")
                .publishPercentileHistogram().register(registry);
        this.failovers = Counter.builder("streamhouse.failovers")
                .description("Dead agent incarnations whose leases were moved to live agents").register(registry);
        this.failoverLeases = Counter.builder("streamhouse.failover.leases")
                .description("Leases moved away from dead agent incarnations").register(registry);
        // Served at 0 from the start: rate() and increase() see nothing of a series' first sample,
        // so a counter created by its first event would hide that event (the first failover).
        for (String cause : List.of("budget", "queue", "error")) {
            eventDropped(cause, 0);
        }
        for (String reason : TRANSITION_REASONS) {
            transitionCounter(reason);
            unheldTimer(reason);
        }
    }

    /** Times one compare-and-swap round trip. */
    <T> T cas(Supplier<T> call) {
        return cas.record(call);
    }

    /**
     * A compare-and-swap gave a lease a new holder for {@code reason} (the history reason): counted,
     * and how long the partition had gone without a valid holder recorded, when the database knew.
     */
    void acquired(String reason, AcquireResult result) {
        transitionCounter(reason).increment();
        result.unheldFor().ifPresent(gap -> unheldTimer(reason).record(gap));
    }

    private Counter transitionCounter(String reason) {
        return transitions.computeIfAbsent(reason, r -> Counter.builder("streamhouse.lease.transitions").tag("reason", r)
                .description("Changes of lease holder, by reason").register(registry));
    }

    private Timer unheldTimer(String reason) {
        return unheld.computeIfAbsent(reason, r -> Timer.builder("streamhouse.partition.unheld").tag("reason", r)
                .description("How long a partition went without a valid holder before a compare-and-swap gave it one,"
                        + " on the database clock (0 for a takeover from a live holder), by reason")
                .serviceLevelObjectives(UNHELD_BUCKETS).register(registry));
    }

    /** An agent's StreamAgent status listed lease changes the change feed reported {@code lag} earlier. */
    void agentStatusLag(Duration lag) {
        agentStatusLag.record(lag);
    }

    /**
     * A compare-and-swap for one lease changed nothing because what the operator believed was
     * stale: the target's session was over (AGENT_NOT_LIVE), another live agent held the lease
     * (HELD_BY_OTHER), or a batch found the row locked by a writer (LOCKED). Never unsafe (the
     * row decides), but each one is a retry and time lost for that partition.
     */
    void casLost(AcquireResult.Outcome outcome) {
        Counter.builder("streamhouse.store.cas.lost").tag("outcome", outcome.name())
                .description("Compare-and-swaps that changed nothing because the operator's view was stale, by outcome")
                .register(registry).increment();
    }

    /** Compare-and-swaps lost with {@code outcome} so far (for tests and the bench). */
    double casLostCount(AcquireResult.Outcome outcome) {
        Counter c = registry.find("streamhouse.store.cas.lost").tag("outcome", outcome.name()).counter();
        return c == null ? 0 : c.count();
    }

    /** A dead incarnation's leases were moved in one batch. */
    void failover(int leases) {
        failovers.increment();
        failoverLeases.increment(leases);
    }

    /** The number of leases {@code agent} holds, as its StreamAgent status shows it. */
    void leasesHeld(String agent, int count) {
        held.computeIfAbsent(agent, a -> {
            AtomicInteger value = new AtomicInteger();
            removeExisting(registry.find("streamhouse.leases.held").tag("agent", a).meters());
            Gauge.builder("streamhouse.leases.held", value, AtomicInteger::get).tag("agent", a)
                    .description("Leases held per agent").register(registry);
            return value;
        }).set(count);
    }

    /** The agent's StreamAgent is gone: its series goes too. */
    void agentGone(String agent) {
        if (held.remove(agent) != null) {
            registry.find("streamhouse.leases.held").tag("agent", agent).meters().forEach(registry::remove);
        }
    }

    /**
     * An Event was not written: {@code cause} is {@code budget} (sampled out in a burst),
     * {@code queue} (queue full) or {@code error} (the API server refused it or could not be reached).
     */
    void eventDropped(String cause) {
        eventDropped(cause, 1);
    }

    private void eventDropped(String cause, double n) {
        Counter.builder("streamhouse.events.dropped").tag("cause", cause)
                .description("Kubernetes Events not written: over the Event budget in a burst, the queue full, or refused")
                .register(registry).increment(n);
    }

    /** An API write of {@code kind} (lease-status, agent-status, event) was made by the operator. */
    void apiWrite(String kind) {
        Counter.builder("streamhouse.api.writes").tag("kind", kind)
                .description("Writes the operator made to the Kubernetes API server, by kind").register(registry).increment();
    }

    /** Registers the gauge of PartitionLease status writes waiting for their turn ({@code streamhouse.publish.*}). */
    <T> void statusWritesWaiting(T source, ToDoubleFunction<T> count) {
        removeExisting(registry.find("streamhouse.lease.status.writes.waiting").meters());
        Gauge.builder("streamhouse.lease.status.writes.waiting", source, count)
                .description("PartitionLease status writes waiting for their turn in the write budget").register(registry);
    }

    /** Registers the gauge of StreamAgents in {@code phase}, counted at scrape time from {@code source}. */
    <T> void agents(String phase, T source, ToDoubleFunction<T> count) {
        removeExisting(registry.find("streamhouse.agents").tag("phase", phase).meters());
        Gauge.builder("streamhouse.agents", source, count).tag("phase", phase)
                .description("StreamAgents by status phase (Ready, Draining, Lost, Conflict, Invalid)").register(registry);
    }

    /**
     * A gauge registered again replaces the old one: registering returns an existing meter of the
     * same name and tags, which would still read the previous source (an application restarted in
     * the same JVM, as Quarkus tests do, keeps its registry).
     */
    private void removeExisting(java.util.Collection<io.micrometer.core.instrument.Meter> meters) {
        meters.forEach(registry::remove);
    }
}
