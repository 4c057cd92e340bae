package io.streamhouse.lease.operator;

import io.streamhouse.lease.assign.Assigner.AgentInput;
import io.streamhouse.lease.assign.Assigner.LeaseInput;
import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * Keeps one {@link Assigner} plan per agent group, so that a lease's reconcile looks its target
 * up instead of re-planning. A plan is recomputed when it is older than what changed (agents,
 * the set of leases, a holder seen in the database), at most every {@link #DEBOUNCE} unless the
 * lease at hand is missing from it or its holder is not the one the plan assumed.
 */
final class GroupPlanner {

    static final Duration DEBOUNCE = Duration.ofMillis(100);

    private static final Logger LOG = Logger.getLogger(GroupPlanner.class);

    /** What the database last said about a lease's holder. */
    record Known(AgentId holder, boolean live, long epoch) {
    }

    /**
     * {@code keepers}: the agents that could keep their leases in this plan. A lease assumed held
     * by any other agent was planned as a free one (the Assigner places both alike).
     */
    private record Cached(Assigner.Plan plan, Map<LeaseKey, AgentId> assumed, Set<AgentId> keepers, long version,
                          long computedAt, long tookNanos, List<LeaseInput> inputs, List<AgentInput> agentInputs) {
        /** The holder as this plan saw it: one that could not keep the lease counts as none. */
        AgentId asPlanned(AgentId holder) {
            return holder != null && keepers.contains(holder) ? holder : null;
        }

        /** Re-plan at most every DEBOUNCE, and never spend more than a third of the time planning. */
        boolean recent(long now) {
            return now - computedAt < Math.max(DEBOUNCE.toNanos(), 2 * tookNanos);
        }
    }

    /**
     * A plan, and whether it reflects every change seen so far. When it does not (a recompute
     * was put off by the debounce), the caller looks again after {@link #DEBOUNCE}.
     */
    record Planned(Assigner.Plan plan, boolean upToDate) {
    }

    /** The version of a provisional plan: never the current one. */
    private static final long PROVISIONAL = -1;

    private final Map<LeaseKey, Known> known = new ConcurrentHashMap<>();
    private final Map<String, Cached> plans = new ConcurrentHashMap<>();
    private final AtomicLong version = new AtomicLong();
    private final LongSupplier nanoClock;

    GroupPlanner() {
        this(System::nanoTime);
    }

    /** {@code nanoClock}: a monotonic clock in nanoseconds (tests drive it by hand). */
    GroupPlanner(LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
    }

    /** A lease row was read or written: remember its holder (the truth) for the next plan. */
    void observed(LeaseKey key, AgentId holder, boolean live, long epoch) {
        Known now = new Known(holder, live, epoch);
        if (!now.equals(known.put(key, now))) {
            version.incrementAndGet();
        }
    }

    /** The session of {@code holder} died: every lease we last saw it hold is no longer valid. */
    void holderDied(AgentId holder) {
        known.replaceAll((key, k) -> holder.equals(k.holder()) && k.live() ? new Known(holder, false, k.epoch()) : k);
        version.incrementAndGet();
    }

    /** Agents or the set of leases changed. */
    void changed() {
        version.incrementAndGet();
    }

    void forget(LeaseKey key) {
        known.remove(key);
        version.incrementAndGet();
    }

    Known known(LeaseKey key) {
        return known.get(key);
    }

    /**
     * The plan for {@code group} that covers {@code key} and assumes {@code holder} for it.
     * {@code leases} and {@code agents} build the inputs from the informer caches when needed.
     */
    synchronized Planned plan(String group, LeaseKey key, AgentId holder, Supplier<List<LeaseInput>> leases,
                                    Supplier<List<AgentInput>> agents) {
        Cached cached = plans.get(group);
        long now = nanoClock.getAsLong();
        boolean current = cached != null && cached.version() == version.get();
        boolean recent = current || cached != null && cached.recent(now);
        boolean covers = cached != null && cached.plan().target().containsKey(key);
        // The plan still holds for this lease when it assumed this holder, or when the lease has
        // since moved to where the plan wanted it (a failover batch, a finished handoff).
        boolean consistent = covers && (Objects.equals(cached.asPlanned(cached.assumed().get(key)), cached.asPlanned(holder))
                || Objects.equals(cached.plan().target().get(key), holder));
        if (recent && consistent) {
            return new Planned(cached.plan(), current);
        }
        if (recent && !covers && !current) {
            // A lease newer than the plan: wait for the next one rather than re-plan per lease,
            // so that creating thousands of leases costs a plan per DEBOUNCE, not per lease.
            return new Planned(cached.plan(), false);
        }
        return replan(group, leases, agents);
    }

    /**
     * The plan for {@code group} as a whole (a StreamTopic's reconcile, which acts on many of its
     * leases at once): the cached one while it is current or recent (the debounce), else a new
     * one. A lease the plan does not cover yet waits for the next plan ({@code upToDate} false).
     */
    synchronized Planned current(String group, Supplier<List<LeaseInput>> leases, Supplier<List<AgentInput>> agents) {
        Cached cached = plans.get(group);
        long now = nanoClock.getAsLong();
        boolean current = cached != null && cached.version() == version.get();
        if (current || cached != null && cached.recent(now)) {
            return new Planned(cached.plan(), current);
        }
        // A failover's plan (agents only left) stays the plan while the failover's own writes come
        // back and the agents stay as they are: it is what the full plan would find (the Assigner
        // is sticky), and a full plan here would hold up the topics still to fail over.
        if (cached != null && cached.version() == PROVISIONAL && now - cached.computedAt() < PROVISIONAL_WINDOW.toNanos()
                && cached.agentInputs().equals(agents.get())) {
            return new Planned(cached.plan(), true);
        }
        return replan(group, leases, agents);
    }

    /** How long a failover's plan is used as is by whole-topic reconciles ({@link #current}). */
    static final Duration PROVISIONAL_WINDOW = Duration.ofSeconds(2);

    /**
     * When {@code key} is newer than the group's plan and a new plan is not yet due: how long
     * until it is. Asked before anything else, so a burst of new leases waits without a
     * database read each.
     */
    synchronized Optional<Duration> untilPlanned(String group, LeaseKey key) {
        Cached cached = plans.get(group);
        long now = nanoClock.getAsLong();
        if (cached == null || cached.plan().target().containsKey(key) || cached.version() == version.get()
                || !cached.recent(now)) {
            return Optional.empty();
        }
        long due = Math.max(DEBOUNCE.toNanos(), 2 * cached.tookNanos()) - (now - cached.computedAt());
        return Optional.of(Duration.ofNanos(Math.max(due, Duration.ofMillis(10).toNanos())));
    }

    /**
     * Recomputes the group's plan now, whatever the debounce says. When the only change since the
     * last plan is agents leaving (a crash, a graceful stop), only their leases are placed
     * ({@link Assigner#afterDepartures}, a few milliseconds at any size, where a full plan and its
     * inputs took 100-300 ms at 10,000 leases on a loaded machine, on the failover's path). That
     * plan is provisional: made from the last plan's leases and holders, it is never current, so
     * the next look after {@link #DEBOUNCE} plans in full, off the failover's path (and, the
     * Assigner being sticky, finds the same).
     */
    synchronized Planned replan(String group, Supplier<List<LeaseInput>> leases, Supplier<List<AgentInput>> agents) {
        Planned fast = afterDepartures(group, agents);
        return fast != null ? fast : fullReplan(group, leases, agents);
    }

    private Planned afterDepartures(String group, Supplier<List<AgentInput>> agents) {
        Cached cached = plans.get(group);
        if (cached == null) {
            return null;
        }
        long now = nanoClock.getAsLong();
        List<AgentInput> agentInputs = agents.get();
        Optional<Assigner.Plan> plan = Assigner.afterDepartures(cached.inputs(), cached.plan().target(),
                cached.agentInputs(), agentInputs);
        if (plan.isEmpty()) {
            return null;
        }
        long done = nanoClock.getAsLong();
        plans.put(group, new Cached(plan.get(), cached.plan().target(), keepers(agentInputs), PROVISIONAL, done,
                done - now, cached.inputs(), agentInputs));
        if (LOG.isDebugEnabled()) {
            LOG.debugf("%s planned after departures: %d lease(s) placed of %d, %d ms", group, plan.get().moves().size(),
                    cached.inputs().size(), (done - now) / 1_000_000);
        }
        return new Planned(plan.get(), false);
    }

    private static Set<AgentId> keepers(List<AgentInput> agentInputs) {
        Set<AgentId> keepers = new HashSet<>();
        agentInputs.stream().filter(a -> a.accepts() || a.keeps()).forEach(a -> keepers.add(a.id()));
        return keepers;
    }

    private Planned fullReplan(String group, Supplier<List<LeaseInput>> leases, Supplier<List<AgentInput>> agents) {
        long now = nanoClock.getAsLong();
        long at = version.get();
        List<LeaseInput> inputs = leases.get();
        Map<LeaseKey, AgentId> assumed = new HashMap<>();
        inputs.forEach(l -> assumed.put(l.key(), l.holder()));
        List<AgentInput> agentInputs = agents.get();
        Set<AgentId> keepers = keepers(agentInputs);
        long read = nanoClock.getAsLong();
        Assigner.Plan plan = Assigner.plan(inputs, agentInputs);
        long done = nanoClock.getAsLong();
        plans.put(group, new Cached(plan, assumed, keepers, at, done, done - now, List.copyOf(inputs),
                List.copyOf(agentInputs)));
        if (LOG.isDebugEnabled()) {
            // Which agents it could use and how many holders it changes: a plan that suddenly asks
            // for thousands of handoffs is explained by the agents it saw, logged with it.
            long handoffs = plan.moves().stream().filter(Assigner.Move::isHandoff).count();
            long receivers = plan.moves().stream().filter(Assigner.Move::isHandoff).map(Assigner.Move::to).distinct().count();
            LOG.debugf("%s planned: %d lease(s), %d agent(s) (%d taking leases, %d only keeping); %d handoff(s) to %d agent(s), %d free"
                            + " placed; inputs %d ms, plan %d ms", group, inputs.size(), agentInputs.size(),
                    agentInputs.stream().filter(AgentInput::accepts).count(),
                    agentInputs.stream().filter(a -> !a.accepts() && a.keeps()).count(), handoffs, receivers,
                    plan.moves().size() - handoffs, (read - now) / 1_000_000, (done - read) / 1_000_000);
        }
        return new Planned(plan, at == version.get());
    }
}
