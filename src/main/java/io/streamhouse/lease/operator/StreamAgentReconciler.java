package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.IndexerResourceCache;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.AgentRegistration;
import io.streamhouse.lease.store.ChangeFeed;
import io.streamhouse.lease.store.Lease;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.Session;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * StreamAgent: decides whether the agent is present (its pod Ready, or applied by hand), keeps
 * its database session alive while it is (one statement per agent per third of the timeout),
 * and ends it as soon as the pod is gone. Leases react to the phase it publishes.
 */
@ControllerConfiguration(name = "streamagent")
@GradualRetry(maxAttempts = -1, initialInterval = 500, intervalMultiplier = 2.0, maxInterval = 30_000)
public class StreamAgentReconciler implements Reconciler<StreamAgent>, Cleaner<StreamAgent> {

    private static final Logger LOG = Logger.getLogger(StreamAgentReconciler.class);
    static final String BY_AGENT_ID = "byAgentId";
    /** How long a burst of lease changes is collected before an agent's status is written once. */
    static final Duration PUBLISH_DELAY = Duration.ofMillis(100);
    /**
     * How long after a session's expiry (database clock, as read) it is looked at again. The
     * delay is measured from the read, so the database has passed the expiry by then; the margin
     * only covers the reconcile's own start.
     */
    static final Duration EXPIRY_MARGIN = Duration.ofMillis(20);

    private final LeaseStore store;
    private final OperatorMetrics metrics;
    private final AgentSessions sessions;
    private final EventRecorder events;
    private final Set<AgentId> publishing = ConcurrentHashMap.newKeySet();
    /** When the change feed first reported a change of each agent's leases not yet published (nanoTime). */
    private final Map<AgentId, Long> changedSince = new ConcurrentHashMap<>();
    private final ScheduledExecutorService publisher = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "streamagent-publish");
        t.setDaemon(true);
        return t;
    });
    private final AgentConfig config;
    private final Clock clock;
    private final ChangeNotifications changes;
    /** Each agent's live leases as last listed, reused while no change to or from it is notified. */
    private final HeldLists heldLists;
    private final EndedSessions endedSessions;
    private final StatusBudget statusBudget;
    private final AgentLogins logins;
    private volatile IndexerResourceCache<StreamAgent> agents;
    private final SimpleInboundEventSource<StreamAgent> nudges = new SimpleInboundEventSource<>("agent-nudges");

    public StreamAgentReconciler(LeaseStore store, EventRecorder events, AgentConfig config, Clock clock,
                                 ChangeNotifications changes, AgentSessions sessions, OperatorMetrics metrics,
                                 EndedSessions endedSessions, StatusBudget statusBudget, AgentLogins logins) {
        this.store = store;
        this.logins = logins;
        this.statusBudget = statusBudget;
        this.endedSessions = endedSessions;
        this.metrics = metrics;
        this.sessions = sessions;
        this.events = events;
        this.config = config;
        this.clock = clock;
        this.changes = changes;
        this.heldLists = new HeldLists(changes::connected, System::nanoTime);
    }

    /**
     * Listens for lost sessions and the change feed once the bean is constructed (not in the
     * constructor, so that {@code this} never leaks half-built).
     */
    @PostConstruct
    void start() {
        // A kept session that could not be renewed: reconcile its agent (it registers anew if present).
        sessions.onLost(this::nudge);
        // An agent that keeps its own session registers and ends it without us: hear of it at once.
        changes.subscribe(new ChangeFeed.Listener() {
            @Override
            public void leaseChanged(ChangeFeed.LeaseChange change) {
                // Both ends list their leases in status: their lists take the change (HeldLists),
                // and each is published once per burst.
                heldLists.changed(change);
                if (change.holder() != null) {
                    publishSoon(change.holder());
                }
                if (change.previous() != null) {
                    publishSoon(change.previous());
                }
            }

            @Override
            public void sessionChanged(AgentId agent) {
                heldLists.forget(agent); // a new incarnation or an end: its list is read again
                nudge(agent);
            }

            @Override
            public void resynced() {
                heldLists.allStale();
                if (agents != null) {
                    agents.list(a -> a.getSpec() != null && a.getSpec().getSessionKeeper() == SessionKeeper.Agent)
                            .forEach(a -> nudges.propagateEvent(ResourceID.fromResource(a)));
                }
            }
        });
    }

    /**
     * Reconciles the StreamAgents of {@code agent} {@link #PUBLISH_DELAY} from now, folding every
     * other call for it meanwhile into that one: the notifications of a burst of moves (a failover
     * batch is one, a run of handoffs many) become one read of its leases and one status write.
     */
    private void publishSoon(AgentId agent) {
        changedSince.putIfAbsent(agent, System.nanoTime());
        statusBudget.lists.due(agent);
        if (publishing.add(agent)) {
            try {
                publisher.schedule(() -> {
                    publishing.remove(agent);
                    if (nudge(agent) == 0) {
                        statusBudget.lists.out(agent); // no StreamAgent: no list to wait for
                    }
                }, PUBLISH_DELAY.toMillis(), TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                publishing.remove(agent); // shutting down
            }
        }
    }

    @PreDestroy
    void stop() {
        publisher.shutdownNow();
    }

    /** Reconciles the StreamAgents naming {@code agent} soon; returns how many there are. */
    private int nudge(AgentId agent) {
        if (agents == null) {
            return 0;
        }
        List<StreamAgent> named = agents.byIndex(BY_AGENT_ID, agent.value());
        named.forEach(a -> nudges.propagateEvent(ResourceID.fromResource(a)));
        return named.size();
    }

    @Override
    public List<EventSource<?, StreamAgent>> prepareEventSources(EventSourceContext<StreamAgent> context) {
        agents = context.getPrimaryCache();
        for (StreamAgentPhase phase : StreamAgentPhase.values()) {
            metrics.agents(phase.name(), agents, cache -> cache.list(a -> a.getStatus() != null
                    && a.getStatus().getPhase() == phase).count());
        }
        agents.addIndexers(Map.of(BY_AGENT_ID, a -> a.getSpec() == null || a.getSpec().getAgentId() == null
                ? List.of() : List.of(a.getSpec().getAgentId())));
        // A pod agent's StreamAgent has the pod's name.
        var pods = InformerEventSourceConfiguration.from(Pod.class, StreamAgent.class)
                .withLabelSelector(StreamAgent.AGENT_LABEL + "=true")
                .withSecondaryToPrimaryMapper((Pod pod) -> Set.of(ResourceID.fromResource(pod)))
                .build();
        return List.of(new InformerEventSource<>(pods, context), nudges);
    }

    @Override
    public UpdateControl<StreamAgent> reconcile(StreamAgent agent, Context<StreamAgent> context) {
        StreamAgentStatus previous = agent.getStatus();
        long generation = Objects.requireNonNullElse(agent.getMetadata().getGeneration(), 0L);
        Instant now = clock.instant();
        AgentRegistration registration;
        try {
            registration = registration(agent.getSpec());
        } catch (IllegalArgumentException | NullPointerException e) {
            return Resources.finish(agent, AgentStatuses.refused(previous, generation, StreamAgentPhase.Invalid, Conditions.INVALID_SPEC,
                    "spec refused: " + e.getMessage(), now), null, context);
        }
        Optional<StreamAgent> owner = ownerOf(registration.agent().value());
        if (owner.isPresent() && !Resources.same(owner.get(), agent)) {
            String message = "agent id " + registration.agent() + " is already used by StreamAgent "
                    + owner.get().getMetadata().getNamespace() + "/" + owner.get().getMetadata().getName()
                    + "; this one gets no session and no leases";
            StreamAgentStatus next = AgentStatuses.refused(previous, generation, StreamAgentPhase.Conflict, Conditions.DUPLICATE_AGENT_ID, message, now);
            if (!next.equals(previous)) {
                events.warning(agent, Conditions.DUPLICATE_AGENT_ID, message);
            }
            return Resources.finish(agent, next, null, context);
        }

        // The database lets only this login act for the id (besides trusted ones): mapped before
        // the session is kept or looked at, so that a starting agent's registration goes through.
        String login;
        try {
            login = logins.ensure(registration.agent(), agent.getSpec()).orElse(null);
        } catch (IllegalArgumentException e) {
            return Resources.finish(agent, AgentStatuses.refused(previous, generation, StreamAgentPhase.Invalid,
                    Conditions.INVALID_SPEC, "database user refused: " + e.getMessage(), now), null, context);
        }

        AgentStatuses.Presence presence = presence(agent, context.getSecondaryResource(Pod.class));
        Optional<Session> session = store.session(registration.agent());
        long sessionReadAt = System.nanoTime(); // the recheck below is a delay from this read
        Duration recheck = null;
        boolean selfKept = agent.getSpec().getSessionKeeper() == SessionKeeper.Agent;
        boolean present = presence == AgentStatuses.Presence.READY || presence == AgentStatuses.Presence.DRAINING;
        if (present && !selfKept) {
            Session live = keepAlive(registration, session);
            session = Optional.of(live);
            recheck = registration.ttl().dividedBy(3); // to refresh the lease count; renewals run apart
        } else {
            sessions.drop(registration.agent());
            if (presence == AgentStatuses.Presence.POD_GONE) {
                // Only the incarnation this resource names: a newer one may be a replacement
                // process's (same agent id), which must keep its session.
                sessionToEnd(session, previous == null ? null : previous.getSessionEpoch())
                        .ifPresent(s -> store.expire(s.agent(), s.sessionEpoch()));
                session = store.session(registration.agent());
            } else if (session.isPresent() && session.get().live()) {
                // Not renewed by us (any more): look again just after it would expire, to publish
                // Lost. An agent that renews its own session pushes that moment on; a session
                // change it makes (register, end) arrives sooner through the change feed.
                recheck = Duration.between(session.get().observedAt(), session.get().expiresAt()).plus(EXPIRY_MARGIN);
            }
        }
        // Found over (expired, say, which the database reports to no one): its leases fail over
        // from here, before this status write goes through the API server.
        session.filter(s -> !s.live() && !endedSessions.over(s.agent(), s.sessionEpoch())).ifPresent(s -> {
            LOG.debugf("%s: session %d found over, read %d ms after its expiry", s.agent(), s.sessionEpoch(),
                    Duration.between(s.expiresAt(), s.observedAt()).toMillis());
            endedSessions.expired(s.agent(), s.sessionEpoch());
        });

        // What its live session holds, read after the commits that brought us here: a burst of
        // moves to this agent is one status write (see leaseChanged), not one per lease. A change
        // reported after this point is published by the next reconcile.
        Long since = changedSince.remove(registration.agent());
        long readStart = System.nanoTime();
        // Read once per incarnation, then kept current from the change feed (HeldLists): the look
        // just after each expected expiry of a session, and a crash's new holders, read nothing.
        long liveSession = session.filter(Session::live).map(Session::sessionEpoch).orElse(0L);
        List<LeaseLists.Held> held = heldLists.held(registration.agent(), liveSession,
                () -> store.leasesHeldBy(registration.agent()).stream().filter(Lease::holderLive)
                        .map(l -> new LeaseLists.Held(l.key(), l.epoch())).toList());
        metrics.leasesHeld(registration.agent().value(), held.size());
        StreamAgentStatus next = AgentStatuses.of(previous, generation, presence, session.orElse(null), held, selfKept,
                login, now);
        if (next.equals(previous)) {
            statusBudget.lists.out(registration.agent());
            return Resources.finish(agent, next, recheck, sessionReadAt, context);
        }
        metrics.apiWrite("agent-status");
        if (since != null) {
            statusBudget.writes.cutIn(); // a lease list goes before the PartitionLease statuses waiting
        }
        long writeStart = System.nanoTime();
        UpdateControl<StreamAgent> control = Resources.finish(agent, next, recheck, sessionReadAt, context);
        statusBudget.lists.out(registration.agent());
        if (since != null) {
            long end = System.nanoTime();
            metrics.agentStatusLag(Duration.ofNanos(end - since));
            LOG.debugf("%s: %d lease(s) listed %d ms after the first change (waited %d ms, read %d ms, write %d ms)",
                    registration.agent(), held.size(), (end - since) / 1_000_000, (readStart - since) / 1_000_000,
                    (writeStart - readStart) / 1_000_000, (end - writeStart) / 1_000_000);
        }
        return control;
    }

    @Override
    public ErrorStatusUpdateControl<StreamAgent> updateErrorStatus(StreamAgent agent, Context<StreamAgent> context,
                                                                  Exception e) {
        var unavailable = StoreErrors.unavailable(e);
        if (unavailable == null) {
            return ErrorStatusUpdateControl.defaultErrorProcessing();
        }
        StreamAgentStatus next = AgentStatuses.copy(agent.getStatus());
        Conditions.set(next, agent.getStatus(), Conditions.READY, false, Conditions.STORE_UNAVAILABLE,
                "lease store unavailable, retrying with backoff: " + unavailable.getMessage(), clock.instant());
        if (next.equals(agent.getStatus())) {
            return ErrorStatusUpdateControl.noStatusUpdate();
        }
        agent.setStatus(next);
        return ErrorStatusUpdateControl.patchStatus(agent);
    }

    @Override
    public DeleteControl cleanup(StreamAgent agent, Context<StreamAgent> context) {
        String id = agent.getSpec() == null ? null : agent.getSpec().getAgentId();
        boolean owns = id != null && agent.getStatus() != null && agent.getStatus().getSessionEpoch() != null
                && agent.getStatus().getPhase() != StreamAgentPhase.Conflict;
        if (owns) {
            // Ends the session at once: its leases fail over now instead of after the timeout.
            // Only the incarnation this resource names: the current one may be a replacement
            // process's fresh session under the same agent id (a StatefulSet pod recreated with
            // its name), which must not be cut. One the status has not caught up with yet expires
            // on its own, its process being gone with the resource.
            sessions.drop(AgentId.of(id));
            heldLists.forget(AgentId.of(id));
            metrics.agentGone(id);
            sessionToEnd(store.session(AgentId.of(id)), agent.getStatus().getSessionEpoch())
                    .ifPresent(s -> store.expire(s.agent(), s.sessionEpoch()));
            agents.byIndex(BY_AGENT_ID, id).stream().filter(a -> !Resources.same(a, agent))
                    .forEach(a -> nudges.propagateEvent(ResourceID.fromResource(a)));
        }
        if (id != null && ownerOf(id).map(o -> Resources.same(o, agent)).orElse(true)) {
            // A process left behind can no longer act for the id; a StreamAgent that takes the id
            // over (nudged above) maps its own login.
            logins.withdraw(AgentId.of(id));
            // What lease_assignment_changes keeps for it goes too: agents named after their pods
            // (a Deployment's) would leave their last changes behind at every restart.
            store.forgetAssignmentChanges(AgentId.of(id));
        }
        return DeleteControl.defaultDelete();
    }

    // ------------------------------------------------------------------ helpers

    /**
     * The session to end when the agent a resource stands for has gone: the current one only if
     * it is live and is the incarnation the resource names (status.sessionEpoch). A newer one
     * belongs to a replacement process with the same agent id and is left alone.
     */
    static Optional<Session> sessionToEnd(Optional<Session> current, Long namedByResource) {
        return current.filter(Session::live)
                .filter(s -> namedByResource != null && s.sessionEpoch() == namedByResource);
    }

    private AgentRegistration registration(StreamAgentSpec spec) {
        Objects.requireNonNull(spec, "spec is missing");
        Duration ttl = config.sessionTimeoutOf(spec);
        return new AgentRegistration(AgentId.of(Objects.requireNonNull(spec.getAgentId(), "spec.agentId is required")),
                spec.groupOrDefault(), spec.getZone(), spec.getAddress(), ttl);
    }

    /** Renews the live session of this incarnation, or opens a new one (new session epoch). */
    private Session keepAlive(AgentRegistration registration, Optional<Session> session) {
        // A new group is a new incarnation (its leases belong to the old group); zone, address
        // and timeout change in place, so its leases keep their epochs.
        if (session.isPresent() && session.get().live() && session.get().group().equals(registration.group())) {
            Session s = session.get();
            boolean current = s.zone().equals(registration.zone()) && s.address().equals(registration.address())
                    && s.ttl().equals(registration.ttl());
            if (current || store.updateRegistration(registration, s.sessionEpoch())) {
                // Renewed from now on by the renewer (adopted as is after an operator restart).
                sessions.keep(registration.agent(), s.sessionEpoch(), registration.ttl());
                return s;
            }
        }
        Session registered = store.register(registration);
        sessions.keep(registration.agent(), registered.sessionEpoch(), registration.ttl());
        return registered;
    }

    static AgentStatuses.Presence presence(StreamAgent agent, Optional<Pod> pod) {
        boolean podBacked = agent.getMetadata().getOwnerReferences() != null && agent.getMetadata().getOwnerReferences()
                .stream().map(OwnerReference::getKind).anyMatch("Pod"::equals);
        AgentStatuses.Presence presence = AgentStatuses.Presence.READY;
        if (podBacked) {
            if (pod.isEmpty()) {
                presence = AgentStatuses.Presence.POD_GONE;
            } else if (pod.get().getMetadata().getDeletionTimestamp() != null) {
                presence = AgentStatuses.Presence.DRAINING;
            } else if (!podReady(pod.get())) {
                presence = AgentStatuses.Presence.POD_NOT_READY;
            }
        }
        if (presence == AgentStatuses.Presence.READY && Boolean.TRUE.equals(agent.getSpec().getCordoned())) {
            presence = AgentStatuses.Presence.DRAINING;
        }
        return presence;
    }

    static boolean podReady(Pod pod) {
        return pod.getStatus() != null && pod.getStatus().getConditions() != null && pod.getStatus().getConditions()
                .stream().anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    }

    /** The StreamAgent that owns an agent id: the oldest one naming it. */
    private Optional<StreamAgent> ownerOf(String agentId) {
        return Resources.oldest(agents.byIndex(BY_AGENT_ID, agentId));
    }
}
