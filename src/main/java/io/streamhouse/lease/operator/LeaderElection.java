package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Duration;

/**
 * Only the replica holding the coordination Lease {@code streamhouse-lease-operator} reconciles
 * (active in the prod profile, see quarkus.operator-sdk.activate-leader-election-for-profiles).
 * A new leader takes over within ~10 s, well inside the default 20 s agent session timeout, so
 * sessions the operator renews survive a leader change. Fencing in the database keeps even two
 * active replicas from giving one partition two writers.
 */
public class LeaderElection {

    @Produces
    @Singleton
    LeaderElectionConfiguration leaderElection() {
        return LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration("streamhouse-lease-operator")
                .withLeaseDuration(Duration.ofSeconds(10))
                .withRenewDeadline(Duration.ofSeconds(8))
                .withRetryPeriod(Duration.ofSeconds(2))
                .build();
    }
}
