package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** When a group's plan is reused and when it is computed again (plain Java, no cluster). */
class GroupPlannerTest {

    static final String GROUP = "ns/g";
    static final AgentId A = AgentId.of("a");
    static final AgentId B = AgentId.of("b");

    final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    final GroupPlanner planner = new GroupPlanner(nanos::get); // time moves only when a test moves it
    final AtomicInteger plans = new AtomicInteger();
    final List<Assigner.LeaseInput> leases = new ArrayList<>();

    static LeaseKey key(int p) {
        return LeaseKey.of("t", p);
    }

    GroupPlanner.Planned plan(LeaseKey key, AgentId holder) {
        return planner.plan(GROUP, key, holder, () -> {
            plans.incrementAndGet();
            return List.copyOf(leases);
        }, () -> List.of(
                new Assigner.AgentInput(A, "g", "z1", 1, null, true, true),
                new Assigner.AgentInput(B, "g", "z2", 1, null, true, true)));
    }

    void lease(int p, AgentId holder) {
        leases.add(new Assigner.LeaseInput(key(p), "g", null, holder));
    }

    @Test
    void anAgentLeavingIsPlacedFromTheLastPlanThenPlannedInFullAfterTheDebounce() {
        for (int p = 0; p < 10; p++) {
            lease(p, null);
        }
        Assigner.AgentInput a = new Assigner.AgentInput(A, "g", "z1", 1, null, true, true);
        List<Assigner.AgentInput> both = List.of(a, new Assigner.AgentInput(B, "g", "z2", 1, null, true, true));
        List<Assigner.AgentInput> bDead = List.of(a, new Assigner.AgentInput(B, "g", "z2", 1, null, false, false));
        java.util.function.Supplier<List<Assigner.LeaseInput>> inputs = () -> {
            plans.incrementAndGet();
            return List.copyOf(leases);
        };
        Assigner.Plan first = planner.plan(GROUP, key(0), null, inputs, () -> both).plan();
        assertThat(first.target().values()).contains(A, B);

        planner.changed(); // B's session died
        GroupPlanner.Planned after = planner.replan(GROUP, inputs, () -> bDead);

        assertThat(plans).as("no lease read, no full plan").hasValue(1);
        assertThat(after.upToDate()).as("provisional").isFalse();
        assertThat(after.plan().target()).hasSize(10).allSatisfy((k, to) -> assertThat(to).isEqualTo(A));

        // The leases move there; the next look after the debounce plans in full and finds the same.
        leases.replaceAll(l -> new Assigner.LeaseInput(l.key(), l.group(), null, A));
        nanos.addAndGet(GroupPlanner.DEBOUNCE.toNanos());
        GroupPlanner.Planned full = planner.plan(GROUP, key(0), A, inputs, () -> bDead);
        assertThat(plans).hasValue(2);
        assertThat(full.upToDate()).isTrue();
        assertThat(full.plan().target()).isEqualTo(after.plan().target());
    }

    /**
     * A whole-topic reconcile during a failover keeps using the failover's plan while the
     * failover's own writes come back (each bumps the version) and the agents stay as they were:
     * a full plan there held up the last topics to fail over by 0.6 s in the topic bench. Past the
     * window, or with an agent changed, it plans in full.
     */
    @Test
    void aFailoversPlanServesWholeTopicsUntilTheAgentsChangeOrTheWindowEnds() {
        for (int p = 0; p < 10; p++) {
            lease(p, null);
        }
        Assigner.AgentInput a = new Assigner.AgentInput(A, "g", "z1", 1, null, true, true);
        List<Assigner.AgentInput> both = List.of(a, new Assigner.AgentInput(B, "g", "z2", 1, null, true, true));
        List<Assigner.AgentInput> bDead = List.of(a, new Assigner.AgentInput(B, "g", "z2", 1, null, false, false));
        java.util.function.Supplier<List<Assigner.LeaseInput>> inputs = () -> {
            plans.incrementAndGet();
            return List.copyOf(leases);
        };
        planner.current(GROUP, inputs, () -> both);
        planner.changed(); // B's session died
        GroupPlanner.Planned failover = planner.replan(GROUP, inputs, () -> bDead);
        assertThat(plans).hasValue(1);

        for (int p = 0; p < 10; p++) {
            planner.observed(key(p), A, true, 2); // the failover's writes come back
            nanos.addAndGet(GroupPlanner.DEBOUNCE.toNanos());
            assertThat(planner.current(GROUP, inputs, () -> bDead).plan()).isSameAs(failover.plan());
        }
        assertThat(plans).as("no full plan within the window").hasValue(1);

        List<Assigner.AgentInput> cJoined = new java.util.ArrayList<>(bDead);
        cJoined.add(new Assigner.AgentInput(AgentId.of("c"), "g", "z3", 1, null, true, true));
        planner.current(GROUP, inputs, () -> cJoined);
        assertThat(plans).as("an agent changed: planned in full").hasValue(2);

        planner.changed();
        planner.replan(GROUP, inputs, () -> bDead); // c left again: provisional
        int before = plans.get();
        planner.observed(key(0), A, true, 3);
        nanos.addAndGet(GroupPlanner.PROVISIONAL_WINDOW.toNanos());
        planner.current(GROUP, inputs, () -> bDead);
        assertThat(plans.get()).as("past the window: planned in full").isEqualTo(before + 1);
    }

    @Test
    void aPlanIsReusedWhileNothingChanged() {
        lease(0, null);
        lease(1, null);
        GroupPlanner.Planned first = plan(key(0), null);
        GroupPlanner.Planned again = plan(key(1), null);

        assertThat(plans).hasValue(1);
        assertThat(again.plan()).isSameAs(first.plan());
        assertThat(again.upToDate()).isTrue();
    }

    @Test
    void aHolderThatMovedWhereThePlanWantedKeepsItValid() {
        lease(0, null);
        AgentId target = plan(key(0), null).plan().target().get(key(0));
        planner.observed(key(0), target, true, 1);

        plan(key(0), target);

        assertThat(plans).as("no re-plan for a lease now where the plan put it").hasValue(1);
    }

    @Test
    void aHolderThePlanNeitherAssumedNorChoseMeansAPlanNow() {
        lease(0, null);
        AgentId target = plan(key(0), null).plan().target().get(key(0));
        AgentId other = target.equals(A) ? B : A;

        plan(key(0), other);

        assertThat(plans).hasValue(2);
    }

    @Test
    void aLeaseOfAnAgentThatKeepsNothingWasPlannedAsFreeSoItsDeadHolderChangesNothing() {
        AgentId gone = AgentId.of("gone");
        lease(0, gone);
        lease(1, gone);
        List<Assigner.AgentInput> agents = List.of(
                new Assigner.AgentInput(A, "g", "z1", 1, null, true, true),
                new Assigner.AgentInput(gone, "g", "z2", 1, null, false, false)); // session expired
        GroupPlanner.Planned first = planner.plan(GROUP, key(0), gone, () -> {
            plans.incrementAndGet();
            return List.copyOf(leases);
        }, () -> agents);
        assertThat(first.plan().target()).containsEntry(key(0), A).containsEntry(key(1), A);

        // The failover reads the row: holder dead, planned as nobody's. Same plan, no re-plan.
        planner.observed(key(1), gone, false, 1);
        GroupPlanner.Planned again = planner.plan(GROUP, key(1), null, () -> {
            plans.incrementAndGet();
            return List.copyOf(leases);
        }, () -> agents);

        assertThat(plans).hasValue(1);
        assertThat(again.plan()).isSameAs(first.plan());
    }

    @Test
    void theLeasesOfADrainingAgentShareOnePlan() {
        AgentId draining = AgentId.of("draining");
        for (int p = 0; p < 4; p++) {
            lease(p, draining);
        }
        List<Assigner.AgentInput> agents = List.of(
                new Assigner.AgentInput(A, "g", "z1", 1, null, true, true),
                new Assigner.AgentInput(draining, "g", "z2", 1, null, false, false)); // live, gives them up
        for (int p = 0; p < 4; p++) {
            planner.observed(key(p), draining, true, 1); // each reconcile reads its row: still the holder
            GroupPlanner.Planned planned = planner.plan(GROUP, key(p), draining, () -> {
                plans.incrementAndGet();
                return List.copyOf(leases);
            }, () -> agents);
            assertThat(planned.plan().target()).containsEntry(key(p), A);
        }
        assertThat(plans).as("one plan for the whole drain, not one per lease").hasValue(1);
    }

    @Test
    void aLeaseNewerThanARecentPlanWaitsForTheNextOneInsteadOfRePlanning() {
        lease(0, null);
        plan(key(0), null);
        lease(1, null);
        planner.changed(); // the new lease was seen

        assertThat(planner.untilPlanned(GROUP, key(1))).isPresent()
                .get().isEqualTo(GroupPlanner.DEBOUNCE);
        assertThat(planner.untilPlanned(GROUP, key(0))).as("a lease the plan covers never waits").isEmpty();
        GroupPlanner.Planned stale = plan(key(1), null);
        assertThat(stale.upToDate()).isFalse();
        assertThat(stale.plan().target()).doesNotContainKey(key(1));
        assertThat(plans).hasValue(1);

        nanos.addAndGet(GroupPlanner.DEBOUNCE.toNanos());
        assertThat(planner.untilPlanned(GROUP, key(1))).as("due now").isEmpty();
        assertThat(plan(key(1), null).plan().target()).containsKey(key(1));
        assertThat(plans).hasValue(2);

    }

    @Test
    void aDeadHoldersLeasesAreKnownDeadAtOnce() {
        planner.observed(key(0), A, true, 3);
        planner.observed(key(1), A, true, 4);
        planner.observed(key(2), B, true, 1);

        planner.holderDied(A);

        assertThat(planner.known(key(0))).isEqualTo(new GroupPlanner.Known(A, false, 3));
        assertThat(planner.known(key(1))).isEqualTo(new GroupPlanner.Known(A, false, 4));
        assertThat(planner.known(key(2))).isEqualTo(new GroupPlanner.Known(B, true, 1));
    }
}
