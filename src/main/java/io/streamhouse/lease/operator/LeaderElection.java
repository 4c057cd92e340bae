package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Duration;
import org.jboss.logging.Logger;

/**
 * Only the replica holding the coordination Lease {@code streamhouse-lease-operator} reconciles
 * (active in the prod profile, see quarkus.operator-sdk.activate-leader-election-for-profiles).
 * A new leader takes over within the lease duration (10 s by default, {@link LeaderElectionConfig}),
 * well inside the default 20 s agent session timeout, so sessions the operator renews survive a
 * leader change; a leader that loses the Lease exits (it must not reconcile beside the next one). Fencing in the database keeps even two
 * active replicas from giving one partition two writers.
 */
@Singleton // one instance: its observer and its callbacks share the shutdown flag
public class LeaderElection {

    private static final Logger LOG = Logger.getLogger(LeaderElection.class);

    @Produces
    @Singleton
    LeaderElectionConfiguration leaderElection(LeaderElectionConfig config, StoreProducer store) {
        validate(config.leaseDuration(), config.renewDeadline(), config.retryPeriod());
        return LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration("streamhouse-lease-operator")
                .withLeaseDuration(config.leaseDuration())
                .withRenewDeadline(config.renewDeadline())
                .withRetryPeriod(config.retryPeriod())
                // Runs before the reconcilers start (the operator SDK calls it, then starts them):
                // only the leader migrates the schema.
                .withLeaderCallbacks(new LeaderCallbacks(store::migrateAsLeader, this::stoppedLeading, leader -> { }))
                .build();
    }

    private volatile boolean shuttingDown;

    // Before the operator SDK's own shutdown observer, which stops leading (and so calls us).
    void shuttingDown(@Observes @Priority(1) ShutdownEvent event) {
        shuttingDown = true;
    }

    /**
     * Leadership lost while running (the Lease could not be renewed, or another replica holds it):
     * this replica must stop reconciling at once, or two replicas would reconcile side by side. The
     * operator SDK only logs it ("configured not to exit"); its own exit would block when called
     * during a shutdown (it is called then too), so the process is ended here, without blocking,
     * unless it is already shutting down. Restarted by Kubernetes, it comes back as a standby.
     */
    void stoppedLeading() {
        if (shuttingDown) {
            return;
        }
        LOG.error("lost the leadership of streamhouse-lease-operator while running: exiting, so that only the"
                + " leader reconciles (restarted, this replica waits as a standby)");
        Quarkus.asyncExit(1);
    }

    /** Refuses timings under which two replicas could both believe they lead, or none could renew. */
    static void validate(Duration leaseDuration, Duration renewDeadline, Duration retryPeriod) {
        if (retryPeriod.isNegative() || retryPeriod.isZero()) {
            throw new IllegalArgumentException("streamhouse.leader-election.retry-period must be positive, got " + retryPeriod);
        }
        if (renewDeadline.compareTo(leaseDuration) >= 0) {
            throw new IllegalArgumentException("streamhouse.leader-election.renew-deadline (" + renewDeadline
                    + ") must be less than lease-duration (" + leaseDuration + "): a leader must give up before"
                    + " a standby may take over");
        }
        if (retryPeriod.compareTo(renewDeadline) >= 0) {
            throw new IllegalArgumentException("streamhouse.leader-election.retry-period (" + retryPeriod
                    + ") must be less than renew-deadline (" + renewDeadline + "): the leader must get to retry");
        }
    }
}
