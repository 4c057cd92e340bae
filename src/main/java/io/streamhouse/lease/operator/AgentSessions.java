package io.streamhouse.lease.operator;

import io.quarkus.runtime.ShutdownEvent;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.SessionRenewer;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import javax.sql.DataSource;

/**
 * The sessions the operator keeps alive for pod agents (sessionKeeper Operator): all renewed
 * together, one statement per round, on a connection of their own (see {@link SessionRenewer}).
 */
@Singleton
public class AgentSessions {

    private final List<Consumer<AgentId>> lostListeners = new CopyOnWriteArrayList<>();
    private final SessionRenewer renewer;

    public AgentSessions(StoreProducer stores, DataSource main, AgentConfig config) {
        this.renewer = new SessionRenewer(stores.renewalStore(main), config.sessionTimeout().dividedBy(3),
                agent -> lostListeners.forEach(l -> l.accept(agent)));
    }

    void keep(AgentId agent, long sessionEpoch, Duration ttl) {
        renewer.keep(agent, sessionEpoch, ttl);
    }

    void drop(AgentId agent) {
        renewer.drop(agent);
    }

    /** Told when a kept session could not be renewed (it expired or was superseded). */
    void onLost(Consumer<AgentId> listener) {
        lostListeners.add(listener);
    }

    void stop(@Observes ShutdownEvent event) {
        renewer.close();
    }
}
