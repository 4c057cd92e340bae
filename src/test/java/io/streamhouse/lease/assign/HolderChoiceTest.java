package io.streamhouse.lease.assign;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.assign.HolderChoice.Decision;
import io.streamhouse.lease.model.AgentId;
import org.junit.jupiter.api.Test;

class HolderChoiceTest {

    static final AgentId A = AgentId.of("a");
    static final AgentView B = new AgentView(AgentId.of("b"), 1, "", 1, null, false, true, true);

    @Test
    void keepsALiveHolderThatIsTheTarget() {
        assertThat(HolderChoice.toward(B, B.id(), true)).isInstanceOf(Decision.Keep.class);
    }

    @Test
    void takesOverFromALiveHolderThatIsNotTheTarget() {
        assertThat(HolderChoice.toward(B, A, true)).isEqualTo(new Decision.Acquire(B, true));
    }

    @Test
    void acquiresAFreeOrExpiredLeaseWithoutNamingTheOldHolder() {
        assertThat(HolderChoice.toward(B, null, false)).isEqualTo(new Decision.Acquire(B, false));
        assertThat(HolderChoice.toward(B, A, false)).isEqualTo(new Decision.Acquire(B, false));
    }

    @Test
    void givesALeaseBackToItsReturningHolderAsANewIncarnation() {
        assertThat(HolderChoice.toward(B, B.id(), false)).isEqualTo(new Decision.Acquire(B, false));
    }

    @Test
    void withoutATargetALiveHolderKeepsWritingAndAFreeLeaseWaits() {
        assertThat(HolderChoice.toward(null, A, true)).isInstanceOf(Decision.Keep.class);
        assertThat(HolderChoice.toward(null, A, false)).isInstanceOf(Decision.NoEligibleAgent.class);
        assertThat(HolderChoice.toward(null, null, false)).isInstanceOf(Decision.NoEligibleAgent.class);
    }
}
