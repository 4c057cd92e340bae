package io.streamhouse.lease.operator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import java.time.Duration;

/** {@code streamhouse.agent.*}: how the operator keeps agent sessions. */
@ConfigMapping(prefix = "streamhouse.agent")
public interface AgentConfig {

    /**
     * Session timeout of agents whose StreamAgent does not set one. It must outlast an operator
     * leader change, since the operator renews the sessions of pod agents.
     */
    @WithDefault(StreamAgentSpec.DEFAULT_SESSION_TIMEOUT)
    Duration sessionTimeout();

    /** The session timeout of one agent: its spec's, or the configured default. The only place that decides it. */
    default Duration sessionTimeoutOf(StreamAgentSpec spec) {
        return spec.getSessionTimeoutSeconds() == null ? sessionTimeout() : Duration.ofSeconds(spec.getSessionTimeoutSeconds());
    }
}
