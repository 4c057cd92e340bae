package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import jakarta.inject.Singleton;

/**
 * Only the replica holding this coordination Lease reconciles (active in the prod profile, see
 * quarkus.operator-sdk.activate-leader-election-for-profiles). Fencing in the database keeps
 * even two active replicas from giving one partition two writers.
 */
@Singleton
public class LeaderElection extends LeaderElectionConfiguration {
    public LeaderElection() {
        super("streamhouse-lease-operator");
    }
}
