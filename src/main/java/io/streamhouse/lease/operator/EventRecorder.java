package io.streamhouse.lease.operator;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.jboss.logging.Logger;

/**
 * Kubernetes Events (shown by {@code kubectl describe}). Best effort and asynchronous, as
 * client-go's recorder is: they are written by one background thread from a bounded queue, so
 * that a failover of a thousand leases writes holders and epochs first and its Events after;
 * when the queue is full an Event is dropped (and counted), never a reconcile delayed.
 * While leases are moving ({@link LeaseActivity}) an Event waits, up to {@link #MAX_DEFER} after
 * it was recorded, so that it does not compete with the holders' and epochs' own writes. Events
 * are <em>sampled</em> in a burst: beyond {@code streamhouse.publish.events-per-second} (and its
 * burst) they are dropped and counted ({@code streamhouse_events_dropped_total{cause="budget"}}),
 * so a failover of thousands of leases writes a bounded number of them; the leases' statuses and
 * the StreamAgents' lists show every move. A repeated Event (same object, type, reason and
 * message) is counted on the one already written ({@code count}, {@code lastTimestamp}), as
 * client-go's recorder does; an Event not written is counted in
 * {@code streamhouse_events_dropped_total{cause}} (budget, queue, error).
 */
@ApplicationScoped
public class EventRecorder {

    static final String COMPONENT = "streamhouse-lease-operator";
    static final int QUEUE = 20_000;
    static final int AGGREGATED = 4096;
    static final Duration MAX_DEFER = Duration.ofSeconds(10);
    private static final Logger LOG = Logger.getLogger(EventRecorder.class);

    private final KubernetesClient client;
    private final Clock clock;
    private final ThreadPoolExecutor writer = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
            new LinkedBlockingQueue<>(QUEUE), r -> {
                Thread t = new Thread(r, "event-recorder");
                t.setDaemon(true);
                return t;
            });
    private final AtomicLong dropped = new AtomicLong();
    /** Events written, most recently used last; bounded as client-go's (4096 keys). Writer thread only. */
    private final Map<Key, Written> written = new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, Written> eldest) {
            return size() > AGGREGATED;
        }
    };
    private final AtomicLong sampledOut = new AtomicLong();

    private final LeaseActivity activity;
    private final WriteBudget<Object> budget;
    private final OperatorMetrics metrics;

    public EventRecorder(KubernetesClient client, Clock clock, LeaseActivity activity, PublishConfig publish,
                         OperatorMetrics metrics) {
        this.client = client;
        this.clock = clock;
        this.activity = activity;
        this.metrics = metrics;
        this.budget = new WriteBudget<>(publish.eventsPerSecond(), publish.eventBurst(), System::nanoTime);
    }

    /** Pending Events are dropped at shutdown (the client is closing): one line says how many. */
    void stop(@Observes ShutdownEvent event) {
        int pending = writer.shutdownNow().size();
        if (pending > 0) {
            LOG.infof("shutting down: %d pending event(s) not written", pending);
        }
    }

    public void normal(HasMetadata about, String reason, String message) {
        record(about, "Normal", reason, message);
    }

    public void warning(HasMetadata about, String reason, String message) {
        record(about, "Warning", reason, message);
    }

    private void record(HasMetadata about, String type, String reason, String message) {
        if (!budget.tryNow()) {
            long n = sampledOut.incrementAndGet();
            metrics.eventDropped("budget");
            if (n == 1 || n % 1000 == 0) {
                LOG.infof("events over budget (streamhouse.publish.events-per-second): %d dropped so far, latest %s on %s",
                        n, reason, about.getMetadata().getName());
            }
            return;
        }
        String now = clock.instant().toString();
        long recorded = System.nanoTime();
        try {
            writer.execute(() -> {
                if (awaitSettled(recorded)) {
                    write(about, type, reason, message, now);
                }
            });
        } catch (RejectedExecutionException e) {
            long n = dropped.incrementAndGet();
            metrics.eventDropped("queue");
            if (n == 1 || n % 1000 == 0) {
                LOG.warnf("event queue full (%d pending): %d event(s) dropped so far, latest %s on %s", QUEUE, n,
                        reason, about.getMetadata().getName());
            }
        }
    }

    /** Waits while leases are moving, at most until MAX_DEFER after {@code recorded}; false when interrupted (shutdown). */
    private boolean awaitSettled(long recorded) {
        while (true) {
            long settling = activity.untilSettled().toNanos();
            long left = recorded + MAX_DEFER.toNanos() - System.nanoTime();
            if (settling == 0 || left <= 0) {
                return true;
            }
            LockSupport.parkNanos(Math.min(settling, left));
            if (Thread.currentThread().isInterrupted()) {
                return false;
            }
        }
    }

    /**
     * Writes the Event, or counts it on the Event already written for the same object, type,
     * reason and message (client-go's aggregation): one object per repeated Event, its
     * {@code count} and {@code lastTimestamp} telling how often and how recently, instead of one
     * object per occurrence. Runs on the writer thread only (the cache needs no lock).
     */
    private void write(HasMetadata about, String type, String reason, String message, String now) {
        String namespace = about.getMetadata().getNamespace();
        Key key = new Key(namespace, about.getKind(), about.getMetadata().getName(), about.getMetadata().getUid(),
                type, reason, message);
        try {
            Written earlier = written.get(key);
            if (earlier != null && repeat(namespace, earlier, now)) {
                written.put(key, new Written(earlier.name(), earlier.count() + 1));
                return;
            }
            String name = about.getMetadata().getName() + "." + UUID.randomUUID().toString().substring(0, 13);
            client.v1().events().inNamespace(namespace).resource(new EventBuilder()
                    .withNewMetadata()
                        .withName(name)
                        .withNamespace(namespace)
                    .endMetadata()
                    .withInvolvedObject(new ObjectReferenceBuilder()
                            .withApiVersion(about.getApiVersion()).withKind(about.getKind())
                            .withName(about.getMetadata().getName()).withNamespace(namespace)
                            .withUid(about.getMetadata().getUid())
                            .withResourceVersion(about.getMetadata().getResourceVersion()).build())
                    .withType(type).withReason(reason).withMessage(message)
                    .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                    .withNewSource().withComponent(COMPONENT).endSource()
                    .withReportingComponent(COMPONENT)
                    .build()).create();
            metrics.apiWrite("event");
            written.put(key, new Written(name, 1));
        } catch (RuntimeException e) { // KubernetesClientException, or the client closing at shutdown
            if (writer.isShutdown()) {
                return;
            }
            metrics.eventDropped("error");
            LOG.warnf("could not record event %s on %s/%s: %s", reason, namespace, about.getMetadata().getName(),
                    e.getMessage());
        }
    }

    /**
     * Counts one more occurrence on the Event written earlier; false when it is gone (Events
     * expire, an hour by default), and a new one is to be written.
     */
    private boolean repeat(String namespace, Written earlier, String now) {
        try {
            client.v1().events().inNamespace(namespace).withName(earlier.name()).patch(
                    PatchContext.of(PatchType.JSON_MERGE),
                    "{\"count\":" + (earlier.count() + 1) + ",\"lastTimestamp\":\"" + now + "\"}");
            metrics.apiWrite("event");
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
                return false;
            }
            throw e;
        }
    }

    /** What makes two Events the same Event: client-go's aggregation key, less the source (always us). */
    private record Key(String namespace, String kind, String name, String uid, String type, String reason,
                       String message) {
    }

    /** The Event written for a key, and how many occurrences it counts. */
    private record Written(String name, int count) {
    }
}
