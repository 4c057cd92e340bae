package io.streamhouse.lease.operator;

import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.assign.HolderChoice;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.AcquireRequest;
import io.streamhouse.lease.store.Lease;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * What one StreamTopic's reconcile does to its partitions, decided from their rows and the
 * group's plan, partition by partition with the same rule as a PartitionLease
 * ({@link HolderChoice}): plain Java, tested without Kubernetes or a database. The compare-and-
 * swaps it asks for are made by the caller, batched: a topic of 1,000 partitions is assigned or
 * failed over in one transaction, not a thousand.
 */
final class TopicAssignment {

    private TopicAssignment() {
    }

    /** A planned move of a partition away from its live holder (a handoff, or a takeover). */
    record Move(LeaseKey key, Lease row, AgentView target) {
    }

    /**
     * @param failovers partitions whose holder's session is over, to their planned agent ("AgentLost")
     * @param free      partitions nobody holds (new, or released), to their planned agent ("Assigned")
     * @param handoffs  partitions released by their holder for a move in flight, to its target ("Handoff")
     * @param moves     partitions to move away from a live holder
     * @param kept      partitions that stay where they are (a move in flight for one of them is over)
     * @param waiting   partitions kept for their expired holder (failoverDelaySeconds)
     * @param unplaced  partitions no live agent can take now (or not in the plan yet)
     */
    record Decisions(List<AcquireRequest> failovers, List<AcquireRequest> free, List<AcquireRequest> handoffs,
                     List<Move> moves, List<LeaseKey> kept, List<LeaseKey> waiting, List<LeaseKey> unplaced) {
    }

    /**
     * @param owned         the topic's partitions this resource owns
     * @param rows          their rows, by key (absent: never written)
     * @param target        the group's plan
     * @param views         the group's agents
     * @param over          an agent view whose incarnation the database said is over (a stale view)
     * @param waitForHolder a row whose expired holder is still waited for (failoverDelaySeconds)
     * @param inFlight      a partition with a planned move in flight
     */
    static Decisions decide(List<LeaseKey> owned, Map<LeaseKey, Lease> rows, Map<LeaseKey, AgentId> target,
                            Map<AgentId, AgentView> views, Predicate<AgentView> over, Predicate<Lease> waitForHolder,
                            Predicate<LeaseKey> inFlight) {
        List<AcquireRequest> failovers = new ArrayList<>();
        List<AcquireRequest> free = new ArrayList<>();
        List<AcquireRequest> handoffs = new ArrayList<>();
        List<Move> moves = new ArrayList<>();
        List<LeaseKey> kept = new ArrayList<>();
        List<LeaseKey> waiting = new ArrayList<>();
        List<LeaseKey> unplaced = new ArrayList<>();
        for (LeaseKey key : owned) {
            Lease row = rows.get(key);
            AgentId holder = row == null ? null : row.holder();
            boolean live = row != null && row.holderLive();
            if (holder != null && !live && waitForHolder.test(row)) {
                waiting.add(key);
                continue;
            }
            AgentId planned = target.get(key);
            AgentView to = planned == null ? null : views.get(planned);
            HolderChoice.Decision decision = HolderChoice.toward(to, holder, live);
            if (decision instanceof HolderChoice.Decision.Keep) {
                kept.add(key);
            } else if (decision instanceof HolderChoice.Decision.Acquire acquire
                    && (!acquire.target().acceptsLeases() || over.test(acquire.target()))) {
                unplaced.add(key); // the plan predates a change to its target: the next plan places it
            } else if (decision instanceof HolderChoice.Decision.Acquire acquire && acquire.takeOver()) {
                moves.add(new Move(key, row, acquire.target()));
            } else if (decision instanceof HolderChoice.Decision.Acquire acquire) {
                AcquireRequest request = AcquireRequest.ifFree(key, acquire.target().id(), acquire.target().sessionEpoch());
                (holder != null ? failovers : inFlight.test(key) ? handoffs : free).add(request);
            } else {
                unplaced.add(key);
            }
        }
        return new Decisions(failovers, free, handoffs, moves, kept, waiting, unplaced);
    }
}
