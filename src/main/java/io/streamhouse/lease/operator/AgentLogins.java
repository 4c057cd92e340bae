package io.streamhouse.lease.operator;

import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.Names;
import io.streamhouse.lease.store.LeaseStore;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.jboss.logging.Logger;

/**
 * Which database login may act for each agent id (lease_agent_login, which only the operator
 * may write): the one its StreamAgent names ({@code spec.databaseUser}, from the pod annotation
 * {@code streamhouse.io/database-user}), else {@code streamhouse.db.agent-user} with
 * {@code {agentId}} replaced, else none. Kept equal to that for every agent id a StreamAgent owns,
 * and withdrawn when the StreamAgent goes, so that a process left behind can no longer act.
 */
@Singleton
public class AgentLogins {

    static final String AGENT_ID_PLACEHOLDER = "{agentId}";
    private static final Logger LOG = Logger.getLogger(AgentLogins.class);

    private final LeaseStore store;
    private final Optional<String> template;
    /** What this process last wrote for each agent, so that a reconcile writes only a change. */
    private final Map<AgentId, Optional<String>> written = new ConcurrentHashMap<>();

    @Inject
    public AgentLogins(LeaseStore store, DatabaseConfig config) {
        this(store, config.agentUser().filter(t -> !t.isBlank()));
    }

    AgentLogins(LeaseStore store, Optional<String> template) {
        this.store = store;
        this.template = template;
        // A bad template is refused at start, not at the first agent.
        template.ifPresent(t -> userFor(t, AgentId.of("a")));
    }

    /** The login that may act for {@code agent} after this call (mapped now if it changed), or empty. */
    Optional<String> ensure(AgentId agent, StreamAgentSpec spec) {
        Optional<String> wanted = Optional.ofNullable(spec.getDatabaseUser()).filter(u -> !u.isBlank())
                .or(() -> template.map(t -> userFor(t, agent)));
        if (wanted.equals(written.get(agent))) {
            return wanted;
        }
        if (wanted.isPresent()) {
            if (store.mapAgent(agent, wanted.get())) {
                LOG.infof("%s: database user %s may act for it", agent, wanted.get());
            }
        } else if (store.unmapAgent(agent)) {
            LOG.infof("%s: no database user may act for it any more but trusted ones", agent);
        }
        written.put(agent, wanted);
        return wanted;
    }

    /** The StreamAgent owning {@code agent} is gone: no login may act for it any more. */
    void withdraw(AgentId agent) {
        written.remove(agent);
        if (store.unmapAgent(agent)) {
            LOG.infof("%s: its StreamAgent is gone; its database user may no longer act for it", agent);
        }
    }

    static String userFor(String template, AgentId agent) {
        try {
            return Names.databaseUser(template.replace(AGENT_ID_PLACEHOLDER, agent.value()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("streamhouse.db.agent-user '" + template + "' gives no valid database user"
                    + " for agent " + agent + ": " + e.getMessage(), e);
        }
    }
}
