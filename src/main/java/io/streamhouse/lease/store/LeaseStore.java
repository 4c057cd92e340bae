package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The source of truth for who holds which partition, at which epoch.
 *
 * <p>Every operation is one statement or one short transaction; expiry is judged on the
 * database clock. Invalid arguments raise {@link IllegalArgumentException} before anything is
 * sent; an unreachable database raises {@link StoreUnavailableException}.
 */
public interface LeaseStore {

    // --- sessions: liveness costs one row per agent, whatever its number of partitions ---

    /** Opens a new incarnation of the agent (session epoch + 1); older incarnations die. */
    Session register(AgentRegistration registration);

    /** Extends a live session by its ttl; false when it expired, ended or was superseded. */
    boolean renew(AgentId agent, long sessionEpoch);

    /** Renews many sessions in one statement; returns the agents whose renewal took. */
    Set<AgentId> renewAll(Collection<SessionRef> sessions);

    /**
     * Updates zone, address and ttl of a live session in place (no new incarnation, so its
     * leases keep their epochs); false when the session is not live.
     */
    boolean updateRegistration(AgentRegistration registration, long sessionEpoch);

    /** Ends a session now (graceful shutdown, or the operator saw the agent go). */
    boolean expire(AgentId agent, long sessionEpoch);

    Optional<Session> session(AgentId agent);

    /** Every known session, live and expired, ordered by agent id. */
    List<Session> sessions();

    // --- leases ---

    AcquireResult acquire(AcquireRequest request, String reason);

    /** Many compare-and-swaps in one round trip; results in (topic, partition) order. */
    List<AcquireResult> acquireAll(Collection<AcquireRequest> requests, String reason);

    ReleaseResult release(LeaseKey key, AgentId holder, long epoch, String reason);

    /** Releases every lease held by this incarnation of the agent; returns what was released. */
    List<LeaseKey> releaseAll(AgentId holder, long sessionEpoch, String reason);

    Validation validate(LeaseKey key, AgentId agent, long epoch);

    /**
     * Runs {@code work} in one transaction that first checks and share-locks the lease row, so a
     * takeover (which needs the row lock) waits until this commits, and a write with a stale
     * epoch can never commit.
     *
     * @throws FencingException when the caller is not the valid holder at {@code epoch}
     */
    <T> T fenced(LeaseKey key, AgentId agent, long epoch, FencedWork<T> work);

    Optional<Lease> lease(LeaseKey key);

    List<Lease> leasesHeldBy(AgentId holder);

    /** Every lease row, ordered by (topic, partition). */
    List<Lease> leases();

    List<HistoryEntry> history(LeaseKey key);

    /** A (agent, session epoch) pair naming one incarnation. */
    record SessionRef(AgentId agent, long sessionEpoch) {
    }
}
