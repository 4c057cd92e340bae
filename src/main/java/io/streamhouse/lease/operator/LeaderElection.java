package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Duration;

/**
 * Only the replica holding the coordination Lease {@code streamhouse-lease-operator} reconciles
 * (active in the prod profile, see quarkus.operator-sdk.activate-leader-election-for-profiles).
 * A new leader takes over within the lease duration (10 s by default, {@link LeaderElectionConfig}), well inside the default 20 s agent session timeout, so
 * sessions the operator renews survive a leader change. Fencing in the database keeps even two
 * active replicas from giving one partition two writers.
 */
public class LeaderElection {

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
                .withLeaderCallbacks(new LeaderCallbacks(store::migrateAsLeader, () -> { }, leader -> { }))
                .build();
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
