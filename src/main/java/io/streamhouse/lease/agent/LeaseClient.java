package io.streamhouse.lease.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AgentRegistration;
import io.streamhouse.lease.store.Assignment;
import io.streamhouse.lease.store.AssignmentChanges;
import io.streamhouse.lease.store.ChangeFeed;
import io.streamhouse.lease.store.FencedWork;
import io.streamhouse.lease.store.FencingException;
import io.streamhouse.lease.store.LeaseStore;
import io.streamhouse.lease.store.PostgresLeaseStore;
import io.streamhouse.lease.store.Renewal;
import io.streamhouse.lease.store.Session;
import io.streamhouse.lease.store.Validation;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import javax.sql.DataSource;

/**
 * The agent side of StreamHouse leases, for any Java agent.
 *
 * <p>{@link #start()} reads this agent's StreamAgent (created by the operator from the pod's
 * annotations, which must include {@code streamhouse.io/session-keeper: agent}), registers a
 * session in PostgreSQL and keeps it alive, and listens on its own database channel for changes
 * to its leases. {@link #epoch} answers from memory; {@link #fenced} runs the caller's JDBC work
 * in a transaction the database refuses for a stale epoch; {@link #close()} releases every lease
 * and ends the session, so that the operator reassigns them at once (call it from a preStop hook).
 *
 * <p>Everything after the start comes from PostgreSQL, never from the Kubernetes API server:
 * which leases this incarnation holds, at which epochs, and which ones a planned move asks it to
 * hand off ({@link LeaseStore#assignments}). A notification on the agent's channel is only a
 * hint to ask again; the answer is the truth. So an agent keeps its leases, learns new ones and
 * hands off through an API server outage.
 *
 * <p>Safety never depends on the cache: the database refuses stale epochs. The cache is kept
 * honest three ways: the channel (fast), the same question after every renewal (every third of
 * the session timeout, which repairs a missed notification), and a monotonic deadline after which
 * nothing cached counts until the session is confirmed again (see {@link SessionGuard}).
 *
 * <p>Threads: one renews the session, one watches its deadline, one listens on the channel, one
 * applies lease changes and calls listeners in order. Renewals must not queue behind the
 * application's writes: give the client a DataSource of its own (3 to 5 connections: the channel
 * holds one), or, when the application's fenced writes share a pool that they can fill, a small
 * second pool for the session's own traffic ({@link Builder#sessionDataSource}).
 */
public final class LeaseClient implements AutoCloseable {

    /** What {@link #epoch} answers when this agent may not write the partition. Real epochs start at 1. */
    public static final long NO_EPOCH = 0;
    /** History reasons written by the library. */
    static final String RELEASED = "Released";
    static final String HANDED_OFF = "HandedOff";
    static final String SHUTDOWN = "Shutdown";

    private static final System.Logger LOG = System.getLogger(LeaseClient.class.getName());

    private final AgentIdentity identity;
    private final KubernetesClient client;
    /** Fenced writes, validations and the application's releases. */
    private final LeaseStore store;
    /**
     * The session's own traffic: register, renew, looks, handoff releases, the shutdown; its
     * channel listens on the same DataSource. Separate from {@link #store} when the builder was
     * given a session DataSource, so that a renewal never waits for a connection behind writes.
     */
    private final LeaseStore sessionStore;
    private final DataSource sessionDataSource;
    private final Duration defaultTtl;
    private final Duration margin;
    private final Duration startTimeout;
    private final LongSupplier nanos;
    private final List<LeaseListener> listeners;

    private final HeldLeases held;
    private final Map<LeaseKey, List<CompletableFuture<Long>>> waiters = new HashMap<>(); // guarded by itself
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean lookQueued = new AtomicBoolean();
    /** The incarnation and assignments version of the last look (event thread only); -1: none yet. */
    private long lookedSession = -1;
    private long lookedVersion = -1;
    private long lookedChanges = -1;
    private boolean lookAgainNext;
    private volatile boolean versionUnsupported;
    private volatile boolean changesUnsupported;
    private final LongAdder fencedCommitted = new LongAdder();
    private final LongAdder fencedRefused = new LongAdder();
    private final LongAdder sessionsLost = new LongAdder();
    /**
     * Reads of the agent's assignments (lease_assignments): one per notification burst, reconnect
     * and renewal after which its assignments version had moved (a check that finds it unmoved is
     * one row and is not counted).
     */
    private final LongAdder looks = new LongAdder();
    /** Looks that read every lease of the incarnation, not only what changed since the last one. */
    private final LongAdder fullLooks = new LongAdder();
    /** Reads of the assignments version, before each look (see {@link #resync}). */
    private final LongAdder checks = new LongAdder();
    /** Guards {@link #closing} against a session being opened while {@link #close()} begins. */
    private final Object sessionLock = new Object();
    private volatile boolean closing;
    private volatile boolean closed;
    private volatile boolean sessionNeeded; // the session was lost and no new one is open yet
    private volatile AgentId agent;
    private volatile AgentRegistration registration;
    private volatile SessionGuard guard;
    private volatile Thread eventThread;
    private final ExecutorService events = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "streamhouse-lease-events");
        t.setDaemon(true);
        eventThread = t;
        return t;
    });
    private final ScheduledExecutorService sessionTimer = daemon("streamhouse-session");
    private final ScheduledExecutorService watchdog = daemon("streamhouse-session-deadline");
    private ScheduledFuture<?> deadlineCheck; // guarded by this
    private volatile ChangeFeed feed;

    private LeaseClient(Builder b) {
        this.identity = b.identity;
        this.client = b.client;
        this.store = new PostgresLeaseStore(b.dataSource);
        this.sessionDataSource = b.sessionDataSource == null ? b.dataSource : b.sessionDataSource;
        this.sessionStore = b.sessionDataSource == null ? store : new PostgresLeaseStore(b.sessionDataSource);
        this.defaultTtl = b.defaultSessionTimeout;
        this.margin = b.safetyMargin;
        this.startTimeout = b.startTimeout;
        this.nanos = b.nanos;
        this.listeners = List.copyOf(b.listeners);
        this.held = new HeldLeases(nanos);
    }

    public static Builder builder(AgentIdentity identity, KubernetesClient client, DataSource dataSource) {
        return new Builder(identity, client, Objects.requireNonNull(dataSource, "dataSource"));
    }

    // ------------------------------------------------------------------ lifecycle

    /**
     * Reads this agent's StreamAgent (waiting up to the start timeout for the operator to create
     * it), opens a session and starts listening on its channel. Returns once the session is
     * open; leases arrive as the operator assigns them (and those this agent id already holds
     * under an earlier incarnation come back to it at epoch + 1).
     *
     * @throws IllegalStateException when the StreamAgent is missing, not self-kept, or names another agent id
     */
    public LeaseClient start() {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("already started");
        }
        StreamAgent self = awaitOwnStreamAgent();
        registration = registrationOf(self);
        agent = registration.agent();
        guard = new SessionGuard(registration.ttl(), margin == null ? defaultMargin(registration.ttl()) : margin);
        openFirstSession();
        sessionTimer.schedule(this::renewRound, registration.ttl().dividedBy(3).toMillis(), TimeUnit.MILLISECONDS);
        // Connects in the background and looks once connected; the renewals look too.
        feed = ChangeFeed.forAgent(sessionDataSource, agent, this::lookAgain);
        LOG.log(System.Logger.Level.INFO, "agent " + agent + " (" + identity + ") started with session "
                + held.session() + ", timeout " + registration.ttl());
        return this;
    }

    /**
     * Opens the session, retrying until the start timeout: at a fresh install the agents may
     * start before the operator has created the schema, or the database may still be starting.
     */
    private void openFirstSession() {
        long deadline = nanos.getAsLong() + startTimeout.toNanos();
        long pause = 100;
        while (true) {
            try {
                openSession();
                return;
            } catch (RuntimeException e) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - nanos.getAsLong());
                if (left <= 0) {
                    throw new IllegalStateException("agent " + agent + " could not open its session within "
                            + startTimeout.toMillis() + " ms (is the database reachable, and has the operator"
                            + " started once, to create the schema?): " + e.getMessage(), e);
                }
                LOG.log(System.Logger.Level.INFO, "agent " + agent + ": session not opened yet (" + e.getMessage()
                        + "); retrying");
                pause(Math.min(pause, left));
                pause = Math.min(2_000, pause * 2);
            }
        }
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis); // start-up back-off, on the caller's thread
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting", e);
        }
    }

    /**
     * Reads this agent's StreamAgent by name, polling until the operator has created it: an
     * agent may only {@code get} StreamAgents (deploy/02-agent-rbac.yaml), never list or watch them.
     */
    private StreamAgent awaitOwnStreamAgent() {
        var resource = client.resources(StreamAgent.class).inNamespace(identity.namespace()).withName(identity.streamAgent());
        long deadline = nanos.getAsLong() + startTimeout.toNanos();
        long pause = 50;
        while (true) {
            StreamAgent self = resource.get();
            if (self != null) {
                return self;
            }
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - nanos.getAsLong());
            if (left <= 0) {
                throw new IllegalStateException("StreamAgent " + identity + " did not appear within "
                        + startTimeout.toMillis() + " ms: the operator creates it from a pod labelled "
                        + StreamAgent.AGENT_LABEL + "=true; is the operator running, and is this the pod's name?");
            }
            pause(Math.min(pause, left));
            pause = Math.min(1_000, pause * 2);
        }
    }

    /**
     * Graceful shutdown: stops writing, releases every lease (the operator moves them at once,
     * without waiting for the session to expire), ends the session and stops the threads.
     */
    @Override
    public void close() {
        if (closed || !started.get() || agent == null) { // never started, or start failed before the session
            closed = true;
            shutdownThreads();
            return;
        }
        synchronized (sessionLock) {
            // A renewal answered "ended" by our own shutdown must not open a new incarnation;
            // one opening right now finishes first, and is the session the shutdown ends.
            closing = true;
        }
        SessionGuard g = guard;
        if (g != null) {
            g.invalidate(); // no write may start from here on
        }
        try {
            onEventThread(() -> {
                held.all().forEach(h -> revoke(h, LeaseListener.Reason.RELEASED));
                // One transaction: released and ended together, so no lease can come back to us in between.
                List<LeaseKey> released = sessionStore.shutdown(agent, held.session(), SHUTDOWN);
                LOG.log(System.Logger.Level.INFO, "agent " + agent + " closed: released " + released.size()
                        + " lease(s), session " + held.session() + " ended");
                return null;
            });
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "agent " + agent + ": could not release its leases at close ("
                    + e.getMessage() + "); they move when its session expires");
        } finally {
            closed = true;
            shutdownThreads();
        }
    }

    private void shutdownThreads() {
        ChangeFeed listening = feed;
        if (listening != null) {
            listening.close();
        }
        sessionTimer.shutdownNow();
        watchdog.shutdownNow();
        events.shutdown();
        synchronized (waiters) {
            waiters.values().forEach(list -> list.forEach(f -> f.completeExceptionally(
                    new IllegalStateException("lease client closed"))));
            waiters.clear();
        }
    }

    // ------------------------------------------------------------------ the API

    /**
     * The epoch to write {@code topic}/{@code partition} with, from memory, or {@link #NO_EPOCH}
     * when this agent does not hold it (or its session is not confirmed). Lock-free; well under a
     * microsecond (see the JMH bench).
     */
    public long epoch(String topic, int partition) {
        return held.epoch(topic, partition);
    }

    /**
     * Waits until the operator assigns {@code topic}/{@code partition} to this agent and returns its
     * epoch.
     *
     * @throws LeaseNotHeldException after {@code timeout}, naming who holds it instead
     */
    public long ensureLease(String topic, int partition, Duration timeout) {
        LeaseKey key = LeaseKey.of(topic, partition);
        long now = epoch(topic, partition);
        if (now != NO_EPOCH) {
            return now;
        }
        CompletableFuture<Long> assigned = new CompletableFuture<>();
        synchronized (waiters) {
            waiters.computeIfAbsent(key, k -> new ArrayList<>()).add(assigned);
        }
        try {
            now = epoch(topic, partition); // assigned between the first look and the registration
            return now != NO_EPOCH ? now : assigned.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw notHeld(key, timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + key, e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("stopped waiting for " + key + ": " + e.getCause().getMessage(), e.getCause());
        } finally {
            synchronized (waiters) {
                List<CompletableFuture<Long>> list = waiters.get(key);
                if (list != null && list.remove(assigned) && list.isEmpty()) {
                    waiters.remove(key);
                }
            }
        }
    }

    /** Asks the database whether this incarnation may write with {@code epoch} (one round trip). */
    public Validation validateEpoch(String topic, int partition, long epoch) {
        return store.validate(LeaseKey.of(topic, partition), requireStarted(), held.session(), epoch);
    }

    /**
     * Runs {@code work} on one connection in a transaction that the database commits only if this
     * incarnation of the agent still holds the partition at {@code epoch} when it starts and its
     * session is still alive when it commits; a takeover waits for it (or skips the row) until
     * then. The transaction is bounded by the session's remaining time and commits durably.
     * Refused at once, without a round trip, when the session is not confirmed or this client
     * does not hold the partition at {@code epoch} (never did, any more, or handed it off).
     *
     * @throws FencingException when the write is refused (stale epoch, not the holder, session
     *                          expired, superseded); nothing of {@code work} committed
     */
    public <T> T fenced(String topic, int partition, long epoch, FencedWork<T> work) {
        LeaseKey key = LeaseKey.of(topic, partition);
        AgentId me = requireStarted();
        long session = held.session();
        SessionGuard g = guard;
        if (closed || !g.isConfirmed(nanos.getAsLong())) {
            fencedRefused.increment();
            throw new FencingException(key, me, session, epoch, new Validation(Validation.Status.EXPIRED, me, epoch));
        }
        long mine = held.epoch(topic, partition);
        if (mine != epoch) {
            // New writes stop at the local revoke: a handoff's release must not queue behind a
            // stream of fresh share locks, and a stale epoch needs no round trip to be refused.
            fencedRefused.increment();
            throw new FencingException(key, me, session, epoch, new Validation(
                    mine > epoch ? Validation.Status.STALE_EPOCH : Validation.Status.NOT_HOLDER,
                    mine == NO_EPOCH ? null : me, mine));
        }
        try {
            T result = store.fenced(key, me, session, epoch, work);
            fencedCommitted.increment();
            return result;
        } catch (FencingException e) {
            fencedRefused.increment();
            if (e.validation().status() == Validation.Status.SUPERSEDED) {
                sessionTimer.execute(() -> stopSuperseded(session));
            }
            throw e;
        }
    }

    /**
     * Counters since start, for the application's metrics. {@code checks}: reads of the agent's
     * assignments version (one row), one per burst of notifications on its channel, reconnect and
     * renewal; {@code looks}: reads of its assignments, made by a check that found the version
     * moved (a forged notification, or a renewal with nothing new, costs a check, not a look);
     * {@code fullLooks}: those of the looks that read every lease of the incarnation (the first of
     * each session, after a local revoke or release, or on a schema before version 11), the others
     * reading only what changed since the last look.
     */
    public record Stats(long fencedCommitted, long fencedRefused, long sessionsLost, int held, long looks, long checks,
                        long fullLooks) {
    }

    public Stats stats() {
        return new Stats(fencedCommitted.sum(), fencedRefused.sum(), sessionsLost.sum(), held().size(), looks.sum(),
                checks.sum(), fullLooks.sum());
    }

    /** Gives the partition up now (the operator may assign it anywhere, this agent included). */
    public boolean release(String topic, int partition) {
        LeaseKey key = LeaseKey.of(topic, partition);
        requireStarted();
        return onEventThread(() -> {
            HeldLeases.Held h = held.get(key);
            if (h == null) {
                return false;
            }
            revoke(h, LeaseListener.Reason.RELEASED);
            return store.release(key, agent, h.session(), h.epoch(), RELEASED).released();
        });
    }

    /** Gives every lease of this agent up now; returns what the database released. */
    public List<LeaseKey> releaseAll() {
        requireStarted();
        return onEventThread(() -> releaseEverything(RELEASED));
    }

    /** The leases this agent holds now, as far as it knows (the database is the truth). */
    public Map<LeaseKey, Long> held() {
        Map<LeaseKey, Long> out = new HashMap<>();
        held.all().forEach(h -> {
            if (epoch(h.key().topic(), h.key().partition()) != NO_EPOCH) {
                out.put(h.key(), h.epoch());
            }
        });
        return out;
    }

    /**
     * True once the client has stopped: closed by the application, or stopped by itself because
     * a newer process registered the same agent id (listeners heard {@link LeaseListener#stopped}).
     */
    public boolean isClosed() {
        return closed;
    }

    /** This agent's id (known after {@link #start()}). */
    public AgentId agentId() {
        return agent;
    }

    /** The session incarnation currently open. */
    public long sessionEpoch() {
        return held.session();
    }

    // ------------------------------------------------------------------ session

    private void openSession() {
        long sent = nanos.getAsLong();
        Session session = sessionStore.register(registration);
        held.session(session.sessionEpoch(), guard);
        guard.confirmed(sent);
        armDeadline();
    }

    /**
     * Opens a new incarnation unless {@link #close()} has begun; false when it has. Held under
     * the lock close() takes first, so an agent that is closing never registers again: a session
     * opened after its shutdown would look live to the operator, which would give it leases that
     * then wait a whole timeout for a failover.
     */
    private boolean openSessionUnlessClosing() {
        synchronized (sessionLock) {
            if (closing) {
                return false;
            }
            openSession();
            return true;
        }
    }

    private void renewRound() {
        if (closed) {
            return;
        }
        Duration next = registration.ttl().dividedBy(3);
        long sent = nanos.getAsLong();
        try {
            if (sessionNeeded) {
                if (!openSessionUnlessClosing()) { // the last one was lost and opening a new one failed: try again
                    return;
                }
                sessionNeeded = false;
            } else {
                Renewal renewal = sessionStore.renew(agent, held.session());
                if (renewal == Renewal.RENEWED) {
                    guard.confirmed(sent);
                    armDeadline();
                    lookAgain();
                    return;
                }
                if (renewal == Renewal.SUPERSEDED) {
                    stopSuperseded(held.session());
                    return;
                }
                if (closing) {
                    return; // ended by our own close, which raced this renewal: nothing to reopen
                }
                // Expired or ended (we were paused or cut off too long): what we held is gone.
                // Start a new incarnation; the operator assigns leases to it again.
                LOG.log(System.Logger.Level.WARNING, "session " + held.session() + " of " + agent
                        + " expired (" + renewal + "): its leases are revoked; registering a new session");
                guard.invalidate();
                sessionsLost.increment();
                long lost = held.session();
                events.execute(() -> revokeSession(lost, LeaseListener.Reason.SESSION_LOST));
                sessionNeeded = true;
                if (openSessionUnlessClosing()) {
                    sessionNeeded = false;
                }
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "session renewal of " + agent + " failed (" + e.getMessage()
                    + "); retrying; if it keeps failing, writes stop before the session could expire");
            next = registration.ttl().dividedBy(10);
        } finally {
            if (!closed && !sessionTimer.isShutdown()) {
                sessionTimer.schedule(this::renewRound, Math.max(50, next.toMillis()), TimeUnit.MILLISECONDS);
            }
        }
    }

    /**
     * Another process registered this agent id after us: it is the agent now. Stop for good,
     * without releasing or ending anything (what we held is already its to take, and ending the
     * session would end nothing of ours), and never register again: two processes re-registering
     * in turn would each supersede the other forever.
     */
    private void stopSuperseded(long session) {
        if (closed || session != held.session()) {
            return;
        }
        closed = true;
        guard.invalidate();
        sessionsLost.increment();
        LOG.log(System.Logger.Level.ERROR, "session " + session + " of " + agent + " was superseded by a newer"
                + " incarnation: another process registered agent id " + agent + " (" + identity + ")."
                + " This client stops and will not register again.");
        try {
            events.submit(() -> {
                revokeSession(session, LeaseListener.Reason.SUPERSEDED);
                notifyListeners("stopped", l -> l.stopped(LeaseListener.Reason.SUPERSEDED));
            }).get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | java.util.concurrent.RejectedExecutionException e) {
            LOG.log(System.Logger.Level.WARNING, "agent " + agent + ": listeners not all told of the stop: " + e);
        } finally {
            shutdownThreads();
        }
    }

    /** Looks again when the session would stop being confirmed; by then a renewal should have moved it on. */
    private synchronized void armDeadline() {
        if (deadlineCheck != null) {
            deadlineCheck.cancel(false);
        }
        if (!watchdog.isShutdown()) {
            long left = Math.max(0, guard.nanosLeft(nanos.getAsLong()));
            deadlineCheck = watchdog.schedule(this::checkDeadline, left + TimeUnit.MILLISECONDS.toNanos(1),
                    TimeUnit.NANOSECONDS);
        }
    }

    private void checkDeadline() {
        if (closed || guard.isConfirmed(nanos.getAsLong())) {
            return;
        }
        LOG.log(System.Logger.Level.WARNING, "session " + held.session() + " of " + agent + " not confirmed in time: "
                + held.size() + " lease(s) revoked locally, writes refused until a renewal succeeds");
        long session = held.session();
        events.execute(() -> revokeSession(session, LeaseListener.Reason.SESSION_UNCONFIRMED));
    }

    private static Duration defaultMargin(Duration ttl) {
        Duration tenth = ttl.dividedBy(10);
        return tenth.compareTo(Duration.ofMillis(200)) < 0 ? Duration.ofMillis(Math.min(200, ttl.toMillis() / 2)) : tenth;
    }

    // ------------------------------------------------------------------ cache changes (event thread only)

    /**
     * Asks the database again, soon, on the event thread: after a notification on the agent's
     * channel, a reconnect of it, and every renewal. Looks queued meanwhile fold into one (a
     * burst of notifications costs one query), and a notification that arrives while the query
     * runs queues the next one, so no change is missed.
     */
    private void lookAgain() {
        if (closed || !lookQueued.compareAndSet(false, true)) {
            return;
        }
        try {
            events.execute(() -> {
                lookQueued.set(false);
                try {
                    resync();
                } catch (RuntimeException e) {
                    // The database unreachable, say: the next renewal, or the watchdog, takes it from here.
                    LOG.log(System.Logger.Level.WARNING, "agent " + agent + " could not read its leases ("
                            + e.getMessage() + "); looking again after the next renewal");
                }
            });
        } catch (RejectedExecutionException e) {
            lookQueued.set(false); // closing
        }
    }

    /**
     * Makes the cache equal to what the database says this incarnation holds, and hands off what
     * a planned move asks for. The database's answer is the truth; nothing else adds a lease.
     */
    private void resync() {
        if (closed || !guard.isConfirmed(nanos.getAsLong())) {
            return;
        }
        long session = held.session();
        // The number that counts every change to what the look would answer, read first: when
        // it has not moved since the last look of this incarnation, that look is still the
        // answer (one row instead of every lease: the check after each renewal, a notification
        // someone forged). A database without it (not yet upgraded) is always looked at.
        checks.increment();
        long version = assignmentsVersion();
        boolean sameAsLastLook = version >= 0 && session == lookedSession && held.changes() == lookedChanges;
        if (sameAsLastLook && version == lookedVersion) {
            return; // nothing changed in the database nor here (a revoke, a release) since the last look
        }
        looks.increment();
        // Only what changed since the last look when the database can say (a few rows where the
        // full look reads every lease: a failover gives each survivor a handful); everything
        // after a new session, a local revoke or release, a failed handoff release, or when the
        // changes since are no longer kept.
        Optional<AssignmentChanges> changes = sameAsLastLook ? assignmentChanges(session) : Optional.empty();
        if (changes.isPresent()) {
            apply(session, changes.get().held(), changes.get().gone());
        } else {
            fullLooks.increment();
            List<Assignment> truth = sessionStore.assignments(agent, session);
            Set<LeaseKey> gone = new HashSet<>();
            for (HeldLeases.Held h : held.all()) {
                gone.add(h.key());
            }
            truth.forEach(a -> gone.remove(a.key()));
            apply(session, truth, gone);
        }
        // Done: the next check skips the look while nothing changes (a release that failed above
        // asked for the next one itself).
        lookedSession = lookAgainNext ? -1 : session;
        lookedVersion = version;
        lookedChanges = held.changes();
        lookAgainNext = false;
    }

    /**
     * Makes the cache agree with the database for the leases named: {@code truth} as this
     * incarnation holds them now, {@code gone} no longer its own. Leases named in neither are
     * left as they are.
     */
    private void apply(long session, Collection<Assignment> truth, Collection<LeaseKey> gone) {
        Map<LeaseKey, Assignment> byKey = new HashMap<>();
        truth.forEach(a -> byKey.put(a.key(), a));
        LeaseListener.Reason lost = null;
        List<HeldLeases.Held> stale = new ArrayList<>();
        for (LeaseKey key : gone) {
            HeldLeases.Held h = held.get(key);
            if (h != null && !byKey.containsKey(key)) {
                stale.add(h);
            }
        }
        for (Assignment a : truth) {
            HeldLeases.Held h = held.get(a.key());
            if (h != null && h.epoch() != a.epoch()) {
                stale.add(h);
            }
        }
        for (HeldLeases.Held h : stale) {
            // Entries of an older incarnation are revokeSession's, queued when it was lost.
            if (h.session() == session) {
                if (lost == null) {
                    lost = sessionStillLive(session) ? LeaseListener.Reason.MOVED : LeaseListener.Reason.SESSION_LOST;
                }
                revoke(h, lost);
            }
        }
        for (Assignment a : truth) {
            HeldLeases.Held h = held.get(a.key());
            if (a.handoffTo() != null) {
                if (h != null && h.epoch() == a.epoch()) {
                    handOff(h, a.handoffTo());
                } else {
                    // Asked to hand off an epoch this process never used: give it up without telling anyone it came.
                    releaseForHandoff(a.key(), session, a.epoch(), a.handoffTo());
                }
            } else if (h == null || h.epoch() != a.epoch()) {
                acquire(a.key(), a.epoch());
            }
        }
    }

    /** {@link LeaseStore#assignmentChanges} since the last look, or empty to read everything (also on a schema without it). */
    private Optional<AssignmentChanges> assignmentChanges(long session) {
        if (changesUnsupported) {
            return Optional.empty();
        }
        try {
            return sessionStore.assignmentChanges(agent, session, lookedVersion);
        } catch (RuntimeException e) {
            if (undefinedFunction(e)) {
                changesUnsupported = true; // a schema before V11
                LOG.log(System.Logger.Level.INFO, "the lease store has no lease_assignment_changes (schema before"
                        + " version 11): agent " + agent + " reads all its leases at every look");
                return Optional.empty();
            }
            throw e;
        }
    }

    /** {@link LeaseStore#assignmentsVersion}, or -1 when this database has none (or it could not be read: the look decides). */
    private long assignmentsVersion() {
        if (versionUnsupported) {
            return -1;
        }
        try {
            return sessionStore.assignmentsVersion(agent);
        } catch (RuntimeException e) {
            if (undefinedFunction(e)) {
                versionUnsupported = true; // a schema before V10
                LOG.log(System.Logger.Level.INFO, "the lease store has no lease_assignments_version (schema before"
                        + " version 10): agent " + agent + " reads its leases at every check");
            }
            return -1;
        }
    }

    private static boolean undefinedFunction(RuntimeException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.sql.SQLException sql && "42883".equals(sql.getSQLState())) {
                return true;
            }
        }
        return false;
    }

    /** Whether leases missing from the answer moved away (true) or went with the session (expired, ended, superseded). */
    private boolean sessionStillLive(long session) {
        try {
            return sessionStore.session(agent).map(s -> s.live() && s.sessionEpoch() == session).orElse(false);
        } catch (RuntimeException e) {
            return true; // the renewal will say what happened to the session
        }
    }

    private HeldLeases.Held acquire(LeaseKey key, long epoch) {
        HeldLeases.Held h = new HeldLeases.Held(key, epoch, held.session());
        held.put(h);
        List<CompletableFuture<Long>> waiting;
        synchronized (waiters) {
            waiting = waiters.remove(key);
        }
        if (waiting != null) {
            waiting.forEach(f -> f.complete(epoch));
        }
        notifyListeners("acquired", l -> l.acquired(key, epoch));
        return h;
    }

    private void revoke(HeldLeases.Held h, LeaseListener.Reason reason) {
        if (held.remove(h)) {
            notifyListeners("revoked", l -> l.revoked(h.key(), h.epoch(), reason));
        }
    }

    /** Everything cached under {@code session} goes (the session is lost, or not confirmed in time). */
    private void revokeSession(long session, LeaseListener.Reason reason) {
        for (HeldLeases.Held h : held.all()) {
            if (h.session() == session) {
                revoke(h, reason);
            }
        }
    }

    private void handOff(HeldLeases.Held h, AgentId target) {
        notifyListeners("handoffRequested", l -> l.handoffRequested(h.key(), h.epoch(), target));
        revoke(h, LeaseListener.Reason.HANDED_OFF); // no write starts after this; one in flight commits first
        releaseForHandoff(h.key(), h.session(), h.epoch(), target);
    }

    private void releaseForHandoff(LeaseKey key, long session, long epoch, AgentId target) {
        try {
            sessionStore.release(key, agent, session, epoch, HANDED_OFF);
        } catch (RuntimeException e) {
            lookAgainNext = true; // the handoff is asked again at the next check, though nothing else changed
            LOG.log(System.Logger.Level.WARNING, "could not release " + key + " for handoff to " + target + " ("
                    + e.getMessage() + "); asked again at the next look, and the operator forces the move after its"
                    + " handoff timeout");
        }
    }

    private List<LeaseKey> releaseEverything(String reason) {
        held.all().forEach(h -> revoke(h, LeaseListener.Reason.RELEASED));
        return sessionStore.releaseAll(agent, held.session(), reason);
    }

    private void notifyListeners(String what, java.util.function.Consumer<LeaseListener> call) {
        for (LeaseListener l : listeners) {
            try {
                call.accept(l);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "lease listener failed in " + what + ": " + e, e);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private LeaseNotHeldException notHeld(LeaseKey key, Duration timeout) {
        // Asked through lease_validate, an agent function: an agent has no privilege on the tables.
        Validation row = store.validate(key, agent, held.session(), 0);
        AgentId holder = row.currentHolder();
        long epoch = row.currentEpoch();
        String where = holder != null
                ? "it is held by " + holder + " at epoch " + epoch
                : "nobody holds it (is there a PartitionLease for it in namespace " + identity.namespace()
                        + ", agentGroup " + registration.group() + "?)";
        return new LeaseNotHeldException(key + " was not assigned to " + agent + " within " + timeout.toMillis()
                + " ms: " + where, key, holder, epoch);
    }

    private AgentId requireStarted() {
        AgentId me = agent;
        if (me == null) {
            throw new IllegalStateException("lease client not started");
        }
        return me;
    }

    /** Runs {@code task} on the event thread (directly when already on it, e.g. from a listener) and waits. */
    private <T> T onEventThread(Callable<T> task) {
        try {
            if (Thread.currentThread() == eventThread) {
                return task.call();
            }
            return events.submit(task).get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private AgentRegistration registrationOf(StreamAgent self) {
        String name = identity.namespace() + "/" + identity.streamAgent();
        StreamAgentSpec spec = self.getSpec();
        if (spec == null || spec.getAgentId() == null) {
            throw new IllegalStateException("StreamAgent " + name + " has no spec.agentId");
        }
        if (self.getStatus() != null && self.getStatus().getPhase() == StreamAgentPhase.Conflict) {
            var ready = self.getStatus().condition("Ready");
            throw new IllegalStateException("StreamAgent " + name + " is in Conflict: "
                    + (ready == null || ready.getMessage() == null ? "its agent id is used by another StreamAgent"
                    : ready.getMessage()) + ". Two processes with one agent id would fence each other out;"
                    + " give this one its own id (annotation " + StreamAgent.AGENT_ID_ANNOTATION + ")");
        }
        if (spec.getSessionKeeper() != SessionKeeper.Agent) {
            throw new IllegalStateException("StreamAgent " + name + " has its session kept by the operator: annotate"
                    + " the pod with " + StreamAgent.SESSION_KEEPER_ANNOTATION + ": agent (or set"
                    + " spec.sessionKeeper: Agent) so that this library keeps it");
        }
        AgentId id = AgentId.of(spec.getAgentId());
        if (identity.agentId() != null && !identity.agentId().equals(id)) {
            throw new IllegalStateException("StreamAgent " + name + " has agent id " + id + ", this process expects "
                    + identity.agentId());
        }
        Duration ttl = spec.getSessionTimeoutSeconds() == null ? defaultTtl
                : Duration.ofSeconds(spec.getSessionTimeoutSeconds());
        return new AgentRegistration(id, spec.groupOrDefault(), spec.getZone(),
                spec.getAddress(), ttl);
    }

    private static ScheduledExecutorService daemon(String name) {
        return Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    /** Configures a {@link LeaseClient}; nothing starts before {@link LeaseClient#start()}. */
    public static final class Builder {
        private final AgentIdentity identity;
        private final KubernetesClient client;
        private final DataSource dataSource;
        private DataSource sessionDataSource;
        private final List<LeaseListener> listeners = new ArrayList<>();
        private Duration defaultSessionTimeout =
                Duration.parse("PT" + StreamAgentSpec.DEFAULT_SESSION_TIMEOUT.toUpperCase(java.util.Locale.ROOT));
        private Duration safetyMargin;
        private Duration startTimeout = Duration.ofSeconds(60);
        private LongSupplier nanos = System::nanoTime;

        private Builder(AgentIdentity identity, KubernetesClient client, DataSource dataSource) {
            this.identity = Objects.requireNonNull(identity, "identity");
            this.client = Objects.requireNonNull(client, "client");
            this.dataSource = dataSource;
        }

        public Builder listener(LeaseListener listener) {
            listeners.add(Objects.requireNonNull(listener, "listener"));
            return this;
        }

        /** Session timeout when the StreamAgent sets no {@code sessionTimeoutSeconds} (the operator's default is 20 s). */
        public Builder defaultSessionTimeout(Duration timeout) {
            this.defaultSessionTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /** How long before the session could expire this agent stops writing (default: a tenth of the timeout). */
        public Builder safetyMargin(Duration margin) {
            this.safetyMargin = Objects.requireNonNull(margin, "margin");
            return this;
        }

        /** How long {@link LeaseClient#start()} waits for the operator to create the StreamAgent. */
        public Builder startTimeout(Duration timeout) {
            this.startTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * A DataSource for the session's own traffic only (register, renew, looks, handoff
         * releases, the channel, which holds one connection): give one when the DataSource of
         * {@link LeaseClient#builder} is also the application's pool and its writes can hold every
         * connection, or a renewal waiting for one could let the session expire. Two connections
         * are enough. Default: the builder's DataSource for everything.
         */
        public Builder sessionDataSource(DataSource sessionDataSource) {
            this.sessionDataSource = Objects.requireNonNull(sessionDataSource, "sessionDataSource");
            return this;
        }

        /** The monotonic clock (tests move it by hand to play a paused process). */
        Builder nanoClock(LongSupplier clock) {
            this.nanos = Objects.requireNonNull(clock, "clock");
            return this;
        }

        public LeaseClient build() {
            return new LeaseClient(this);
        }
    }
}
