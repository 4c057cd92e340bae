package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeasePhase;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseStatus;
import io.streamhouse.lease.store.StoreUnavailableException;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

/** With the store down, status keeps its last truth and says why it is not Ready. */
class ErrorStatusTest {

    final Clock clock = Clock.fixed(Instant.parse("2026-11-27T10:00:00Z"), ZoneOffset.UTC);
    final AssignConfig assign = new AssignConfig() {
        @Override
        public int maxMovesInFlight() {
            return 4;
        }

        @Override
        public java.time.Duration handoffTimeout() {
            return java.time.Duration.ofSeconds(1);
        }
    };
    // Neither the store nor the change feed is reached on this path; the feed is never started.
    final PublishConfig publish = new PublishConfig() {
        @Override
        public double leaseStatusWritesPerSecond() {
            return 100;
        }

        @Override
        public int leaseStatusBurst() {
            return 100;
        }

        @Override
        public java.time.Duration leaseStatusPause() {
            return java.time.Duration.ofSeconds(1);
        }

        @Override
        public double eventsPerSecond() {
            return 10;
        }

        @Override
        public int eventBurst() {
            return 50;
        }
    };
    final PartitionLeaseReconciler reconciler = new PartitionLeaseReconciler(null, null, clock, assign, new StatusBudget(publish),
            new ChangeNotifications(null), new OperatorMetrics(new io.micrometer.core.instrument.simple.SimpleMeterRegistry()),
            new LeaseActivity(), new EndedSessions(), new Planning(),
            new UnassignedPartitions(new io.micrometer.core.instrument.simple.SimpleMeterRegistry()));

    PartitionLease heldLease() {
        PartitionLease lease = Fixtures.lease("ns", "p0", "orders", 0, "default");
        lease.getMetadata().setGeneration(3L);
        PartitionLeaseStatus status = new PartitionLeaseStatus();
        status.setObservedGeneration(3L);
        status.setHolder("agent-1");
        status.setEpoch(7L);
        status.setPhase(PartitionLeasePhase.Held);
        status.setBoundKey("orders/0");
        Conditions.set(status, null, Conditions.HELD, true, Conditions.LEASE_ACQUIRED, "held", clock.instant().minusSeconds(60));
        Conditions.set(status, null, Conditions.READY, true, Conditions.LEASE_ACQUIRED, "held", clock.instant().minusSeconds(60));
        lease.setStatus(status);
        return lease;
    }

    @Test
    void storeUnavailableKeepsHolderAndEpochAndFlipsOnlyReady() {
        PartitionLease lease = heldLease();

        ErrorStatusUpdateControl<PartitionLease> control = reconciler.updateErrorStatus(lease, null,
                new RuntimeException(new StoreUnavailableException("lease store unavailable: connection refused", null)));

        PartitionLeaseStatus status = control.getResource().orElseThrow().getStatus();
        assertThat(status.getHolder()).isEqualTo("agent-1");
        assertThat(status.getEpoch()).isEqualTo(7);
        assertThat(status.condition("Held").getStatus()).isEqualTo("True");
        assertThat(status.condition("Held").getLastTransitionTime()).isEqualTo("2026-11-27T09:59:00Z");
        assertThat(status.condition("Ready").getStatus()).isEqualTo("False");
        assertThat(status.condition("Ready").getReason()).isEqualTo("StoreUnavailable");
        assertThat(status.condition("Ready").getLastTransitionTime()).isEqualTo("2026-11-27T10:00:00Z");
        assertThat(control.isNoRetry()).as("keeps retrying with backoff").isFalse();
    }

    @Test
    void aSecondFailureWritesNothingNew() {
        PartitionLease lease = heldLease();
        var first = reconciler.updateErrorStatus(lease, null, new StoreUnavailableException("down", null));
        lease.setStatus(first.getResource().orElseThrow().getStatus());

        var second = reconciler.updateErrorStatus(lease, null, new StoreUnavailableException("down", null));

        assertThat(second.getResource()).isEmpty();
    }

    @Test
    void otherErrorsGetDefaultProcessing() {
        var control = reconciler.updateErrorStatus(heldLease(), null, new IllegalStateException("bug"));
        assertThat(control.isDefaultErrorProcessing()).isTrue();
    }
}
