package io.streamhouse.lease.agent;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Objects;

/**
 * The agent library's counters as Micrometer meters, for agents that export Prometheus metrics
 * (optional: the library itself needs no Micrometer). Names as Prometheus shows them:
 * {@code streamhouse_agent_fenced_writes_total{outcome="committed"|"refused"}},
 * {@code streamhouse_agent_sessions_lost_total}, {@code streamhouse_agent_checks_total},
 * {@code streamhouse_agent_looks_total},
 * {@code streamhouse_agent_leases_held}.
 *
 * <pre>{@code new LeaseClientMetrics(leaseClient).bindTo(registry);}</pre>
 */
public final class LeaseClientMetrics implements MeterBinder {

    private final LeaseClient client;

    public LeaseClientMetrics(LeaseClient client) {
        this.client = Objects.requireNonNull(client, "client");
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        FunctionCounter.builder("streamhouse.agent.fenced.writes", client, c -> c.stats().fencedCommitted())
                .tag("outcome", "committed").description("Fenced transactions committed").register(registry);
        FunctionCounter.builder("streamhouse.agent.fenced.writes", client, c -> c.stats().fencedRefused())
                .tag("outcome", "refused")
                .description("Fenced transactions refused: stale epoch, not the holder, or session not confirmed")
                .register(registry);
        FunctionCounter.builder("streamhouse.agent.sessions.lost", client, c -> c.stats().sessionsLost())
                .description("Sessions found expired or superseded (a new incarnation was registered)").register(registry);
        FunctionCounter.builder("streamhouse.agent.checks", client, c -> c.stats().checks())
                .description("Reads of the agent's assignments version (one row): one per burst of notifications,"
                        + " reconnect and renewal").register(registry);
        FunctionCounter.builder("streamhouse.agent.looks", client, c -> c.stats().looks())
                .description("Reads of the agent's assignments, when a check found that something changed for it")
                .register(registry);
        FunctionCounter.builder("streamhouse.agent.full.looks", client, c -> c.stats().fullLooks())
                .description("Looks that read every lease of the agent, not only what changed since the last look:"
                        + " the first of each session, after a local revoke or release")
                .register(registry);
        Gauge.builder("streamhouse.agent.leases.held", client, c -> c.stats().held())
                .description("Leases this agent may write now").register(registry);
    }
}
