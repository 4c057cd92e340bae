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
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseSpec;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
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
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
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
    static final String RELEASE_REASON = "LeaseDeleted";
    /** How soon to look again when the view of agents was stale and a CAS lost. */
    static final Duration RETRY_SOON = Duration.ofMillis(200);
    /** A lease waiting for a move slot is nudged when one frees; this is only the fallback. */
    static final Duration WAIT_FOR_SLOT = Duration.ofSeconds(5);

    private static final Logger LOG = Logger.getLogger(PartitionLeaseReconciler.class);

    private final LeaseStore store;
    private final EventRecorder events;
    private final Clock clock;
    private final AssignConfig assign;
    private final OperatorMetrics metrics;
    private volatile IndexerResourceCache<PartitionLease> leases;
    private InformerEventSource<StreamAgent, PartitionLease> agents;
    private final SimpleInboundEventSource<PartitionLease> nudges = new SimpleInboundEventSource<>("lease-nudges");
    private final GroupPlanner planner = new GroupPlanner();
    private final MoveLimiter<ResourceID> moves;
    /** What the mapper last answered for each StreamAgent (see {@link #affectedBy}). */
    private final Map<ResourceID, MapperMemo> agentMemos = new ConcurrentHashMap<>();
    /** Failover batches running, per dead incarnation, so that its leases are moved in one round trip. */
    private final Map<String, CompletableFuture<Void>> failovers = new ConcurrentHashMap<>();
    private final LeaseActivity activity;

    public PartitionLeaseReconciler(LeaseStore store, EventRecorder events, Clock clock, AssignConfig assign,
                                    ChangeNotifications changes, OperatorMetrics metrics, LeaseActivity activity) {
        this.store = store;
        this.activity = activity;
        this.metrics = metrics;
        metrics.unassigned(this, PartitionLeaseReconciler::unassigned);
        this.events = events;
        this.clock = clock;
        this.assign = assign;
        this.moves = new MoveLimiter<>(assign.maxMovesInFlight());
        changes.subscribe(new ChangeListener());
    }

    @Override
    public List<EventSource<?, PartitionLease>> prepareEventSources(EventSourceContext<PartitionLease> context) {
        leases = context.getPrimaryCache();
        leases.addIndexers(Map.of(
                BY_KEY, pl -> keyString(pl.getSpec()).map(List::of).orElse(List.of()),
                // Agent ids are unique in the cluster, so this index is by id alone.
                BY_HOLDER, pl -> pl.getStatus() == null || pl.getStatus().getHolder() == null ? List.of()
                        : List.of(pl.getStatus().getHolder()),
                UNHELD_BY_GROUP, pl -> pl.getStatus() != null && LeaseStatuses.HELD.equals(pl.getStatus().getPhase())
                        ? List.of() : List.of(namespaced(pl, group(pl.getSpec()))),
                BY_GROUP, pl -> keyString(pl.getSpec()).isPresent() ? List.of(namespaced(pl, group(pl.getSpec())))
                        : List.of()));
        // An agent's change concerns the leases it holds and, when it can take leases, the unheld ones of its group.
        var config = InformerEventSourceConfiguration.from(StreamAgent.class, PartitionLease.class)
                .withSecondaryToPrimaryMapper((StreamAgent agent) -> affectedBy(agent))
                .build();
        agents = new InformerEventSource<>(config, context);
        return List.of(agents, nudges);
    }

    @Override
    public UpdateControl<PartitionLease> reconcile(PartitionLease resource, Context<PartitionLease> context) {
        PartitionLeaseStatus previous = resource.getStatus();
        long generation = Objects.requireNonNullElse(resource.getMetadata().getGeneration(), 0L);
        Instant now = clock.instant();

        LeaseKey key;
        try {
            key = keyOf(resource.getSpec());
            Names.labelValue("agentGroup", group(resource.getSpec()));
            if (resource.getSpec().getPreferredAgent() != null) {
                AgentId.of(resource.getSpec().getPreferredAgent()); // the plan reads the pin; refuse a bad one here
            }
        } catch (IllegalArgumentException | NullPointerException e) {
            String message = "spec refused: " + Objects.requireNonNullElse(e.getMessage(), "missing topic or partition");
            return refuse(resource, context, previous, generation, boundKey(previous), LeaseStatuses.INVALID,
                    Conditions.INVALID_SPEC, message, now);
        }
        String bound = boundKey(previous) == null ? key.toString() : boundKey(previous);
        if (!bound.equals(key.toString())) {
            return refuse(resource, context, previous, generation, bound, LeaseStatuses.INVALID, Conditions.SPEC_IMMUTABLE,
                    "topic and partition are immutable: this resource is bound to " + bound + ", spec now asks for "
                            + key + "; create a new PartitionLease instead", now);
        }
        Optional<PartitionLease> owner = ownerOf(key);
        if (owner.isPresent() && !Resources.same(owner.get(), resource)) {
            // Look again soon when the owner is going away, and now and then in any case: a
            // duplicate takes over as soon as it is the oldest left.
            Duration recheck = owner.get().getMetadata().getDeletionTimestamp() != null
                    ? Duration.ofMillis(500) : Duration.ofSeconds(30);
            return refuse(resource, context, previous, generation, bound, LeaseStatuses.CONFLICT, Conditions.DUPLICATE_PARTITION,
                    "partition " + key + " is already managed by PartitionLease " + owner.get().getMetadata().getNamespace()
                            + "/" + owner.get().getMetadata().getName(), now).rescheduleAfter(recheck);
        }

        if (previous == null || !Objects.equals(previous.getObservedGeneration(), generation)) {
            planner.changed(); // new lease, or its pin or group changed
        }
        Optional<Duration> untilPlanned = planner.untilPlanned(namespaced(resource, group(resource.getSpec())), key);
        if (untilPlanned.isPresent()) {
            return UpdateControl.<PartitionLease>noUpdate().rescheduleAfter(untilPlanned.get());
        }
        Lease row = store.lease(key).orElse(null);
        if (row != null) {
            planner.observed(key, row.holder(), row.holderLive(), row.epoch());
        }
        List<AgentView> group = agentsOf(resource);
        AgentId holder = row == null ? null : row.holder();
        boolean holderLive = row != null && row.holderLive();

        Duration wait = failoverWait(resource, row, holder, holderLive);
        MoveLimiter.Move handoff = null;
        String unheldReason = Conditions.NO_ELIGIBLE_AGENT;
        String unheldMessage = "no live, uncordoned StreamAgent in group " + group(resource.getSpec())
                + " of namespace " + resource.getMetadata().getNamespace();
        Duration recheck = null;
        if (wait != null) {
            unheldReason = Conditions.WAITING_FOR_HOLDER;
            unheldMessage = "session of " + holder + " expired; keeping the lease for it for "
                    + resource.getSpec().getFailoverDelaySeconds() + "s after expiry (failoverDelaySeconds)";
            recheck = wait;
        } else {
            String namespace = resource.getMetadata().getNamespace();
            String groupName = group(resource.getSpec());
            Map<AgentId, AgentView> views = new HashMap<>();
            group.forEach(v -> views.put(v.id(), v));
            GroupPlanner.Planned planned = planner.plan(namespaced(resource, groupName), key,
                    planHolder(holder, holderLive, views),
                    () -> leaseInputs(namespace, groupName, views), () -> agentInputs(groupName, group));
            if (!planned.upToDate() && !planned.plan().target().containsKey(key)) {
                // New since the last plan: the next one (within DEBOUNCE) will place it.
                return UpdateControl.<PartitionLease>noUpdate().rescheduleAfter(GroupPlanner.DEBOUNCE);
            }
            if (!planned.upToDate()) {
                recheck = GroupPlanner.DEBOUNCE; // acted on a plan that predates the last change
            }
            AgentId target = planned.plan().target().get(key);
            AgentView targetView = target == null ? null : views.get(target);
            if (target != null && !(target.equals(holder) && holderLive)
                    && (targetView == null || !targetView.acceptsLeases())) {
                // The plan predates a change to its target (cordoned, gone, in conflict): replan now.
                planned = planner.replan(namespaced(resource, groupName),
                        () -> leaseInputs(namespace, groupName, views), () -> agentInputs(groupName, group));
                target = planned.plan().target().get(key);
            }
            HolderChoice.Decision decision = HolderChoice.toward(target == null ? null : views.get(target),
                    holder, holderLive);
            AcquireResult result = null;
            boolean waitingForSlot = false;
            if (decision instanceof HolderChoice.Decision.Acquire acquire && acquire.takeOver()) {
                // A planned move away from a live holder: needs a slot, and is a handoff when
                // the holder can release by itself.
                MoveLimiter.Move move = moves.start(key, acquire.target().id(), System.nanoTime(), now,
                        ResourceID.fromResource(resource)).orElse(null);
                AgentView holderView = views.get(holder);
                Duration asked = move == null ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - move.startedNanos());
                if (move == null) {
                    waitingForSlot = true;
                    recheck = WAIT_FOR_SLOT;
                } else if (holderView != null && holderView.releasesOnRequest()
                        && asked.compareTo(assign.handoffTimeout()) < 0) {
                    handoff = move;
                    recheck = assign.handoffTimeout().minus(asked);
                } else {
                    boolean forced = holderView != null && holderView.releasesOnRequest();
                    result = acquire(AcquireRequest.takeOver(key, acquire.target().id(),
                            acquire.target().sessionEpoch(), holder, row.epoch()), forced ? "HandoffForced" : "Moved");
                    if (forced && result.succeeded()) {
                        events.warning(resource, Conditions.HANDOFF_FORCED, holder + " did not release within "
                                + assign.handoffTimeout().toMillis() + " ms; moved to " + acquire.target().id()
                                + " at epoch " + result.lease().epoch() + " (the old epoch is fenced)");
                    }
                }
            } else if (decision instanceof HolderChoice.Decision.Acquire acquire) {
                // Free, released by its holder (a handoff), or its holder's session died (failover,
                // batched with the rest of that agent's leases). Never waits for a move slot.
                result = holder != null
                        ? failover(resource, key, row, acquire.target(), views, planned.plan(), () -> planner.replan(
                                namespaced(resource, groupName), () -> leaseInputs(namespace, groupName, views),
                                () -> agentInputs(groupName, group)).plan())
                        : acquire(AcquireRequest.ifFree(key, acquire.target().id(), acquire.target().sessionEpoch()),
                                moves.current(key).isPresent() ? "Handoff" : "Assigned");
            } else if (holder != null && !holderLive) {
                unheldReason = Conditions.SESSION_EXPIRED;
                unheldMessage = "session of " + holder + " expired and " + unheldMessage;
            }
            if (result != null) {
                row = result.lease();
                planner.observed(key, row.holder(), row.holderLive(), row.epoch());
                if (!result.succeeded()) {
                    recheck = RETRY_SOON; // our view of the agents was stale; the row is the truth
                    LOG.debugf("%s: CAS lost (%s)", key, result.outcome());
                }
            }
            if (handoff == null && !waitingForSlot && (result == null || result.succeeded())) {
                finishMove(key); // in place, or nothing to move any more
            }
        }
        if (row == null) {
            row = store.lease(key).orElse(null);
        }
        PartitionLeaseStatus next = row == null
                ? LeaseStatuses.refused(previous, generation, bound, LeaseStatuses.UNASSIGNED, unheldReason, unheldMessage, now)
                : LeaseStatuses.fromRow(previous, generation, bound, row, unheldReason, unheldMessage, now);
        if (handoff != null && row != null && row.isHeld()) {
            next = LeaseStatuses.withHandoff(next, handoff.target().value(), handoff.startedAt());
            if (previous == null || !handoff.target().value().equals(previous.getHandoffTo())) {
                events.normal(resource, Conditions.HANDOFF_REQUESTED, row.holder() + " is asked to release epoch "
                        + row.epoch() + " for " + handoff.target() + " within " + assign.handoffTimeout().toMillis() + " ms");
            }
        }

        PartitionLease current = resource;
        if (row != null) {
            current = syncHolderLabel(resource, context, row.holder());
            announceTransition(current, previous, row);
        }
        return Resources.finish(current, next, recheck, context);
    }

    @Override
    public ErrorStatusUpdateControl<PartitionLease> updateErrorStatus(PartitionLease resource,
                                                                     Context<PartitionLease> context, Exception e) {
        StoreUnavailableException unavailable = storeUnavailable(e);
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
                && (LeaseStatuses.CONFLICT.equals(resource.getStatus().getPhase())
                || LeaseStatuses.INVALID.equals(resource.getStatus().getPhase()));
        boolean owns = !refused && (bound == null || bound.equals(key.toString()))
                && ownerOf(key).map(o -> Resources.same(o, resource)).orElse(true);
        moves.cancel(ResourceID.fromResource(resource));
        if (owns) {
            finishMove(key);
            planner.forget(key);
            store.lease(key).filter(row -> row.holder() != null).ifPresent(row -> {
                if (store.release(key, row.holder(), row.holderSession(), row.epoch(), RELEASE_REASON).released()) {
                    LOG.infof("%s released by deletion of %s/%s (was %s at epoch %d)", key,
                            resource.getMetadata().getNamespace(), resource.getMetadata().getName(), row.holder(), row.epoch());
                }
            });
            // A duplicate waiting for this partition may now take it over.
            leases.byIndex(BY_KEY, key.toString()).stream().filter(pl -> !Resources.same(pl, resource))
                    .forEach(pl -> nudges.propagateEvent(ResourceID.fromResource(pl)));
        }
        return DeleteControl.defaultDelete();
    }

    // ------------------------------------------------------------------ helpers

    private UpdateControl<PartitionLease> refuse(PartitionLease resource, Context<PartitionLease> context,
                                                 PartitionLeaseStatus previous, long generation,
                                                 String bound, String phase, String reason, String message, Instant now) {
        PartitionLeaseStatus next = LeaseStatuses.refused(previous, generation, bound, phase, reason, message, now);
        if (!next.equals(previous)) {
            events.warning(resource, reason, message);
        }
        return Resources.finish(resource, next, null, context);
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
        for (PartitionLease pl : leases.byIndex(BY_GROUP, namespace + "/" + group)) {
            PartitionLeaseStatus status = pl.getStatus();
            LeaseKey key = keyOf(pl.getSpec());
            // One input per partition, whichever resource owns it; a spec changed away from its
            // bound partition is refused and plans nothing.
            if (!seen.add(key) || status != null && status.getBoundKey() != null
                    && !status.getBoundKey().equals(key.toString())) {
                continue;
            }
            GroupPlanner.Known known = planner.known(key);
            AgentId holder;
            if (known != null) {
                holder = planHolder(known.holder(), known.live(), views);
            } else {
                // Not read from the database yet in this process: the status is a good first guess.
                holder = status != null && LeaseStatuses.HELD.equals(status.getPhase()) && status.getHolder() != null
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
        return inputs;
    }

    private static List<Assigner.AgentInput> agentInputs(String group, List<AgentView> views) {
        return views.stream().map(v -> new Assigner.AgentInput(v.id(), group, v.zone(), v.weight(), v.capacity(),
                v.acceptsLeases(), v.keepsLeases())).toList();
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
        Assigner.Plan plan = planner.replan(namespace + "/" + group, () -> inputs, () -> agentInputs(group, views)).plan();
        Set<LeaseKey> moved = new HashSet<>();
        inputs.forEach(l -> {
            if (!Objects.equals(plan.target().get(l.key()), l.holder())) {
                moved.add(l.key());
            }
        });
        Set<ResourceID> ids = new HashSet<>();
        for (PartitionLease pl : inGroup) {
            keyString(pl.getSpec()).filter(k -> moved.contains(keyOf(pl.getSpec()))).ifPresent(k -> ids.add(ResourceID.fromResource(pl)));
        }
        return ids;
    }

    /** Agents of the lease's group and namespace, as assignment sees them. */
    private List<AgentView> agentsOf(PartitionLease resource) {
        return groupViews(resource.getMetadata().getNamespace(), group(resource.getSpec()));
    }

    /**
     * One view per agent id: a StreamAgent refused for using an id another one owns (phase
     * Conflict, or not yet reconciled) must not shadow the owner, nor reach the Assigner twice.
     */
    private List<AgentView> groupViews(String namespace, String group) {
        Map<String, List<StreamAgent>> byId = new HashMap<>();
        agents.list(namespace, a -> a.getSpec() != null && a.getSpec().getAgentId() != null
                        && group.equals(a.getSpec().getGroup())
                        && (a.getStatus() == null || !StreamAgentReconciler.CONFLICT.equals(a.getStatus().getPhase())))
                .forEach(a -> byId.computeIfAbsent(a.getSpec().getAgentId(), id -> new ArrayList<>()).add(a));
        List<AgentView> views = new ArrayList<>();
        byId.values().forEach(claimants -> Resources.oldest(claimants).map(this::view).ifPresent(views::add));
        views.removeIf(Objects::isNull);
        return views;
    }

    private AgentView view(StreamAgent agent) {
        try {
            AgentId id = AgentId.of(agent.getSpec().getAgentId());
            var status = agent.getStatus();
            boolean accepts = status != null && StreamAgentReconciler.READY.equals(status.getPhase())
                    && status.getSessionEpoch() != null && !Boolean.TRUE.equals(agent.getSpec().getCordoned());
            // A lost agent keeps its leases until its session expires (unplanned loss waits for
            // expiry); a draining one gives them up now. Once expired, its leases are planned as
            // free ones: the plan made when its StreamAgent says so is the failover's plan.
            boolean keeps = accepts || status != null && StreamAgentReconciler.LOST.equals(status.getPhase())
                    && Conditions.POD_NOT_READY.equals(readyReason(status));
            return new AgentView(id, status == null || status.getSessionEpoch() == null ? 0 : status.getSessionEpoch(),
                    Objects.requireNonNullElse(agent.getSpec().getZone(), ""),
                    Math.max(1, Objects.requireNonNullElse(agent.getSpec().getWeight(), 1)),
                    agent.getSpec().getCapacity(), agent.getSpec().getSessionKeeper() == SessionKeeper.Agent,
                    accepts, keeps);
        } catch (IllegalArgumentException | NullPointerException e) {
            return null; // an invalid StreamAgent is reported on itself, and takes no leases
        }
    }

    /** Non-null when the lease should wait for its expired holder to come back (failoverDelaySeconds). */
    private Duration failoverWait(PartitionLease resource, Lease row, AgentId holder, boolean holderLive) {
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

    /** Sets the holder label; returns the resource as the API server now has it. */
    private PartitionLease syncHolderLabel(PartitionLease resource, Context<PartitionLease> context, AgentId holder) {
        Map<String, String> labels = resource.getMetadata().getLabels();
        String current = labels == null ? null : labels.get(PartitionLease.HOLDER_LABEL);
        String wanted = holder == null ? null : holder.value();
        if (Objects.equals(current, wanted)) {
            return resource;
        }
        // Labels only, never the whole object, so this cannot race with the status patch.
        // Setting uses a merge patch (it creates metadata.labels when the object has none);
        // removing uses a JSON patch (the mock API server stores a merge patch's null instead of deleting).
        // The answer goes into the controller's cache, so our own change is not an event.
        String path = "/metadata/labels/" + PartitionLease.HOLDER_LABEL.replace("~", "~0").replace("/", "~1");
        return Resources.patchAndCache(context, resource, r -> {
            var target = context.getClient().resource(r);
            return wanted == null
                    ? target.patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"remove\",\"path\":\"" + path + "\"}]")
                    : target.patch(PatchContext.of(PatchType.JSON_MERGE),
                            "{\"metadata\":{\"labels\":{\"" + PartitionLease.HOLDER_LABEL + "\":\"" + wanted + "\"}}}");
        });
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

    /** One compare-and-swap, timed, and counted as a transition when the holder changed. */
    private AcquireResult acquire(AcquireRequest request, String reason) {
        AcquireResult result = metrics.cas(() -> store.acquire(request, reason));
        if (result.outcome() == AcquireResult.Outcome.ACQUIRED) {
            metrics.transition(reason);
        }
        return result;
    }

    /** PartitionLeases nobody holds, for the unassigned gauge (counted at scrape time). */
    private double unassigned() {
        IndexerResourceCache<PartitionLease> cache = leases;
        return cache == null ? 0 : cache.list().filter(pl -> pl.getStatus() == null
                || LeaseStatuses.UNASSIGNED.equals(pl.getStatus().getPhase())
                || LeaseStatuses.PENDING.equals(pl.getStatus().getPhase())).count();
    }

    /** Ends the move of {@code key}, if one was in flight, and lets the next waiting leases start theirs. */
    private void finishMove(LeaseKey key) {
        moves.finish(key).forEach(nudges::propagateEvent);
    }

    /**
     * Failover of a dead holder's lease, together with the other leases of the same dead
     * incarnation in this group: one batch compare-and-swap instead of one per lease. The first
     * reconcile to get here runs the batch; the others of that incarnation wait for it, then find
     * their row already moved (their own CAS answers ALREADY_HELD). Every CAS names "free or dead
     * holder", so a stale view can only lose, never steal from a live agent.
     */
    private AcquireResult failover(PartitionLease resource, LeaseKey key, Lease row, AgentView target,
                                   Map<AgentId, AgentView> views, Assigner.Plan current,
                                   Supplier<Assigner.Plan> replan) {
        String namespace = resource.getMetadata().getNamespace();
        String groupName = group(resource.getSpec());
        String batch = namespace + "/" + groupName + "/" + row.holder() + "#" + row.holderSession();
        CompletableFuture<Void> mine = new CompletableFuture<>();
        CompletableFuture<Void> running = failovers.putIfAbsent(batch, mine);
        if (running != null) {
            running.join();
            return acquire(AcquireRequest.ifFree(key, target.id(), target.sessionEpoch()), "AgentLost");
        }
        try {
            // What we last read of its other leases says "live": plan them as the dead leases
            // they are, all at once, and take this lease's target from that plan too.
            long started = System.nanoTime();
            planner.holderDied(row.holder());
            List<PartitionLease> dead = new ArrayList<>();
            for (PartitionLease sibling : leases.byIndex(BY_HOLDER, row.holder().value())) {
                Optional<LeaseKey> siblingKey = keyString(sibling.getSpec()).map(k -> keyOf(sibling.getSpec()));
                if (siblingKey.isEmpty() || siblingKey.get().equals(key)
                        || !namespace.equals(sibling.getMetadata().getNamespace())
                        || !groupName.equals(group(sibling.getSpec()))
                        || Objects.requireNonNullElse(sibling.getSpec().getFailoverDelaySeconds(), 0) > 0) {
                    continue;
                }
                GroupPlanner.Known known = planner.known(siblingKey.get());
                if (known == null || row.holder().equals(known.holder())) {
                    dead.add(sibling); // not seen moved yet
                }
            }
            // The plan at hand already places every lease of the dead agent when it was made
            // after its StreamAgent said the session expired (it no longer keeps leases); a
            // re-plan costs a quarter of a second at 10,000 leases, so it is made only when not.
            Assigner.Plan plan = placesAll(current, key, dead, row.holder(), views) ? current : replan.get();
            long planDone = System.nanoTime();
            AgentView planned = views.get(plan.target().get(key));
            AgentView ownTarget = planned != null && planned.acceptsLeases() ? planned : target;
            AcquireRequest own = AcquireRequest.ifFree(key, ownTarget.id(), ownTarget.sessionEpoch());
            Map<LeaseKey, AcquireRequest> requests = new HashMap<>();
            requests.put(key, own);
            List<ResourceID> siblings = new ArrayList<>();
            for (PartitionLease sibling : dead) {
                LeaseKey siblingKey = keyOf(sibling.getSpec());
                AgentView to = views.get(plan.target().get(siblingKey));
                if (requests.containsKey(siblingKey) || to == null || !to.acceptsLeases()) {
                    continue;
                }
                requests.put(siblingKey, AcquireRequest.ifFree(siblingKey, to.id(), to.sessionEpoch()));
                siblings.add(ResourceID.fromResource(sibling));
            }
            if (requests.size() == 1) {
                AcquireResult single = acquire(own, "AgentLost");
                if (single.outcome() == AcquireResult.Outcome.ACQUIRED) {
                    metrics.failover(1);
                }
                return single;
            }
            AcquireResult mineResult = null;
            long casStarted = System.nanoTime();
            List<AcquireResult> results = metrics.cas(() -> store.acquireAll(requests.values(), "AgentLost"));
            long casDone = System.nanoTime();
            activity.moved();
            int moved = 0;
            for (AcquireResult r : results) {
                planner.observed(r.lease().key(), r.lease().holder(), r.lease().holderLive(), r.lease().epoch());
                if (r.outcome() == AcquireResult.Outcome.ACQUIRED) {
                    metrics.transition("AgentLost");
                    moved++;
                }
                if (r.lease().key().equals(key)) {
                    mineResult = r;
                }
            }
            metrics.failover(moved);
            LOG.infof("failover of %s (session %d): %d lease(s) moved in one batch (plan %d ms, batch CAS %d ms)",
                    row.holder(), row.holderSession(), moved, TimeUnit.NANOSECONDS.toMillis(planDone - started),
                    TimeUnit.NANOSECONDS.toMillis(casDone - casStarted));
            siblings.forEach(nudges::propagateEvent);
            return Objects.requireNonNull(mineResult, "batch answered without " + key);
        } finally {
            failovers.remove(batch, mine);
            mine.complete(null);
        }
    }

    /** True when {@code plan} sends {@code key} and every one of {@code dead} to a live agent other than {@code holder}. */
    private static boolean placesAll(Assigner.Plan plan, LeaseKey key, List<PartitionLease> dead, AgentId holder,
                                     Map<AgentId, AgentView> views) {
        if (plan == null) {
            return false;
        }
        List<LeaseKey> keys = new ArrayList<>();
        keys.add(key);
        dead.forEach(pl -> keys.add(keyOf(pl.getSpec())));
        for (LeaseKey k : keys) {
            AgentId to = plan.target().get(k);
            AgentView view = to == null ? null : views.get(to);
            if (to == null || to.equals(holder) || view == null || !view.acceptsLeases()) {
                return false;
            }
        }
        return true;
    }

    /**
     * The leases an agent event concerns: those it holds, the unheld ones of its group, and those
     * whose planned holder moved. Most agent events change nothing assignment reads (lease count,
     * heartbeat): those cost a string compare, whatever the number of leases. JOSDK calls the
     * mapper more than once per event (to index and to dispatch), so the answer is remembered
     * per resourceVersion and every call for one version answers the same.
     */
    private Set<ResourceID> affectedBy(StreamAgent agent) {
        if (agent.getSpec() == null || agent.getSpec().getAgentId() == null) {
            return Set.of();
        }
        ResourceID id = ResourceID.fromResource(agent);
        String version = agent.getMetadata().getResourceVersion();
        MapperMemo last = agentMemos.get(id);
        if (last != null && version != null && version.equals(last.resourceVersion())) {
            return last.affected();
        }
        boolean present = agents != null && agents.get(id).isPresent();
        String print = present ? assignmentPrint(agent) : "gone";
        Set<ResourceID> affected = new HashSet<>();
        if (last == null || !print.equals(last.print())) {
            planner.changed();
            String namespace = agent.getMetadata().getNamespace();
            leases.byIndex(BY_HOLDER, agent.getSpec().getAgentId()).stream()
                    .filter(pl -> pl.getMetadata().getNamespace().equals(namespace))
                    .forEach(pl -> affected.add(ResourceID.fromResource(pl)));
            leases.byIndex(UNHELD_BY_GROUP, namespaced(agent, agent.getSpec().getGroup()))
                    .forEach(pl -> affected.add(ResourceID.fromResource(pl)));
            affected.addAll(movedBy(namespace, agent.getSpec().getGroup()));
        }
        if (present) {
            agentMemos.put(id, new MapperMemo(version, print, Set.copyOf(affected)));
        } else {
            agentMemos.remove(id);
        }
        return affected;
    }

    private record MapperMemo(String resourceVersion, String print, Set<ResourceID> affected) {
    }

    private static String assignmentPrint(StreamAgent agent) {
        var spec = agent.getSpec();
        var status = agent.getStatus();
        return String.join("|", spec.getAgentId(), String.valueOf(spec.getGroup()), String.valueOf(spec.getZone()),
                String.valueOf(spec.getWeight()), String.valueOf(spec.getCapacity()), String.valueOf(spec.getCordoned()),
                String.valueOf(spec.getSessionKeeper()), String.valueOf(agent.getMetadata().getDeletionTimestamp()),
                status == null ? "-" : status.getPhase() + "|" + status.getSessionEpoch() + "|" + readyReason(status));
    }

    /** Why the agent is (not) ready: tells a Lost agent whose session still runs from one whose session expired. */
    private static String readyReason(io.streamhouse.lease.api.v1alpha1.StreamAgentStatus status) {
        var ready = status.condition(Conditions.READY);
        return ready == null ? "-" : ready.getReason();
    }

    /**
     * Reacts to lease changes made in the database by others: a holder that released (handoff
     * or shutdown). Our own writes come back too and are skipped when the row is already known.
     */
    private final class ChangeListener implements ChangeFeed.Listener {
        @Override
        public void leaseChanged(ChangeFeed.LeaseChange change) {
            GroupPlanner.Known known = planner.known(change.key());
            if (leases == null || known != null && known.epoch() == change.epoch()
                    && Objects.equals(known.holder(), change.holder())) {
                return;
            }
            leases.byIndex(BY_KEY, change.key().toString()).forEach(pl -> nudges.propagateEvent(ResourceID.fromResource(pl)));
        }

        @Override
        public void sessionChanged(AgentId agent) {
            // Leases hear of it through the StreamAgent, which publishes the new phase: acting
            // before that would plan with the agent's old phase (say, give away the lease of an
            // agent that just came back within its failoverDelaySeconds).
            planner.changed();
        }

        @Override
        public void resynced() {
            if (leases == null) {
                return;
            }
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
        return spec == null || spec.getAgentGroup() == null ? "default" : spec.getAgentGroup();
    }

    private static String boundKey(PartitionLeaseStatus status) {
        return status == null ? null : status.getBoundKey();
    }

    static String namespaced(HasMetadata resource, String value) {
        return resource.getMetadata().getNamespace() + "/" + value;
    }

    static StoreUnavailableException storeUnavailable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof StoreUnavailableException u) {
                return u;
            }
        }
        return null;
    }
}
