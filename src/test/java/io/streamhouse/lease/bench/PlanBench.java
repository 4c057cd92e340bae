package io.streamhouse.lease.bench;

import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.assign.Assigner.AgentInput;
import io.streamhouse.lease.assign.Assigner.LeaseInput;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The group plan's own cost, without Kubernetes or a database: a full plan of L leases over N
 * agents in 3 zones (topics of 1,000 partitions, as StreamTopics make them), cold (nobody holds
 * anything) and warm (every lease held where the last plan put it: what every re-plan after a
 * change costs), the plan after one agent left (the failover's fast path), and the inputs' and
 * plan's memory per lease. Median of several rounds after a warm-up; one JVM, so the figures of
 * one run compare with each other.
 *
 * <p>Usage: bench/plan-bench.sh [sizes=10000x10,10000x100,100000x10,100000x100] [rounds=7]
 */
public final class PlanBench {

    private PlanBench() {
    }

    public static void main(String[] args) {
        String[] parts = args.length == 0 || args[0].isBlank() ? new String[0] : args[0].split(",");
        List<String> sizes = new ArrayList<>();
        int rounds = 7;
        for (String p : parts) {
            if (p.contains("x")) {
                sizes.add(p);
            } else {
                rounds = Integer.parseInt(p);
            }
        }
        if (sizes.isEmpty()) {
            sizes = List.of("10000x10", "10000x100", "100000x10", "100000x100");
        }
        System.out.printf("%-22s %10s %10s %10s %12s %12s %14s %12s%n", "size", "cold ms", "warm ms", "join ms",
                "departure ms", "bytes/lease", "moves on join", "ref cold ms");
        for (String size : sizes) {
            String[] lx = size.split("x");
            run(Integer.parseInt(lx[0]), Integer.parseInt(lx[1]), rounds);
        }
        System.out.println("(median of " + rounds + " rounds after 3 warm-up rounds; join: the warm plan with one"
                + " agent more; bytes/lease: heap held by a second copy of the inputs and its plan, after a full GC;"
                + " moves on join: what that join moves; ref cold: the Assigner before its counters went into"
                + " arrays, in the same JVM)");
    }

    static void run(int leases, int agents, int rounds) {
        List<AgentInput> agentInputs = new ArrayList<>();
        for (int a = 0; a < agents; a++) {
            agentInputs.add(new AgentInput(AgentId.of("agent-" + a), "g", "zone-" + (a % 3), 1, null, true, true));
        }
        List<LeaseInput> cold = new ArrayList<>(leases);
        for (int i = 0; i < leases; i++) {
            cold.add(new LeaseInput(LeaseKey.of("topic-" + (i / 1000), i % 1000), "g", null, null));
        }
        for (int w = 0; w < 3; w++) {
            Assigner.plan(cold, agentInputs);
        }
        long[] coldTimes = new long[rounds];
        Assigner.Plan plan = null;
        for (int r = 0; r < rounds; r++) {
            long t = System.nanoTime();
            plan = Assigner.plan(cold, agentInputs);
            coldTimes[r] = System.nanoTime() - t;
        }
        Map<LeaseKey, AgentId> target = plan.target();
        List<LeaseInput> warm = new ArrayList<>(leases);
        cold.forEach(l -> warm.add(new LeaseInput(l.key(), l.group(), null, target.get(l.key()))));
        long[] warmTimes = new long[rounds];
        for (int r = 0; r < rounds + 3; r++) {
            long t = System.nanoTime();
            Assigner.plan(warm, agentInputs);
            if (r >= 3) {
                warmTimes[r - 3] = System.nanoTime() - t;
            }
        }
        List<AgentInput> afterCrash = new ArrayList<>(agentInputs.subList(1, agents));
        long[] departureTimes = new long[rounds];
        for (int r = 0; r < rounds + 3; r++) {
            long t = System.nanoTime();
            Assigner.afterDepartures(warm, target, agentInputs, afterCrash).orElseThrow();
            if (r >= 3) {
                departureTimes[r - 3] = System.nanoTime() - t;
            }
        }
        List<AgentInput> joined = new ArrayList<>(agentInputs);
        joined.add(new AgentInput(AgentId.of("agent-new"), "g", "zone-0", 1, null, true, true));
        int moves = Assigner.plan(warm, joined).moves().size();
        long[] joinTimes = new long[rounds];
        for (int r = 0; r < rounds; r++) {
            long t = System.nanoTime();
            Assigner.plan(warm, joined);
            joinTimes[r] = System.nanoTime() - t;
        }
        // The Assigner as it was before its counters went into arrays, same input, same JVM.
        long[] referenceTimes = new long[Math.min(rounds, 3)];
        for (int r = 0; r < referenceTimes.length + 1; r++) {
            long t = System.nanoTime();
            io.streamhouse.lease.assign.ReferencePlans.plan(cold, agentInputs);
            if (r >= 1) {
                referenceTimes[r - 1] = System.nanoTime() - t;
            }
        }

        cold = null;
        plan = null;
        long before = usedAfterGc();
        List<LeaseInput> held = new ArrayList<>(leases);
        for (int i = 0; i < leases; i++) {
            LeaseKey key = LeaseKey.of("topic-" + (i / 1000), i % 1000);
            held.add(new LeaseInput(key, "g", null, target.get(key)));
        }
        Assigner.Plan kept = Assigner.plan(held, agentInputs);
        long after = usedAfterGc();
        System.out.printf("%-22s %10.1f %10.1f %10.1f %12.1f %12d %14d %12.1f%n", leases + " leases x " + agents,
                median(coldTimes) / 1e6, median(warmTimes) / 1e6, median(joinTimes) / 1e6, median(departureTimes) / 1e6,
                (after - before) / leases, moves, median(referenceTimes) / 1e6);
        if (kept.target().size() != leases) {
            throw new AssertionError("plan lost leases");
        }
    }

    static long usedAfterGc() {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return rt.totalMemory() - rt.freeMemory();
    }

    static double median(long[] values) {
        long[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
