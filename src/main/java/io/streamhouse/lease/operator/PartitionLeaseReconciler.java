package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
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
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseSpec;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamTopic;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.assign.HolderChoice;
import io.streamhouse.lease.assign.MoveLimiter;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.model.Names;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.AcquireResult;
import io.streamhouse.lease.store.ChangeFeed;
import io.streamhouse.lease.store.Lease;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.Session;
import io.streamhouse.lease.store.StoreUnavailableException;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
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
import java.util.stream.Stream;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * PartitionLease: validate, choose a holder among the live agents of its group, compare-and-swap
 * in the store, then project the row into status, the holder label and an Event. Thin: choice
 * is {@link HolderChoice}, truth is {@link LeaseStore}, status is {@link LeaseStatuses}.
 */
@ControllerConfiguration(name = "partitionlease",
        maxReconciliationInterval = @MaxReconciliationInterval(interval = 10, timeUnit = TimeUnit.MINUTES))
@GradualRetry(maxAttempts = -1, initialInterval = 500, intervalMultiplier = 2.0, maxInterval = 30_000)
public class PartitionLeaseReconciler implements Reconciler<PartitionLease>, Cleaner<PartitionLease> {

    static final String BY_KEY = "byKey";
    static final String BY_HOLDER = "byHolder";
    static final String UNHELD_BY_GROUP = "unheldByGroup";
    static final String BY_GROUP = "byGroup";
    static final String BY_TOPIC = "byTopic";
    static final String RELEASE_REASON = "LeaseDeleted";
    /** How soon to look again when the view of agents was stale and a CAS lost. */
    static final Duration RETRY_SOON = Duration.ofMillis(200);
    /** How soon a lease nobody holds is looked at again when no event comes. */
    static final Duration UNHELD_RECHECK = Duration.ofSeconds(10);

    private static final Logger LOG = Logger.getLogger(PartitionLeaseReconciler.class);

    private final LeaseStore store;
    private final EventRecorder events;
    private final Clock clock;
    private final Settling settle;
    private final OperatorMetrics metrics;
    private final LeaseActivity activity;
    private volatile IndexerResourceCache<PartitionLease> leases;
    private final UnassignedPartitions unassignedPartitions;
    private InformerEventSource<StreamAgent, PartitionLease> agents;
    private final SimpleInboundEventSource<PartitionLease> nudges = new SimpleInboundEventSource<>("lease-nudges");
    private final GroupPlanner planner;
    private final Planning planning;
    private final EndedSessions endedSessions;
    private final ScheduledExecutorService pacer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "lease-status-pacer");
        t.setDaemon(true);
        return t;
    });
    private final LeaseMoves moves;
    private final LeaseFailover failover;
    private final AgentEventMapper agentEvents;
    private final ChangeNotifications changes;
    private final WriteBudget<ResourceID> statusWrites;
    /** Leases nudged to lead a dead or leaving agent's leases of their group, and that agent. */
    private final Map<ResourceID, AgentId> leading = new java.util.concurrent.ConcurrentHashMap<>();

    public PartitionLeaseReconciler(LeaseStore store, EventRecorder events, Clock clock, AssignConfig assign,
                                    StatusBudget statusBudget, ChangeNotifications changes, OperatorMetrics metrics,
                                    LeaseActivity activity, EndedSessions endedSessions, Planning planning,
                                    UnassignedPartitions unassignedPartitions) {
        this.store = store;
        this.unassignedPartitions = unassignedPartitions;
        this.planning = planning;
        this.planner = planning.planner;
        this.endedSessions = endedSessions;
        this.statusWrites = statusBudget.writes;
        this.changes = changes;
        this.events = events;
        this.clock = clock;
        this.settle = new Settling(clock);
        this.metrics = metrics;
        this.activity = activity;
        this.moves = new LeaseMoves(assign.maxMovesInFlight(), assign.handoffTimeout(), System::nanoTime);
        this.failover = new LeaseFailover(store, planner, metrics, activity, endedSessions, this::showAtTurn,
                nudges::propagateEvent, statusBudget::batchCommitted);
        this.agentEvents = new AgentEventMapper(new AgentEventMapper.Leases() {
            @Override
            public Collection<ResourceID> heldBy(String namespace, String agentId, Long sessionEpoch) {
                // An incarnation the database said is over (its StreamAgent turning Lost, say, just
                // as its failover starts): its leaders, not its thousand leases (see failoverLeaders).
                if (sessionEpoch != null && endedSessions.over(AgentId.of(agentId), sessionEpoch)) {
                    return failoverLeaders(AgentId.of(agentId), namespace);
                }
                // A lease with a turn reserved to write its status is reconciled then anyway, reading
                // everything afresh: after a failover, the dead agent's StreamAgent going Lost would
                // otherwise reconcile its thousand moved leases (their statuses still name it) at once.
                return leases.byIndex(BY_HOLDER, agentId).stream()
                        .filter(pl -> pl.getMetadata().getNamespace().equals(namespace)).map(ResourceID::fromResource)
                        .filter(id -> !statusWrites.hasTurn(id)).toList();
            }

            @Override
            public Collection<ResourceID> unheldIn(String namespace, String group) {
                return leases.byIndex(UNHELD_BY_GROUP, namespace + "/" + group).stream().map(ResourceID::fromResource).toList();
            }

            @Override
            public Collection<ResourceID> movedIn(String namespace, String group) {
                return movedBy(namespace, group);
            }
        }, id -> agents != null && agents.get(id).isPresent(), planner::changed);
    }

    /**
     * Subscribes to the lease store's change feed and registers the unassigned gauge, once the
     * bean is constructed (not in the constructor, so that {@code this} never leaks half-built).
     */
    @PostConstruct
    void start() {
        unassignedPartitions.leases(() -> {
            IndexerResourceCache<PartitionLease> cache = leases;
            return cache == null ? Stream.empty() : cache.list();
        });
        metrics.statusWritesWaiting(statusWrites, WriteBudget::waiting);
        changes.subscribe(new ChangeListener());
        planning.partitionLeases(new Planning.PartitionLeases() {
            @Override
            public Map<LeaseKey, String> owned(String topic) {
                Map<LeaseKey, String> owned = new HashMap<>();
                if (leases != null) {
                    // One being deleted gives its partition up (its cleanup releases the row, then tells the topic).
                    leases.byIndex(BY_TOPIC, topic).stream().filter(PartitionLeaseReconciler::accepted)
                            .filter(pl -> pl.getMetadata().getDeletionTimestamp() == null)
                            .forEach(pl -> owned.put(keyOf(pl.getSpec()), pl.getMetadata().getNamespace() + "/"
                                    + pl.getMetadata().getName()));
                }
                return owned;
            }

            @Override
            public void topicGone(String topic) {
                if (leases != null) {
                    leases.byIndex(BY_TOPIC, topic).forEach(pl -> nudges.propagateEvent(ResourceID.fromResource(pl)));
                }
            }

            @Override
            public List<Assigner.LeaseInput> inputs(String namespace, String group, Map<AgentId, AgentView> views) {
                return leaseInputs(namespace, group, views);
            }
        });
        // A crashed agent's session expired (the StreamAgent reconciler looked just after): its
        // leases fail over now, not once its StreamAgent's new phase has come back through the API server.
        endedSessions.onExpiry(agent -> {
            planner.changed();
            failoverLeaders(agent, null).forEach(nudges::propagateEvent);
        });
    }

    /**
     * Reconciles a lease that a batch moved (another lease's reconcile committed it) at its turn
     * in the status write budget, reserved now: after a failover of thousands of leases they come
     * back at the budget's pace, each reconciled once when it may write, instead of all at once
     * only to be told to come back later, which filled the reconcile threads that StreamAgent
     * publications share (one executor for every controller).
     */
    private void showAtTurn(ResourceID id) {
        Duration wait = statusWrites.reserve(id);
        if (wait.isZero()) {
            nudges.propagateEvent(id);
            return;
        }
        try {
            pacer.schedule(() -> nudgeAtTurn(id), wait.toNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // shutting down
        }
    }

    /**
     * Nudges {@code id} when its turn is due; a turn pushed back meanwhile (StreamAgent lease lists
     * cut in ahead, {@link WriteBudget#cutIn}) is waited for here, not by a reconcile that could
     * only be told to come back.
     */
    private void nudgeAtTurn(ResourceID id) {
        Duration due = statusWrites.dueIn(id);
        if (due.isZero()) {
            nudges.propagateEvent(id);
            return;
        }
        try {
            pacer.schedule(() -> nudgeAtTurn(id), due.toNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            // shutting down
        }
    }

    @PreDestroy
    void stopPacer() {
        pacer.shutdownNow();
    }

    /**
     * The leases whose status names {@code agent} (dead now, or gone) as holder that start what
     * follows: one per namespace and group, the leader, which moves the others of its group in its
     * batch (shown at their turn, retried at once if their CAS was lost) and, once past its
     * compare-and-swap, reconciles whatever of the group that batch did not cover
     * ({@link #nudgeStragglers}); and every lease with failoverDelaySeconds, which waits on its
     * own. Nudging all of them would queue a thousand reconciles that only follow the batch, in
     * the reconcile threads the StreamAgent publications share: measured, the new holders'
     * StreamAgents then waited a second behind them.
     *
     * @param namespace only leases of this namespace, or null for all
     */
    private Collection<ResourceID> failoverLeaders(AgentId agent, String namespace) {
        return failoverLeaders(agent, namespace, new HashSet<>());
    }

    /** As {@link #failoverLeaders(AgentId, String)}, adding to {@code groupsLed} each namespace/group given a leader. */
    private Collection<ResourceID> failoverLeaders(AgentId agent, String namespace, Set<String> groupsLed) {
        if (leases == null) {
            return List.of();
        }
        Map<String, ResourceID> leaders = new HashMap<>();
        List<ResourceID> waiting = new ArrayList<>();
        for (PartitionLease pl : leases.byIndex(BY_HOLDER, agent.value())) {
            ResourceID id = ResourceID.fromResource(pl);
            if (namespace != null && !namespace.equals(pl.getMetadata().getNamespace())) {
                continue;
            }
            if (pl.getSpec() != null && Objects.requireNonNullElse(pl.getSpec().getFailoverDelaySeconds(), 0) > 0) {
                waiting.add(id);
            } else if (pl.getStatus() != null && pl.getStatus().getPhase() == PartitionLeasePhase.Held) {
                leaders.putIfAbsent(pl.getMetadata().getNamespace() + "/" + group(pl.getSpec()), id);
            }
        }
        leaders.values().forEach(id -> leading.put(id, agent));
        LOG.debugf("leaders for %s's leases: %s; waiting on their own: %d", agent, leaders.values(), waiting.size());
        groupsLed.addAll(leaders.keySet());
        waiting.addAll(leaders.values());
        return waiting;
    }

    /**
     * After a leader's compare-and-swap (see {@link #failoverLeaders}): reconciles the leases of
     * its group that still need one of their own, those whose status names {@code holder} (the
     * dead or leaving agent) or shows a holder the database has since released, without a status
     * turn reserved (the batch moved those, and they are reconciled at their turn). After a
     * batch, that is what it skipped (no target) or lost (retried already); when the leader made
     * no batch (no agent to take it), every one of them, each deciding alone.
     */
    private void nudgeStragglers(PartitionLease leader, AgentId holder) {
        ResourceID self = ResourceID.fromResource(leader);
        for (PartitionLease pl : leases.byIndex(BY_GROUP, namespaced(leader, group(leader.getSpec())))) {
            ResourceID id = ResourceID.fromResource(pl);
            PartitionLeaseStatus status = pl.getStatus();
            if (id.equals(self) || status == null || status.getHolder() == null || statusWrites.hasTurn(id)) {
                continue;
            }
            GroupPlanner.Known known = keyString(pl.getSpec()).map(k -> planner.known(keyOf(pl.getSpec()))).orElse(null);
            if (holder.value().equals(status.getHolder()) || known != null && known.holder() == null) {
                nudges.propagateEvent(id);
            }
        }
    }

    @Override
    public List<EventSource<?, PartitionLease>> prepareEventSources(EventSourceContext<PartitionLease> context) {
        leases = context.getPrimaryCache();
        leases.addIndexers(Map.of(
                BY_KEY, pl -> keyString(pl.getSpec()).map(List::of).orElse(List.of()),
                // Agent ids are unique in the cluster, so this index is by id alone.
                BY_HOLDER, pl -> pl.getStatus() == null || pl.getStatus().getHolder() == null ? List.of()
                        : List.of(pl.getStatus().getHolder()),
                UNHELD_BY_GROUP, pl -> pl.getStatus() != null && pl.getStatus().getPhase() == PartitionLeasePhase.Held
                        ? List.of() : List.of(namespaced(pl, group(pl.getSpec()))),
                BY_GROUP, pl -> keyString(pl.getSpec()).isPresent() ? List.of(namespaced(pl, group(pl.getSpec())))
                        : List.of(),
                BY_TOPIC, pl -> keyString(pl.getSpec()).isPresent() ? List.of(pl.getSpec().getTopic()) : List.of()));
        // An agent's change concerns the leases it holds and, when it can take leases, the unheld ones of its group.
        var config = InformerEventSourceConfiguration.from(StreamAgent.class, PartitionLease.class)
                .withSecondaryToPrimaryMapper((StreamAgent agent) -> agentEvents.affectedBy(agent))
                .build();
        agents = new InformerEventSource<>(config, context);
        return List.of(agents, nudges);
    }

    /** Validate, wait for the group to be planned, plan, decide, compare-and-swap, and project the row into the resource. */
    @Override
    public UpdateControl<PartitionLease> reconcile(PartitionLease resource, Context<PartitionLease> context) {
        Instant now = clock.instant();
        Validated valid = validate(resource);
        if (valid.refusal() != null) {
            return refuse(resource, context, valid.bound(), valid.refusal(), now);
        }
        boolean leader = LOG.isDebugEnabled() && leading.containsKey(ResourceID.fromResource(resource));
        long started = System.nanoTime();
        Optional<Duration> notPlannedYet = awaitPlan(resource, valid.key());
        if (notPlannedYet.isPresent()) {
            if (leader) {
                LOG.debugf("%s leads, waits %s for its group's plan", valid.key(), notPlannedYet.get());
            }
            return UpdateControl.<PartitionLease>noUpdate().rescheduleAfter(notPlannedYet.get());
        }
        LeaseKey key = valid.key();
        Lease row = store.lease(key).orElse(null);
        Outcome outcome = waitForHolder(resource, row);
        if (outcome == null) {
            long read = System.nanoTime();
            Plan plan = plan(resource, key, row);
            if (leader) {
                LOG.debugf("%s leads: read %d ms, plan %d ms%s", key, (read - started) / 1_000_000,
                        (System.nanoTime() - read) / 1_000_000, plan.deferred() == null ? "" : ", deferred " + plan.deferred());
            }
            if (plan.deferred() != null) {
                return UpdateControl.<PartitionLease>noUpdate().rescheduleAfter(plan.deferred());
            }
            HolderChoice.Decision decision = decide(plan, row);
            outcome = swap(resource, key, row, plan, decision, now);
            AgentId led = leading.remove(ResourceID.fromResource(resource));
            if (led != null) {
                nudgeStragglers(resource, led);
            }
        }
        return project(resource, context, valid, outcome, now);
    }

    // ------------------------------------------------------------------ the steps

    /** Why a resource is refused, as its status shows it. */
    private record Refusal(PartitionLeasePhase phase, String reason, String message, Duration recheck) {
    }

    /** The partition a valid resource names, and the one it is bound to; or why it is refused. */
    private record Validated(LeaseKey key, String bound, Refusal refusal) {
    }

    /**
     * What the compare-and-swap (or the wait for an expired holder) left: the row (null when never
     * written), why nobody holds it, the handoff asked for, and when to look again.
     */
    private record Outcome(Lease row, String unheldReason, String unheldMessage, MoveLimiter.Move handoff,
                           Duration recheck) {
    }

    /** Step 1: the spec is valid, its partition has not changed, and this resource owns the partition. */
    private Validated validate(PartitionLease resource) {
        PartitionLeaseStatus previous = resource.getStatus();
        LeaseKey key;
        try {
            key = keyOf(resource.getSpec());
            Names.labelValue("agentGroup", group(resource.getSpec()));
            if (resource.getSpec().getPreferredAgent() != null) {
                AgentId.of(resource.getSpec().getPreferredAgent()); // the plan reads the pin; refuse a bad one here
            }
        } catch (IllegalArgumentException | NullPointerException e) {
            return new Validated(null, boundKey(previous), new Refusal(PartitionLeasePhase.Invalid, Conditions.INVALID_SPEC,
                    "spec refused: " + Objects.requireNonNullElse(e.getMessage(), "missing topic or partition"), null));
        }
        String bound = boundKey(previous) == null ? key.toString() : boundKey(previous);
        if (!bound.equals(key.toString())) {
            return new Validated(key, bound, new Refusal(PartitionLeasePhase.Invalid, Conditions.SPEC_IMMUTABLE,
                    "topic and partition are immutable: this resource is bound to " + bound + ", spec now asks for "
                            + key + "; create a new PartitionLease instead", null));
        }
        Optional<PartitionLease> owner = ownerOf(key);
        if (owner.isPresent() && !Resources.same(owner.get(), resource)) {
            // Look again soon when the owner is going away, and now and then in any case: a
            // duplicate takes over as soon as it is the oldest left.
            Duration recheck = owner.get().getMetadata().getDeletionTimestamp() != null
                    ? Duration.ofMillis(500) : Duration.ofSeconds(30);
            return new Validated(key, bound, new Refusal(PartitionLeasePhase.Conflict, Conditions.DUPLICATE_PARTITION,
                    "partition " + key + " is already managed by PartitionLease " + owner.get().getMetadata().getNamespace()
                            + "/" + owner.get().getMetadata().getName(), recheck));
        }
        // A lease accepted before a StreamTopic covered its partition keeps it; a new one is refused.
        Optional<StreamTopic> topic = accepted(resource) ? Optional.empty() : planning.topics().covering(key);
        if (topic.isPresent()) {
            return new Validated(key, bound, new Refusal(PartitionLeasePhase.Conflict, Conditions.DUPLICATE_PARTITION,
                    "partition " + key + " is already managed by StreamTopic " + topic.get().getMetadata().getNamespace()
                            + "/" + topic.get().getMetadata().getName() + " (topic " + key.topic() + ")", Duration.ofSeconds(30)));
        }
        return new Validated(key, bound, null);
    }

    /** Step 2: a change to the lease invalidates the group's plan; decide only once it is re-planned. */
    private Optional<Duration> awaitPlan(PartitionLease resource, LeaseKey key) {
        PartitionLeaseStatus previous = resource.getStatus();
        long generation = Objects.requireNonNullElse(resource.getMetadata().getGeneration(), 0L);
        if (previous == null || !Objects.equals(previous.getObservedGeneration(), generation)) {
            planner.changed(); // new lease, or its pin or group changed
        }
        return planner.untilPlanned(namespaced(resource, group(resource.getSpec())), key);
    }

    /** The group's plan as it concerns one lease: its target, and the agents it was made with. */
    private record Plan(String namespace, String group, Map<AgentId, AgentView> views, GroupPlanner.Planned planned,
                        AgentId target, Supplier<GroupPlanner.Planned> replan, Duration recheck, Duration deferred) {
        static Plan deferredBy(Duration d) {
            return new Plan(null, null, null, null, null, null, null, d);
        }
    }

    /**
     * With failoverDelaySeconds, a lease whose holder's session expired waits for that holder to
     * come back: the outcome to show while it does, or null to decide now.
     */
    private Outcome waitForHolder(PartitionLease resource, Lease row) {
        if (row != null) {
            planner.observed(row.key(), row.holder(), row.holderLive(), row.epoch());
        }
        AgentId holder = row == null ? null : row.holder();
        Duration wait = failoverWait(resource, holder, row != null && row.holderLive());
        return wait == null ? null : new Outcome(row, Conditions.WAITING_FOR_HOLDER, "session of " + holder
                + " expired; keeping the lease for it for " + resource.getSpec().getFailoverDelaySeconds()
                + "s after expiry (failoverDelaySeconds)", null, wait);
    }

    /** Step 3, plan: where the group's plan (re-planned if its target can no longer take leases) puts this lease. */
    private Plan plan(PartitionLease resource, LeaseKey key, Lease row) {
        String namespace = resource.getMetadata().getNamespace();
        String groupName = group(resource.getSpec());
        AgentId holder = row == null ? null : row.holder();
        boolean holderLive = row != null && row.holderLive();
        List<AgentView> group = groupViews(namespace, groupName);
        Map<AgentId, AgentView> views = new HashMap<>();
        group.forEach(v -> views.put(v.id(), v));
        if (AgentViews.staleFor(row, views)) {
            // The database says the holder's incarnation is dead while its StreamAgent still calls
            // it live: a plan made now would send the lease back to that dead incarnation (a CAS
            // that must fail, and a failover batch lost for every sibling). The StreamAgent
            // follows within moments (the session change reaches its reconciler at once).
            return Plan.deferredBy(RETRY_SOON);
        }
        String planKey = namespaced(resource, groupName);
        Supplier<GroupPlanner.Planned> replan = () -> planner.replan(planKey,
                () -> leaseInputs(namespace, groupName, views), () -> AgentViews.inputs(groupName, group));
        GroupPlanner.Planned planned = planner.plan(planKey, key, planHolder(holder, holderLive, views),
                () -> leaseInputs(namespace, groupName, views), () -> AgentViews.inputs(groupName, group));
        if (!planned.upToDate() && !planned.plan().target().containsKey(key)) {
            return Plan.deferredBy(GroupPlanner.DEBOUNCE); // new since the last plan: the next one places it
        }
        Duration recheck = planned.upToDate() ? null : GroupPlanner.DEBOUNCE; // acted on a plan older than the last change
        AgentId target = planned.plan().target().get(key);
        AgentView targetView = target == null ? null : views.get(target);
        if (target != null && !(target.equals(holder) && holderLive) && (targetView == null || !targetView.acceptsLeases())) {
            // The plan predates a change to its target (cordoned, gone, in conflict): replan now.
            planned = replan.get();
            target = planned.plan().target().get(key);
        }
        return new Plan(namespace, groupName, views, planned, target, replan, recheck, null);
    }

    /** Step 4, decide: keep, acquire (free or dead holder), take over from a live holder, or nowhere to go. */
    private static HolderChoice.Decision decide(Plan plan, Lease row) {
        return HolderChoice.toward(plan.target() == null ? null : plan.views().get(plan.target()),
                row == null ? null : row.holder(), row != null && row.holderLive());
    }

    /**
     * Step 5, compare-and-swap: a failover (batched), a free lease, or a planned move (a handoff
     * asked of a live holder, or taken over); none when the decision is to keep.
     */
    private Outcome swap(PartitionLease resource, LeaseKey key, Lease row, Plan plan, HolderChoice.Decision decision,
                         Instant now) {
        AgentId holder = row == null ? null : row.holder();
        boolean holderLive = row != null && row.holderLive();
        Duration recheck = plan.recheck();
        AcquireResult result = null;
        MoveLimiter.Move handoff = null;
        boolean movePending = false;
        List<String> awaited = List.of();
        if (decision instanceof HolderChoice.Decision.Acquire acquire && acquire.takeOver()) {
            LeaseMoves.Decision move = moves.decide(key, acquire.target().id(), plan.views().get(holder), now,
                    ResourceID.fromResource(resource));
            if (move instanceof LeaseMoves.Decision.WaitForSlot w) {
                movePending = true;
                recheck = w.recheck();
            } else if (move instanceof LeaseMoves.Decision.AskHolder ask) {
                handoff = ask.move();
                recheck = ask.recheck();
                // The holder learns of it from the database (its channel), not from the status.
                store.requestHandoff(key, holder, row.holderSession(), row.epoch(), handoff.target());
            } else if (move instanceof LeaseMoves.Decision.TakeOver takeOver) {
                result = failover.acquire(AcquireRequest.takeOver(key, acquire.target().id(),
                        acquire.target().sessionEpoch(), holder, row.epoch()), takeOver.forced() ? "HandoffForced" : "Moved");
                if (takeOver.forced() && result.succeeded()) {
                    events.warning(resource, Conditions.HANDOFF_FORCED, holder + " did not release within "
                            + moves.handoffTimeout().toMillis() + " ms; moved to " + acquire.target().id()
                            + " at epoch " + result.lease().epoch() + " (the old epoch is fenced)");
                }
            }
        } else if (decision instanceof HolderChoice.Decision.Acquire acquire && holder != null) {
            // Its holder's session died: failover, batched with the rest of that agent's leases.
            result = failover.failover(new LeaseFailover.Request(plan.namespace(), plan.group(), key, row,
                    acquire.target(), plan.views(), plan.planned().plan(), () -> plan.replan().get().plan(),
                    deadSiblings(plan.namespace(), plan.group(), key, holder)));
        } else if (decision instanceof HolderChoice.Decision.Acquire acquire && moves.inFlight(key)) {
            // Released by its holder for a planned move (a handoff): to the move's target. Never waits for a slot.
            result = failover.acquire(AcquireRequest.ifFree(key, acquire.target().id(), acquire.target().sessionEpoch()),
                    "Handoff");
        } else if (decision instanceof HolderChoice.Decision.Acquire
                && !(awaited = settle.awaited(agents.list(plan.namespace(), a -> a.getSpec() != null
                        && plan.group().equals(a.getSpec().groupOrDefault())))).isEmpty()) {
            // Free, but an agent of the group has no status yet (just applied, or this operator
            // just started): the plan made now would not count it and the lease would be moved
            // to it again a moment later, at a new epoch. It waits, at most Settling.SETTLING.
            recheck = recheck == null || recheck.compareTo(GroupPlanner.DEBOUNCE) > 0 ? GroupPlanner.DEBOUNCE : recheck;
        } else if (decision instanceof HolderChoice.Decision.Acquire acquire) {
            // Free (new, or released: an agent's graceful stop releases all of its leases at once):
            // batched with the group's other free leases.
            result = failover.assignFree(new LeaseFailover.FreeRequest(plan.namespace(), plan.group(), key, row,
                    acquire.target(), plan.views(), plan.planned().plan(),
                    () -> freeSiblings(plan.namespace(), plan.group(), key)));
        }
        String unheldReason = Conditions.NO_ELIGIBLE_AGENT;
        String unheldMessage = "no live, uncordoned StreamAgent in group " + plan.group() + " of namespace "
                + plan.namespace();
        if (!awaited.isEmpty()) {
            unheldReason = Conditions.AWAITING_AGENTS;
            unheldMessage = "waiting up to " + Settling.SETTLING.toSeconds() + " s for StreamAgent(s) " + awaited
                    + " of group " + plan.group() + " to be looked at, so that the first placement counts them";
        }
        if (result == null && holder != null && !holderLive) {
            unheldReason = Conditions.SESSION_EXPIRED;
            unheldMessage = "session of " + holder + " expired and " + unheldMessage;
        }
        Lease after = row;
        if (result != null) {
            after = result.lease();
            planner.observed(key, after.holder(), after.holderLive(), after.epoch());
            if (!result.succeeded()) {
                recheck = RETRY_SOON; // our view of the agents was stale; the row is the truth
                LOG.debugf("%s: CAS lost (%s)", key, result.outcome());
            }
        }
        if (handoff == null && !movePending && (result == null || result.succeeded())) {
            finishMove(key); // in place, or nothing to move any more
        }
        if (handoff == null && resource.getStatus() != null && resource.getStatus().getHandoffTo() != null) {
            store.cancelHandoff(key); // asked before, no longer wanted (a change of holder has ended it already)
        }
        if (recheck == null && (after == null || !after.isHeld())) {
            // Nobody holds it: an agent event should bring it back, but a missed or early one must not
            // leave a partition unwritten until the ten-minute resync (seen in tests under load).
            recheck = UNHELD_RECHECK;
        }
        return new Outcome(after, unheldReason, unheldMessage, handoff, recheck);
    }

    /** Step 6, project: status from the row, the holder label, and the Events of a new holder or a handoff asked. */
    private UpdateControl<PartitionLease> project(PartitionLease resource, Context<PartitionLease> context,
                                                  Validated valid, Outcome outcome, Instant now) {
        PartitionLeaseStatus previous = resource.getStatus();
        long generation = Objects.requireNonNullElse(resource.getMetadata().getGeneration(), 0L);
        Lease row = outcome.row() != null ? outcome.row() : store.lease(valid.key()).orElse(null);
        PartitionLeaseStatus next = row == null
                ? LeaseStatuses.refused(previous, generation, valid.bound(), PartitionLeasePhase.Unassigned,
                        outcome.unheldReason(), outcome.unheldMessage(), now)
                : LeaseStatuses.fromRow(previous, generation, valid.bound(), row, outcome.unheldReason(),
                        outcome.unheldMessage(), now);
        MoveLimiter.Move handoff = outcome.handoff();
        if (handoff != null && row != null && row.isHeld()) {
            next = LeaseStatuses.withHandoff(next, handoff.target().value(), handoff.startedAt());
        }
        Optional<Duration> notYet = awaitTurn(resource, next, outcome.recheck());
        if (notYet.isPresent()) {
            return UpdateControl.<PartitionLease>noUpdate().rescheduleAfter(notYet.get());
        }
        // What is announced goes with the status that shows it: a deferred write defers its Events too.
        if (handoff != null && row != null && row.isHeld()
                && (previous == null || !handoff.target().value().equals(previous.getHandoffTo()))) {
            events.normal(resource, Conditions.HANDOFF_REQUESTED, row.holder() + " is asked to release epoch "
                    + row.epoch() + " for " + handoff.target() + " within " + moves.handoffTimeout().toMillis() + " ms");
        }
        PartitionLease current = removeHolderLabel(resource, context);
        if (row != null) {
            announceTransition(current, previous, row);
        }
        return writeStatus(current, next, outcome.recheck(), context);
    }

    /**
     * Status writes are paced ({@link WriteBudget}, {@code streamhouse.publish.*}): empty when this
     * lease may write now (or has nothing to write), else how soon to look again: at its turn, or
     * sooner when the reconcile wants to look again anyway. The row is read afresh then, so a
     * lease that moved again meanwhile is written once, with its final state.
     */
    private Optional<Duration> awaitTurn(PartitionLease resource, PartitionLeaseStatus next, Duration recheck) {
        ResourceID id = ResourceID.fromResource(resource);
        if (next.equals(resource.getStatus()) && !hasHolderLabel(resource)) {
            statusWrites.forget(id);
            return Optional.empty();
        }
        Duration wait = statusWrites.turn(id);
        if (wait.isZero()) {
            return Optional.empty();
        }
        return Optional.of(recheck != null && recheck.compareTo(wait) < 0 ? recheck : wait);
    }

    /**
     * The dead holder's other leases in this group, by the holder index: candidates for its
     * failover batch (a lease with failoverDelaySeconds waits for its holder instead).
     */
    private List<LeaseFailover.Sibling> deadSiblings(String namespace, String group, LeaseKey key, AgentId holder) {
        List<LeaseFailover.Sibling> siblings = new ArrayList<>();
        for (PartitionLease sibling : leases.byIndex(BY_HOLDER, holder.value())) {
            Optional<String> siblingKey = keyString(sibling.getSpec());
            if (siblingKey.isEmpty() || siblingKey.get().equals(key.toString())
                    || !namespace.equals(sibling.getMetadata().getNamespace())
                    || !group.equals(group(sibling.getSpec()))
                    || Objects.requireNonNullElse(sibling.getSpec().getFailoverDelaySeconds(), 0) > 0) {
                continue;
            }
            siblings.add(new LeaseFailover.Sibling(ResourceID.fromResource(sibling), keyOf(sibling.getSpec())));
        }
        return siblings;
    }

    /**
     * The group's other leases that are free as far as this process knows (the database said so
     * last, or never read and not shown Held): candidates for a batch of free assignments. A
     * candidate that is not free after all only loses its CAS. Duplicates, and leases whose spec
     * left their bound partition, are not candidates.
     */
    private List<LeaseFailover.Sibling> freeSiblings(String namespace, String group, LeaseKey key) {
        List<LeaseFailover.Sibling> siblings = new ArrayList<>();
        for (PartitionLease sibling : leases.byIndex(BY_GROUP, namespace + "/" + group)) {
            Optional<String> siblingKey = keyString(sibling.getSpec());
            if (siblingKey.isEmpty() || siblingKey.get().equals(key.toString())) {
                continue;
            }
            PartitionLeaseStatus status = sibling.getStatus();
            if (status != null && (status.getPhase() == PartitionLeasePhase.Conflict
                    || status.getPhase() == PartitionLeasePhase.Invalid)) {
                continue;
            }
            LeaseKey k = keyOf(sibling.getSpec());
            GroupPlanner.Known known = planner.known(k);
            // Never read here: a candidate only when its status names no holder either. A CAS "if
            // free" also takes a dead holder's lease, which must go through the failover (its
            // reason, and failoverDelaySeconds), never through this batch.
            boolean free = known != null ? known.holder() == null : status == null || status.getHolder() == null;
            if (free && ownerOf(k).map(o -> Resources.same(o, sibling)).orElse(false)) {
                siblings.add(new LeaseFailover.Sibling(ResourceID.fromResource(sibling), k));
            }
        }
        return siblings;
    }

    @Override
    public ErrorStatusUpdateControl<PartitionLease> updateErrorStatus(PartitionLease resource,
                                                                     Context<PartitionLease> context, Exception e) {
        StoreUnavailableException unavailable = StoreErrors.unavailable(e);
        if (unavailable == null) {
            return ErrorStatusUpdateControl.defaultErrorProcessing();
        }
        PartitionLeaseStatus next = LeaseStatuses.storeUnavailable(resource.getStatus(),
                Objects.requireNonNullElse(resource.getMetadata().getGeneration(), 0L),
                "lease store unavailable, retrying with backoff; holder and epoch shown are the last known: "
                        + unavailable.getMessage(), clock.instant());
        if (next.equals(resource.getStatus())) {
            return ErrorStatusUpdateControl.noStatusUpdate();
        }
        resource.setStatus(next);
        return ErrorStatusUpdateControl.patchStatus(resource);
    }

    @Override
    public DeleteControl cleanup(PartitionLease resource, Context<PartitionLease> context) {
        LeaseKey key;
        try {
            key = keyOf(resource.getSpec());
        } catch (IllegalArgumentException | NullPointerException e) {
            return DeleteControl.defaultDelete(); // never bound to a row
        }
        String bound = boundKey(resource.getStatus());
        boolean refused = resource.getStatus() != null
                && (resource.getStatus().getPhase() == PartitionLeasePhase.Conflict
                || resource.getStatus().getPhase() == PartitionLeasePhase.Invalid);
        boolean owns = !refused && (bound == null || bound.equals(key.toString()))
                && ownerOf(key).map(o -> Resources.same(o, resource)).orElse(true);
        moves.cancel(ResourceID.fromResource(resource));
        statusWrites.forget(ResourceID.fromResource(resource));
        leading.remove(ResourceID.fromResource(resource));
        if (owns) {
            finishMove(key);
            planner.forget(key);
            // A StreamTopic covering the partition adopts the row as it is (holder and epoch): no
            // release, so no move when the topic's plan keeps the holder, and no second release of a
            // row the topic has taken meanwhile when this cleanup runs again.
            Optional<StreamTopic> adopter = planning.topics().covering(key);
            adopter.ifPresent(t -> LOG.infof("%s: deletion of %s/%s leaves the partition to StreamTopic %s/%s", key,
                    resource.getMetadata().getNamespace(), resource.getMetadata().getName(),
                    t.getMetadata().getNamespace(), t.getMetadata().getName()));
            store.lease(key).filter(row -> row.holder() != null && adopter.isEmpty()).ifPresent(row -> {
                if (store.release(key, row.holder(), row.holderSession(), row.epoch(), RELEASE_REASON).released()) {
                    LOG.infof("%s released by deletion of %s/%s (was %s at epoch %d)", key,
                            resource.getMetadata().getNamespace(), resource.getMetadata().getName(), row.holder(), row.epoch());
                }
            });
            // A duplicate waiting for this partition may now take it over, or a StreamTopic covering it.
            leases.byIndex(BY_KEY, key.toString()).stream().filter(pl -> !Resources.same(pl, resource))
                    .forEach(pl -> nudges.propagateEvent(ResourceID.fromResource(pl)));
            planning.topics().partitionLeaseGone(key);
        }
        return DeleteControl.defaultDelete();
    }

    // ------------------------------------------------------------------ helpers

    private UpdateControl<PartitionLease> refuse(PartitionLease resource, Context<PartitionLease> context, String bound,
                                                 Refusal refusal, Instant now) {
        PartitionLeaseStatus previous = resource.getStatus();
        long generation = Objects.requireNonNullElse(resource.getMetadata().getGeneration(), 0L);
        PartitionLeaseStatus next = LeaseStatuses.refused(previous, generation, bound, refusal.phase(), refusal.reason(),
                refusal.message(), now);
        Optional<Duration> notYet = awaitTurn(resource, next, refusal.recheck());
        if (notYet.isPresent()) {
            return UpdateControl.<PartitionLease>noUpdate().rescheduleAfter(notYet.get());
        }
        if (!next.equals(previous)) {
            events.warning(resource, refusal.reason(), refusal.message());
        }
        return writeStatus(removeHolderLabel(resource, context), next, refusal.recheck(), context);
    }

    /**
     * The holder the plan should assume for a lease: its live holder, or, when that holder's
     * session died but the agent may take leases again (a new incarnation), that agent, so it
     * gets its partition back instead of a move; otherwise nobody.
     */
    private static AgentId planHolder(AgentId holder, boolean live, Map<AgentId, AgentView> views) {
        if (holder == null) {
            return null;
        }
        AgentView view = views.get(holder);
        return live || view != null && view.acceptsLeases() ? holder : null;
    }

    private List<Assigner.LeaseInput> leaseInputs(String namespace, String group, Map<AgentId, AgentView> views) {
        List<Assigner.LeaseInput> inputs = new ArrayList<>();
        Set<LeaseKey> seen = new HashSet<>();
        IndexerResourceCache<PartitionLease> cache = leases;
        for (PartitionLease pl : cache == null ? List.<PartitionLease>of() : cache.byIndex(BY_GROUP, namespace + "/" + group)) {
            PartitionLeaseStatus status = pl.getStatus();
            LeaseKey key = keyOf(pl.getSpec());
            // One input per partition, whichever resource owns it; a spec changed away from its
            // bound partition is refused and plans nothing.
            if (refused(pl) || !seen.add(key) || status != null && status.getBoundKey() != null
                    && !status.getBoundKey().equals(key.toString())) {
                continue;
            }
            GroupPlanner.Known known = planner.known(key);
            AgentId holder;
            if (known != null) {
                holder = planHolder(known.holder(), known.live(), views);
            } else {
                // Not read from the database yet in this process: the status is a good first guess.
                holder = status != null && status.getPhase() == PartitionLeasePhase.Held && status.getHolder() != null
                        ? AgentId.of(status.getHolder()) : null;
            }
            AgentId pin = null;
            try {
                pin = pl.getSpec().getPreferredAgent() == null ? null : AgentId.of(pl.getSpec().getPreferredAgent());
            } catch (IllegalArgumentException e) {
                // an invalid pin is reported on the lease itself
            }
            inputs.add(new Assigner.LeaseInput(key, group, pin, holder));
        }
        inputs.addAll(planning.topics().inputs(namespace, group, seen, views));
        return inputs;
    }

    /** Accepted: bound to its partition and not refused (a Conflict or an Invalid spec). */
    static boolean accepted(PartitionLease pl) {
        PartitionLeaseStatus status = pl.getStatus();
        return status != null && status.getBoundKey() != null && !refused(pl)
                && keyString(pl.getSpec()).map(status.getBoundKey()::equals).orElse(false);
    }

    private static boolean refused(PartitionLease pl) {
        return pl.getStatus() != null && (pl.getStatus().getPhase() == PartitionLeasePhase.Conflict
                || pl.getStatus().getPhase() == PartitionLeasePhase.Invalid);
    }

    /** After an agent change, the leases of its group whose planned holder is not their holder. */
    private Set<ResourceID> movedBy(String namespace, String group) {
        List<PartitionLease> inGroup = leases.byIndex(BY_GROUP, namespace + "/" + group);
        if (inGroup.isEmpty() || agents == null) {
            return Set.of();
        }
        List<AgentView> views = groupViews(namespace, group);
        Map<AgentId, AgentView> byId = new HashMap<>();
        views.forEach(v -> byId.put(v.id(), v));
        List<Assigner.LeaseInput> inputs = leaseInputs(namespace, group, byId);
        Assigner.Plan plan = planner.replan(namespace + "/" + group, () -> inputs, () -> AgentViews.inputs(group, views)).plan();
        Set<LeaseKey> moved = new HashSet<>();
        // Only leases a holder still holds (keeping them, or draining): a free lease is the unheld ones' (or its release's)
        // concern, and a dead holder's are its failover leaders' (failoverLeaders), which move them
        // in one batch; listing those here queued a reconcile for each of them at every change of
        // the dead agent's StreamAgent.
        inputs.forEach(l -> {
            AgentView holder = l.holder() == null ? null : byId.get(l.holder());
            if (holder != null && !endedSessions.over(holder.id(), holder.sessionEpoch())
                    && !Objects.equals(plan.target().get(l.key()), l.holder())) {
                moved.add(l.key());
            }
        });
        Set<ResourceID> ids = new HashSet<>();
        for (PartitionLease pl : inGroup) {
            keyString(pl.getSpec()).filter(k -> moved.contains(keyOf(pl.getSpec()))).ifPresent(k -> ids.add(ResourceID.fromResource(pl)));
        }
        return ids;
    }

    /** The StreamAgents of a namespace and group, as assignment sees them ({@link AgentViews}). */
    private List<AgentView> groupViews(String namespace, String group) {
        return endedSessions.apply(AgentViews.of(agents.list(namespace,
                a -> a.getSpec() != null && group.equals(a.getSpec().groupOrDefault())).toList()));
    }

    /** Non-null when the lease should wait for its expired holder to come back (failoverDelaySeconds). */
    private Duration failoverWait(PartitionLease resource, AgentId holder, boolean holderLive) {
        Integer delay = resource.getSpec().getFailoverDelaySeconds();
        if (delay == null || delay <= 0 || holder == null || holderLive) {
            return null;
        }
        Optional<Session> session = store.session(holder);
        if (session.isEmpty() || session.get().live()) {
            return null; // unknown, or already back with a new incarnation: decide now
        }
        Duration deadFor = Duration.between(session.get().expiresAt(), session.get().observedAt());
        Duration left = Duration.ofSeconds(delay).minus(deadFor);
        return left.isNegative() || left.isZero() ? null : left;
    }

    private UpdateControl<PartitionLease> writeStatus(PartitionLease resource, PartitionLeaseStatus next, Duration recheck,
                                                      Context<PartitionLease> context) {
        if (!next.equals(resource.getStatus())) {
            metrics.apiWrite("lease-status");
        }
        return Resources.finish(resource, next, recheck, context);
    }

    private static boolean hasHolderLabel(PartitionLease resource) {
        Map<String, String> labels = resource.getMetadata().getLabels();
        return labels != null && labels.containsKey(PartitionLease.HOLDER_LABEL);
    }

    /**
     * Removes the {@code streamhouse.io/holder} label that version 0.1.0 kept on every lease (a
     * second API write per move; a holder's leases are listed in its StreamAgent's status now).
     * Once per lease, in the turn of a status write. Returns the resource as the API server now has it.
     */
    private PartitionLease removeHolderLabel(PartitionLease resource, Context<PartitionLease> context) {
        if (!hasHolderLabel(resource)) {
            return resource;
        }
        // A JSON patch: the mock API server stores a merge patch's null instead of deleting. The
        // answer goes into the controller's cache, so our own change is not an event.
        String path = "/metadata/labels/" + PartitionLease.HOLDER_LABEL.replace("~", "~0").replace("/", "~1");
        metrics.apiWrite("lease-label");
        return Resources.patchAndCache(context, resource, r -> context.getClient().resource(r)
                .patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"remove\",\"path\":\"" + path + "\"}]"));
    }

    private void announceTransition(PartitionLease resource, PartitionLeaseStatus previous, Lease row) {
        Long before = previous == null ? null : previous.getEpoch();
        if (row.holder() == null || row.epoch() == 0 || Objects.equals(before, row.epoch())) {
            return;
        }
        activity.moved();
        String from = row.previousHolder() == null ? "" : " from " + row.previousHolder();
        events.normal(resource, Conditions.LEASE_ACQUIRED,
                "acquired by " + row.holder() + " at epoch " + row.epoch() + from);
    }

    /** The PartitionLease that owns a partition: the oldest one naming it and bound to it. */
    private Optional<PartitionLease> ownerOf(LeaseKey key) {
        return Resources.oldest(leases.byIndex(BY_KEY, key.toString()).stream()
                .filter(pl -> pl.getStatus() == null || pl.getStatus().getBoundKey() == null
                        || key.toString().equals(pl.getStatus().getBoundKey()))
                .toList());
    }

    /** Ends the move of {@code key}, if one was in flight, and lets the next waiting leases start theirs. */
    private void finishMove(LeaseKey key) {
        moves.finish(key).forEach(nudges::propagateEvent);
    }

    /**
     * Reacts to lease changes made in the database by others: a holder that released (handoff
     * or shutdown). Our own writes come back too and are skipped when the row is already known.
     */
    private final class ChangeListener implements ChangeFeed.Listener {
        /** Leases to reconcile at the end of the batch of notifications (the feed's thread only). */
        private final Set<ResourceID> pending = new java.util.LinkedHashSet<>();
        /** Leases released in this batch, and by whom (the feed's thread only). */
        private final Map<ResourceID, AgentId> released = new java.util.LinkedHashMap<>();
        /** Agents whose session the database said is over in this batch (the feed's thread only). */
        private final Set<AgentId> endedNow = new HashSet<>();

        @Override
        public void leaseChanged(ChangeFeed.LeaseChange change) {
            GroupPlanner.Known known = planner.known(change.key());
            if (leases == null || known != null && known.epoch() == change.epoch()
                    && Objects.equals(known.holder(), change.holder())) {
                return;
            }
            if (change.holder() == null && (known == null || known.epoch() <= change.epoch())) {
                // Released (a handoff, a graceful stop): free now, so that the first of these leases
                // to be reconciled assigns the others in its batch. Only a hint: a lease found
                // not free after all loses its CAS.
                planner.observed(change.key(), null, false, change.epoch());
            }
            if (failover.moving(change.key(), change.holder())) {
                return; // a batch's own write, reported at its commit: the batch shows or retries the lease
            }
            for (PartitionLease pl : leases.byIndex(BY_KEY, change.key().toString())) {
                ResourceID id = ResourceID.fromResource(pl);
                if (change.holder() == null && change.previous() != null) {
                    released.put(id, change.previous());
                } else {
                    pending.add(id);
                }
            }
        }

        /**
         * Reconciles the leases of the whole batch only now: a graceful stop releases them all in
         * one transaction, and the first to be reconciled then finds every other one known free
         * and assigns them in one batch (reconciled one by one as they were read, it would find
         * only those read before it). Of the leases released by an agent that left in this batch
         * (its graceful stop), one per namespace and group leads (see failoverLeaders); a release
         * by an agent that stays (a handoff) is reconciled on its own: it goes to the move's target.
         */
        @Override
        public void endOfBatch() {
            Map<AgentId, Set<String>> groupsLed = new HashMap<>();
            for (AgentId agent : endedNow) {
                pending.addAll(failoverLeaders(agent, null, groupsLed.computeIfAbsent(agent, a -> new HashSet<>())));
            }
            released.forEach((id, previous) -> {
                PartitionLease pl = groupsLed.containsKey(previous) ? leases.get(id).orElse(null) : null;
                if (pl == null) {
                    pending.add(id);
                } else if (groupsLed.get(previous).add(namespaced(pl, group(pl.getSpec())))) {
                    leading.put(id, previous); // its status no longer names the leaver, say
                    pending.add(id);
                }
            });
            pending.forEach(nudges::propagateEvent);
            pending.clear();
            released.clear();
            endedNow.clear();
        }

        @Override
        public void sessionEnded(AgentId agent, long sessionEpoch) {
            // Before the leases it released are reconciled (same batch): they must not be planned
            // back onto the agent that just left, whose StreamAgent still says Ready. Leases it
            // still holds (its pod went, and we ended the session) fail over now.
            if (endedSessions.ended(agent, sessionEpoch)) {
                endedNow.add(agent); // its leaders are chosen at the end of the batch, with its releases
            }
        }

        @Override
        public void sessionChanged(AgentId agent) {
            // Leases hear of anything else through the StreamAgent, which publishes the new phase:
            // acting before that would plan with the agent's old phase (say, give away the lease
            // of an agent that just came back within its failoverDelaySeconds). Only an ended
            // incarnation is acted on at once (sessionEnded): it can never come back.
            planner.changed();
        }

        @Override
        public void resynced() {
            if (leases == null) {
                return;
            }
            endOfBatch(); // a batch cut short by the lost connection
            moves.keysInFlight().forEach(key -> leases.byIndex(BY_KEY, key.toString())
                    .forEach(pl -> nudges.propagateEvent(ResourceID.fromResource(pl))));
        }
    }

    static LeaseKey keyOf(PartitionLeaseSpec spec) {
        Objects.requireNonNull(spec, "spec is missing");
        Objects.requireNonNull(spec.getTopic(), "spec.topic is required");
        Objects.requireNonNull(spec.getPartition(), "spec.partition is required");
        return LeaseKey.of(spec.getTopic(), spec.getPartition());
    }

    private static Optional<String> keyString(PartitionLeaseSpec spec) {
        try {
            return Optional.of(keyOf(spec).toString());
        } catch (IllegalArgumentException | NullPointerException e) {
            return Optional.empty();
        }
    }

    static String group(PartitionLeaseSpec spec) {
        return spec == null ? StreamAgentSpec.DEFAULT_GROUP : spec.groupOrDefault();
    }

    private static String boundKey(PartitionLeaseStatus status) {
        return status == null ? null : status.getBoundKey();
    }

    static String namespaced(HasMetadata resource, String value) {
        return resource.getMetadata().getNamespace() + "/" + value;
    }

}
