package io.streamhouse.lease.operator;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.StartupEvent;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.store.ChangeFeed;
import io.streamhouse.lease.store.Durability;
import io.streamhouse.lease.store.StoreException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.jboss.logging.Logger;

/**
 * Whether the database can lose an acknowledged commit (and so hand an epoch out twice): read at
 * start and again whenever the change feed reconnects (a failover may have put another server
 * behind the same address). Said in one log line when it changes, in the
 * {@code streamhouse_store_durable} gauge, and in readiness: not ready in production, ready with
 * a warning on the embedded local database (which runs with fsync off) or when
 * {@code streamhouse.db.require-durable} is false.
 */
@ApplicationScoped
public class DurabilityCheck {

    private static final Logger LOG = Logger.getLogger(DurabilityCheck.class);

    private final DataSource dataSource;
    private final ChangeNotifications changes;
    private final MeterRegistry registry;
    private final boolean embedded;
    private final boolean required;
    private final AtomicReference<Durability> last = new AtomicReference<>();
    private volatile List<String> reported;

    public DurabilityCheck(DataSource dataSource, ChangeNotifications changes, MeterRegistry registry,
                           DatabaseConfig config) {
        this.dataSource = dataSource;
        this.changes = changes;
        this.registry = registry;
        this.embedded = config.url().filter(u -> !u.isBlank()).isEmpty();
        this.required = config.requireDurable();
    }

    void start(@Observes StartupEvent event) {
        // Replaces a gauge of an earlier application in this JVM (Quarkus tests restart the
        // application, not the registry), which would still read that application's state.
        registry.find("streamhouse.store.durable").meters().forEach(registry::remove);
        Gauge.builder("streamhouse.store.durable", last, d -> d.get() == null ? Double.NaN : d.get().durable() ? 1 : 0)
                .strongReference(true)
                .description("1 when the database's settings promise that an acknowledged commit survives a crash"
                        + " (fsync, full_page_writes, synchronous standbys), 0 when they do not")
                .register(registry);
        changes.subscribe(new ChangeFeed.Listener() {
            @Override
            public void leaseChanged(ChangeFeed.LeaseChange change) {
            }

            @Override
            public void sessionChanged(AgentId agent) {
            }

            @Override
            public void resynced() {
                check();
            }
        });
        check();
    }

    /** Reads the settings now; an unreachable database is readiness's other check's business. */
    void check() {
        Durability d;
        try {
            d = Durability.read(dataSource);
        } catch (StoreException e) {
            return;
        }
        last.set(d);
        List<String> risks = d.risks();
        if (!Objects.equals(risks, reported)) {
            reported = risks;
            Verdict verdict = decide(d, embedded, required);
            if (risks.isEmpty()) {
                LOG.infof("lease store durability: acknowledged commits survive a crash (fsync on, full_page_writes on,"
                        + " %d standby(s)%s)", d.standbys(), d.synchronousStandbyNames().isBlank() ? ""
                        : ", synchronous: " + d.synchronousStandbyNames());
            } else if (verdict.ready()) {
                LOG.warnf("lease store durability: %s", verdict.message());
            } else {
                LOG.errorf("lease store durability: %s", verdict.message());
            }
        }
    }

    /** The last reading's verdict; ready with no message before the first reading. */
    Verdict verdict() {
        Durability d = last.get();
        return d == null ? new Verdict(true, null) : decide(d, embedded, required);
    }

    /** Ready or not, and what to say. */
    record Verdict(boolean ready, String message) {
    }

    static Verdict decide(Durability d, boolean embedded, boolean required) {
        List<String> risks = d.risks();
        if (risks.isEmpty()) {
            return new Verdict(true, null);
        }
        String what = String.join("; ", risks) + " (an epoch could then be handed out twice)";
        if (embedded) {
            return new Verdict(true, "LOCAL USE ONLY, embedded database: " + what);
        }
        if (!required) {
            return new Verdict(true, what + "; accepted because streamhouse.db.require-durable is false");
        }
        return new Verdict(false, what + ". Fix the database (or set streamhouse.db.require-durable=false"
                + " to accept the risk)");
    }
}
