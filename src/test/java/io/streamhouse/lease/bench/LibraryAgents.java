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
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
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
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;

/**
 * Agents running the agent library in the bench's JVM, as many processes would: each a
 * {@link LeaseClient} with its own session and its own database channel, committing one fenced
 * row the moment it learns a lease. The time of that first commit is what "writable" measures.
 *
 * <p>Each agent writes on threads of its own, {@link #WRITERS_PER_AGENT} of them (as a process
 * would, with its own connection pool: an agent that learns 120 partitions starts writing all
 * of them at once, not behind every other agent's writes). The fenced writes of all agents share
 * one HikariCP pool of {@link #WRITE_CONNECTIONS}; the sessions' own traffic (channels, renewals,
 * looks, handoff releases) another, given to each client as its session DataSource: one
 * connection per channel and {@link #SESSION_CONNECTIONS} more, so that, as in separate processes
 * each with its own pool, no renewal waits for a connection behind the writes of a hundred
 * agents. A crash cuts one agent off the database (its renewals and writes fail, so its session
 * expires, as a dead process's would); a graceful stop is {@link LeaseClient#close()}.
 */
final class LibraryAgents implements AutoCloseable {

    /** The first fenced commit at the latest epoch seen for a lease. */
    record FirstWrite(String agent, long epoch, long nanos) {
    }

    private final KubernetesClient client;
    private final String namespace;
    private final HikariDataSource pool;
    private final HikariDataSource sessionPool;
    private final Map<String, LeaseClient> clients = new ConcurrentHashMap<>();
    private final Map<String, List<CuttableDataSource>> sources = new ConcurrentHashMap<>();
    private final Map<LeaseKey, FirstWrite> writes = new ConcurrentHashMap<>();
    /** When each lease's holder learned it (the library's acquired call), at the latest epoch seen. */
    private final Map<LeaseKey, FirstWrite> learned = new ConcurrentHashMap<>();
    /** When a writer thread began the first fenced write of each lease, at the latest epoch seen. */
    private final Map<LeaseKey, FirstWrite> started = new ConcurrentHashMap<>();
    /** Writer threads per agent (BENCH_WRITERS_PER_AGENT, default 4). */
    static final int WRITERS_PER_AGENT = Integer.parseInt(System.getenv().getOrDefault("BENCH_WRITERS_PER_AGENT", "4"));
    /** Connections for every agent's fenced writes (BENCH_WRITE_CONNECTIONS, default 48). */
    static final int WRITE_CONNECTIONS = Integer.parseInt(System.getenv().getOrDefault("BENCH_WRITE_CONNECTIONS", "48"));
    /** Connections for every agent's renewals and looks, beyond one per channel (BENCH_SESSION_CONNECTIONS, default 16). */
    static final int SESSION_CONNECTIONS = Integer.parseInt(System.getenv().getOrDefault("BENCH_SESSION_CONNECTIONS", "16"));
    private final Map<String, ScheduledExecutorService> writers = new ConcurrentHashMap<>();
    final LongAdder committed = new LongAdder();
    final LongAdder refused = new LongAdder();

    /** @param operatorJar the operator build under test: its migrations make the schema */
    LibraryAgents(KubernetesClient client, String namespace, String dbUrl, int agents, Path operatorJar) throws Exception {
        this.client = client;
        this.namespace = namespace;
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(dbUrl);
        config.setMaximumPoolSize(WRITE_CONNECTIONS);
        config.setPoolName("bench-agent-writes");
        this.pool = new HikariDataSource(config);
        HikariConfig sessions = new HikariConfig();
        sessions.setJdbcUrl(dbUrl);
        sessions.setMaximumPoolSize(agents + 1 + SESSION_CONNECTIONS); // + 1: an agent that joins later
        sessions.setPoolName("bench-agent-sessions");
        this.sessionPool = new HikariDataSource(sessions);
        migrate(pool, operatorJar); // the schema exists at a cold start of the operator (it made it before)
        try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS bench_write (topic text, partition int, epoch bigint, agent text)");
        }
    }

    /**
     * The schema of the operator build under test (with BENCH_JAR, another build's, whose
     * migrations may differ from this checkout's), as that operator would have made it.
     */
    private static void migrate(DataSource pool, Path operatorJar) throws IOException {
        Path app = operatorJar.toAbsolutePath().resolveSibling("app");
        List<URL> jars = new ArrayList<>();
        try (Stream<Path> files = Files.list(app)) {
            for (Path f : files.filter(f -> f.toString().endsWith(".jar")).toList()) {
                jars.add(f.toUri().toURL());
            }
        }
        try (URLClassLoader loader = new URLClassLoader(jars.toArray(URL[]::new), null)) {
            Flyway.configure(loader).dataSource(pool).locations(Database.MIGRATIONS).load().migrate();
        }
    }

    /** Starts the agent of StreamAgent {@code name} (it must exist): registers its session and listens. */
    void start(String name) {
        CuttableDataSource source = new CuttableDataSource(pool);
        CuttableDataSource sessionSource = new CuttableDataSource(sessionPool);
        sources.put(name, List.of(source, sessionSource));
        writers.put(name, Executors.newScheduledThreadPool(WRITERS_PER_AGENT));
        LeaseClient c = LeaseClient.builder(AgentIdentity.of(namespace, name), client, source)
                .sessionDataSource(sessionSource)
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
        sources.get(name).forEach(s -> s.cut.set(true));
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

    /** As {@link #writableAfter}, for when a writer thread began that first write (after its turn in the agent's executor). */
    List<Long> writeStartedAfter(Map<LeaseKey, Long> epochs, long t0) {
        return after(started, epochs, t0);
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
                writers.get(agent).execute(() -> write(key, epoch));
            } catch (RejectedExecutionException e) {
                // closing
            }
        }

        private void write(LeaseKey key, long epoch) {
            LeaseClient c = clients.get(agent);
            if (c.epoch(key.topic(), key.partition()) != epoch) {
                return; // moved on before its turn: its new holder writes it
            }
            started.putIfAbsent(key, new FirstWrite(agent, epoch, System.nanoTime()));
            started.computeIfPresent(key, (k, old) -> old.epoch() < epoch ? new FirstWrite(agent, epoch, System.nanoTime()) : old);
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
                    writers.get(agent).schedule(() -> write(key, epoch), 100, TimeUnit.MILLISECONDS);
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
        writers.values().forEach(ScheduledExecutorService::shutdownNow);
        pool.close();
        sessionPool.close();
    }
}
