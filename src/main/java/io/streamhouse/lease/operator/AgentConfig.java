package io.streamhouse.lease.operator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** {@code streamhouse.agent.*}: how the operator keeps agent sessions. */
@ConfigMapping(prefix = "streamhouse.agent")
public interface AgentConfig {

    /**
     * Session timeout of agents whose StreamAgent does not set one. It must outlast an operator
     * leader change, since the operator renews the sessions of pod agents.
     */
    @WithDefault("20s")
    Duration sessionTimeout();
}
