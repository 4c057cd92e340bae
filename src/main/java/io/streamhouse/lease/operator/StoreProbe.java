package io.streamhouse.lease.operator;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.sql.Connection;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;

/**
 * {@code streamhouse_store_up} and {@code streamhouse_change_feed_up}, what the alerts on the
 * lease store watch (deploy/monitoring). The store is probed every {@link #PERIOD_SECONDS}
 * seconds from a thread of its own, never from the scrape: a scrape must not wait on a database
 * that does not answer. Before the first probe the gauge reads NaN (unknown), not 0.
 */
@ApplicationScoped
public class StoreProbe {

    static final int PERIOD_SECONDS = 5;

    private final DataSource dataSource;
    private final ChangeNotifications changes;
    private final MeterRegistry registry;
    private final AtomicInteger up = new AtomicInteger(-1);
    private ScheduledExecutorService probe;

    public StoreProbe(DataSource dataSource, ChangeNotifications changes, MeterRegistry registry) {
        this.dataSource = dataSource;
        this.changes = changes;
        this.registry = registry;
    }

    void start(@Observes StartupEvent event) {
        // Replaces gauges of an earlier application in this JVM (Quarkus tests restart the
        // application, not the registry).
        registry.find("streamhouse.store.up").meters().forEach(registry::remove);
        registry.find("streamhouse.change.feed.up").meters().forEach(registry::remove);
        Gauge.builder("streamhouse.store.up", up, u -> u.get() < 0 ? Double.NaN : u.get()).strongReference(true)
                .description("1 when the lease store (PostgreSQL) answered the last probe, 0 when it did not")
                .register(registry);
        Gauge.builder("streamhouse.change.feed.up", changes, c -> c.connected() ? 1 : 0)
                .description("1 while the change feed listens on PostgreSQL, 0 while it reconnects")
                .register(registry);
        probe = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "store-probe");
            t.setDaemon(true);
            return t;
        });
        probe.scheduleWithFixedDelay(this::probe, 0, PERIOD_SECONDS, TimeUnit.SECONDS);
    }

    void stop(@Observes ShutdownEvent event) {
        if (probe != null) {
            probe.shutdownNow();
        }
    }

    private void probe() {
        try (Connection c = dataSource.getConnection()) {
            up.set(c.isValid(2) ? 1 : 0);
        } catch (Exception e) {
            up.set(0); // unreachable, pool timed out, or any other failure: down for the alert
        }
    }
}
