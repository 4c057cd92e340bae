package io.streamhouse.lease.operator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** {@code streamhouse.assign.*}: how fast planned moves may go. */
@ConfigMapping(prefix = "streamhouse.assign")
public interface AssignConfig {

    /**
     * Planned moves (rebalance, drain, cordon) in flight at once. Failover of a dead agent's
     * leases is not counted and never waits for this.
     */
    @WithDefault("64")
    int maxMovesInFlight();

    /**
     * How long an agent that runs the agent library gets to release a lease it was asked to hand
     * off (status.handoffTo) before the move is forced. Forcing is safe (the old epoch is fenced),
     * it only cuts the holder's in-flight work short.
     */
    @WithDefault("5s")
    Duration handoffTimeout();
}
