package io.streamhouse.lease.assign;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.model.AgentId;
import java.util.List;
import org.junit.jupiter.api.Test;

class HolderChoiceTest {

    static AgentView agent(String id, int leases, boolean accepts) {
        return new AgentView(AgentId.of(id), 1, "", 1, null, leases, accepts, accepts);
    }

    @Test
    void keepsALiveEligibleHolder() {
        var decision = HolderChoice.decide(AgentId.of("b"), true, null, List.of(agent("a", 0, true), agent("b", 9, true)));
        assertThat(decision).isInstanceOf(HolderChoice.Decision.Keep.class);
    }

    @Test
    void givesAFreeLeaseToTheLeastLoadedThenLowestId() {
        var decision = HolderChoice.decide(null, false, null,
                List.of(agent("c", 1, true), agent("b", 1, true), agent("a", 2, true), agent("d", 0, false)));
        assertThat(decision).isEqualTo(new HolderChoice.Decision.Acquire(agent("b", 1, true), false));
    }

    @Test
    void movesAwayFromADrainingHolderWithATakeover() {
        AgentView draining = new AgentView(AgentId.of("a"), 1, "", 1, null, 1, false, false);
        var decision = HolderChoice.decide(AgentId.of("a"), true, null, List.of(draining, agent("b", 5, true)));
        assertThat(decision).isEqualTo(new HolderChoice.Decision.Acquire(agent("b", 5, true), true));
    }

    @Test
    void aLostButStillLiveHolderKeepsItsLeaseUntilExpiry() {
        AgentView lost = new AgentView(AgentId.of("a"), 1, "", 1, null, 1, false, true);
        assertThat(HolderChoice.decide(AgentId.of("a"), true, null, List.of(lost, agent("b", 0, true))))
                .isInstanceOf(HolderChoice.Decision.Keep.class);
        assertThat(HolderChoice.decide(AgentId.of("a"), false, null, List.of(lost, agent("b", 0, true))))
                .isEqualTo(new HolderChoice.Decision.Acquire(agent("b", 0, true), false));
    }

    @Test
    void honoursAPinWhileThePinnedAgentIsEligible() {
        assertThat(HolderChoice.decide(AgentId.of("a"), true, AgentId.of("b"), List.of(agent("a", 0, true), agent("b", 9, true))))
                .isEqualTo(new HolderChoice.Decision.Acquire(agent("b", 9, true), true));
        assertThat(HolderChoice.decide(AgentId.of("a"), true, AgentId.of("b"), List.of(agent("a", 0, true), agent("b", 9, false))))
                .isInstanceOf(HolderChoice.Decision.Keep.class);
    }

    @Test
    void respectsCapacityAndWeight() {
        AgentView full = new AgentView(AgentId.of("a"), 1, "", 1, 2, 2, true, true);
        AgentView heavy = new AgentView(AgentId.of("c"), 1, "", 4, null, 4, true, true); // 1 per unit of weight
        assertThat(HolderChoice.decide(null, false, null, List.of(full, agent("b", 3, true), heavy)))
                .isEqualTo(new HolderChoice.Decision.Acquire(heavy, false));
    }

    @Test
    void reportsNoEligibleAgentOnlyWhenNobodyHoldsIt() {
        assertThat(HolderChoice.decide(null, false, null, List.of(agent("a", 0, false))))
                .isInstanceOf(HolderChoice.Decision.NoEligibleAgent.class);
        AgentView draining = new AgentView(AgentId.of("a"), 1, "", 1, null, 1, false, false);
        assertThat(HolderChoice.decide(AgentId.of("a"), true, null, List.of(draining)))
                .as("a draining holder with nowhere to go keeps writing").isInstanceOf(HolderChoice.Decision.Keep.class);
    }

    @Test
    void givesALeaseBackToItsHolderWhenItReturnsAfterItsSessionDied() {
        var decision = HolderChoice.decide(AgentId.of("b"), false, null, List.of(agent("a", 0, true), agent("b", 5, true)));
        assertThat(decision).isEqualTo(new HolderChoice.Decision.Acquire(agent("b", 5, true), false));
    }
}
