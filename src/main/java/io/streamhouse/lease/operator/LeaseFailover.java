package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.AcquireResult;
import io.streamhouse.lease.store.Lease;
import io.streamhouse.lease.store.LeaseStore;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * Batched compare-and-swaps: one transaction for many leases instead of one per lease, for the
 * two bursts that move many leases at once.
 * <ul>
 * <li>Failover of a dead holder's lease, together with the other leases of the same dead
 * incarnation in its group.</li>
 * <li>Assignment of a free lease, together with the other free leases of its group: a cold
 * start, or an agent's graceful stop (it released everything in one transaction).</li>
 * </ul>
 * The first reconcile to get here runs the batch ({@link FailoverBatcher}); the others wait for
 * it, then find their row already moved (their own CAS answers ALREADY_HELD). Every CAS names
 * "free or dead holder", so a stale view can only lose, never steal from a live agent. One batch
 * is one transaction: each agent that receives leases is notified once on its channel and asks
 * the database once, however many leases it got.
 */
final class LeaseFailover {

    static final String REASON = "AgentLost";
    static final String ASSIGNED = "Assigned";
    /** Most leases in one transaction: bounds how long its row locks are held (a second or so). */
    static final int MAX_BATCH = 5_000;

    private static final Logger LOG = Logger.getLogger(LeaseFailover.class);

    /** The other leases of a group, as the failover needs them. */
    record Sibling(ResourceID id, LeaseKey key) {
    }

    /** One lease to fail over, and what the reconcile knows around it. */
    record Request(String namespace, String group, LeaseKey key, Lease row, AgentView target,
                   Map<AgentId, AgentView> views, Assigner.Plan plan, Supplier<Assigner.Plan> replan,
                   List<Sibling> deadSiblings) {
    }

    /** A free lease to assign, and how to find the other free leases of its group (asked only by the batch's leader). */
    record FreeRequest(String namespace, String group, LeaseKey key, Lease row, AgentView target,
                       Map<AgentId, AgentView> views, Assigner.Plan plan, Supplier<List<Sibling>> freeSiblings) {
    }

    private final LeaseStore store;
    private final GroupPlanner planner;
    private final OperatorMetrics metrics;
    private final LeaseActivity activity;
    private final EndedSessions ended;
    private final Consumer<ResourceID> show;
    private final Consumer<ResourceID> retry;
    private final Runnable committed;
    private final FailoverBatcher batches = new FailoverBatcher();
    /**
     * The leases a batch is moving right now, and to whom: the change feed reports the batch's
     * own writes at its commit, often before the batch's thread has noted the rows, and those
     * reports must not reconcile a thousand leases the batch shows or retries itself.
     */
    private final Map<LeaseKey, AgentId> moving = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * @param show  reconciles a sibling lease the batch moved, so that it shows the row (at its
     *              turn of the status write budget)
     * @param retry reconciles a sibling lease whose compare-and-swap in the batch was lost, at once
     * @param committed told once per batch, after its commit and before its siblings are shown
     */
    LeaseFailover(LeaseStore store, GroupPlanner planner, OperatorMetrics metrics, LeaseActivity activity,
                  EndedSessions ended, Consumer<ResourceID> show, Consumer<ResourceID> retry, Runnable committed) {
        this.store = store;
        this.planner = planner;
        this.metrics = metrics;
        this.activity = activity;
        this.ended = ended;
        this.show = show;
        this.retry = retry;
        this.committed = committed;
    }

    /** One compare-and-swap, timed, and counted as a transition when the holder changed. */
    AcquireResult acquire(AcquireRequest request, String reason) {
        AcquireResult result = metrics.cas(() -> store.acquire(request, reason));
        count(request, result, reason);
        return result;
    }

    /**
     * Counts the outcome; a target found not live is an incarnation that is over (ended, expired
     * or superseded: it never comes back), so no plan sends a lease to it again, whatever its
     * StreamAgent still says (a reconcile that read a graceful stop's release before the change
     * feed had reported the session's end).
     */
    private void count(AcquireRequest request, AcquireResult result, String reason) {
        if (result.outcome() == AcquireResult.Outcome.ACQUIRED) {
            metrics.acquired(reason, result);
        } else if (!result.succeeded()) {
            metrics.casLost(result.outcome());
            if (result.outcome() == AcquireResult.Outcome.AGENT_NOT_LIVE && ended.ended(request.agent(), request.sessionEpoch())) {
                planner.changed();
            }
        }
    }

    /**
     * Moves {@code r.key()} away from its dead holder, in one batch with {@code r.deadSiblings()}
     * (the holder's other leases of the group, not yet seen moved) unless a batch for that
     * incarnation is already running.
     */
    AcquireResult failover(Request r) {
        String batch = r.namespace() + "/" + r.group() + "/" + r.row().holder() + "#" + r.row().holderSession();
        return batches.run(batch, () -> lead(r),
                () -> acquire(AcquireRequest.ifFree(r.key(), r.target().id(), r.target().sessionEpoch()), REASON));
    }

    /**
     * Gives a free lease to its planned agent, in one batch with the other free leases of its
     * group (each to its own planned agent), unless such a batch is already running.
     */
    AcquireResult assignFree(FreeRequest r) {
        String batch = r.namespace() + "/" + r.group() + "/free";
        Supplier<AcquireResult> alone = () -> notLive(r.target(), r.row()) ? new AcquireResult(AcquireResult.Outcome.AGENT_NOT_LIVE, r.row())
                : acquire(AcquireRequest.ifFree(r.key(), r.target().id(), r.target().sessionEpoch()), ASSIGNED);
        // A lease that waited for a batch which did not take it (not known free when that batch
        // started, or sent nowhere by its plan) leads the next batch rather than going alone:
        // the others in the same case go with it.
        return batches.run(batch, () -> leadFree(r), () -> takenMeanwhile(r.key()) ? alone.get()
                : batches.run(batch, () -> leadFree(r), alone));
    }

    /**
     * True when {@code target}'s incarnation was found over since this lease planned with it
     * (while it waited for a batch, say), and the row is at hand to answer with: the CAS would be
     * lost, so it is not made, and the lease plans again.
     */
    private boolean notLive(AgentView target, Lease row) {
        return row != null && ended.over(target.id(), target.sessionEpoch());
    }

    /**
     * True when {@code key} going to {@code holder} is the doing of a batch still running here:
     * that batch shows the lease at its turn (or retries it), so the change feed's report of it
     * needs no reconcile of its own.
     */
    boolean moving(LeaseKey key, AgentId holder) {
        return holder != null && holder.equals(moving.get(key));
    }

    /** True when this process has seen {@code key} given to a holder (by the batch just run, say). */
    private boolean takenMeanwhile(LeaseKey key) {
        GroupPlanner.Known known = planner.known(key);
        return known != null && known.holder() != null;
    }

    private AcquireResult leadFree(FreeRequest r) {
        if (notLive(r.target(), r.row())) {
            return new AcquireResult(AcquireResult.Outcome.AGENT_NOT_LIVE, r.row()); // planned with a view now known stale
        }
        long started = System.nanoTime();
        Map<LeaseKey, AcquireRequest> requests = new HashMap<>();
        AcquireRequest own = AcquireRequest.ifFree(r.key(), r.target().id(), r.target().sessionEpoch());
        requests.put(r.key(), own);
        Map<LeaseKey, ResourceID> moved = new HashMap<>();
        for (Sibling sibling : r.freeSiblings().get()) {
            if (requests.size() >= MAX_BATCH) {
                break; // the rest are assigned by the next batch, led by one of them
            }
            AgentView to = r.views().get(r.plan().target().get(sibling.key()));
            if (requests.containsKey(sibling.key()) || to == null || !to.acceptsLeases()
                    || ended.over(to.id(), to.sessionEpoch())) {
                continue;
            }
            requests.put(sibling.key(), AcquireRequest.ifFree(sibling.key(), to.id(), to.sessionEpoch()));
            moved.put(sibling.key(), sibling.id());
        }
        if (requests.size() == 1) {
            return acquire(own, ASSIGNED);
        }
        return runBatch(r.key(), requests, moved, ASSIGNED, started, started,
                (acquired, timing) -> LOG.infof("%d free lease(s) of %s/%s assigned in one batch (%s)", acquired,
                        r.namespace(), r.group(), timing));
    }

    private AcquireResult lead(Request r) {
        long started = System.nanoTime();
        AgentId holder = r.row().holder();
        planner.holderDied(holder);
        List<Sibling> dead = r.deadSiblings().stream().filter(s -> {
            GroupPlanner.Known known = planner.known(s.key());
            return known == null || holder.equals(known.holder()); // not seen moved yet
        }).toList();
        // The plan at hand already places every lease of the dead agent when it was made after
        // its StreamAgent said the session expired (it no longer keeps leases); a re-plan costs
        // a quarter of a second at 10,000 leases, so it is made only when not.
        Assigner.Plan plan = placesAll(r.plan(), r.key(), dead, holder, r.views()) ? r.plan() : r.replan().get();
        long planDone = System.nanoTime();
        AgentView planned = r.views().get(plan.target().get(r.key()));
        AgentView ownTarget = planned != null && planned.acceptsLeases() ? planned : r.target();
        AcquireRequest own = AcquireRequest.ifFree(r.key(), ownTarget.id(), ownTarget.sessionEpoch());
        Map<LeaseKey, AcquireRequest> requests = new HashMap<>();
        requests.put(r.key(), own);
        Map<LeaseKey, ResourceID> moved = new HashMap<>();
        for (Sibling sibling : dead) {
            AgentView to = r.views().get(plan.target().get(sibling.key()));
            if (requests.containsKey(sibling.key()) || to == null || !to.acceptsLeases()
                    || ended.over(to.id(), to.sessionEpoch())) {
                continue;
            }
            requests.put(sibling.key(), AcquireRequest.ifFree(sibling.key(), to.id(), to.sessionEpoch()));
            moved.put(sibling.key(), sibling.id());
        }
        if (requests.size() == 1) {
            AcquireResult single = acquire(own, REASON);
            if (single.outcome() == AcquireResult.Outcome.ACQUIRED) {
                metrics.failover(1);
            }
            return single;
        }
        return runBatch(r.key(), requests, moved, REASON, started, planDone, (acquired, timing) -> {
            metrics.failover(acquired);
            LOG.infof("failover of %s (session %d): %d lease(s) moved in one batch (%s)", holder,
                    r.row().holderSession(), acquired, timing);
        });
    }

    /** What a batch reports when it is done: leases acquired, and its timing and outcomes as text. */
    private interface BatchDone {
        void report(int acquired, String timing);
    }

    /**
     * One transaction for {@code requests}; notes every row; the siblings it moved are shown at
     * their turn, those it could not move are retried at once; returns {@code own}'s result.
     */
    private AcquireResult runBatch(LeaseKey own, Map<LeaseKey, AcquireRequest> requests, Map<LeaseKey, ResourceID> siblings,
                                   String reason, long started, long planDone, BatchDone done) {
        requests.forEach((key, request) -> moving.put(key, request.agent()));
        try {
            return runBatch(own, requests, siblings, reason, started, planDone, done, System.nanoTime());
        } finally {
            // Only now: every row the batch wrote is noted in the planner, so a report of it that
            // arrives from here on is recognised as already seen.
            requests.forEach((key, request) -> moving.remove(key, request.agent()));
        }
    }

    private AcquireResult runBatch(LeaseKey own, Map<LeaseKey, AcquireRequest> requests, Map<LeaseKey, ResourceID> siblings,
                                   String reason, long started, long planDone, BatchDone done, long casStarted) {
        List<AcquireResult> results = metrics.cas(() -> store.acquireAll(requests.values(), reason));
        long casDone = System.nanoTime();
        activity.moved();
        if (results.stream().anyMatch(r -> r.outcome() == AcquireResult.Outcome.ACQUIRED)) {
            committed.run();
        }
        AcquireResult mine = null;
        int acquired = 0;
        Map<AcquireResult.Outcome, Integer> outcomes = new java.util.EnumMap<>(AcquireResult.Outcome.class);
        List<ResourceID> toShow = new ArrayList<>();
        List<ResourceID> toRetry = new ArrayList<>();
        for (AcquireResult result : results) {
            LeaseKey key = result.lease().key();
            outcomes.merge(result.outcome(), 1, Integer::sum);
            planner.observed(key, result.lease().holder(), result.lease().holderLive(), result.lease().epoch());
            count(requests.get(key), result, reason);
            if (result.outcome() == AcquireResult.Outcome.ACQUIRED) {
                acquired++;
            }
            if (key.equals(own)) {
                mine = result;
            } else if (siblings.containsKey(key)) {
                (result.succeeded() ? toShow : toRetry).add(siblings.get(key));
            }
        }
        done.report(acquired, String.format("plan %d ms, batch CAS %d ms; %s", TimeUnit.NANOSECONDS.toMillis(planDone - started),
                TimeUnit.NANOSECONDS.toMillis(casDone - casStarted), outcomes));
        toRetry.forEach(retry);
        toShow.forEach(show);
        return Objects.requireNonNull(mine, "batch answered without " + own);
    }

    /** True when {@code plan} sends {@code key} and every one of {@code dead} to a live agent other than {@code holder}. */
    static boolean placesAll(Assigner.Plan plan, LeaseKey key, List<Sibling> dead, AgentId holder,
                             Map<AgentId, AgentView> views) {
        if (plan == null) {
            return false;
        }
        List<LeaseKey> keys = new ArrayList<>();
        keys.add(key);
        dead.forEach(s -> keys.add(s.key()));
        for (LeaseKey k : keys) {
            AgentId to = plan.target().get(k);
            AgentView view = to == null ? null : views.get(to);
            if (to == null || to.equals(holder) || view == null || !view.acceptsLeases()) {
                return false;
            }
        }
        return true;
    }
}
