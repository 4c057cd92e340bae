package io.streamhouse.lease.testing;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.ChangeFeed;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A change feed listener that keeps what it was told: the changes themselves, and every call in
 * order as text ("ended agent epoch", "session agent", "lease key holder", "|" at each end of a
 * batch, "resynced"), for tests of the order of calls.
 */
public final class RecordingListener implements ChangeFeed.Listener {

    public final List<ChangeFeed.LeaseChange> leases = new CopyOnWriteArrayList<>();
    public final List<AgentId> sessions = new CopyOnWriteArrayList<>();
    public final AtomicInteger resyncs = new AtomicInteger();
    public final List<String> reports = new CopyOnWriteArrayList<>();

    @Override
    public void leaseChanged(ChangeFeed.LeaseChange change) {
        leases.add(change);
        reports.add("lease " + change.key() + " " + change.holder());
    }

    @Override
    public void sessionChanged(AgentId agent) {
        sessions.add(agent);
        reports.add("session " + agent);
    }

    @Override
    public void sessionEnded(AgentId agent, long sessionEpoch) {
        reports.add("ended " + agent + " " + sessionEpoch);
    }

    @Override
    public void endOfBatch() {
        reports.add("|");
    }

    @Override
    public void resynced() {
        resyncs.incrementAndGet();
        reports.add("resynced");
    }
}
