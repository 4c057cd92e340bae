package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.StreamAgentPhase;
import io.streamhouse.lease.api.v1alpha1.StreamAgentStatus;
import io.streamhouse.lease.store.Session;
import java.time.Instant;
import java.util.Collection;
import java.util.Objects;

/**
 * Builds StreamAgent status from the agent's presence (its pod, its cordon) and its database
 * session. Plain Java, beside {@link LeaseStatuses}: every rule about what {@code kubectl get
 * streamagents} shows lives here.
 */
final class AgentStatuses {

    /** Why an agent is, or is not, present. */
    enum Presence { READY, DRAINING, POD_NOT_READY, POD_GONE }

    private AgentStatuses() {
    }

    /**
     * @param held the leases the agent's live session holds (the database's answer); listed per
     *             topic ({@link LeaseLists}) and counted
     */
    static StreamAgentStatus of(StreamAgentStatus previous, long generation, Presence presence,
                                Session session, Collection<LeaseLists.Held> held, boolean selfKept, Instant now) {
        return of(previous, generation, presence, session, held, selfKept, null, now);
    }

    /** As above, with the database user mapped to the agent id ({@code null}: none). */
    static StreamAgentStatus of(StreamAgentStatus previous, long generation, Presence presence,
                                Session session, Collection<LeaseLists.Held> held, boolean selfKept,
                                String databaseUser, Instant now) {
        StreamAgentStatus next = new StreamAgentStatus();
        next.setObservedGeneration(generation);
        next.setDatabaseUser(databaseUser);
        if (previous != null) {
            next.setConditions(previous.getConditions());
        }
        boolean live = session != null && session.live();
        next.setSessionEpoch(session == null ? null : session.sessionEpoch());
        next.setLeaseCount(held.size());
        LeaseLists.Listing listing = LeaseLists.of(held);
        next.setLeases(listing.topics().isEmpty() ? null : listing.topics());
        next.setLeasesNotListed(listing.notListed() == 0 ? null : listing.notListed());
        String reason;
        String message;
        if (presence == Presence.READY && live) {
            next.setPhase(StreamAgentPhase.Ready);
            reason = Conditions.AGENT_READY;
            message = "session " + session.sessionEpoch() + " live, renewed by the " + (selfKept ? "agent" : "operator");
        } else if (presence == Presence.DRAINING && live) {
            next.setPhase(StreamAgentPhase.Draining);
            reason = Conditions.DRAINING;
            message = "pod terminating or agent cordoned: its leases are being moved to other agents";
        } else {
            next.setPhase(StreamAgentPhase.Lost);
            reason = presence == Presence.POD_GONE ? Conditions.POD_GONE
                    : presence == Presence.POD_NOT_READY && live ? Conditions.POD_NOT_READY
                    : session == null ? Conditions.NO_SESSION : Conditions.SESSION_EXPIRED;
            message = switch (reason) {
                case Conditions.POD_GONE -> "pod is gone: session ended, leases fail over";
                case Conditions.POD_NOT_READY -> "pod is not Ready: session no longer renewed, expires at "
                        + session.expiresAt();
                // Never registered: "expired" would send people looking for a crash that never happened.
                case Conditions.NO_SESSION -> presence == Presence.POD_NOT_READY
                        ? "pod is not Ready yet: the operator opens the agent's session once it is"
                        : selfKept ? "no session yet: the agent opens it when it starts (sessionKeeper: Agent)"
                        : "no session yet";
                default -> "session expired: leases fail over to other agents";
            };
        }
        Conditions.set(next, previous, Conditions.READY, next.getPhase() == StreamAgentPhase.Ready, reason, message, now);
        // Heartbeat is refreshed only along with another change: an idle cluster makes no API writes.
        String heartbeat = session == null ? null : session.renewedAt().toString();
        next.setLastHeartbeat(previous == null ? heartbeat : previous.getLastHeartbeat());
        if (!sameExceptHeartbeat(next, previous)) {
            next.setLastHeartbeat(heartbeat);
        }
        return next;
    }

    private static boolean sameExceptHeartbeat(StreamAgentStatus next, StreamAgentStatus previous) {
        if (previous == null) {
            return false;
        }
        StreamAgentStatus probe = copy(next);
        probe.setLastHeartbeat(previous.getLastHeartbeat());
        return probe.equals(previous);
    }

    static StreamAgentStatus refused(StreamAgentStatus previous, long generation, StreamAgentPhase phase, String reason,
                                             String message, Instant now) {
        StreamAgentStatus next = new StreamAgentStatus();
        next.setObservedGeneration(generation);
        if (previous != null) {
            next.setConditions(previous.getConditions());
        }
        next.setPhase(phase);
        next.setLeaseCount(0);
        Conditions.set(next, previous, Conditions.READY, false, reason, message, now);
        return next;
    }

    static StreamAgentStatus copy(StreamAgentStatus s) {
        StreamAgentStatus c = new StreamAgentStatus();
        if (s != null) {
            c.setPhase(s.getPhase());
            c.setSessionEpoch(s.getSessionEpoch());
            c.setLastHeartbeat(s.getLastHeartbeat());
            c.setLeaseCount(s.getLeaseCount());
            c.setLeases(s.getLeases());
            c.setLeasesNotListed(s.getLeasesNotListed());
            c.setDatabaseUser(s.getDatabaseUser());
            c.setObservedGeneration(s.getObservedGeneration());
            c.setConditions(s.getConditions());
        }
        return c;
    }


    /** Why the agent is (not) ready: tells a Lost agent whose session still runs from one whose session expired. */
    static String readyReason(StreamAgentStatus status) {
        var ready = status.condition(Conditions.READY);
        return ready == null ? "-" : ready.getReason();
    }
}
