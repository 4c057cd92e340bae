package io.streamhouse.lease.operator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * {@code streamhouse.publish.*}: how fast leadership is shown in Kubernetes. Agents learn it from
 * the database; these writes are for people and tools, and are paced so that a burst of moves
 * never starves the rest of the cluster.
 */
@ConfigMapping(prefix = "streamhouse.publish")
public interface PublishConfig {

    /**
     * PartitionLease status writes per second, on average (a burst of moves waits its turn;
     * a lease that moves twice meanwhile is written once, with its final state).
     */
    @WithDefault("100")
    double leaseStatusWritesPerSecond();

    /**
     * PartitionLease status writes allowed at once before the average applies. Small, so that the
     * API server's queue stays short for the writes that show a failover first (the new holders'
     * StreamAgents, written 100 ms after the commit): a burst of 100 status writes sent at the same
     * moment held those up by about a second on the bench's server.
     */
    @WithDefault("20")
    int leaseStatusBurst();

    /**
     * How long PartitionLease status writes pause after a batch of moves commits (a failover, an
     * agent's graceful stop, an initial assignment), leaving the API server to the new holders'
     * StreamAgent lease lists, which are written first. At 10,000 leases x 100 agents a crash's
     * 99 lists and the first 100 statuses otherwise reached the server in the same second. A
     * pause is refused within its own length of the last one's end, so these writes are delayed
     * at most half the time. 0 turns it off.
     */
    @WithDefault("1s")
    java.time.Duration leaseStatusPause();

    /** Events per second, on average; beyond, Events are dropped and counted (sampled, never queued). */
    @WithDefault("10")
    double eventsPerSecond();

    /** Events allowed at once before the average applies. */
    @WithDefault("50")
    int eventBurst();
}
