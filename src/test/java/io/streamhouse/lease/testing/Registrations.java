package io.streamhouse.lease.testing;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.AgentRegistration;
import java.time.Duration;

/** Agent registrations for store-level tests: group "default", no zone, no address unless said. */
public final class Registrations {

    public static final Duration TTL = Duration.ofSeconds(30);

    private Registrations() {
    }

    public static AgentRegistration registration(AgentId agent, Duration ttl) {
        return new AgentRegistration(agent, "default", "", "", ttl);
    }

    public static AgentRegistration registration(String agent) {
        return registration(AgentId.of(agent), TTL);
    }
}
