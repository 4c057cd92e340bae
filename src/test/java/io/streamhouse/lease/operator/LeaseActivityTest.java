package io.streamhouse.lease.operator;

import static org.assertj.core.api.Assertions.assertThat;

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

}
