package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LeaseActivityTest {

    final AtomicLong now = new AtomicLong(1_000_000_000_000L);
    final LeaseActivity activity = new LeaseActivity(now::get);

    @Test
    void settledUntilALeaseMovesThenForTheSettleTime() {
        assertThat(activity.untilSettled()).isZero();
        activity.moved();
        assertThat(activity.untilSettled()).isEqualTo(LeaseActivity.SETTLE);
        now.addAndGet(Duration.ofMillis(600).toNanos());
        assertThat(activity.untilSettled()).isEqualTo(LeaseActivity.SETTLE.minusMillis(600));
        activity.moved(); // a burst goes on: settling starts again
        assertThat(activity.untilSettled()).isEqualTo(LeaseActivity.SETTLE);
        now.addAndGet(LeaseActivity.SETTLE.toNanos());
        assertThat(activity.untilSettled()).isZero();
    }

    @Test
    void onlyALeaseCountChangeIsDeferred() {
        StreamAgentStatus previous = status(StreamAgentPhase.Ready, 1L, 5, "2026-11-27T10:00:00Z");
        assertThat(AgentStatuses.onlyLeaseCountChanged(status(StreamAgentPhase.Ready, 1L, 6, "2026-11-27T10:00:07Z"), previous))
                .as("count (and heartbeat) only").isTrue();
        assertThat(AgentStatuses.onlyLeaseCountChanged(status(StreamAgentPhase.Lost, 1L, 6, "2026-11-27T10:00:07Z"), previous))
                .as("the phase changed too: written now").isFalse();
        assertThat(AgentStatuses.onlyLeaseCountChanged(status(StreamAgentPhase.Ready, 2L, 5, "2026-11-27T10:00:07Z"), previous))
                .as("count unchanged").isFalse();
        assertThat(AgentStatuses.onlyLeaseCountChanged(status(StreamAgentPhase.Ready, 1L, 6, null), null))
                .as("first status").isFalse();
    }

    static StreamAgentStatus status(StreamAgentPhase phase, Long sessionEpoch, int leaseCount, String heartbeat) {
        StreamAgentStatus s = new StreamAgentStatus();
        s.setPhase(phase);
        s.setSessionEpoch(sessionEpoch);
        s.setLeaseCount(leaseCount);
        s.setLastHeartbeat(heartbeat);
        s.setObservedGeneration(1L);
        return s;
    }
}
