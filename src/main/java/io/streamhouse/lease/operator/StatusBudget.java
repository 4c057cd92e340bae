package io.streamhouse.lease.operator;

import io.javaoperatorsdk.operator.processing.event.ResourceID;
import jakarta.inject.Singleton;
import java.time.Duration;

/**
 * The one client-side budget for the operator's status writes ({@code streamhouse.publish.*}):
 * PartitionLease statuses take turns in it, and StreamAgent lease lists cut in ahead of them
 * ({@link WriteBudget#cutIn}) and, after a batch of moves, have the API server to themselves for
 * a moment ({@link #batchCommitted}), so that after a failover the new holders' StreamAgents are
 * not queued at the API server behind a thousand PartitionLease statuses.
 */
@Singleton
public class StatusBudget {

    final WriteBudget<ResourceID> writes;
    /** StreamAgent lease lists before StreamTopic statuses ({@link ListsFirst}). */
    final ListsFirst lists = new ListsFirst(System::nanoTime, java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "lists-first");
        t.setDaemon(true);
        return t;
    }));
    private final Duration pause;

    public StatusBudget(PublishConfig publish) {
        this.writes = new WriteBudget<>(publish.leaseStatusWritesPerSecond(), publish.leaseStatusBurst(), System::nanoTime);
        this.pause = publish.leaseStatusPause();
    }

    /**
     * A batch of moves committed: its new holders' StreamAgent lists are due (written about
     * {@link StreamAgentReconciler#PUBLISH_DELAY} from now); PartitionLease statuses pause
     * ({@code streamhouse.publish.lease-status-pause}) so those lists have the API server first.
     */
    void batchCommitted() {
        writes.yieldFor(pause);
    }
}
