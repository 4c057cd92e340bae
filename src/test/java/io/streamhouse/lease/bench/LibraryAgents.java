package io.streamhouse.lease.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.streamhouse.lease.agent.AgentIdentity;
import io.streamhouse.lease.agent.LeaseClient;
import io.streamhouse.lease.agent.LeaseListener;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.Database;
import io.streamhouse.lease.testing.CuttableDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Agents running the agent library in the bench's JVM, as many processes would: each a
 * {@link LeaseClient} with its own session and its own database channel, committing one fenced
 * row the moment it learns a lease. The time of that first commit is what "writable" measures.
 *
 * <p>They share one HikariCP pool of agents + 16 connections: each client's channel keeps one,
 * the rest serve every client's renewals, looks, handoff releases and fenced writes (8 writer
 * threads). A crash cuts one agent off the database (its renewals and writes fail, so its session
 * expires, as a dead process's would); a graceful stop is {@link LeaseClient#close()}.
 */
final class LibraryAgents implements AutoCloseable {

    /** The first fenced commit at the latest epoch seen for a lease. */
    record FirstWrite(String agent, long epoch, long nanos) {
    }

    private final KubernetesClient client;
    private final String namespace;
    private final HikariDataSource pool;
    private final Map<String, LeaseClient> clients = new ConcurrentHashMap<>();
    private final Map<String, CuttableDataSource> sources = new ConcurrentHashMap<>();
    private final Map<LeaseKey, FirstWrite> writes = new ConcurrentHashMap<>();
    /** When each lease's holder learned it (the library's acquired call), at the latest epoch seen. */
    private final Map<LeaseKey, FirstWrite> learned = new ConcurrentHashMap<>();
    private final ScheduledExecutorService writers = Executors.newScheduledThreadPool(8);
    final LongAdder committed = new LongAdder();
    final LongAdder refused = new LongAdder();

    LibraryAgents(KubernetesClient client, String namespace, String dbUrl, int agents) throws Exception {
        this.client = client;
        this.namespace = namespace;
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(dbUrl);
        config.setMaximumPoolSize(agents + 16);
        config.setPoolName("bench-agents");
        this.pool = new HikariDataSource(config);
        Database.migrate(pool); // the schema exists at a cold start of the operator (it made it before)
        try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS bench_write (topic text, partition int, epoch bigint, agent text)");
        }
    }

    /** Starts the agent of StreamAgent {@code name} (it must exist): registers its session and listens. */
    void start(String name) {
        CuttableDataSource source = new CuttableDataSource(pool);
        sources.put(name, source);
        LeaseClient c = LeaseClient.builder(AgentIdentity.of(namespace, name), client, source)
                .startTimeout(Duration.ofMinutes(2)).listener(new Writer(name)).build();
        clients.put(name, c);
        c.start();
    }

    /** A graceful stop: releases everything and ends the session in one transaction. */
    void stop(String name) {
        clients.get(name).close();
    }

    /** A crash: the agent can no longer reach the database; its session expires after its timeout. */
    void crash(String name) {
        sources.get(name).cut.set(true);
    }

    /** The first commit at its current epoch of each lease, as far as seen. */
    FirstWrite firstWrite(LeaseKey key) {
        return writes.get(key);
    }

    /**
     * Nanoseconds after {@code t0} at which each of {@code keys} was learned by a holder at an
     * epoch above {@code epochs} (the library's acquired call, before any write), sorted; null
     * when one is not yet.
     */
    List<Long> learnedAfter(Map<LeaseKey, Long> epochs, long t0) {
        return after(learned, epochs, t0);
    }

    /** Nanoseconds after {@code t0} at which each of {@code keys} was first written at an epoch above {@code epochs}, sorted; null when one is not yet. */
    List<Long> writableAfter(Map<LeaseKey, Long> epochs, long t0) {
        return after(writes, epochs, t0);
    }

    private static List<Long> after(Map<LeaseKey, FirstWrite> seen, Map<LeaseKey, Long> epochs, long t0) {
        List<Long> times = new ArrayList<>();
        for (Map.Entry<LeaseKey, Long> e : epochs.entrySet()) {
            FirstWrite w = seen.get(e.getKey());
            if (w == null || w.epoch() <= e.getValue()) {
                return null;
            }
            times.add(w.nanos() - t0);
        }
        times.sort(null);
        return times;
    }

    /** Writes one fenced row as soon as a lease arrives, off the client's event thread. */
    private final class Writer implements LeaseListener {
        private final String agent;

        Writer(String agent) {
            this.agent = agent;
        }

        @Override
        public void acquired(LeaseKey key, long epoch) {
            learned.merge(key, new FirstWrite(agent, epoch, System.nanoTime()),
                    (old, mine) -> mine.epoch() > old.epoch() ? mine : old);
            try {
                writers.execute(() -> write(key, epoch));
            } catch (RejectedExecutionException e) {
                // closing
            }
        }

        private void write(LeaseKey key, long epoch) {
            LeaseClient c = clients.get(agent);
            if (c.epoch(key.topic(), key.partition()) != epoch) {
                return; // moved on before its turn: its new holder writes it
            }
            try {
                c.fenced(key.topic(), key.partition(), epoch, conn -> {
                    try (PreparedStatement ps = conn.prepareStatement("INSERT INTO bench_write VALUES (?, ?, ?, ?)")) {
                        ps.setString(1, key.topic());
                        ps.setInt(2, key.partition());
                        ps.setLong(3, epoch);
                        ps.setString(4, agent);
                        return ps.executeUpdate();
                    }
                });
                long now = System.nanoTime();
                committed.increment();
                writes.merge(key, new FirstWrite(agent, epoch, now), (old, mine) -> mine.epoch() > old.epoch() ? mine : old);
            } catch (RuntimeException e) {
                // Refused (moved on meanwhile, session not confirmed for a moment) or failed (the
                // pool busy): as an agent would, try again while it still holds it at that epoch.
                refused.increment();
                try {
                    writers.schedule(() -> write(key, epoch), 100, TimeUnit.MILLISECONDS);
                } catch (RejectedExecutionException closing) {
                    // closing
                }
            }
        }
    }

    @Override
    public void close() {
        clients.values().forEach(c -> {
            try {
                c.close();
            } catch (RuntimeException e) {
                // a crashed one cannot release; its session expires
            }
        });
        writers.shutdownNow();
        pool.close();
    }
}
