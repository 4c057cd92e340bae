package io.streamhouse.lease.assign;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import io.streamhouse.lease.assign.Assigner.AgentInput;
import io.streamhouse.lease.assign.Assigner.LeaseInput;
import io.streamhouse.lease.assign.Assigner.Move;
import io.streamhouse.lease.assign.Assigner.Plan;

/**
 * The Assigner as it was before its group plan kept its counters in arrays (2026-12-06), kept
 * as the reference the fast one must equal on every input (AssignerEquivalenceTest). Not used
 * by the operator.
 *
 * <p>Original description:
 * Balanced, zone-aware assignment of leases to agents: a pure function of its input. The same
 * input (in any order) always gives the same plan.
 *
 * <p>Per agent group, with eligible agents E of total weight W and L leases:
 * <ol>
 *   <li>each agent's share is {@code L * w / W}, water-filled around capacities (an agent whose
 *       capacity is below its share gets its capacity, the rest is shared by weight among the
 *       others); it may hold at most {@code ceil(share)} (bounded load);</li>
 *   <li>pins go to their agent while it is eligible and within its capacity (a pin may exceed
 *       the bound: it is the user's explicit wish);</li>
 *   <li>a lease stays with its holder while the holder may keep it and is within its bound, so
 *       only what must move moves: when an agent leaves, only its leases;</li>
 *   <li>the rest go, in key order, to an agent below its {@code floor(share)} if there is one,
 *       then to the one whose zone has the fewest partitions of that lease's topic, then the least
 *       loaded per unit of weight, then the lowest id;</li>
 *   <li>finally agents below {@code floor(share)} (a newcomer) take leases from agents above
 *       theirs, so a join moves about {@code L / (N + 1)} leases and no more.</li>
 * </ol>
 */
final class ReferenceAssigner {

    private ReferenceAssigner() {
    }

    public static Plan plan(Collection<LeaseInput> leases, Collection<AgentInput> agents) {
        Map<String, List<LeaseInput>> leasesByGroup = new TreeMap<>();
        for (LeaseInput lease : leases) {
            leasesByGroup.computeIfAbsent(lease.group(), g -> new ArrayList<>()).add(lease);
        }
        Map<String, List<AgentInput>> agentsByGroup = new HashMap<>();
        Map<AgentId, AgentInput> agentsById = new HashMap<>();
        for (AgentInput agent : agents) {
            if (agentsById.put(agent.id(), agent) != null) {
                throw new IllegalArgumentException("agent " + agent.id() + " given twice");
            }
            agentsByGroup.computeIfAbsent(agent.group(), g -> new ArrayList<>()).add(agent);
        }
        Map<LeaseKey, AgentId> target = new TreeMap<>();
        leasesByGroup.forEach((group, groupLeases) ->
                new GroupPlan(groupLeases, agentsByGroup.getOrDefault(group, List.of()), agentsById).into(target));
        List<Move> moves = new ArrayList<>();
        Map<LeaseKey, AgentId> holders = new HashMap<>();
        leases.forEach(l -> holders.put(l.key(), l.holder()));
        target.forEach((key, to) -> {
            AgentId from = holders.get(key);
            if (to != null && !to.equals(from)) {
                moves.add(new Move(key, from, to));
            }
        });
        return new Plan(target, moves);
    }

    /**
     * The plan of one group after agents left it, computed from the last plan instead of planning
     * every lease again: a failover's or a graceful stop's leases are placed in a few milliseconds
     * at any number of leases, where a full plan costs O(leases log leases) plus its inputs.
     *
     * <p>{@code leases} and {@code before} are the inputs of {@code previous}; {@code now} the
     * group's agents today. When every lease's holder is its previous target, the answer equals
     * {@code plan(leases with those holders, now)}: the leases of agents that stay are kept (each
     * stayer is within its new bound, which a departure only raises) and the departed agents'
     * leases are placed in key order by the rule {@link #plan} places free leases with. Empty, so
     * that the caller plans in full, when that cannot be shown for this input: an agent joined or
     * changed other than by leaving, a pin points elsewhere than its lease's target, a stayer
     * above its new bound, or a floor left unmet (a top-up would move leases).
     */
    public static java.util.Optional<Plan> afterDepartures(List<LeaseInput> leases, Map<LeaseKey, AgentId> previous,
                                                           Collection<AgentInput> before, Collection<AgentInput> now) {
        Map<AgentId, AgentInput> was = new HashMap<>();
        before.forEach(a -> was.put(a.id(), a));
        Map<AgentId, AgentInput> agentsById = new HashMap<>();
        boolean departed = false;
        for (AgentInput a : now) {
            AgentInput old = was.get(a.id());
            if (old == null) {
                return java.util.Optional.empty(); // a join: a top-up may move leases
            }
            if (!old.equals(a)) {
                if (!(old.accepts() && !a.accepts() && !a.keeps())) {
                    return java.util.Optional.empty();
                }
                departed = true;
            }
            agentsById.put(a.id(), a);
        }
        departed |= was.keySet().stream().anyMatch(id -> !agentsById.containsKey(id));
        String group = null;
        for (AgentInput a : now) {
            if (group != null && !group.equals(a.group())) {
                return java.util.Optional.empty();
            }
            group = a.group();
        }
        if (!departed) {
            return java.util.Optional.empty();
        }
        GroupPlan g = new GroupPlan(List.of(), List.copyOf(now), agentsById); // shares are set below
        g.sizeFor(leases.size());
        // One pass over the previous plan's entries, no lookup per lease: this runs on the
        // failover's path, on a machine that is busy with the failover.
        Map<LeaseKey, LeaseInput> special = new HashMap<>();
        for (LeaseInput lease : leases) {
            if (group != null && !group.equals(lease.group())) {
                return java.util.Optional.empty();
            }
            if (lease.pinned() != null) {
                special.put(lease.key(), lease);
            }
        }
        if (previous.size() != leases.size()) {
            return java.util.Optional.empty();
        }
        List<LeaseInput> orphans = new ArrayList<>();
        for (Map.Entry<LeaseKey, AgentId> e : previous.entrySet()) {
            LeaseKey key = e.getKey();
            AgentId to = e.getValue();
            LeaseInput pinnedLease = special.get(key);
            if (pinnedLease != null && g.load.containsKey(pinnedLease.pinned()) && !pinnedLease.pinned().equals(to)) {
                return java.util.Optional.empty(); // a pin the previous plan could not honour: order matters
            }
            if (to != null && g.load.containsKey(to)) {
                g.count(key, to);
            } else if (to != null && agentsById.containsKey(to) && !agentsById.get(to).accepts()
                    && agentsById.get(to).keeps()) {
                continue; // lost but live: kept, outside the bound, as plan() does
            } else {
                orphans.add(pinnedLease != null ? pinnedLease : new LeaseInput(key, group == null ? "" : group, null, to));
            }
        }
        for (AgentInput a : g.eligible) {
            if (g.load.get(a.id()) > g.ceiling.get(a.id())) {
                return java.util.Optional.empty();
            }
        }
        orphans.sort(Comparator.comparing(LeaseInput::key));
        g.placeAll(orphans);
        boolean below = g.eligible.stream().anyMatch(a -> g.load.get(a.id()) < g.floor.get(a.id()));
        boolean above = g.eligible.stream().anyMatch(a -> g.load.get(a.id()) > g.floor.get(a.id()));
        if (below && above) {
            return java.util.Optional.empty(); // plan() would top the newcomer up
        }
        TreeMap<LeaseKey, AgentId> target = previous instanceof java.util.SortedMap<LeaseKey, AgentId> sorted
                && sorted.comparator() == null ? new TreeMap<>(sorted) : new TreeMap<>(previous); // linear when sorted
        target.putAll(g.chosen); // the orphans' places (stayers were only counted)
        List<Move> moves = new ArrayList<>();
        for (LeaseInput lease : orphans) {
            AgentId to = target.get(lease.key());
            if (to != null) {
                moves.add(new Move(lease.key(), previous.get(lease.key()), to));
            }
        }
        return java.util.Optional.of(new Plan(target, moves));
    }

    /** The plan of one agent group. */
    private static final class GroupPlan {
        private final List<LeaseInput> leases;
        private final List<AgentInput> eligible;
        private final Map<AgentId, AgentInput> agentsById;
        private final Map<AgentId, Integer> ceiling = new HashMap<>();
        private final Map<AgentId, Integer> floor = new HashMap<>();
        private final Map<AgentId, Integer> load = new HashMap<>();
        // topic -> zone -> partitions of that topic placed in that zone
        private final Map<String, Map<String, Integer>> topicZones = new HashMap<>();
        private final Map<LeaseKey, AgentId> chosen = new LinkedHashMap<>();

        GroupPlan(List<LeaseInput> leases, List<AgentInput> agents, Map<AgentId, AgentInput> agentsById) {
            this.leases = leases.stream().sorted(Comparator.comparing(LeaseInput::key)).toList();
            this.eligible = agents.stream().filter(AgentInput::accepts)
                    .filter(a -> a.capacity() == null || a.capacity() > 0)
                    .sorted(Comparator.comparing(AgentInput::id)).toList();
            this.agentsById = agentsById;
            sizeFor(this.leases.size());
        }

        /** Each eligible agent's bound and floor for {@code leaseCount} leases, and no load yet. */
        void sizeFor(int leaseCount) {
            Map<AgentId, Double> shares = shares(leaseCount, eligible);
            for (AgentInput a : eligible) {
                double share = shares.get(a.id());
                int cap = a.capacity() == null ? Integer.MAX_VALUE : a.capacity();
                ceiling.put(a.id(), Math.min(cap, (int) Math.ceil(share - 1e-9)));
                floor.put(a.id(), Math.min(cap, (int) Math.floor(share + 1e-9)));
                load.put(a.id(), 0);
            }
        }

        /**
         * Shares proportional to weight, "water-filled": an agent whose capacity is below its
         * share gets its capacity, and the rest is shared among the others by weight.
         */
        private static Map<AgentId, Double> shares(int leases, List<AgentInput> agents) {
            Map<AgentId, Double> shares = new HashMap<>();
            List<AgentInput> open = new ArrayList<>(agents);
            double remaining = leases;
            boolean capped = true;
            while (capped && !open.isEmpty()) {
                capped = false;
                long weight = open.stream().mapToLong(AgentInput::weight).sum();
                for (AgentInput a : List.copyOf(open)) {
                    double share = remaining * a.weight() / weight;
                    if (a.capacity() != null && a.capacity() < share) {
                        shares.put(a.id(), (double) a.capacity());
                        open.remove(a);
                        capped = true;
                    }
                }
                if (capped) {
                    remaining = leases - shares.values().stream().mapToDouble(Double::doubleValue).sum();
                }
            }
            long weight = open.stream().mapToLong(AgentInput::weight).sum();
            for (AgentInput a : open) {
                shares.put(a.id(), Math.max(0, remaining) * a.weight() / weight);
            }
            return shares;
        }

        void into(Map<LeaseKey, AgentId> target) {
            List<LeaseInput> open = new ArrayList<>();
            // Pins first: they are the user's explicit wish.
            for (LeaseInput lease : leases) {
                if (lease.pinned() != null && load.containsKey(lease.pinned()) && hasRoom(lease.pinned())) {
                    place(lease, lease.pinned());
                } else {
                    open.add(lease);
                }
            }
            // Keep what may stay, within the bound; a holder above it gives up its leases of
            // highest rank (ties: the greater key).
            Map<AgentId, List<LeaseKey>> byHolder = new HashMap<>();
            for (LeaseInput lease : open) {
                if (lease.holder() != null && load.containsKey(lease.holder())) {
                    byHolder.computeIfAbsent(lease.holder(), h -> new ArrayList<>()).add(lease.key());
                }
            }
            java.util.Set<LeaseKey> givenUp = new java.util.HashSet<>();
            byHolder.forEach((holder, keys) -> {
                int shed = keys.size() - Math.max(0, ceiling.get(holder) - load.get(holder));
                keys.stream().sorted(Comparator.comparingInt((LeaseKey k) -> rank(holder, k))
                                .thenComparing(Comparator.naturalOrder()).reversed())
                        .limit(Math.max(0, shed)).forEach(givenUp::add);
            });
            List<LeaseInput> toPlace = new ArrayList<>();
            for (LeaseInput lease : open) {
                AgentId holder = lease.holder();
                AgentInput holderInput = holder == null ? null : agentsById.get(holder);
                if (holder != null && load.containsKey(holder) && !givenUp.contains(lease.key())
                        && load.get(holder) < ceiling.get(holder)) {
                    place(lease, holder);
                } else if (holderInput != null && holderInput.group().equals(lease.group())
                        && !holderInput.accepts() && holderInput.keeps()) {
                    chosen.put(lease.key(), holder); // lost but still live: unplanned loss waits for expiry
                } else {
                    toPlace.add(lease);
                }
            }
            placeAll(toPlace);
            topUpNewcomers();
            target.putAll(chosen);
        }

        /** Step 4: each lease, in the order given, to the best agent for it. */
        void placeAll(List<LeaseInput> toPlace) {
            for (LeaseInput lease : toPlace) {
                AgentId best = best(lease, true);
                if (best == null) {
                    best = best(lease, false); // everyone at its bound (pins): least loaded with room
                }
                if (best != null) {
                    place(lease, best);
                } else {
                    chosen.put(lease.key(), null);
                }
            }
        }

        private boolean hasRoom(AgentId agent) {
            Integer capacity = agentsById.get(agent).capacity();
            return capacity == null || load.get(agent) < capacity;
        }

        private void place(LeaseInput lease, AgentId agent) {
            chosen.put(lease.key(), agent);
            load.merge(agent, 1, Integer::sum);
            topicZones.computeIfAbsent(lease.key().topic(), t -> new HashMap<>())
                    .merge(agentsById.get(agent).zone(), 1, Integer::sum);
        }

        /** A lease that stays where it is: counted in its agent's load and its topic's zones, not recorded. */
        void count(LeaseKey key, AgentId agent) {
            load.merge(agent, 1, Integer::sum);
            topicZones.computeIfAbsent(key.topic(), t -> new HashMap<>()).merge(agentsById.get(agent).zone(), 1, Integer::sum);
        }

        private void unplace(LeaseInput lease, AgentId agent) {
            load.merge(agent, -1, Integer::sum);
            topicZones.get(lease.key().topic()).merge(agentsById.get(agent).zone(), -1, Integer::sum);
        }

        private AgentId best(LeaseInput lease, boolean withinBound) {
            Map<String, Integer> zones = topicZones.getOrDefault(lease.key().topic(), Map.of());
            return eligible.stream()
                    .filter(a -> withinBound ? load.get(a.id()) < ceiling.get(a.id()) : hasRoom(a.id()))
                    // Agents below their floor first (so no lease has to move again to top them
                    // up), then the zone with fewest partitions of this topic, then the least loaded.
                    .min(Comparator.comparing((AgentInput a) -> load.get(a.id()) >= floor.get(a.id()))
                            .thenComparingInt(a -> zones.getOrDefault(a.zone(), 0))
                            .thenComparingDouble(a -> (double) load.get(a.id()) / a.weight())
                            .thenComparing(AgentInput::id))
                    .map(AgentInput::id).orElse(null);
        }

        /** Agents below their floor (typically one that just joined) take leases from those above theirs. */
        private void topUpNewcomers() {
            Map<LeaseKey, LeaseInput> byKey = new HashMap<>();
            leases.forEach(l -> byKey.put(l.key(), l));
            for (AgentInput needy : eligible) {
                while (load.get(needy.id()) < floor.get(needy.id())) {
                    LeaseInput taken = donation(byKey);
                    if (taken == null) {
                        return;
                    }
                    unplace(taken, chosen.get(taken.key()));
                    place(taken, needy.id());
                }
            }
        }

        /** The unpinned lease of highest rank (ties: the greater key) of the agent furthest above its floor. */
        private LeaseInput donation(Map<LeaseKey, LeaseInput> byKey) {
            AgentId donor = eligible.stream().map(AgentInput::id)
                    .filter(id -> load.get(id) > floor.get(id))
                    .max(Comparator.comparingInt((AgentId id) -> load.get(id) - floor.get(id))
                            .thenComparing(Comparator.reverseOrder()))
                    .orElse(null);
            if (donor == null) {
                return null;
            }
            LeaseInput best = null;
            for (Map.Entry<LeaseKey, AgentId> e : chosen.entrySet()) {
                LeaseInput lease = byKey.get(e.getKey());
                if (!donor.equals(e.getValue()) || donor.equals(lease.pinned())) {
                    continue;
                }
                if (best == null || rank(donor, lease.key()) > rank(donor, best.key())
                        || rank(donor, lease.key()) == rank(donor, best.key()) && lease.key().compareTo(best.key()) > 0) {
                    best = lease;
                }
            }
            return best;
        }

        /** The Assigner's rank of a lease for a holder, written out again. */
        static int rank(AgentId holder, LeaseKey key) {
            int h = (holder.value().hashCode() * 31 + key.topic().hashCode()) * 31 + key.partition();
            h ^= h >>> 16;
            h *= 0x85ebca6b;
            h ^= h >>> 13;
            h *= 0xc2b2ae35;
            h ^= h >>> 16;
            return h;
        }
    }
}
