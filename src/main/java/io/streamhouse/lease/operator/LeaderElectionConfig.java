package io.streamhouse.lease.operator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/**
 * {@code streamhouse.leader-election.*}: the coordination Lease the replicas compete for. A new
 * leader takes over at most {@code lease-duration} after the old one stopped renewing; keep that
 * well inside the agents' session timeout (20 s by default), since sessions the operator keeps
 * are renewed by the leader only.
 */
@ConfigMapping(prefix = "streamhouse.leader-election")
public interface LeaderElectionConfig {

    /** How long a leader's claim holds without renewal; a standby takes over after it. */
    @WithDefault("10s")
    Duration leaseDuration();

    /** How long the leader keeps trying to renew before it gives leadership up (less than the lease duration). */
    @WithDefault("8s")
    Duration renewDeadline();

    /** How often each replica tries to acquire or renew (less than the renew deadline). */
    @WithDefault("2s")
    Duration retryPeriod();
}
