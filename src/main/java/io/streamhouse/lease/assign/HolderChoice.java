package io.streamhouse.lease.assign;

import io.streamhouse.lease.model.AgentId;
import java.util.Collection;
import java.util.Comparator;
import java.util.Objects;
import java.util.Optional;

/**
 * Chooses the holder of one lease: keep a live, eligible holder; honour a pin; otherwise the
 * least loaded eligible agent (leases per unit of weight, ties by agent id). Pure and
 * deterministic: the same input always gives the same decision.
 */
public final class HolderChoice {

    private HolderChoice() {
    }

    /** What to do with one lease. */
    public sealed interface Decision {
        /** The current holder stays. */
        record Keep() implements Decision {
        }

        /**
         * Give the lease to {@code target}. {@code takeOver} is true when the current holder is
         * live (a planned move: the CAS must name it and its epoch), false when the lease is free
         * or its holder's session is dead.
         */
        record Acquire(AgentView target, boolean takeOver) implements Decision {
        }

        /** No agent may take it; it stays where it is (possibly nowhere). */
        record NoEligibleAgent() implements Decision {
        }
    }

    /**
     * @param holder       current holder from the database, or null
     * @param holderLive   whether the holder's session is alive (database clock)
     * @param pinned       the lease's preferred agent, or null
     * @param agents       the agents of the lease's group
     */
    public static Decision decide(AgentId holder, boolean holderLive, AgentId pinned, Collection<AgentView> agents) {
        Objects.requireNonNull(agents, "agents");
        boolean holderHere = holder != null && holderLive;
        Optional<AgentView> holderView = holder == null ? Optional.empty()
                : agents.stream().filter(a -> a.id().equals(holder)).findFirst();

        if (pinned != null && !pinned.equals(holder)) {
            Optional<AgentView> pin = agents.stream()
                    .filter(a -> a.id().equals(pinned) && a.acceptsLeases()).findFirst();
            if (pin.isPresent()) {
                return new Decision.Acquire(pin.get(), holderHere);
            }
        }
        if (holderHere && holderView.map(AgentView::keepsLeases).orElse(false)) {
            return new Decision.Keep();
        }
        if (!holderHere && holderView.filter(a -> a.acceptsLeases() && a.hasRoom()).isPresent()) {
            // The holder's session died but the agent is back (a new incarnation): give it back
            // its partition rather than moving it (it may still have local state for it).
            return new Decision.Acquire(holderView.get(), false);
        }
        Optional<AgentView> best = agents.stream()
                .filter(a -> a.acceptsLeases() && a.hasRoom() && !a.id().equals(holder))
                .min(Comparator.comparingDouble((AgentView a) -> (double) a.leaseCount() / a.weight())
                        .thenComparing(AgentView::id));
        if (best.isPresent()) {
            return new Decision.Acquire(best.get(), holderHere);
        }
        // Nowhere to move a live holder (e.g. draining with no other agent): it keeps writing.
        return holderHere ? new Decision.Keep() : new Decision.NoEligibleAgent();
    }
}
