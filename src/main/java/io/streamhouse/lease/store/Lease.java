package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.time.Instant;

/**
 * A lease row as the database sees it, with the holder's liveness judged on the database clock.
 *
 * @param holder        null when nobody holds the partition
 * @param holderSession session epoch (incarnation) of the holder, 0 when there is no holder
 * @param epoch         the fencing token: grows by one per change of holder, 0 before the first
 * @param previousHolder the holder before the current one (or before the release), null if none
 * @param acquiredAt    when the current holder acquired it, null when never held
 * @param holderLive    whether the holder's session is alive now, i.e. whether the lease is valid
 */
public record Lease(LeaseKey key, AgentId holder, long holderSession, long epoch,
                    AgentId previousHolder, Instant acquiredAt, Instant updatedAt, boolean holderLive) {

    static Lease unknown(LeaseKey key) {
        return new Lease(key, null, 0, 0, null, null, null, false);
    }

    /** Held by a live session: only then may the holder write. */
    public boolean isHeld() {
        return holder != null && holderLive;
    }

    public boolean isHeldBy(AgentId agent) {
        return isHeld() && holder.equals(agent);
    }
}
