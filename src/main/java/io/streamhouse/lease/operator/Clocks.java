package io.streamhouse.lease.operator;

import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import java.time.Clock;

/** The wall clock, injected so that tests can fix it. Used only for condition timestamps: expiry uses the database clock. */
public class Clocks {

    @Produces
    @Singleton
    Clock clock() {
        return Clock.systemUTC();
    }
}
