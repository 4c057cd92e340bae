package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import jakarta.inject.Singleton;

/**
 * The one client-side budget for the operator's status writes ({@code streamhouse.publish.*}):
 * PartitionLease statuses take turns in it, and StreamAgent lease lists cut in ahead of them
 * ({@link WriteBudget#cutIn}), so that after a failover the new holders' StreamAgents are not
 * queued at the API server behind a thousand PartitionLease statuses.
 */
@Singleton
public class StatusBudget {

    final WriteBudget<ResourceID> writes;

    public StatusBudget(PublishConfig publish) {
        this.writes = new WriteBudget<>(publish.leaseStatusWritesPerSecond(), publish.leaseStatusBurst(), System::nanoTime);
    }
}
