package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.Lease;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** What {@code kubectl get partitionleases} shows, as a projection of the row, without a cluster. */
class LeaseStatusesTest {

    static final Instant NOW = Instant.parse("2026-12-02T00:00:00Z");
    static final LeaseKey K = LeaseKey.of("orders", 3);

    static Lease row(String holder, long epoch, boolean live) {
        return new Lease(K, holder == null ? null : AgentId.of(holder), holder == null ? 0 : 1, epoch,
                AgentId.of("before"), NOW.minusSeconds(5), NOW, live);
    }

    @Test
    void aLiveHolderIsHeldWithItsEpoch() {
        PartitionLeaseStatus s = LeaseStatuses.fromRow(null, 2, K.toString(), row("a", 4, true), "x", "y", NOW);
        assertThat(s.getPhase()).isEqualTo(PartitionLeasePhase.Held);
        assertThat(s.getHolder()).isEqualTo("a");
        assertThat(s.getEpoch()).isEqualTo(4);
        assertThat(s.getPreviousHolder()).isEqualTo("before");
        assertThat(s.getObservedGeneration()).isEqualTo(2);
        assertThat(s.getBoundKey()).isEqualTo("orders/3");
        assertThat(s.condition(Conditions.HELD).getStatus()).isEqualTo("True");
        assertThat(s.condition(Conditions.READY).getReason()).isEqualTo(Conditions.LEASE_ACQUIRED);
    }

    @Test
    void aDeadHolderIsShownButUnassignedWithTheReasonGiven() {
        PartitionLeaseStatus s = LeaseStatuses.fromRow(null, 1, K.toString(), row("a", 4, false),
                Conditions.SESSION_EXPIRED, "session of a expired", NOW);
        assertThat(s.getPhase()).isEqualTo(PartitionLeasePhase.Unassigned);
        assertThat(s.getHolder()).isEqualTo("a"); // the row's truth, for people reading it
        assertThat(s.condition(Conditions.HELD).getReason()).isEqualTo(Conditions.SESSION_EXPIRED);
        assertThat(s.condition(Conditions.HELD).getMessage()).isEqualTo("session of a expired");
    }

    @Test
    void aRefusedResourceShowsNoHolder() {
        PartitionLeaseStatus held = LeaseStatuses.fromRow(null, 1, K.toString(), row("a", 4, true), "x", "y", NOW);
        PartitionLeaseStatus s = LeaseStatuses.refused(held, 2, K.toString(), PartitionLeasePhase.Invalid,
                Conditions.SPEC_IMMUTABLE, "topic and partition are immutable", NOW);
        assertThat(s.getPhase()).isEqualTo(PartitionLeasePhase.Invalid);
        assertThat(s.getHolder()).isNull();
        assertThat(s.getEpoch()).isNull();
        assertThat(s.condition(Conditions.READY).getReason()).isEqualTo(Conditions.SPEC_IMMUTABLE);
    }

    @Test
    void aHandoffIsShownOnAHeldStatus() {
        PartitionLeaseStatus held = LeaseStatuses.fromRow(null, 1, K.toString(), row("a", 4, true), "x", "y", NOW);
        PartitionLeaseStatus s = LeaseStatuses.withHandoff(held, "b", NOW);
        assertThat(s.getHandoffTo()).isEqualTo("b");
        assertThat(s.getHandoffRequestedAt()).isEqualTo(NOW.toString());
        assertThat(s.getPhase()).isEqualTo(PartitionLeasePhase.Held);
    }

    @Test
    void anUnreachableStoreKeepsHolderAndEpochAndFlipsReadyOnly() {
        PartitionLeaseStatus held = LeaseStatuses.fromRow(null, 1, K.toString(), row("a", 4, true), "x", "y", NOW);
        PartitionLeaseStatus s = LeaseStatuses.storeUnavailable(held, 1, "lease store unavailable", NOW.plusSeconds(1));
        assertThat(s.getHolder()).isEqualTo("a");
        assertThat(s.getEpoch()).isEqualTo(4);
        assertThat(s.getPhase()).isEqualTo(PartitionLeasePhase.Held);
        assertThat(s.condition(Conditions.READY).getReason()).isEqualTo(Conditions.STORE_UNAVAILABLE);
        assertThat(s.condition(Conditions.HELD).getStatus()).isEqualTo("True");
    }
}
