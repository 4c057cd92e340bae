package io.streamhouse.lease.assign;

import io.streamhouse.lease.model.AgentId;
import java.util.Objects;

/**
 * What assignment needs to know about one agent.
 *
 * @param acceptsLeases may receive leases: live, not cordoned, not draining, not in conflict
 * @param keepsLeases   may keep the leases it holds (false when draining: they are moved away)
 * @param capacity      most leases it may hold, or null for no limit
 * @param releasesOnRequest the agent runs the agent library: a planned move asks it to release
 *                          (a handoff) before forcing; otherwise the move is made at once
 */
public record AgentView(AgentId id, long sessionEpoch, String zone, int weight, Integer capacity,
                        boolean releasesOnRequest, boolean acceptsLeases, boolean keepsLeases) {

    public AgentView {
        Objects.requireNonNull(id, "id");
        if (weight < 1) {
            throw new IllegalArgumentException("weight must be >= 1, got " + weight);
        }
    }
}
