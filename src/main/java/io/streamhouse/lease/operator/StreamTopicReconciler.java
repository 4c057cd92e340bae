package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.MaxReconciliationInterval;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.IndexerResourceCache;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import io.streamhouse.lease.api.v1alpha1.StreamTopicSpec;
import io.streamhouse.lease.api.v1alpha1.StreamTopicStatus;
import io.streamhouse.lease.api.v1alpha1.TopicPin;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.model.Names;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.AcquireResult;
import io.streamhouse.lease.store.ChangeFeed;
import io.streamhouse.lease.store.Lease;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.Session;
import jakarta.annotation.PostConstruct;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * StreamTopic: the partitions 0..N-1 of one topic, each a lease row in the database, assigned,
 * moved and failed over exactly as a PartitionLease is, from the same group plan
 * ({@link Planning}), but in one reconcile per topic and one compare-and-swap batch per kind of
 * move, and with no Kubernetes object per partition. Status counts ({@link TopicStatuses}); which
 * agent holds which partition is on the StreamAgents. Thin: decisions are {@link TopicAssignment}.
 */
@ControllerConfiguration(name = "streamtopic",
        maxReconciliationInterval = @MaxReconciliationInterval(interval = 10, timeUnit = TimeUnit.MINUTES))
@GradualRetry(maxAttempts = -1, initialInterval = 500, intervalMultiplier = 2.0, maxInterval = 30_000)
public class StreamTopicReconciler implements Reconciler<StreamTopic>, Cleaner<StreamTopic> {

    static final String BY_TOPIC = "byTopic";
    static final String BY_GROUP = "byGroup";
    static final String BY_AGENT_ID = "byAgentId";
    static final String RELEASE_REASON = "TopicDeleted";
    /** How soon a topic with partitions nobody holds is looked at again when no event comes (as a PartitionLease). */
    static final Duration UNHELD_RECHECK = Duration.ofSeconds(10);
    /** How soon to look again when a compare-and-swap was lost: the view of agents was stale, the row is the truth. */
    static final Duration RETRY_SOON = Duration.ofMillis(200);

    private static final Logger LOG = Logger.getLogger(StreamTopicReconciler.class);

    private final LeaseStore store;
    private final EventRecorder events;
    private final Clock clock;
    private final Settling settle;
    private final OperatorMetrics metrics;
    private final Planning planning;
    private final GroupPlanner planner;
    private final EndedSessions endedSessions;
    private final StatusBudget statusBudget;
    private final ChangeNotifications changes;
    /** Planned moves of topic partitions: their own slots (streamhouse.assign.max-moves-in-flight). */
    private final LeaseMoves moves;
    private final AgentEventMapper agentEvents;
    /** One failover batch per dead incarnation and group at a time (see {@link #failGroupOver}). */
    private final FailoverBatcher batches = new FailoverBatcher();
    /** Each topic's rows as last read, kept current by the change feed (see {@link TopicRows}). */
    private final TopicRows topicRows;
    private final SimpleInboundEventSource<StreamTopic> nudges = new SimpleInboundEventSource<>("topic-nudges");
    private volatile IndexerResourceCache<StreamTopic> topics;
    private final UnassignedPartitions unassignedPartitions;
    private volatile InformerEventSource<StreamAgent, StreamTopic> agents;

    public StreamTopicReconciler(LeaseStore store, EventRecorder events, Clock clock, AssignConfig assign,
                                 StatusBudget statusBudget, ChangeNotifications changes, OperatorMetrics metrics,
                                 EndedSessions endedSessions, Planning planning, UnassignedPartitions unassignedPartitions) {
        this.store = store;
        this.unassignedPartitions = unassignedPartitions;
        this.events = events;
        this.clock = clock;
        this.settle = new Settling(clock);
        this.metrics = metrics;
        this.planning = planning;
        this.planner = planning.planner;
        this.endedSessions = endedSessions;
        this.statusBudget = statusBudget;
        this.changes = changes;
        this.topicRows = new TopicRows(changes::connected, (agent, session) -> endedSessions.over(agent, session),
                System::nanoTime);
        this.moves = new LeaseMoves(assign.maxMovesInFlight(), assign.handoffTimeout(), System::nanoTime);
        // An agent event that changes what assignment reads concerns every topic of its group.
        this.agentEvents = new AgentEventMapper(new AgentEventMapper.Leases() {
            @Override
            public Collection<ResourceID> heldBy(String namespace, String agentId, Long sessionEpoch) {
                return List.of();
            }

            @Override
            public Collection<ResourceID> unheldIn(String namespace, String group) {
                return topicsOf(namespace, group);
            }

            @Override
            public Collection<ResourceID> movedIn(String namespace, String group) {
                return List.of();
            }
        }, id -> agents != null && agents.get(id).isPresent(), planner::changed);
    }

    @PostConstruct
    void start() {
        unassignedPartitions.topics(() -> {
            IndexerResourceCache<StreamTopic> cache = topics;
            return cache == null ? java.util.stream.Stream.empty() : cache.list();
        });
        planning.topics(new Planning.Topics() {
            @Override
            public List<Assigner.LeaseInput> inputs(String namespace, String group, Set<LeaseKey> taken,
                                                    Map<AgentId, AgentView> views) {
                return topicInputs(namespace, group, taken, views);
            }

            @Override
            public Optional<StreamTopic> covering(LeaseKey key) {
                return owner(key.topic()).filter(t -> key.partition() < applied(t).partitions());
            }

            @Override
            public void partitionLeaseGone(LeaseKey key) {
                nudgeTopic(key.topic());
            }
        });
        changes.subscribe(new ChangeFeed.Listener() {
            @Override
            public void leaseChanged(ChangeFeed.LeaseChange change) {
                topicRows.changed(change.key(), change.epoch(), change.holder());
                GroupPlanner.Known known = planner.known(change.key());
                // Our own compare-and-swaps come back too: skipped when already noted. A release
                // (a handoff, a graceful stop) always concerns the topic.
                if (change.holder() == null || known == null || known.epoch() != change.epoch()
                        || !Objects.equals(known.holder(), change.holder())) {
                    nudgeTopic(change.key().topic());
                }
            }

            @Override
            public void sessionChanged(AgentId agent) {
                topicRows.allStale(); // the liveness of its rows changed
            }

            @Override
            public void sessionEnded(AgentId agent, long sessionEpoch) {
                topicRows.allStale();
                nudgeTopicsOf(agent);
            }

            @Override
            public void resynced() {
                topicRows.allStale(); // changes made while the feed was away were not reported
                if (topics != null) {
                    topics.list().forEach(t -> nudges.propagateEvent(ResourceID.fromResource(t)));
                }
            }
        });
        // A crashed agent's session found expired: its partitions fail over now.
        endedSessions.onExpiry(this::nudgeTopicsOf);
    }

    @Override
    public List<EventSource<?, StreamTopic>> prepareEventSources(EventSourceContext<StreamTopic> context) {
        topics = context.getPrimaryCache();
        topics.addIndexers(Map.of(
                BY_TOPIC, t -> {
                    Applied applied = applied(t);
                    return applied.valid() ? List.of(applied.topic()) : List.of();
                },
                BY_GROUP, t -> t.getSpec() == null ? List.of() : List.of(namespaced(t, t.getSpec().groupOrDefault()))));
        var config = InformerEventSourceConfiguration.from(StreamAgent.class, StreamTopic.class)
                .withSecondaryToPrimaryMapper((StreamAgent agent) -> agentEvents.affectedBy(agent))
                .build();
        agents = new InformerEventSource<>(config, context);
        agents.addIndexers(Map.of(BY_AGENT_ID, a -> a.getSpec() == null || a.getSpec().getAgentId() == null
                ? List.of() : List.of(a.getSpec().getAgentId())));
        return List.of(agents, nudges);
    }

    /** Each topic's keys, made once: a plan's inputs name every partition of every topic of the group. */
    private final Map<String, LeaseKey[]> keys = new java.util.concurrent.ConcurrentHashMap<>();

    /** The keys of partitions 0..partitions-1 of {@code topic}. */
    private LeaseKey[] keys(String topic, int partitions) {
        LeaseKey[] known = keys.get(topic);
        if (known != null && known.length >= partitions) {
            return known;
        }
        LeaseKey[] made = new LeaseKey[partitions];
        for (int p = 0; p < partitions; p++) {
            made[p] = known != null && p < known.length ? known[p] : new LeaseKey(topic, p);
        }
        keys.put(topic, made);
        return made;
    }

    /** What a StreamTopic applies: its bound topic and partition count, and what of its spec it refuses. */
    record Applied(String topic, int partitions, String group, Map<Integer, AgentId> pins, TopicStatuses.Refused refused,
                   boolean valid) {
    }

    /**
     * The spec as applied: the topic it was bound to and the larger of the partitions asked and
     * applied (a server that ignores the CRD's CEL rules lets a rename or a shrink through; they
     * are refused here, and the topic keeps working as it was). Invalid pins are left out and
     * reported. A topic never accepted whose spec is invalid applies nothing.
     */
    static Applied applied(StreamTopic topic) {
        StreamTopicSpec spec = topic.getSpec();
        StreamTopicStatus status = topic.getStatus();
        String bound = status == null ? null : status.getTopic();
        int boundPartitions = status == null || status.getPartitions() == null ? 0 : status.getPartitions();
        List<String> refusals = new ArrayList<>();
        String reason = null;
        String name = bound;
        int partitions = boundPartitions;
        String group = spec == null ? null : spec.groupOrDefault();
        try {
            Objects.requireNonNull(spec, "spec is missing");
            Names.topic(Objects.requireNonNull(spec.getTopic(), "spec.topic is required"));
            int asked = Objects.requireNonNull(spec.getPartitions(), "spec.partitions is required");
            if (asked < 1 || asked > StreamTopicSpec.MAX_PARTITIONS) {
                throw new IllegalArgumentException("spec.partitions must be between 1 and "
                        + StreamTopicSpec.MAX_PARTITIONS + ", got " + asked);
            }
            Names.labelValue("agentGroup", group);
            if (bound != null && !bound.equals(spec.getTopic())) {
                reason = Conditions.SPEC_IMMUTABLE;
                refusals.add("topic is immutable: this resource is bound to " + bound + ", spec now asks for "
                        + spec.getTopic() + "; create a new StreamTopic instead");
            } else {
                name = spec.getTopic();
            }
            if (asked < boundPartitions) {
                reason = TopicStatuses.PARTITIONS_SHRUNK;
                refusals.add("partitions may only grow: " + boundPartitions + " applied, spec asks for " + asked);
            } else {
                partitions = asked;
            }
        } catch (IllegalArgumentException | NullPointerException e) {
            String message = "spec refused: " + Objects.requireNonNullElse(e.getMessage(), "invalid spec");
            if (bound == null || group == null) {
                return new Applied(spec == null ? null : spec.getTopic(), 0, group, Map.of(),
                        new TopicStatuses.Refused(Conditions.INVALID_SPEC, message), false);
            }
            reason = Conditions.INVALID_SPEC;
            refusals.add(message + "; applied as before");
        }
        Map<Integer, AgentId> pins = new HashMap<>();
        for (TopicPin pin : spec.getPins()) {
            try {
                if (pin.getPartition() == null || pin.getPartition() < 0 || pin.getPartition() >= partitions) {
                    throw new IllegalArgumentException("pin of partition " + pin.getPartition() + " is outside 0.."
                            + (partitions - 1));
                }
                if (pins.put(pin.getPartition(), AgentId.of(pin.getAgent())) != null) {
                    throw new IllegalArgumentException("partition " + pin.getPartition() + " is pinned twice");
                }
            } catch (IllegalArgumentException | NullPointerException e) {
                reason = reason == null ? Conditions.INVALID_SPEC : reason;
                refusals.add("pin left out: " + e.getMessage());
            }
        }
        TopicStatuses.Refused refused = refusals.isEmpty() ? null
                : new TopicStatuses.Refused(reason, String.join("; ", refusals));
        return new Applied(name, partitions, group, pins, refused, true);
    }

    @Override
    public UpdateControl<StreamTopic> reconcile(StreamTopic resource, Context<StreamTopic> context) {
        Instant now = clock.instant();
        StreamTopicStatus previous = resource.getStatus();
        long generation = Objects.requireNonNullElse(resource.getMetadata().getGeneration(), 0L);
        Applied applied = applied(resource);
        if (!applied.valid()) {
            return refuse(resource, context, applied.refused().reason(), applied.refused().message(), null, now);
        }
        Optional<StreamTopic> owner = owner(applied.topic());
        if (owner.isPresent() && !Resources.same(owner.get(), resource)) {
            String message = "topic " + applied.topic() + " is already managed by StreamTopic "
                    + owner.get().getMetadata().getNamespace() + "/" + owner.get().getMetadata().getName()
                    + " (topic keys are global to the database, whatever the namespace)";
            return refuse(resource, context, TopicStatuses.DUPLICATE_TOPIC, message, Duration.ofSeconds(30), now);
        }
        if (previous == null || !Objects.equals(previous.getObservedGeneration(), generation)) {
            planner.changed(); // new topic, more partitions, pins or group changed
        }
        String namespace = resource.getMetadata().getNamespace();
        Map<LeaseKey, String> byLeases = new HashMap<>(planning.partitionLeases().owned(applied.topic()));
        byLeases.keySet().removeIf(k -> k.partition() >= applied.partitions());
        List<LeaseKey> owned = new ArrayList<>(applied.partitions());
        LeaseKey[] topicKeys = keys(applied.topic(), applied.partitions());
        for (int p = 0; p < applied.partitions(); p++) {
            LeaseKey key = topicKeys[p];
            if (!byLeases.containsKey(key)) {
                owned.add(key);
            }
        }
        Map<LeaseKey, Lease> rows = new HashMap<>();
        for (Lease row : topicRows.rows(applied.topic(), () -> store.leasesOf(applied.topic()))) {
            rows.put(row.key(), row);
            planner.observed(row.key(), row.holder(), row.holderLive(), row.epoch());
        }
        List<AgentView> group = groupViews(namespace, applied.group());
        Map<AgentId, AgentView> views = new HashMap<>();
        group.forEach(v -> views.put(v.id(), v));
        GroupPlanner.Planned planned = planner.current(namespaced(resource, applied.group()),
                () -> planning.partitionLeases().inputs(namespace, applied.group(), views),
                () -> AgentViews.inputs(applied.group(), group));
        Map<AgentId, Duration> holderWaits = new HashMap<>();
        TopicAssignment.Decisions decisions = TopicAssignment.decide(owned, rows, planned.plan().target(), views,
                v -> endedSessions.over(v.id(), v.sessionEpoch()),
                row -> failoverWait(resource, row.holder(), holderWaits) != null, moves::inFlight);
        if (!decisions.failovers().isEmpty()) {
            // A dead holder's partitions of every topic of the group move in one transaction, led
            // by the first of those topics to get here (the others wait for it): each new holder is
            // told once and reads its leases once, not once per topic. Then this topic decides again
            // on its rows as the batch left them.
            Map<String, Lease> deadHolders = new HashMap<>();
            decisions.failovers().forEach(r -> {
                Lease row = rows.get(r.key());
                deadHolders.putIfAbsent(row.holder().value() + "#" + row.holderSession(), row);
            });
            Map<AgentId, AgentView> planViews = views;
            Map<LeaseKey, Lease> moved = new HashMap<>();
            boolean known = true;
            for (Map.Entry<String, Lease> dead : deadHolders.entrySet()) {
                Lease row = dead.getValue();
                Map<LeaseKey, Lease> batch = batches.share(namespaced(resource, applied.group()) + "/" + dead.getKey(),
                        () -> failGroupOver(namespace, applied.group(), row.holder(), row.holderSession(), planned.plan(),
                                planViews),
                        leaders -> leaders);
                if (batch == null) {
                    known = false;
                } else {
                    moved.putAll(batch);
                }
            }
            // The rows as the batch left them come back with it: a hundred topics of a crashed
            // agent need not each read their thousand rows again (a second of the database's time
            // on a busy machine). Read again when the batch did not say (it failed, or it ran
            // before this reconcile joined it, and a dead holder's row is still in the view).
            if (known) {
                moved.forEach((key, row) -> {
                    if (rows.containsKey(key)) {
                        rows.put(key, row);
                    }
                });
                known = rows.values().stream().noneMatch(row -> row.holder() != null
                        && deadHolders.containsKey(row.holder().value() + "#" + row.holderSession())
                        && !moved.containsKey(row.key()));
            }
            if (!known) {
                rows.clear();
                for (Lease row : topicRows.rows(applied.topic(), () -> store.leasesOf(applied.topic()))) {
                    rows.put(row.key(), row);
                    planner.observed(row.key(), row.holder(), row.holderLive(), row.epoch());
                }
            }
            decisions = TopicAssignment.decide(owned, rows, planned.plan().target(), views,
                    v -> endedSessions.over(v.id(), v.sessionEpoch()),
                    row -> failoverWait(resource, row.holder(), holderWaits) != null, moves::inFlight);
        }

        Duration recheck = planned.upToDate() ? null : GroupPlanner.DEBOUNCE;
        List<AcquireRequest> free = decisions.free();
        if (!free.isEmpty() && (!planned.upToDate() || settling(namespace, applied.group()))) {
            // The plan is older than the last change of the agents or leases (it is recomputed
            // after the debounce), or an agent of the group has not been looked at yet (the
            // operator just started, or it was just applied): free partitions wait, a moment,
            // rather than go where a plan that does not count every agent sends them and be moved
            // again one handoff at a time. Failovers never wait.
            free = List.of();
            recheck = earliest(recheck, GroupPlanner.DEBOUNCE);
        } else if (!free.isEmpty()) {
            // Free partitions (a first assignment, an agent that stopped gracefully and gave up
            // everything, a topic grown): those of every topic of the group go out together, in
            // one plan and as few transactions as possible, as a crash's do, led by the first
            // topic to get here. Per-topic batches would tell each new holder once per topic and,
            // with plans computed between them, leave the group unbalanced for moves to fix.
            Map<AgentId, AgentView> planViews = views;
            batches.run(namespaced(resource, applied.group()) + "/free",
                    () -> assignGroupFree(namespace, applied.group(), planned.plan(), planViews), () -> 0);
            rows.clear();
            for (Lease row : topicRows.rows(applied.topic(), () -> store.leasesOf(applied.topic()))) {
                rows.put(row.key(), row);
                planner.observed(row.key(), row.holder(), row.holderLive(), row.epoch());
            }
            decisions = TopicAssignment.decide(owned, rows, planned.plan().target(), views,
                    v -> endedSessions.over(v.id(), v.sessionEpoch()),
                    row -> failoverWait(resource, row.holder(), holderWaits) != null, moves::inFlight);
            free = decisions.free();
        }
        int moved = acquire(decisions.failovers(), LeaseFailover.REASON, rows)
                + acquire(free, LeaseFailover.ASSIGNED, rows)
                + acquire(decisions.handoffs(), "Handoff", rows);
        if (!decisions.failovers().isEmpty()) {
            metrics.failover(decisions.failovers().size());
        }
        decisions.handoffs().forEach(r -> finishMove(r.key()));
        for (LeaseKey key : decisions.kept()) {
            if (moves.inFlight(key)) {
                finishMove(key);
                store.cancelHandoff(key); // asked before, no longer wanted
            }
        }
        recheck = earliest(recheck, move(resource, decisions.moves(), views, rows, now));
        if (LOG.isDebugEnabled() && (!decisions.moves().isEmpty() || !decisions.unplaced().isEmpty())) {
            LOG.debugf("%s/%s: %d planned move(s), %d partition(s) unplaced, plan %s", namespace,
                    resource.getMetadata().getName(), decisions.moves().size(), decisions.unplaced().size(),
                    planned.upToDate() ? "up to date" : "being recomputed");
        }
        if (moved > 0) {
            statusBudget.batchCommitted();
            LOG.debugf("%s/%s: %d partition(s) of %s acquired (%d failed over, %d free, %d handed off)", namespace,
                    resource.getMetadata().getName(), moved, applied.topic(), decisions.failovers().size(),
                    free.size(), decisions.handoffs().size());
        }
        for (LeaseKey key : decisions.waiting()) {
            recheck = earliest(recheck, failoverWait(resource, rows.get(key).holder(), holderWaits));
        }
        // Looked at again when its rows' entry ages out: read then, off any failover's path.
        Duration untilStale = topicRows.untilStale(applied.topic());
        if (untilStale != null) {
            recheck = earliest(recheck, untilStale.plus(RETRY_SOON));
        }
        StreamTopicStatus next = TopicStatuses.of(previous, generation, applied.topic(), applied.partitions(), owned,
                rows, byLeases, applied.refused(), now);
        if (next.getUnassigned() != null && next.getUnassigned() > 0) {
            recheck = earliest(recheck, UNHELD_RECHECK);
        }
        if (!next.equals(previous)) {
            // The lease lists of the StreamAgents these moves concern go to the API server first
            // (they say who may write each partition); this summary follows once they are out.
            ResourceID id = ResourceID.fromResource(resource);
            if (statusBudget.lists.defer(id, () -> nudges.propagateEvent(id))) {
                return Resources.finish(resource, previous, recheck, context);
            }
            metrics.apiWrite("topic-status");
            statusBudget.writes.cutIn(); // one write per topic: counted with the StreamAgent lists
        }
        return Resources.finish(resource, next, recheck, context);
    }

    /**
     * Moves every partition the dead incarnation ({@code holder}, {@code session}) held of the
     * StreamTopics of {@code namespace}/{@code group} to its planned agent, in one compare-and-swap
     * batch (up to {@link LeaseFailover#MAX_BATCH} per transaction): partitions kept by a
     * PartitionLease, waited for (failoverDelaySeconds), or that the plan sends nowhere live are
     * left to their topic's own reconcile. Returns how many moved.
     */
    private Map<LeaseKey, Lease> failGroupOver(String namespace, String group, AgentId holder, long session,
                                               Assigner.Plan plan, Map<AgentId, AgentView> views) {
        long started = System.nanoTime();
        Map<String, Optional<StreamTopic>> topicOwners = new HashMap<>();
        Map<String, Set<LeaseKey>> keptByLeases = new HashMap<>();
        Map<AgentId, Duration> waits = new HashMap<>();
        Set<String> touched = new HashSet<>();
        List<AcquireRequest> requests = new ArrayList<>();
        for (Lease row : store.leasesHeldBy(holder)) {
            LeaseKey key = row.key();
            if (row.holderLive() || row.holderSession() != session) {
                continue;
            }
            Optional<StreamTopic> owner = topicOwners.computeIfAbsent(key.topic(), this::owner)
                    .filter(t -> t.getMetadata().getNamespace().equals(namespace) && applied(t).group().equals(group)
                            && key.partition() < applied(t).partitions());
            if (owner.isEmpty() || keptByLeases.computeIfAbsent(key.topic(),
                    t -> planning.partitionLeases().owned(t).keySet()).contains(key)
                    || failoverWait(owner.get(), holder, waits) != null) {
                continue;
            }
            AgentId to = plan.target().get(key);
            AgentView view = to == null ? null : views.get(to);
            if (view == null || !view.acceptsLeases() || endedSessions.over(view.id(), view.sessionEpoch())) {
                continue;
            }
            requests.add(AcquireRequest.ifFree(key, view.id(), view.sessionEpoch()));
            touched.add(key.topic());
        }
        Map<LeaseKey, Lease> after = new HashMap<>();
        if (requests.isEmpty()) {
            return after;
        }
        long casStart = System.nanoTime();
        java.util.concurrent.atomic.AtomicLong storeNanos = new java.util.concurrent.atomic.AtomicLong();
        int moved = acquire(requests, LeaseFailover.REASON, after, storeNanos);
        if (moved > 0) {
            metrics.failover(moved);
            statusBudget.batchCommitted();
        }
        long end = System.nanoTime();
        LOG.infof("failover of %s (session %d): %d partition(s) of %d topic(s) of %s/%s moved in one batch (%d ms:"
                        + " %d ms to read and decide, %d ms of compare-and-swaps: %d ms in the store's call, the rest"
                        + " noting the answers)", holder, session, moved, touched.size(), namespace, group,
                (end - started) / 1_000_000, (casStart - started) / 1_000_000, (end - casStart) / 1_000_000,
                storeNanos.get() / 1_000_000);
        touched.forEach(this::nudgeTopicAfterLists); // their statuses
        if (LOG.isDebugEnabled()) {
            long[] counts = topicRows.counts();
            LOG.debugf("topic rows since start: %d served from the cache, %d read from the database", counts[0], counts[1]);
        }
        return after;
    }

    /**
     * Gives every unheld partition of the StreamTopics of {@code namespace}/{@code group} (released,
     * or with no row yet) to its planned agent in one compare-and-swap batch (up to
     * {@link LeaseFailover#MAX_BATCH} per transaction), so that each new holder is told once and
     * reads its leases once, not once per topic. Partitions kept by a PartitionLease, of a move in
     * flight, or that the plan sends nowhere live are left to their topic's own reconcile; so are
     * topics being deleted. Returns how many moved.
     */
    private int assignGroupFree(String namespace, String group, Assigner.Plan plan, Map<AgentId, AgentView> views) {
        long started = System.nanoTime();
        Map<String, Integer> groupTopics = new HashMap<>();
        for (StreamTopic t : topics.byIndex(BY_GROUP, namespace + "/" + group)) {
            Applied a = applied(t);
            if (a.valid() && a.group().equals(group) && t.getMetadata().getDeletionTimestamp() == null
                    && owner(a.topic()).filter(o -> Resources.same(o, t)).isPresent()) {
                groupTopics.put(a.topic(), a.partitions());
            }
        }
        Map<String, Set<LeaseKey>> keptByLeases = new HashMap<>();
        Set<String> touched = new HashSet<>();
        List<AcquireRequest> requests = new ArrayList<>();
        for (LeaseKey key : store.unheldPartitions(groupTopics)) {
            if (moves.inFlight(key) || keptByLeases.computeIfAbsent(key.topic(),
                    t -> planning.partitionLeases().owned(t).keySet()).contains(key)) {
                continue; // a move in flight completes as a handoff; a PartitionLease keeps its own
            }
            AgentId to = plan.target().get(key);
            AgentView view = to == null ? null : views.get(to);
            if (view == null || !view.acceptsLeases() || endedSessions.over(view.id(), view.sessionEpoch())) {
                continue;
            }
            requests.add(AcquireRequest.ifFree(key, view.id(), view.sessionEpoch()));
            touched.add(key.topic());
        }
        if (requests.isEmpty()) {
            return 0;
        }
        // Which agents the plan could use, as the StreamAgents said when it was made (an agent not
        // Ready then gets its share later, by planned moves).
        Map<String, Long> phases = new java.util.TreeMap<>();
        agents.list(namespace, a -> a.getSpec() != null && group.equals(a.getSpec().groupOrDefault())).forEach(a -> phases.merge(
                a.getStatus() == null || a.getStatus().getPhase() == null ? "none"
                        : a.getStatus().getPhase() + "/" + AgentStatuses.readyReason(a.getStatus()), 1L, Long::sum));
        int moved = acquire(requests, LeaseFailover.ASSIGNED, new HashMap<>());
        if (moved > 0) {
            statusBudget.batchCommitted();
        }
        LOG.infof("%d free partition(s) of %d topic(s) of %s/%s assigned together (%d ms); agents by phase: %s", moved,
                touched.size(), namespace, group, (System.nanoTime() - started) / 1_000_000, phases);
        touched.forEach(this::nudgeTopic); // their statuses
        return moved;
    }

    /** Compare-and-swaps {@code requests} in batches of at most {@link LeaseFailover#MAX_BATCH}; returns how many took. */
    private int acquire(List<AcquireRequest> requests, String reason, Map<LeaseKey, Lease> rows) {
        return acquire(requests, reason, rows, new java.util.concurrent.atomic.AtomicLong());
    }

    /** As above; {@code storeNanos} gains the time spent in the store's calls (the statement and its commit). */
    private int acquire(List<AcquireRequest> requests, String reason, Map<LeaseKey, Lease> rows,
                        java.util.concurrent.atomic.AtomicLong storeNanos) {
        int acquired = 0;
        for (int from = 0; from < requests.size(); from += LeaseFailover.MAX_BATCH) {
            List<AcquireRequest> batch = requests.subList(from, Math.min(requests.size(), from + LeaseFailover.MAX_BATCH));
            // The feed may report these changes before their answers are back: they are judged
            // against the answers (TopicRows.begin), not taken for someone else's.
            try (TopicRows.Commit commit = topicRows.begin(batch.stream().map(r -> r.key().topic()).toList())) {
                long callStart = System.nanoTime();
                List<AcquireResult> results = metrics.cas(() -> store.acquireAll(batch, reason));
                storeNanos.addAndGet(System.nanoTime() - callStart);
                for (AcquireResult result : results) {
                    Lease row = result.lease();
                    rows.put(row.key(), row);
                    topicRows.committed(row);
                    planner.observed(row.key(), row.holder(), row.holderLive(), row.epoch());
                    if (result.outcome() == AcquireResult.Outcome.ACQUIRED) {
                        acquired++;
                        metrics.acquired(reason, result);
                        listsDue(row);
                    } else if (!result.succeeded()) {
                        metrics.casLost(result.outcome());
                    }
                }
            }
        }
        return acquired;
    }

    /**
     * Planned moves away from live holders, each needing a move slot: a holder that releases on
     * request is asked (through the database), others are taken over. Returns when to look again.
     */
    private Duration move(StreamTopic resource, List<TopicAssignment.Move> planned, Map<AgentId, AgentView> views,
                          Map<LeaseKey, Lease> rows, Instant now) {
        Duration recheck = null;
        ResourceID id = ResourceID.fromResource(resource);
        for (TopicAssignment.Move m : planned) {
            Lease row = m.row();
            LeaseMoves.Decision decision = moves.decide(m.key(), m.target().id(), views.get(row.holder()), now, id);
            if (decision instanceof LeaseMoves.Decision.WaitForSlot w) {
                recheck = earliest(recheck, w.recheck());
            } else if (decision instanceof LeaseMoves.Decision.AskHolder ask) {
                store.requestHandoff(m.key(), row.holder(), row.holderSession(), row.epoch(), m.target().id());
                recheck = earliest(recheck, ask.recheck());
            } else if (decision instanceof LeaseMoves.Decision.TakeOver takeOver) {
                String reason = takeOver.forced() ? "HandoffForced" : "Moved";
                AcquireResult result = metrics.cas(() -> store.acquire(AcquireRequest.takeOver(m.key(), m.target().id(),
                        m.target().sessionEpoch(), row.holder(), row.epoch()), reason));
                rows.put(m.key(), result.lease());
                planner.observed(m.key(), result.lease().holder(), result.lease().holderLive(), result.lease().epoch());
                if (result.outcome() == AcquireResult.Outcome.ACQUIRED) {
                    metrics.acquired(reason, result);
                    listsDue(result.lease());
                    finishMove(m.key());
                    if (takeOver.forced()) {
                        events.warning(resource, Conditions.HANDOFF_FORCED, row.holder() + " did not release " + m.key()
                                + " within " + moves.handoffTimeout().toMillis() + " ms; moved to " + m.target().id()
                                + " at epoch " + result.lease().epoch() + " (the old epoch is fenced)");
                    }
                } else {
                    metrics.casLost(result.outcome());
                    recheck = earliest(recheck, RETRY_SOON);
                }
            }
        }
        return recheck;
    }

    private UpdateControl<StreamTopic> refuse(StreamTopic resource, Context<StreamTopic> context, String reason,
                                              String message, Duration recheck, Instant now) {
        long generation = Objects.requireNonNullElse(resource.getMetadata().getGeneration(), 0L);
        StreamTopicStatus next = TopicStatuses.refused(resource.getStatus(), generation, reason, message, now);
        if (!next.equals(resource.getStatus())) {
            events.warning(resource, reason, message);
        }
        return Resources.finish(resource, next, recheck, context);
    }

    @Override
    public DeleteControl cleanup(StreamTopic resource, Context<StreamTopic> context) {
        Applied applied = applied(resource);
        StreamTopicStatus status = resource.getStatus();
        boolean bound = status != null && status.getTopic() != null && applied.valid();
        boolean owns = bound && owner(applied.topic()).map(o -> Resources.same(o, resource)).orElse(true);
        if (owns) {
            Set<LeaseKey> byLeases = planning.partitionLeases().owned(applied.topic()).keySet();
            List<Integer> partitions = new ArrayList<>();
            for (int p = 0; p < applied.partitions(); p++) {
                LeaseKey key = new LeaseKey(applied.topic(), p);
                if (!byLeases.contains(key)) {
                    partitions.add(p);
                    finishMove(key);
                    planner.forget(key);
                }
            }
            // The rows stay, holder cleared and epochs kept: a topic created again continues from them.
            List<LeaseKey> released = store.releasePartitions(applied.topic(), partitions, RELEASE_REASON);
            topicRows.forget(applied.topic());
            LOG.infof("%s/%s deleted: %d partition(s) of %s released, their rows and epochs kept",
                    resource.getMetadata().getNamespace(), resource.getMetadata().getName(), released.size(), applied.topic());
            planner.changed();
            planning.partitionLeases().topicGone(applied.topic());
            // A duplicate StreamTopic of the same topic may take over.
            topics.byIndex(BY_TOPIC, applied.topic()).stream().filter(t -> !Resources.same(t, resource))
                    .forEach(t -> nudges.propagateEvent(ResourceID.fromResource(t)));
        }
        moves.cancel(ResourceID.fromResource(resource));
        return DeleteControl.defaultDelete();
    }

    // ------------------------------------------------------------------ helpers

    /** The plan's inputs for the partitions of the accepted StreamTopics of a namespace and group. */
    private List<Assigner.LeaseInput> topicInputs(String namespace, String group, Set<LeaseKey> taken,
                                                  Map<AgentId, AgentView> views) {
        IndexerResourceCache<StreamTopic> cache = topics;
        if (cache == null) {
            return List.of();
        }
        List<Assigner.LeaseInput> inputs = new ArrayList<>();
        for (StreamTopic topic : cache.byIndex(BY_GROUP, namespace + "/" + group)) {
            Applied applied = applied(topic);
            if (!applied.valid() || !owner(applied.topic()).map(o -> Resources.same(o, topic)).orElse(false)) {
                continue;
            }
            LeaseKey[] topicKeys = keys(applied.topic(), applied.partitions());
            for (int p = 0; p < applied.partitions(); p++) {
                LeaseKey key = topicKeys[p];
                if (!taken.add(key)) {
                    continue;
                }
                GroupPlanner.Known known = planner.known(key);
                AgentId holder = known == null ? null : planHolder(known.holder(), known.live(), views);
                // A move in flight counts as done: a plan made meanwhile must not send the
                // partition elsewhere (back to the agent that just released it, which is then
                // below its share), which would cost a second move.
                AgentId moving = moves.target(key).orElse(null);
                AgentView target = moving == null ? null : views.get(moving);
                if (target != null && target.acceptsLeases()) {
                    holder = moving;
                }
                inputs.add(new Assigner.LeaseInput(key, group, applied.pins().get(p), holder));
            }
        }
        return inputs;
    }

    /** As for a PartitionLease: a dead holder that may take leases again (a new incarnation) gets its partition back. */
    private static AgentId planHolder(AgentId holder, boolean live, Map<AgentId, AgentView> views) {
        if (holder == null) {
            return null;
        }
        AgentView view = views.get(holder);
        return live || view != null && view.acceptsLeases() ? holder : null;
    }

    /** The StreamTopic that owns {@code topic}: the oldest one applying it. */
    private Optional<StreamTopic> owner(String topic) {
        IndexerResourceCache<StreamTopic> cache = topics;
        if (cache == null || topic == null) {
            return Optional.empty();
        }
        return Resources.oldest(cache.byIndex(BY_TOPIC, topic).stream().filter(t -> applied(t).valid()).toList());
    }

    /** True when a StreamAgent of the group holds its free partitions back ({@link Settling}). */
    private boolean settling(String namespace, String group) {
        return !settle.awaited(agents.list(namespace,
                a -> a.getSpec() != null && group.equals(a.getSpec().groupOrDefault()))).isEmpty();
    }

    private List<AgentView> groupViews(String namespace, String group) {
        return endedSessions.apply(AgentViews.of(agents.list(namespace,
                a -> a.getSpec() != null && group.equals(a.getSpec().groupOrDefault())).toList()));
    }

    /** With failoverDelaySeconds: how long the partitions of an expired {@code holder} still wait for it; null when not. */
    private Duration failoverWait(StreamTopic resource, AgentId holder, Map<AgentId, Duration> cache) {
        Integer delay = resource.getSpec().getFailoverDelaySeconds();
        if (delay == null || delay <= 0 || holder == null) {
            return null;
        }
        if (cache.containsKey(holder)) {
            return cache.get(holder);
        }
        Optional<Session> session = store.session(holder);
        Duration left = null;
        if (session.isPresent() && !session.get().live()) {
            Duration deadFor = Duration.between(session.get().expiresAt(), session.get().observedAt());
            Duration remaining = Duration.ofSeconds(delay).minus(deadFor);
            left = remaining.isNegative() || remaining.isZero() ? null : remaining;
        }
        cache.put(holder, left);
        return left;
    }

    private void finishMove(LeaseKey key) {
        moves.finish(key).forEach(nudges::propagateEvent);
    }

    private Collection<ResourceID> topicsOf(String namespace, String group) {
        IndexerResourceCache<StreamTopic> cache = topics;
        return cache == null ? List.of()
                : cache.byIndex(BY_GROUP, namespace + "/" + group).stream().map(ResourceID::fromResource).toList();
    }

    /**
     * The lists of the agents a committed move concerns are due from now, before the change feed
     * reports it: this topic's own status, written moments later, must already wait for them.
     */
    private void listsDue(Lease moved) {
        statusBudget.lists.due(moved.holder());
        if (moved.previousHolder() != null) {
            statusBudget.lists.due(moved.previousHolder());
        }
    }

    /** Reconciles {@code topic} for its status once the StreamAgent lists due are out ({@link ListsFirst}). */
    private void nudgeTopicAfterLists(String topic) {
        IndexerResourceCache<StreamTopic> cache = topics;
        if (cache != null) {
            cache.byIndex(BY_TOPIC, topic).forEach(t -> {
                ResourceID id = ResourceID.fromResource(t);
                Runnable nudge = () -> nudges.propagateEvent(id);
                if (!statusBudget.lists.defer(id, nudge)) {
                    nudge.run();
                }
            });
        }
    }

    private void nudgeTopic(String topic) {
        IndexerResourceCache<StreamTopic> cache = topics;
        if (cache != null) {
            cache.byIndex(BY_TOPIC, topic).forEach(t -> nudges.propagateEvent(ResourceID.fromResource(t)));
        }
    }

    /** The topics of the groups {@code agent} is in: its partitions fail over or are assigned again. */
    private void nudgeTopicsOf(AgentId agent) {
        InformerEventSource<StreamAgent, StreamTopic> source = agents;
        if (source == null) {
            return;
        }
        Set<ResourceID> ids = new HashSet<>();
        for (StreamAgent a : source.byIndex(BY_AGENT_ID, agent.value())) {
            ids.addAll(topicsOf(a.getMetadata().getNamespace(), a.getSpec().groupOrDefault()));
        }
        ids.forEach(nudges::propagateEvent);
    }

    private static Duration earliest(Duration a, Duration b) {
        return a == null ? b : b == null ? a : a.compareTo(b) <= 0 ? a : b;
    }

    static String namespaced(StreamTopic topic, String value) {
        return topic.getMetadata().getNamespace() + "/" + value;
    }
}
