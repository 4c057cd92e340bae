package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.store.Durability;
import org.junit.jupiter.api.Test;

/** Readiness from the database's durability: not ready in production when a commit can be lost. */
class DurabilityCheckTest {

    static final Durability SAFE = new Durability(true, true, "on", "", 0);
    static final Durability FSYNC_OFF = new Durability(false, true, "on", "", 0);
    static final Durability ASYNC_STANDBY = new Durability(true, true, "on", "", 1);

    @Test
    void aDurableDatabaseIsReadyAndSaysNothing() {
        assertThat(DurabilityCheck.decide(SAFE, false, true)).isEqualTo(new DurabilityCheck.Verdict(true, null));
    }

    @Test
    void aProductionDatabaseThatCanLoseCommitsIsNotReadyAndSaysWhy() {
        DurabilityCheck.Verdict v = DurabilityCheck.decide(ASYNC_STANDBY, false, true);
        assertThat(v.ready()).isFalse();
        assertThat(v.message()).contains("replicate asynchronously").contains("epoch could then be handed out twice")
                .contains("streamhouse.db.require-durable=false");
        assertThat(DurabilityCheck.decide(FSYNC_OFF, false, true).ready()).isFalse();
    }

    @Test
    void theEmbeddedLocalDatabaseIsReadyWithALoudWarning() {
        DurabilityCheck.Verdict v = DurabilityCheck.decide(FSYNC_OFF, true, true);
        assertThat(v.ready()).isTrue();
        assertThat(v.message()).startsWith("LOCAL USE ONLY").contains("fsync is off");
    }

    @Test
    void anOperatorMayAcceptTheRiskExplicitly() {
        DurabilityCheck.Verdict v = DurabilityCheck.decide(FSYNC_OFF, false, false);
        assertThat(v.ready()).isTrue();
        assertThat(v.message()).contains("accepted because streamhouse.db.require-durable is false");
    }
}
