package io.streamhouse.lease.assign;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.assign.Assigner.AgentInput;
import io.streamhouse.lease.assign.Assigner.LeaseInput;
import io.streamhouse.lease.assign.Assigner.Plan;
import io.streamhouse.lease.model.AgentId;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The Assigner, made fast for 100,000 leases (its counters in arrays, a join's donations from a
 * sorted set per agent), plans exactly as it did before (ReferenceAssigner, its code as it was):
 * same targets and same moves on random clusters of every shape, with and without holders, after
 * a join, and after departures.
 */
class AssignerEquivalenceTest {

    static final List<AssignerPropertiesTest.Shape> SHAPES = shapes();

    static List<AssignerPropertiesTest.Shape> shapes() {
        List<AssignerPropertiesTest.Shape> shapes = new ArrayList<>();
        for (int bits = 0; bits < 64; bits++) {
            shapes.add(new AssignerPropertiesTest.Shape((bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0,
                    (bits & 8) != 0, (bits & 16) != 0, (bits & 32) != 0));
        }
        return shapes;
    }

    static void same(Plan fast, Plan reference, Object what) {
        assertThat(fast.target()).as("targets, %s", what).isEqualTo(reference.target());
        assertThat(fast.moves()).as("moves, %s", what).isEqualTo(reference.moves());
    }

    @Test
    void everyShapeOfClusterIsPlannedAsBefore() {
        int planned = 0;
        for (AssignerPropertiesTest.Shape shape : SHAPES) {
            for (int i = 0; i < 60; i++) {
                var c = AssignerPropertiesTest.cluster(AssignerPropertiesTest.BASE_SEED + 7919L * i + shape.hashCode(), shape);
                Plan fast = Assigner.plan(c.leases(), c.agents());
                same(fast, ReferenceAssigner.plan(c.leases(), c.agents()), c + " " + shape);
                // What comes next: the same cluster held as planned, then with an agent joining.
                List<LeaseInput> held = AssignerPropertiesTest.applied(c.leases(), fast);
                same(Assigner.plan(held, c.agents()), ReferenceAssigner.plan(held, c.agents()), "held, " + c);
                List<AgentInput> joined = new ArrayList<>(c.agents());
                joined.add(new AgentInput(AgentId.of("agent-new"), "g", "zone-0", 1, null, true, true));
                same(Assigner.plan(held, joined), ReferenceAssigner.plan(held, joined), "join, " + c);
                if (c.agents().size() > 1) {
                    List<AgentInput> left = c.agents().subList(1, c.agents().size());
                    var fastAfter = Assigner.afterDepartures(held, fast.target(), c.agents(), left);
                    var referenceAfter = ReferenceAssigner.afterDepartures(held, fast.target(), c.agents(), left);
                    assertThat(fastAfter.isPresent()).as("answers after a departure, %s", c).isEqualTo(referenceAfter.isPresent());
                    fastAfter.ifPresent(p -> same(p, referenceAfter.get(), "departure, " + c));
                }
                planned++;
            }
        }
        assertThat(planned).isEqualTo(64 * 60);
    }
}
