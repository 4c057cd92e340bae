package io.streamhouse.lease.testing;

import static org.awaitility.Awaitility.await;

import java.time.Duration;
import org.awaitility.core.ConditionFactory;

/** The one way tests wait: on a condition, polled, with a bound that only a hang reaches. */
public final class Eventually {

    /** Enough for anything on the mock API server and the embedded database, on a loaded 2-core machine. */
    public static final Duration DEFAULT = Duration.ofSeconds(30);

    private Eventually() {
    }

    public static ConditionFactory eventually() {
        return eventually(DEFAULT);
    }

    /** For a real API server (watches reconnect, a controller manager) or anything slower by nature. */
    public static ConditionFactory eventually(Duration atMost) {
        return await().atMost(atMost).pollInterval(Duration.ofMillis(20)).pollDelay(Duration.ZERO);
    }
}
