package io.streamhouse.lease.assign;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
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
 *       only what must move moves: when an agent leaves, only its leases. A holder above its
 *       bound, or a donor in the last step, gives up its leases of highest rank: a fixed
 *       pseudo-random order per holder, so that what moves spans many topics and a plan made
 *       during the moves asks the same;</li>
 *   <li>the rest go, in key order, to an agent below its {@code floor(share)} if there is one,
 *       then to the one whose zone has the fewest partitions of that lease's topic, then the least
 *       loaded per unit of weight, then the lowest id;</li>
 *   <li>finally agents below {@code floor(share)} (a newcomer) take leases from agents above
 *       theirs, so a join moves about {@code L / (N + 1)} leases and no more.</li>
 * </ol>
 */
public final class Assigner {

    private Assigner() {
    }

    /** One lease as assignment sees it. {@code holder} is its current live holder, or null. */
    public record LeaseInput(LeaseKey key, String group, AgentId pinned, AgentId holder) {
        public LeaseInput {
            Objects.requireNonNull(key, "key");
            Objects.requireNonNull(group, "group");
        }
    }

    /**
     * One agent. {@code accepts}: may receive leases (live, not cordoned, not draining);
     * {@code keeps}: may keep those it holds (false while draining).
     */
    public record AgentInput(AgentId id, String group, String zone, int weight, Integer capacity,
                             boolean accepts, boolean keeps) {
        public AgentInput {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(group, "group");
            zone = zone == null ? "" : zone;
            if (weight < 1) {
                throw new IllegalArgumentException("weight must be >= 1, got " + weight);
            }
            if (capacity != null && capacity < 0) {
                throw new IllegalArgumentException("capacity must be >= 0, got " + capacity);
            }
        }
    }

    /** A change of holder the plan asks for; {@code from} is null for a lease nobody holds. */
    public record Move(LeaseKey key, AgentId from, AgentId to) {
        /** A planned move (handoff from a live holder), as opposed to giving out a free lease. */
        public boolean isHandoff() {
            return from != null;
        }
    }

    /** Who should hold each lease (null: nobody can), and the moves to get there, in key order. */
    public record Plan(Map<LeaseKey, AgentId> target, List<Move> moves) {
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
            if (pinnedLease != null && g.isEligible(pinnedLease.pinned()) && !pinnedLease.pinned().equals(to)) {
                return java.util.Optional.empty(); // a pin the previous plan could not honour: order matters
            }
            if (to != null && g.isEligible(to)) {
                g.count(key, to);
            } else if (to != null && agentsById.containsKey(to) && !agentsById.get(to).accepts()
                    && agentsById.get(to).keeps()) {
                continue; // lost but live: kept, outside the bound, as plan() does
            } else {
                orphans.add(pinnedLease != null ? pinnedLease : new LeaseInput(key, group == null ? "" : group, null, to));
            }
        }
        if (g.anyAboveCeiling()) {
            return java.util.Optional.empty();
        }
        orphans.sort(Comparator.comparing(LeaseInput::key));
        g.placeAll(orphans);
        if (g.anyBelowFloor() && g.anyAboveFloor()) {
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

    /**
     * The plan of one agent group. Its counters live in arrays indexed like {@code eligible}
     * (sorted by id), and each topic's partitions per zone in an array indexed by zone: placing
     * a lease looks at every eligible agent, so at 100,000 leases x 100 agents the inner loop runs
     * ten million times and must not box, hash or build a comparator.
     */
    private static final class GroupPlan {
        private final List<LeaseInput> leases;
        private final List<AgentInput> eligible;
        private final Map<AgentId, AgentInput> agentsById;
        private final Map<AgentId, Integer> index = new HashMap<>();
        private final int[] ceiling;
        private final int[] floor;
        private final int[] load;
        private final int[] capacity;
        private final int[] weight;
        private final int[] zone;
        private final int zones;
        // topic -> partitions of that topic placed in each zone (by zone index)
        private final Map<String, int[]> topicZones = new HashMap<>();
        private final Map<LeaseKey, AgentId> chosen = new LinkedHashMap<>();

        GroupPlan(List<LeaseInput> leases, List<AgentInput> agents, Map<AgentId, AgentInput> agentsById) {
            this.leases = leases.stream().sorted(Comparator.comparing(LeaseInput::key)).toList();
            this.eligible = agents.stream().filter(AgentInput::accepts)
                    .filter(a -> a.capacity() == null || a.capacity() > 0)
                    .sorted(Comparator.comparing(AgentInput::id)).toList();
            this.agentsById = agentsById;
            int n = eligible.size();
            ceiling = new int[n];
            floor = new int[n];
            load = new int[n];
            capacity = new int[n];
            weight = new int[n];
            zone = new int[n];
            Map<String, Integer> zoneIndex = new HashMap<>();
            for (int i = 0; i < n; i++) {
                AgentInput a = eligible.get(i);
                index.put(a.id(), i);
                capacity[i] = a.capacity() == null ? Integer.MAX_VALUE : a.capacity();
                weight[i] = a.weight();
                zone[i] = zoneIndex.computeIfAbsent(a.zone(), z -> zoneIndex.size());
            }
            zones = zoneIndex.size();
            sizeFor(this.leases.size());
        }

        /** Each eligible agent's bound and floor for {@code leaseCount} leases, and no load yet. */
        void sizeFor(int leaseCount) {
            Map<AgentId, Double> shares = shares(leaseCount, eligible);
            for (int i = 0; i < eligible.size(); i++) {
                double share = shares.get(eligible.get(i).id());
                ceiling[i] = Math.min(capacity[i], (int) Math.ceil(share - 1e-9));
                floor[i] = Math.min(capacity[i], (int) Math.floor(share + 1e-9));
                load[i] = 0;
            }
        }

        boolean isEligible(AgentId agent) {
            return agent != null && index.containsKey(agent);
        }

        boolean anyAboveCeiling() {
            for (int i = 0; i < load.length; i++) {
                if (load[i] > ceiling[i]) {
                    return true;
                }
            }
            return false;
        }

        boolean anyBelowFloor() {
            for (int i = 0; i < load.length; i++) {
                if (load[i] < floor[i]) {
                    return true;
                }
            }
            return false;
        }

        boolean anyAboveFloor() {
            for (int i = 0; i < load.length; i++) {
                if (load[i] > floor[i]) {
                    return true;
                }
            }
            return false;
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
                Integer pinned = lease.pinned() == null ? null : index.get(lease.pinned());
                if (pinned != null && hasRoom(pinned)) {
                    place(lease, pinned);
                } else {
                    open.add(lease);
                }
            }
            // Keep what may stay, within the bound; a holder above it gives up leases of the
            // topics it holds most of, so that what moves (to a newcomer, say) spans many topics.
            Map<Integer, List<LeaseKey>> byHolder = new HashMap<>();
            for (LeaseInput lease : open) {
                Integer at = lease.holder() == null ? null : index.get(lease.holder());
                if (at != null) {
                    byHolder.computeIfAbsent(at, h -> new ArrayList<>()).add(lease.key());
                }
            }
            Set<LeaseKey> givenUp = new HashSet<>();
            byHolder.forEach((at, keys) -> givenUp.addAll(givenUp(eligible.get(at).id(), keys, ceiling[at] - load[at])));
            List<LeaseInput> toPlace = new ArrayList<>();
            for (LeaseInput lease : open) {
                AgentId holder = lease.holder();
                Integer at = holder == null ? null : index.get(holder);
                AgentInput holderInput = holder == null ? null : agentsById.get(holder);
                if (at != null && !givenUp.contains(lease.key()) && load[at] < ceiling[at]) {
                    place(lease, at);
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

        /**
         * Which of {@code keys} (held by {@code holder}) it gives up to keep only {@code keep}: its
         * leases of highest {@link #rank}. A fixed order per holder, so that a plan made while a
         * holder's first leases are moving away asks the same of it as the plan before (a move
         * is never redirected half-way), and spread over topics, so that what a newcomer gets
         * comes from many topics rather than the holders' last ones in key order.
         */
        static Set<LeaseKey> givenUp(AgentId holder, List<LeaseKey> keys, int keep) {
            int shed = keys.size() - Math.max(0, keep);
            if (shed <= 0) {
                return Set.of();
            }
            List<LeaseKey> ranked = new ArrayList<>(keys);
            ranked.sort(byRank(holder).reversed());
            return new HashSet<>(ranked.subList(0, shed));
        }

        /** Leases in increasing {@link #rank} for {@code holder}, ties in key order. */
        static Comparator<LeaseKey> byRank(AgentId holder) {
            return Comparator.comparingInt((LeaseKey k) -> rank(holder, k)).thenComparing(Comparator.naturalOrder());
        }

        /** A pseudo-random but fixed rank of a lease for one holder (a mixed hash of both). */
        static int rank(AgentId holder, LeaseKey key) {
            int h = (holder.value().hashCode() * 31 + key.topic().hashCode()) * 31 + key.partition();
            h ^= h >>> 16;
            h *= 0x85ebca6b;
            h ^= h >>> 13;
            h *= 0xc2b2ae35;
            h ^= h >>> 16;
            return h;
        }

        /** Step 4: each lease, in the order given, to the best agent for it. */
        void placeAll(List<LeaseInput> toPlace) {
            for (LeaseInput lease : toPlace) {
                int best = best(lease, true);
                if (best < 0) {
                    best = best(lease, false); // everyone at its bound (pins): least loaded with room
                }
                if (best >= 0) {
                    place(lease, best);
                } else {
                    chosen.put(lease.key(), null);
                }
            }
        }

        private boolean hasRoom(int agent) {
            return load[agent] < capacity[agent];
        }

        private void place(LeaseInput lease, int agent) {
            chosen.put(lease.key(), eligible.get(agent).id());
            count(lease.key().topic(), agent, 1);
        }

        /** A lease that stays where it is: counted in its agent's load and its topic's zones, not recorded. */
        void count(LeaseKey key, AgentId agent) {
            count(key.topic(), index.get(agent), 1);
        }

        private void count(String topic, int agent, int delta) {
            load[agent] += delta;
            topicZones.computeIfAbsent(topic, t -> new int[zones])[zone[agent]] += delta;
        }

        /**
         * The eligible agent (index) a lease goes to, or -1: agents below their floor first (so no
         * lease has to move again to top them up), then the zone with fewest partitions of this
         * topic, then the least loaded per unit of weight, then the lowest id (the order of
         * {@code eligible}: a later agent wins only when strictly better).
         */
        private int best(LeaseInput lease, boolean withinBound) {
            int[] perZone = topicZones.get(lease.key().topic());
            int best = -1;
            boolean bestAtFloor = false;
            int bestZone = 0;
            double bestLoad = 0;
            for (int i = 0; i < load.length; i++) {
                if (withinBound ? load[i] >= ceiling[i] : !hasRoom(i)) {
                    continue;
                }
                boolean atFloor = load[i] >= floor[i];
                int inZone = perZone == null ? 0 : perZone[zone[i]];
                double perWeight = (double) load[i] / weight[i];
                if (best < 0 || better(atFloor, inZone, perWeight, bestAtFloor, bestZone, bestLoad)) {
                    best = i;
                    bestAtFloor = atFloor;
                    bestZone = inZone;
                    bestLoad = perWeight;
                }
            }
            return best;
        }

        private static boolean better(boolean atFloor, int inZone, double perWeight,
                                      boolean bestAtFloor, int bestZone, double bestLoad) {
            if (atFloor != bestAtFloor) {
                return !atFloor;
            }
            if (inZone != bestZone) {
                return inZone < bestZone;
            }
            return Double.compare(perWeight, bestLoad) < 0;
        }

        /** Agents below their floor (typically one that just joined) take leases from those above theirs. */
        private void topUpNewcomers() {
            if (!anyBelowFloor() || !anyAboveFloor()) {
                return;
            }
            Map<LeaseKey, LeaseInput> byKey = new HashMap<>();
            leases.forEach(l -> byKey.put(l.key(), l));
            // Each agent's leases in its rank order: a donation is the last of its donor's (the
            // same fixed order as what a holder above its bound gives up).
            List<java.util.TreeSet<LeaseKey>> held = new ArrayList<>();
            for (int i = 0; i < load.length; i++) {
                held.add(new java.util.TreeSet<>(byRank(eligible.get(i).id())));
            }
            chosen.forEach((key, agent) -> {
                Integer at = agent == null ? null : index.get(agent);
                if (at != null) {
                    held.get(at).add(key);
                }
            });
            for (int needy = 0; needy < load.length; needy++) {
                while (load[needy] < floor[needy]) {
                    int donor = donor();
                    LeaseInput taken = donor < 0 ? null : lastUnpinned(held.get(donor), eligible.get(donor).id(), byKey);
                    if (taken == null) {
                        return;
                    }
                    held.get(donor).remove(taken.key());
                    count(taken.key().topic(), donor, -1);
                    held.get(needy).add(taken.key());
                    place(taken, needy);
                }
            }
        }

        /** The agent furthest above its floor (the lowest id among equals), or -1. */
        private int donor() {
            int donor = -1;
            for (int i = 0; i < load.length; i++) {
                if (load[i] > floor[i] && (donor < 0 || load[i] - floor[i] > load[donor] - floor[donor])) {
                    donor = i;
                }
            }
            return donor;
        }

        /** The last lease (in its donor's rank order) of a donor that is not pinned to it, or null. */
        private static LeaseInput lastUnpinned(java.util.TreeSet<LeaseKey> keys, AgentId donor,
                                               Map<LeaseKey, LeaseInput> byKey) {
            for (LeaseKey key : keys.descendingSet()) {
                LeaseInput lease = byKey.get(key);
                if (!donor.equals(lease.pinned())) {
                    return lease;
                }
            }
            return null;
        }
    }
}
