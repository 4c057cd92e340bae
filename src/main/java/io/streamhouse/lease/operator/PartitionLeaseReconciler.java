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
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.assign.HolderChoice;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.model.Names;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.AcquireResult;
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
import java.util.concurrent.TimeUnit;
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

    private static final Logger LOG = Logger.getLogger(PartitionLeaseReconciler.class);

    private final LeaseStore store;
    private final EventRecorder events;
    private final Clock clock;
    private IndexerResourceCache<PartitionLease> leases;
    private InformerEventSource<StreamAgent, PartitionLease> agents;
    private final SimpleInboundEventSource<PartitionLease> nudges = new SimpleInboundEventSource<>("lease-nudges");
    private final GroupPlanner planner = new GroupPlanner();

    public PartitionLeaseReconciler(LeaseStore store, EventRecorder events, Clock clock) {
        this.store = store;
        this.events = events;
        this.clock = clock;
    }

    @Override
    public List<EventSource<?, PartitionLease>> prepareEventSources(EventSourceContext<PartitionLease> context) {
        leases = context.getPrimaryCache();
        leases.addIndexers(Map.of(
                BY_KEY, pl -> keyString(pl.getSpec()).map(List::of).orElse(List.of()),
                BY_HOLDER, pl -> pl.getStatus() == null || pl.getStatus().getHolder() == null ? List.of()
                        : List.of(namespaced(pl, pl.getStatus().getHolder())),
                UNHELD_BY_GROUP, pl -> pl.getStatus() != null && LeaseStatuses.HELD.equals(pl.getStatus().getPhase())
                        ? List.of() : List.of(namespaced(pl, group(pl.getSpec()))),
                BY_GROUP, pl -> keyString(pl.getSpec()).isPresent() ? List.of(namespaced(pl, group(pl.getSpec())))
                        : List.of()));
        // An agent's change concerns the leases it holds and, when it can take leases, the unheld ones of its group.
        var config = InformerEventSourceConfiguration.from(StreamAgent.class, PartitionLease.class)
                .withSecondaryToPrimaryMapper((StreamAgent agent) -> {
                    Set<ResourceID> affected = new HashSet<>();
                    if (agent.getSpec() != null && agent.getSpec().getAgentId() != null) {
                        planner.changed();
                        leases.byIndex(BY_HOLDER, namespaced(agent, agent.getSpec().getAgentId()))
                                .forEach(pl -> affected.add(ResourceID.fromResource(pl)));
                        leases.byIndex(UNHELD_BY_GROUP, namespaced(agent, agent.getSpec().getGroup()))
                                .forEach(pl -> affected.add(ResourceID.fromResource(pl)));
                        affected.addAll(movedBy(agent.getMetadata().getNamespace(), agent.getSpec().getGroup()));
                    }
                    return affected;
                })
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
            return refuse(resource, previous, generation, boundKey(previous), LeaseStatuses.INVALID,
                    Conditions.INVALID_SPEC, message, now);
        }
        String bound = boundKey(previous) == null ? key.toString() : boundKey(previous);
        if (!bound.equals(key.toString())) {
            return refuse(resource, previous, generation, bound, LeaseStatuses.INVALID, Conditions.SPEC_IMMUTABLE,
                    "topic and partition are immutable: this resource is bound to " + bound + ", spec now asks for "
                            + key + "; create a new PartitionLease instead", now);
        }
        Optional<PartitionLease> owner = ownerOf(key);
        if (owner.isPresent() && !Resources.same(owner.get(), resource)) {
            // Look again soon when the owner is going away, and now and then in any case: a
            // duplicate takes over as soon as it is the oldest left.
            Duration recheck = owner.get().getMetadata().getDeletionTimestamp() != null
                    ? Duration.ofMillis(500) : Duration.ofSeconds(30);
            return refuse(resource, previous, generation, bound, LeaseStatuses.CONFLICT, Conditions.DUPLICATE_PARTITION,
                    "partition " + key + " is already managed by PartitionLease " + owner.get().getMetadata().getNamespace()
                            + "/" + owner.get().getMetadata().getName(), now).rescheduleAfter(recheck);
        }

        if (previous == null || !Objects.equals(previous.getObservedGeneration(), generation)) {
            planner.changed(); // new lease, or its pin or group changed
        }
        Lease row = store.lease(key).orElse(null);
        if (row != null) {
            planner.observed(key, row.holder(), row.holderLive());
        }
        List<AgentView> group = agentsOf(resource);
        AgentId holder = row == null ? null : row.holder();
        boolean holderLive = row != null && row.holderLive();

        Duration wait = failoverWait(resource, row, holder, holderLive);
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
            if (decision instanceof HolderChoice.Decision.Acquire acquire) {
                AcquireResult result = store.acquire(acquire.takeOver()
                        ? AcquireRequest.takeOver(key, acquire.target().id(), acquire.target().sessionEpoch(),
                                holder, row.epoch())
                        : AcquireRequest.ifFree(key, acquire.target().id(), acquire.target().sessionEpoch()),
                        acquire.takeOver() ? "Moved" : holder == null ? "Assigned" : "AgentLost");
                row = result.lease();
                planner.observed(key, row.holder(), row.holderLive());
                if (!result.succeeded()) {
                    recheck = RETRY_SOON; // our view of the agents was stale; the row is the truth
                    LOG.debugf("%s: CAS to %s lost (%s)", key, acquire.target().id(), result.outcome());
                }
            } else if (holder != null && !holderLive) {
                unheldReason = Conditions.SESSION_EXPIRED;
                unheldMessage = "session of " + holder + " expired and " + unheldMessage;
            }
        }
        if (row == null) {
            row = store.lease(key).orElse(null);
        }
        PartitionLeaseStatus next = row == null
                ? LeaseStatuses.refused(previous, generation, bound, LeaseStatuses.UNASSIGNED, unheldReason, unheldMessage, now)
                : LeaseStatuses.fromRow(previous, generation, bound, row, unheldReason, unheldMessage, now);

        if (row != null) {
            syncHolderLabel(resource, context, row.holder());
            announceTransition(resource, previous, row);
        }
        return Resources.finish(resource, next, recheck);
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
        if (owns) {
            planner.forget(key);
            store.lease(key).filter(row -> row.holder() != null).ifPresent(row -> {
                if (store.release(key, row.holder(), row.epoch(), RELEASE_REASON).released()) {
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

    private UpdateControl<PartitionLease> refuse(PartitionLease resource, PartitionLeaseStatus previous, long generation,
                                                 String bound, String phase, String reason, String message, Instant now) {
        PartitionLeaseStatus next = LeaseStatuses.refused(previous, generation, bound, phase, reason, message, now);
        if (!next.equals(previous)) {
            events.warning(resource, reason, message);
        }
        return Resources.finish(resource, next, null);
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
        Assigner.Plan plan = Assigner.plan(inputs, agentInputs(group, views));
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
            // expiry); a draining one gives them up now.
            boolean keeps = accepts || status != null && StreamAgentReconciler.LOST.equals(status.getPhase());
            int held = leases.byIndex(BY_HOLDER, namespaced(agent, id.value())).size();
            return new AgentView(id, status == null || status.getSessionEpoch() == null ? 0 : status.getSessionEpoch(),
                    Objects.requireNonNullElse(agent.getSpec().getZone(), ""),
                    Math.max(1, Objects.requireNonNullElse(agent.getSpec().getWeight(), 1)),
                    agent.getSpec().getCapacity(), held, accepts, keeps);
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

    private void syncHolderLabel(PartitionLease resource, Context<PartitionLease> context, AgentId holder) {
        Map<String, String> labels = resource.getMetadata().getLabels();
        String current = labels == null ? null : labels.get(PartitionLease.HOLDER_LABEL);
        String wanted = holder == null ? null : holder.value();
        if (Objects.equals(current, wanted)) {
            return;
        }
        // Labels only, never the whole object, so this cannot race with the status patch.
        // Setting uses a merge patch (it creates metadata.labels when the object has none);
        // removing uses a JSON patch (the mock API server stores a merge patch's null instead of deleting).
        var target = context.getClient().resources(PartitionLease.class)
                .inNamespace(resource.getMetadata().getNamespace()).withName(resource.getMetadata().getName());
        if (wanted == null) {
            String path = "/metadata/labels/" + PartitionLease.HOLDER_LABEL.replace("~", "~0").replace("/", "~1");
            target.patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"remove\",\"path\":\"" + path + "\"}]");
        } else {
            target.patch(PatchContext.of(PatchType.JSON_MERGE),
                    "{\"metadata\":{\"labels\":{\"" + PartitionLease.HOLDER_LABEL + "\":\"" + wanted + "\"}}}");
        }
    }

    private void announceTransition(PartitionLease resource, PartitionLeaseStatus previous, Lease row) {
        Long before = previous == null ? null : previous.getEpoch();
        if (row.holder() == null || row.epoch() == 0 || Objects.equals(before, row.epoch())) {
            return;
        }
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
