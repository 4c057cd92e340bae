package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.Names;
import java.time.Duration;
import java.util.Objects;

/** What an agent says about itself when it opens a session. Validated on construction. */
public record AgentRegistration(AgentId agent, String group, String zone, String address,
                                Duration ttl) {

    /** Below this, clock steps and GC pauses in a healthy agent would expire sessions. */
    public static final Duration MIN_TTL = Duration.ofMillis(500);
    public static final Duration MAX_TTL = Duration.ofHours(1);

    public AgentRegistration {
        Objects.requireNonNull(agent, "agent");
        Names.labelValue("agent group", group);
        zone = Names.zone(zone);
        address = Names.address(address);
        Objects.requireNonNull(ttl, "ttl");
        if (ttl.compareTo(MIN_TTL) < 0 || ttl.compareTo(MAX_TTL) > 0) {
            throw new IllegalArgumentException("session ttl must be between " + MIN_TTL + " and "
                    + MAX_TTL + ", got " + ttl);
        }
    }
}
