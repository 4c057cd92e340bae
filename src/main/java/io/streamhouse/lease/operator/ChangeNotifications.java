package io.streamhouse.lease.operator;

import io.quarkus.runtime.ShutdownEvent;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.ChangeFeed;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;

/**
 * One {@link ChangeFeed} for the process, fanned out to the reconcilers, so that a release or a
 * session end made by an agent (not by us) is acted on at once instead of at the next recheck.
 */
@Singleton
public class ChangeNotifications implements ChangeFeed.Listener {

    private final DataSource dataSource;
    private final List<ChangeFeed.Listener> listeners = new CopyOnWriteArrayList<>();
    private ChangeFeed feed;

    public ChangeNotifications(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    @PostConstruct
    void start() {
        feed = ChangeFeed.start(dataSource, this);
    }

    void subscribe(ChangeFeed.Listener listener) {
        listeners.add(listener);
    }

    boolean connected() {
        return feed != null && feed.connected();
    }

    @Override
    public void leaseChanged(ChangeFeed.LeaseChange change) {
        listeners.forEach(l -> l.leaseChanged(change));
    }

    @Override
    public void sessionChanged(AgentId agent) {
        listeners.forEach(l -> l.sessionChanged(agent));
    }

    @Override
    public void sessionEnded(AgentId agent, long sessionEpoch) {
        listeners.forEach(l -> l.sessionEnded(agent, sessionEpoch));
    }

    @Override
    public void endOfBatch() {
        listeners.forEach(ChangeFeed.Listener::endOfBatch);
    }

    @Override
    public void resynced() {
        listeners.forEach(ChangeFeed.Listener::resynced);
    }

    void stop(@Observes ShutdownEvent event) {
        if (feed != null) {
            feed.close();
        }
    }
}
