package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.assign.AgentView;
import io.streamhouse.lease.assign.Assigner;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.Lease;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * StreamAgents as assignment sees them: one {@link AgentView} per agent id. Plain Java over the
 * resources, so every rule about which agent may take or keep leases is tested without a cluster.
 */
final class AgentViews {

    private AgentViews() {
    }

    /**
     * The agents of one group (the caller passes the StreamAgents of one namespace and group):
     * one view per agent id, the oldest StreamAgent naming it. A StreamAgent refused for using an
     * id another one owns (Conflict) must not shadow the owner, nor reach the Assigner twice;
     * an invalid one takes no leases.
     */
    static List<AgentView> of(Collection<StreamAgent> agents) {
        Map<String, List<StreamAgent>> byId = new HashMap<>();
        for (StreamAgent a : agents) {
            if (a.getSpec() != null && a.getSpec().getAgentId() != null
                    && (a.getStatus() == null || a.getStatus().getPhase() != StreamAgentPhase.Conflict)) {
                byId.computeIfAbsent(a.getSpec().getAgentId(), id -> new ArrayList<>()).add(a);
            }
        }
        List<AgentView> views = new ArrayList<>();
        byId.values().forEach(claimants -> Resources.oldest(claimants).flatMap(AgentViews::view).ifPresent(views::add));
        return views;
    }

    /** One StreamAgent's view; empty when its spec is invalid (that is reported on the StreamAgent). */
    static Optional<AgentView> view(StreamAgent agent) {
        try {
            AgentId id = AgentId.of(agent.getSpec().getAgentId());
            StreamAgentStatus status = agent.getStatus();
            boolean accepts = status != null && status.getPhase() == StreamAgentPhase.Ready
                    && status.getSessionEpoch() != null && !Boolean.TRUE.equals(agent.getSpec().getCordoned());
            // A lost agent keeps its leases until its session expires (unplanned loss waits for
            // expiry); a draining one gives them up now. Once expired, its leases are planned as
            // free ones: the plan made when its StreamAgent says so is the failover's plan.
            boolean keeps = accepts || status != null && status.getPhase() == StreamAgentPhase.Lost
                    && Conditions.POD_NOT_READY.equals(AgentStatuses.readyReason(status));
            return Optional.of(new AgentView(id, status == null || status.getSessionEpoch() == null ? 0 : status.getSessionEpoch(),
                    Objects.requireNonNullElse(agent.getSpec().getZone(), ""),
                    Math.max(1, Objects.requireNonNullElse(agent.getSpec().getWeight(), 1)),
                    agent.getSpec().getCapacity(), agent.getSpec().getSessionKeeper() == SessionKeeper.Agent,
                    accepts, keeps));
        } catch (IllegalArgumentException | NullPointerException e) {
            return Optional.empty();
        }
    }

    /**
     * True when the database says the row's holder incarnation is dead while the view of that
     * agent still shows the same incarnation taking leases: the StreamAgent has not caught up
     * yet, and a plan made with it would send the lease back to the dead incarnation. A view of a
     * newer incarnation (the agent came back) is not stale: the lease may return to it.
     */
    static boolean staleFor(Lease row, Map<AgentId, AgentView> views) {
        if (row == null || row.holder() == null || row.holderLive()) {
            return false;
        }
        AgentView view = views.get(row.holder());
        return view != null && view.acceptsLeases() && view.sessionEpoch() == row.holderSession();
    }

    /** The Assigner's input for the agents of {@code group}. */
    static List<Assigner.AgentInput> inputs(String group, List<AgentView> views) {
        return views.stream().map(v -> new Assigner.AgentInput(v.id(), group, v.zone(), v.weight(), v.capacity(),
                v.acceptsLeases(), v.keepsLeases())).toList();
    }

    /**
     * What assignment reads of a StreamAgent, as one string: an agent event whose print did not
     * change (a lease count, a heartbeat) cannot change any plan.
     */
    static String assignmentPrint(StreamAgent agent) {
        var spec = agent.getSpec();
        var status = agent.getStatus();
        return String.join("|", spec.getAgentId(), String.valueOf(spec.getGroup()), String.valueOf(spec.getZone()),
                String.valueOf(spec.getWeight()), String.valueOf(spec.getCapacity()), String.valueOf(spec.getCordoned()),
                String.valueOf(spec.getSessionKeeper()), String.valueOf(agent.getMetadata().getDeletionTimestamp()),
                status == null ? "-" : status.getPhase() + "|" + status.getSessionEpoch() + "|"
                        + AgentStatuses.readyReason(status));
    }
}
