package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The source of truth for who holds which partition, at which epoch.
 *
 * <p>Every operation is one statement or one short transaction; expiry is judged on the
 * database clock. A caller is an incarnation, (agent id, session epoch): two processes with one
 * agent id are two incarnations and only the newest may act. Invalid arguments raise
 * {@link IllegalArgumentException} before anything is sent; an unreachable database raises
 * {@link StoreUnavailableException}. Works on a DataSource with auto-commit on or off.
 */
public interface LeaseStore {

    // --- sessions: liveness costs one row per agent, whatever its number of partitions ---

    /** Opens a new incarnation of the agent (session epoch + 1); older incarnations die. */
    Session register(AgentRegistration registration);

    /** Extends a live session by its ttl; says why not when it expired, ended or was superseded. */
    Renewal renew(AgentId agent, long sessionEpoch);

    /** Renews many sessions in one statement; returns the agents whose renewal took. */
    Set<AgentId> renewAll(Collection<SessionRef> sessions);

    /**
     * Updates zone, address and ttl of a live session in place (no new incarnation, so its
     * leases keep their epochs); false when the session is not live.
     */
    boolean updateRegistration(AgentRegistration registration, long sessionEpoch);

    /** Ends a session now (graceful shutdown, or the operator saw the agent go); it can never be renewed. */
    boolean expire(AgentId agent, long sessionEpoch);

    Optional<Session> session(AgentId agent);

    /** Every known session, live and expired, ordered by agent id. */
    List<Session> sessions();

    // --- who may act for an agent (the operator's; an agent may not write this) ---

    /**
     * Lets database user {@code dbUser} act for {@code agent} (lease_agent_login): the agent
     * functions refuse any other user that is not trusted (SQLSTATE SH009). Replaces an earlier
     * mapping of the agent; true when something changed.
     */
    boolean mapAgent(AgentId agent, String dbUser);

    /** Withdraws the mapping of {@code agent}; true when there was one. */
    boolean unmapAgent(AgentId agent);

    /** The database user mapped to {@code agent}, if any. */
    Optional<String> agentLogin(AgentId agent);

    // --- leases ---

    AcquireResult acquire(AcquireRequest request, String reason);

    /** Many compare-and-swaps in one round trip; results in (topic, partition) order. */
    List<AcquireResult> acquireAll(Collection<AcquireRequest> requests, String reason);

    /** Gives the partition up if this incarnation holds it at {@code epoch}. */
    ReleaseResult release(LeaseKey key, AgentId holder, long sessionEpoch, long epoch, String reason);

    /** Releases every lease held by this incarnation of the agent; returns what was released. */
    List<LeaseKey> releaseAll(AgentId holder, long sessionEpoch, String reason);

    /**
     * A graceful shutdown in one transaction: ends the session and releases every lease it holds
     * (history reason {@code reason}); returns the released leases. Done as two steps, the agent
     * could be given a lease back between the release and the end, which would then wait for a
     * failover.
     */
    List<LeaseKey> shutdown(AgentId holder, long sessionEpoch, String reason);

    /** Whether this incarnation ({@code agent}, {@code sessionEpoch}) may write with {@code epoch} now. */
    Validation validate(LeaseKey key, AgentId agent, long sessionEpoch, long epoch);

    /**
     * Runs {@code work} in one READ COMMITTED transaction whose first statement is the fence
     * (lease_fence): it checks that this incarnation holds the partition at {@code epoch} with a
     * live session, share-locks the row (a takeover waits for this transaction, or skips it),
     * bounds the transaction by the session's remaining time, and makes COMMIT fail if the
     * session has expired by then. Whatever the DataSource's defaults, the transaction commits
     * durably (synchronous_commit on).
     *
     * @throws FencingException when refused; nothing of {@code work} committed
     */
    <T> T fenced(LeaseKey key, AgentId agent, long sessionEpoch, long epoch, FencedWork<T> work);

    /**
     * What this incarnation holds, with a handoff asked of it where there is one: what an agent
     * acts on (after a notification on its channel, a reconnect, and every renewal). Empty when
     * the session is not live.
     */
    List<Assignment> assignments(AgentId agent, long sessionEpoch);

    /**
     * A number that grows, in the same transaction, with every change to what
     * {@link #assignments} answers {@code agent} (a lease coming or leaving, a handoff asked or
     * withdrawn); 0 before the first. Read before a look, it tells a later check whether the
     * look is still what the database would answer: one row instead of the agent's leases.
     */
    long assignmentsVersion(AgentId agent);

    /**
     * What changed for this incarnation since {@code sinceVersion} (an {@link #assignmentsVersion}
     * read before an earlier look of it): each lease changed since, as {@link #assignments} would
     * show it now, and those no longer this incarnation's. Empty when the database cannot say
     * (the session is not live, or the changes since are no longer kept): read
     * {@link #assignments} then. A look made of a few rows where {@link #assignments} reads every
     * lease the agent holds.
     */
    Optional<AssignmentChanges> assignmentChanges(AgentId agent, long sessionEpoch, long sinceVersion);

    /**
     * Drops what {@link #assignmentChanges} keeps for {@code agent} (its StreamAgent is gone):
     * a later call for it from an earlier version is answered empty. Safe at any time.
     */
    void forgetAssignmentChanges(AgentId agent);

    /**
     * Asks the incarnation ({@code holder}, {@code sessionEpoch}) holding {@code key} at
     * {@code epoch} to release it for {@code target}, through the database (the holder is
     * notified on its channel). False when that incarnation does not hold it at that epoch.
     * Asking again is free: the holder is notified only when the request is new or changed.
     */
    boolean requestHandoff(LeaseKey key, AgentId holder, long sessionEpoch, long epoch, AgentId target);

    /** Withdraws a handoff request for {@code key} (the plan no longer wants the move); false when there was none. */
    boolean cancelHandoff(LeaseKey key);

    Optional<Lease> lease(LeaseKey key);

    List<Lease> leasesHeldBy(AgentId holder);

    /** Every lease row of {@code topic}, ordered by partition. */
    List<Lease> leasesOf(String topic);

    /**
     * The partitions 0..n-1 of each topic (topic to n) that nobody holds: released, or with no
     * row yet; ordered by (topic, partition). One statement for a whole group of topics.
     */
    List<LeaseKey> unheldPartitions(Map<String, Integer> partitionsByTopic);

    /**
     * Gives up the partitions of {@code topic} in {@code partitions} that anyone holds, in one
     * statement, whatever the holder (their owner is gone: a StreamTopic deleted); the rows and
     * their epochs stay. Returns the partitions released.
     */
    List<LeaseKey> releasePartitions(String topic, Collection<Integer> partitions, String reason);

    /** Every lease row, ordered by (topic, partition). */
    List<Lease> leases();

    List<HistoryEntry> history(LeaseKey key);

    /** A (agent, session epoch) pair naming one incarnation. */
    record SessionRef(AgentId agent, long sessionEpoch) {
    }
}
