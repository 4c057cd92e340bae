package io.streamhouse.lease.bench;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.streamhouse.lease.api.v1alpha1.PartitionLease;
import io.streamhouse.lease.api.v1alpha1.PartitionLeaseSpec;
import io.streamhouse.lease.api.v1alpha1.SessionKeeper;
import io.streamhouse.lease.api.v1alpha1.StreamAgent;
import io.streamhouse.lease.api.v1alpha1.StreamAgentSpec;
import io.streamhouse.lease.model.LeaseKey;
import io.streamhouse.lease.store.LocalPostgres;
import io.streamhouse.lease.testing.LeaseTracker;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;

/**
 * Assignment and failover figures: the packaged operator runs as its own process against an API
 * server ({@link BenchApi}: the Fabric8 mock in CRUD mode, in this process, or with
 * {@code BENCH_API=real} a kube-apiserver + etcd on loopback, each counting every request) and an
 * embedded PostgreSQL, with pod agents kept by the operator. For each size (leases x agents):
 * initial assignment, steady-state writes, heap, graceful stop of one agent, crash of another.
 *
 * <p>Run: {@code bench/assign-bench.sh [--real-api] [sizes]}, sizes like {@code 1000x10,10000x100}.
 */
public final class AssignBench {

    static final String NS = "bench";
    static final String GROUP = "default";
    static final int TOPICS = 10;
    static final Duration SESSION_TIMEOUT = Duration.ofSeconds(20);
    static final String HOLD_FINALIZER = "bench.streamhouse.io/hold";
    static final int LOOP_THREADS = 16;
    /**
     * BENCH_TOPICS=1 (bench/assign-bench.sh --topics): the leases are the partitions of StreamTopics
     * of {@link #TOPIC_PARTITIONS} each, with no object per partition, instead of PartitionLeases.
     */
    static final boolean TOPIC_MODE = "1".equals(System.getenv("BENCH_TOPICS"));
    static final int TOPIC_PARTITIONS = 1_000;
    /** BENCH_FSYNC: PostgreSQL's fsync, on unless set to off. */
    static final String FSYNC = "off".equals(System.getenv("BENCH_FSYNC")) ? "off" : "on";
    /**
     * BENCH_PG_STATEMENTS=1: PostgreSQL counts its statements (pg_stat_statements, inside functions
     * too) from the crash (a session timeout before its expiry) until the crash is listed, and the bench prints
     * where the database's time went. Off by default: the counting costs a little on every statement.
     */
    static final boolean PG_STATEMENTS = "1".equals(System.getenv("BENCH_PG_STATEMENTS"));
    /** BENCH_STATUS_BUDGET: the operator's status write budget (writes/s, and its burst) instead of the default. */
    static final String STATUS_BUDGET = System.getenv("BENCH_STATUS_BUDGET");

    record Size(int leases, int agents) {
        static Size parse(String s) {
            String[] p = s.toLowerCase(Locale.ROOT).split("x");
            return new Size(Integer.parseInt(p[0].trim()), Integer.parseInt(p[1].trim()));
        }

        int topics() {
            return (leases + TOPIC_PARTITIONS - 1) / TOPIC_PARTITIONS;
        }

        @Override
        public String toString() {
            return leases + (TOPIC_MODE ? " in topics" : " leases") + " x " + agents + " agents";
        }
    }

    /** What one size measured. */
    record Figures(Size size, Duration boot, Duration assign, double apiWritesPerSec, double leaderWritesPerSec,
                   double dbRowWritesPerSec, long heapUsedMb, int gracefulMoved, Duration graceful, int crashMoved,
                   Duration crashTotal, Duration crashAfterExpiry, Publication publication, Join join) {
    }

    /**
     * One agent joins: the planned moves its arrival caused (to it, and between the others), how
     * many of them were forced (the holder did not hand off in time), and how long from the pod's
     * creation until the last of them committed, until it listed them all, and (library agents)
     * until it had written them all.
     */
    record Join(int toNewAgent, int betweenOthers, int forced, int newAgentHolds, Duration committed,
                Duration listed, Duration writable) {
    }

    /** First and median and last of a set of times (null when not measured). */
    record Spread(Duration median, Duration last) {
        static Spread of(List<Long> nanos) {
            return nanos == null || nanos.isEmpty() ? null
                    : new Spread(Duration.ofNanos(nanos.get(nanos.size() / 2)), Duration.ofNanos(nanos.get(nanos.size() - 1)));
        }

        @Override
        public String toString() {
            return String.format("%.2f/%.2fs", secs(median), secs(last));
        }
    }

    /**
     * Where leadership is learned and shown: "writable" is each moved lease's first fenced commit
     * by its new holder (library agents only), "visible" its new holder's StreamAgent listing it,
     * "statuses" its PartitionLease status showing it; median/last, from the stop, from the
     * expiry, or from the operator being ready. API writes of the crash are counted from the
     * expiry until the statuses converged, next to the bound (agents touched + leases moved).
     */
    record Publication(Spread initialLearned, Spread initialWritable, Spread gracefulWritable, Spread gracefulVisible, Spread crashWritable,
                       Spread crashVisible, Spread crashStatuses, long crashApiWrites, long crashBound,
                       Duration commitToVisible, int largestObjectBytes, double serverCapacity, double statusRate) {
    }

    public static void main(String[] args) {
        // Exits either way: a failure must not leave the JVM running on the watches' threads.
        try {
            bench(args);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    private static void bench(String[] args) throws Exception {
        String spec = args.length > 0 && !args[0].isBlank() ? args[0] : "1000x10,1000x100,10000x10,10000x100";
        // BENCH_JAR: another build of the operator, to compare two versions side by side.
        String chosen = System.getenv("BENCH_JAR");
        Path jar = Path.of(chosen == null || chosen.isBlank() ? "target/quarkus-app/quarkus-run.jar" : chosen);
        if (!Files.exists(jar)) {
            throw new IllegalStateException(jar + " is missing: run mvn package first (bench/assign-bench.sh does)");
        }
        boolean realApi = "real".equals(System.getenv("BENCH_API"));
        boolean library = "library".equals(System.getenv("BENCH_AGENTS"));
        List<Figures> all = new ArrayList<>();
        // Library agents each keep a LISTEN connection (100 agents: 100), besides the operator's pools.
        // fsync on (BENCH_FSYNC=off to compare): every commit, the operator's and the agents', is
        // durable, as production's must be; the operator's durability check passes.
        Map<String, String> pgConfig = new HashMap<>(Map.of("max_connections", "300", "fsync", FSYNC));
        if (PG_STATEMENTS) {
            pgConfig.putAll(Map.of("shared_preload_libraries", "pg_stat_statements", "pg_stat_statements.track", "all"));
        }
        try (LocalPostgres pg = LocalPostgres.start(null, pgConfig)) {
            int n = 0;
            for (String s : spec.split(",")) {
                Size size = Size.parse(s);
                String db = "bench" + (n++);
                try (Connection c = DriverManager.getConnection(pg.jdbcUrl("postgres")); Statement st = c.createStatement()) {
                    st.execute("CREATE DATABASE " + db);
                }
                Figures f = new AssignBench(size, pg.jdbcUrl(db), jar, realApi, library).run();
                all.add(f);
                print(List.of(f));
                printPublication(List.of(f)); // each size's rows as soon as it ends (a long run may be stopped)
            }
        }
        System.out.println();
        System.out.println("==== summary (" + Runtime.getRuntime().availableProcessors() + " cores, "
                + (realApi ? "kube-apiserver v1.20.2 + etcd" : "Fabric8 mock API server") + ","
                + " embedded PostgreSQL fsync " + FSYNC + ", " + (library ? "agents running the agent library" : "operator-kept pod agents")
                + ", session timeout " + SESSION_TIMEOUT.toSeconds() + " s) ====");
        print(all);
        printPublication(all);
        System.exit(0);
    }

    static void print(List<Figures> figures) {
        System.out.printf("%-30s %9s %9s %11s %11s %9s %9s %14s %16s %18s%n", "size", "boot", "all Held",
                "API wr/s", "lease wr/s", "DB rows/s", "heap MB", "graceful stop", "crash total", "crash after expiry");
        for (Figures f : figures) {
            System.out.printf("%-30s %8.1fs %8.1fs %11.2f %11.2f %9.2f %9d %9.2fs/%-4d %11.2fs/%-4d %17.2fs%n",
                    f.size(), secs(f.boot()), secs(f.assign()), f.apiWritesPerSec(), f.leaderWritesPerSec(),
                    f.dbRowWritesPerSec(), f.heapUsedMb(), secs(f.graceful()), f.gracefulMoved(), secs(f.crashTotal()),
                    f.crashMoved(), secs(f.crashAfterExpiry()));
        }
    }

    static void printPublication(List<Figures> figures) {
        System.out.printf("%-30s %14s %14s %14s %14s %14s %14s %14s %16s %10s %9s %14s%n", "size", "init learned",
                "init writable", "stop writable", "stop visible", "crash writable", "crash visible", "crash statuses", "crash API wr",
                "commit>ag", "object", "status wr/s");
        for (Figures f : figures) {
            Publication p = f.publication();
            System.out.printf("%-30s %14s %14s %14s %14s %14s %14s %14s %16s %9.2fs %7dKB %14s%n", f.size(),
                    show(p.initialLearned()), show(p.initialWritable()),
                    show(p.gracefulWritable()), show(p.gracefulVisible()), show(p.crashWritable()), show(p.crashVisible()),
                    show(p.crashStatuses()), p.crashApiWrites() + " (<=" + p.crashBound() + ")",
                    p.commitToVisible() == null ? Double.NaN : secs(p.commitToVisible()), p.largestObjectBytes() / 1024,
                    String.format("%.0f/%.0f=%.2f", p.statusRate(), p.serverCapacity(), p.statusRate() / p.serverCapacity()));
        }
        System.out.printf("%-30s %12s %14s %8s %10s %14s %14s %14s %14s%n", "size", "join moves", "between others",
                "forced", "it holds", "last commit", "listed", "written", "heap B/lease");
        for (Figures f : figures) {
            Join j = f.join();
            System.out.printf("%-30s %12d %14d %8d %10d %13.2fs %13.2fs %14s %14d%n", f.size(), j.toNewAgent(),
                    j.betweenOthers(), j.forced(), j.newAgentHolds(), secs(j.committed()), secs(j.listed()),
                    j.writable() == null ? "-" : String.format("%.2fs", secs(j.writable())),
                    f.heapUsedMb() * 1024 * 1024 / f.size().leases());
        }
        System.out.println("(join: one agent joins after the crash; its planned moves, counted in the lease history,"
                + " and times from its pod's creation; heap B/lease: the operator's heap after a full GC / leases)");
        System.out.println("(times median/last; learned: the holder's library told it (its acquired call); writable: first"
                + " fenced commit by the new holder; visible: listed on its"
                + " StreamAgent; statuses: " + (TOPIC_MODE ? "each StreamTopic the crashed agent had partitions of shows every"
                + " partition held again (one time per topic)" : "its PartitionLease shows it")
                + "; stop from the stop, crash from the session's"
                + " expiry, initial from the operator ready; commit>ag: the slowest database commit to StreamAgent listing;"
                + " status wr/s: the crash's statuses first to last / the plain write loop, budget "
                + (STATUS_BUDGET == null ? "default" : STATUS_BUDGET + "/s") + ")");
    }

    static String show(Spread s) {
        return s == null ? "-" : s.toString();
    }

    static double secs(Duration d) {
        return d.toNanos() / 1e9;
    }

    private final Size size;
    private final String dbUrl;
    private final Path jar;
    private final boolean realApi;
    private final boolean library;
    private final LeaseTracker leases = new LeaseTracker();
    private final TopicHolders topics = new TopicHolders();
    private AgentLists lists;

    AssignBench(Size size, String dbUrl, Path jar, boolean realApi, boolean library) {
        this.size = size;
        this.dbUrl = dbUrl;
        this.jar = jar;
        this.realApi = realApi;
        this.library = library;
    }

    Figures run() throws Exception {
        System.out.println("---- " + size + " ----");
        Process operator = null;
        LibraryAgents agents = null;
        try (BenchApi api = realApi ? BenchApi.real() : BenchApi.mock()) {
            KubernetesClient client = api.client();
            System.out.println("API server: " + api.label());
            installCrds(client);
            client.namespaces().resource(new io.fabric8.kubernetes.api.model.NamespaceBuilder()
                    .withNewMetadata().withName(NS).endMetadata().build()).create();
            // Everything exists before the operator starts (creating 10,000 objects in the mock
            // takes minutes and would measure the mock): what is timed is a cold start of the
            // operator assigning every lease.
            for (String zone : List.of("a", "b", "c")) {
                client.nodes().resource(new NodeBuilder().withNewMetadata().withName("node-" + zone)
                        .withLabels(Map.of(StreamAgent.ZONE_NODE_LABEL, "zone-" + zone)).endMetadata().build()).create();
            }
            parallel(size.agents(), i -> readyPod(client, i, library));
            if (library) {
                // As the operator made them on an earlier run: the agents start, read them and
                // register before the operator starts.
                parallel(size.agents(), i -> selfKeptAgent(client, i));
                agents = new LibraryAgents(client, NS, dbUrl, size.agents(), jar);
                LibraryAgents started = agents;
                parallel(size.agents(), i -> started.start("agent-" + i));
                System.out.printf("started %d agents running the agent library%n", size.agents());
            }
            AgentLists lists = new AgentLists(a -> client.getKubernetesSerialization().asJson(a));
            this.lists = lists;
            var agentInformer = client.resources(StreamAgent.class).inNamespace(NS).inform(lists);
            long made = System.nanoTime();
            if (TOPIC_MODE) {
                parallel(size.topics(), i -> createTopic(client, i));
            } else {
                parallel(size.leases(), i -> createLease(client, i));
            }
            Duration create = Duration.ofNanos(System.nanoTime() - made);
            System.out.printf("created %d pods and %d %s in the API server in %.1f s%n", size.agents(),
                    TOPIC_MODE ? size.topics() : size.leases(), TOPIC_MODE ? "StreamTopics" : "leases", secs(create));
            io.fabric8.kubernetes.client.informers.SharedIndexInformer<?> informer = TOPIC_MODE
                    ? client.resources(io.streamhouse.lease.api.v1alpha1.StreamTopic.class).inNamespace(NS).inform(topics)
                    : client.resources(PartitionLease.class).inNamespace(NS).inform(leases);

            long t0 = System.nanoTime();
            long writesBefore = api.writes();
            Map<String, long[]> beforeOperator = api.requests();
            operator = startOperator(api);
            waitFor("all leases Held", Duration.ofMinutes(20), () -> held() == size.leases());
            Duration assign = Duration.ofNanos(System.nanoTime() - t0);
            Duration boot = bootTime();
            Spread initialWritable = null;
            Spread initialLearned = null;
            if (library) {
                LibraryAgents a = agents;
                Map<LeaseKey, Long> none = new HashMap<>();
                allKeys().forEach(k -> none.put(k, 0L));
                waitFor("all leases written", Duration.ofMinutes(5), () -> a.writableAfter(none, t0) != null);
                initialWritable = Spread.of(a.writableAfter(none, t0 + boot.toNanos()));
                initialLearned = Spread.of(a.learnedAfter(none, t0 + boot.toNanos()));
                System.out.printf("initial assignment: every lease learned by its holder %s, first fenced commit by its"
                        + " holder %s (median/last) after the operator was ready; agents' fenced writes so far: %d"
                        + " committed, %d refused or failed (retried while still held)%n", initialLearned,
                        initialWritable, a.committed.sum(), a.refused.sum());
            }
            long initialWrites = api.writes() - writesBefore;
            System.out.printf("initial assignment: all %d leases Held %.1f s after the operator process started"
                    + " (%.1f s of it JVM and Quarkus boot); %d API writes meanwhile (%.1f per lease, %.0f/s); requests:%n%s",
                    size.leases(), secs(assign), secs(boot), initialWrites, (double) initialWrites / size.leases(),
                    initialWrites / secs(assign.minus(boot)), api.since(beforeOperator));

            // Steady state: wait for the last writes (Events are written after the statuses, at the
            // mock's pace; lease counts follow within a renewal period), then count writes over a
            // window with nothing changing.
            waitQuiet(api, Duration.ofSeconds(8), Duration.ofMinutes(15));
            Duration window = Duration.ofSeconds(20);
            long w0 = api.writes();
            long l0 = api.leaderWrites();
            long d0 = dbRowWrites();
            long r0 = leaseRowsRead();
            long s0 = System.nanoTime();
            await().pollDelay(window).atMost(window.plusSeconds(5)).until(() -> true);
            double elapsed = (System.nanoTime() - s0) / 1e9;
            double apiRate = (api.writes() - w0) / elapsed;
            double leaderRate = (api.leaderWrites() - l0) / elapsed;
            double dbRate = (dbRowWrites() - d0) / elapsed;
            double readRate = (leaseRowsRead() - r0) / elapsed;
            System.out.printf("steady state over %.0f s: API writes %.2f/s (leader election lease %.2f/s),"
                    + " database rows written %.2f/s, lease rows read %.0f/s (agents' checks and looks, the"
                    + " operator's reads)%n", elapsed, apiRate, leaderRate, dbRate, readRate);
            long heapMb = heapUsedMb(operator.pid());
            System.out.printf("operator heap used after a full GC: %d MB%n", heapMb);
            // What this server takes, measured in this run, with the same objects and the same
            // watchers (the operator's informers, this bench's): the operator's status writes/s
            // in the crash, as a ratio of it, is what its budget and its own work leave unused.
            double capacity = writeLoop(client, Duration.ofSeconds(5));
            System.out.printf("plain write loop: %.0f writes/s (" + (TOPIC_MODE ? "StreamTopic" : "PartitionLease")
                    + " annotation merge patches, %d threads,"
                    + " 5 s, operator idle and watching)%n", capacity, LOOP_THREADS);
            waitQuiet(api, Duration.ofSeconds(2), Duration.ofMinutes(2));

            // Graceful stop: the pod is deleted but kept Terminating (a finalizer, as a preStop
            // would): the agent drains while it still runs.
            String drained = busiest(null);
            int gracefulMoved = heldBy(drained);
            Map<LeaseKey, Long> drainedEpochs = heldEpochs(drained);
            Map<String, long[]> beforeGraceful = api.requests();
            long g0 = System.nanoTime();
            Instant stoppedAt = Instant.now();
            if (library) {
                agents.stop(drained); // what its preStop hook does: release everything and end the session
                System.out.printf("graceful stop of %s at %s, wall clock (its close() took %d ms: the release of"
                        + " everything and the session's end, one transaction)%n", drained, stoppedAt,
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - g0));
            } else {
                client.pods().inNamespace(NS).withName(drained).patch(PatchContext.of(PatchType.JSON_MERGE),
                        "{\"metadata\":{\"finalizers\":[\"" + HOLD_FINALIZER + "\"]}}");
                g0 = System.nanoTime();
                client.pods().inNamespace(NS).withName(drained).delete();
            }
            long gracefulStart = g0;
            waitFor("graceful stop moved", Duration.ofMinutes(5), () -> heldBy(drained) == 0 && held() == size.leases());
            Duration graceful = Duration.ofNanos(System.nanoTime() - g0);
            waitFor("graceful stop listed", Duration.ofMinutes(2), () -> lists.visibleAfter(drainedEpochs, gracefulStart) != null);
            Spread gracefulVisible = Spread.of(lists.visibleAfter(drainedEpochs, g0));
            Spread gracefulWritable = null;
            if (library) {
                LibraryAgents a = agents;
                waitFor("graceful stop written", Duration.ofMinutes(2), () -> a.writableAfter(drainedEpochs, gracefulStart) != null);
                gracefulWritable = Spread.of(a.writableAfter(drainedEpochs, g0));
                System.out.printf("graceful stop: learned by the new holders %s (median/last; the library's acquired call,"
                        + " before the bench's writers commit)%n", Spread.of(a.learnedAfter(drainedEpochs, g0)));
            }
            System.out.printf("graceful stop of %s: %d leases Held by others after %.2f s (%s); writable %s, listed on"
                    + " their StreamAgents %s (median/last); requests meanwhile:%n%s", drained, gracefulMoved, secs(graceful),
                    movedTimeline(drained, g0), show(gracefulWritable), show(gracefulVisible), api.since(beforeGraceful));
            if (!library) {
                client.pods().inNamespace(NS).withName(drained).patch(PatchContext.of(PatchType.JSON_MERGE),
                        "{\"metadata\":{\"finalizers\":null}}");
            }

            // Crash: the pod stops being Ready (what the kubelet reports for a dead process); its
            // session is no longer renewed and expires, then its leases fail over.
            String crashed = busiest(drained);
            int crashMoved = heldBy(crashed);
            Map<LeaseKey, Long> crashedEpochs = heldEpochs(crashed);
            Set<String> crashedTopics = topics.topicsOf(crashed);
            // Counted from the crash, not from the expiry: at the expiry this thread may wait a
            // second for a core, and the statements of the failover would be missed.
            resetStatements();
            Instant c0 = Instant.now();
            long c0n = System.nanoTime();
            if (library) {
                agents.crash(crashed); // cut off the database: no renewal, no release, as a dead process
            } else {
                setReady(client, crashed, false);
            }
            Map<String, long[]> atExpiry = new HashMap<>();
            long[] expiryNanos = {0};
            long[] writesAtExpiry = {0};
            waitFor("crashed session expired", Duration.ofMinutes(2), () -> {
                if (Instant.now().isBefore(sessionExpiry(crashed))) {
                    return false;
                }
                atExpiry.putAll(api.requests());
                writesAtExpiry[0] = api.writesButEvents();
                expiryNanos[0] = System.nanoTime();
                return true;
            });
            waitFor("crash moved", Duration.ofMinutes(5), () -> heldBy(crashed) == 0 && held() == size.leases());
            Duration crashTotal = Duration.ofNanos(System.nanoTime() - c0n);
            Instant done = c0.plus(crashTotal);
            Instant expiry = sessionExpiry(crashed);
            Duration afterExpiry = Duration.between(expiry, done);
            // The expiry on the database clock, as this process's monotonic clock reads it.
            long expiryAt = c0n + Duration.between(c0, expiry).toNanos();
            long crashApiWrites = api.writesButEvents() - writesAtExpiry[0]; // Events apart
            waitFor("crash listed", Duration.ofMinutes(2), () -> lists.visibleAfter(crashedEpochs, expiryAt) != null);
            Spread crashVisible = Spread.of(lists.visibleAfter(crashedEpochs, expiryAt));
            printStatements("from the crash (a session timeout before its expiry) until it was listed");
            List<Long> statusTimes = movedFrom(crashed, expiryAt);
            Spread crashStatuses = Spread.of(statusTimes);
            // The statuses' own pace, first to last: what the budget let through, next to capacity.
            double statusRate = statusTimes.size() < 2 ? Double.NaN
                    : (statusTimes.size() - 1) / ((statusTimes.get(statusTimes.size() - 1) - statusTimes.get(0)) / 1e9);
            System.out.printf("crash statuses written at %.0f/s (%.2f of the plain write loop's %.0f/s; budget %s)%n",
                    statusRate, statusRate / capacity, capacity, STATUS_BUDGET == null ? "default" : STATUS_BUDGET + "/s");
            Spread crashWritable = null;
            if (library) {
                LibraryAgents a = agents;
                waitFor("crash written", Duration.ofMinutes(2), () -> a.writableAfter(crashedEpochs, expiryAt) != null);
                crashWritable = Spread.of(a.writableAfter(crashedEpochs, expiryAt));
                System.out.printf("crash: learned by the new holders %s after the expiry (median/last; the library's acquired"
                        + " call, before the bench's writers commit), first write begun %s, committed %s%n",
                        Spread.of(a.learnedAfter(crashedEpochs, expiryAt)), Spread.of(a.writeStartedAfter(crashedEpochs, expiryAt)),
                        crashWritable);
            }
            Set<String> touched = new HashSet<>();
            crashedEpochs.keySet().forEach(k -> touched.add(holderOf(k)));
            // The new holders, the crashed one, and the leases' own objects: PartitionLeases, or
            // the StreamTopics the crashed agent had partitions of.
            long bound = touched.size() + 1 + (TOPIC_MODE ? crashedTopics.size() : crashedEpochs.size());
            Duration commitToVisible = commitToVisible(lists, crashedEpochs.keySet(), c0n, c0);
            System.out.printf("crash of %s: %d leases Held by others %.2f s after the crash, %.2f s after its session"
                    + " expired (%s); after the expiry: writable %s, listed on their StreamAgents %s, statuses %s"
                    + " (median/last); %d API writes until the statuses converged (bound %d); requests after expiry:%n%s",
                    crashed, crashMoved, secs(crashTotal), secs(afterExpiry), movedTimeline(crashed, expiryNanos[0]),
                    show(crashWritable), show(crashVisible), show(crashStatuses), crashApiWrites, bound, api.since(atExpiry));
            System.out.printf("(the crashed session expired at %s, wall clock, to read the operator log against)%n", expiry);
            System.out.printf("largest StreamAgent seen: %d bytes of JSON%n", lists.largestBytes());
            Join join = join(client, agents, lists);
            informer.close();
            agentInformer.close();
            Publication publication = new Publication(initialLearned, initialWritable, gracefulWritable, gracefulVisible, crashWritable,
                    crashVisible, crashStatuses, crashApiWrites, bound, commitToVisible, lists.largestBytes(), capacity,
                    statusRate);
            return new Figures(size, boot, assign, apiRate, leaderRate, dbRate, heapMb, gracefulMoved, graceful,
                    crashMoved, crashTotal, afterExpiry, publication, join);
        } finally {
            if (agents != null) {
                agents.close();
            }
            if (operator != null) {
                operator.destroy();
                if (!operator.waitFor(20, TimeUnit.SECONDS)) {
                    operator.destroyForcibly();
                }
            }
        }
    }

    /**
     * A new agent (pod agent-N, one past the last) joins the group. Done when no planned move has
     * committed for {@link #JOIN_QUIET}: the operator moves at most its move limit at a time.
     */
    Join join(KubernetesClient client, LibraryAgents agents, AgentLists lists) throws Exception {
        String name = "agent-" + size.agents();
        Instant j0db = databaseNow();
        long j0 = System.nanoTime();
        readyPod(client, size.agents(), library);
        if (library) {
            agents.start(name); // waits for the operator to make its StreamAgent from the pod, then registers
        }
        long[] last = {-1, System.nanoTime()};
        waitFor("join settled", Duration.ofMinutes(10), () -> {
            long moves = plannedMovesSince(j0db)[0];
            if (moves != last[0]) {
                last[0] = moves;
                last[1] = System.nanoTime();
            }
            return moves > 0 && System.nanoTime() - last[1] > JOIN_QUIET.toNanos();
        });
        long[] m = plannedMovesSince(j0db, name);
        Duration committed = Duration.ofMillis(m[3]);
        Map<LeaseKey, Long> mine = lists.heldBy(name);
        waitFor("join listed", Duration.ofMinutes(2), () -> lists.heldBy(name).size() == heldBy(name));
        mine = lists.heldBy(name);
        long listedLast = 0;
        for (LeaseKey key : mine.keySet()) {
            listedLast = Math.max(listedLast, lists.listed(key).nanos() - j0);
        }
        Duration writable = null;
        if (library) {
            Map<LeaseKey, Long> before = new HashMap<>();
            mine.forEach((k, e) -> before.put(k, e - 1)); // its epochs are the ones to be written
            Map<LeaseKey, Long> wanted = before;
            waitFor("join written", Duration.ofMinutes(2), () -> agents.writableAfter(wanted, j0) != null);
            List<Long> times = agents.writableAfter(wanted, j0);
            writable = times.isEmpty() ? Duration.ZERO : Duration.ofNanos(times.get(times.size() - 1));
        }
        System.out.printf("handoffs so far that went back to the agent that had just released the partition: %d%n",
                handoffsBack());
        Join join = new Join((int) m[1], (int) (m[0] - m[1]), (int) m[2], mine.size(), committed,
                Duration.ofNanos(listedLast), writable);
        System.out.printf("join of %s: %d planned moves to it, %d between the others, %d forced; it holds %d of %d"
                + " topics; last move committed %.2f s after its pod was created, listed %.2f s, written %s%n", name,
                join.toNewAgent(), join.betweenOthers(), join.forced(), join.newAgentHolds(),
                mine.keySet().stream().map(LeaseKey::topic).distinct().count(), secs(committed),
                secs(join.listed()), writable == null ? "-" : String.format("%.2f s", secs(writable)));
        return join;
    }

    static final Duration JOIN_QUIET = Duration.ofSeconds(10);

    /** Handoffs whose new holder is the agent that released the partition for it: a wasted move. */
    long handoffsBack() throws SQLException {
        try (Connection c = DriverManager.getConnection(dbUrl); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM lease_history h JOIN lease_history r"
                     + " ON r.topic = h.topic AND r.partition = h.partition AND r.epoch = h.epoch - 1"
                     + " AND r.reason = 'HandedOff' WHERE h.reason = 'Handoff' AND h.to_holder = r.from_holder")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    Instant databaseNow() throws SQLException {
        try (Connection c = DriverManager.getConnection(dbUrl); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT clock_timestamp()")) {
            rs.next();
            return rs.getTimestamp(1).toInstant();
        }
    }

    /** Planned moves committed since {@code t} (database clock): all. */
    long[] plannedMovesSince(Instant t) throws SQLException {
        return plannedMovesSince(t, "");
    }

    /**
     * Planned moves committed since {@code t}: {all, to {@code agent}, forced, milliseconds from
     * {@code t} to the last}.
     */
    long[] plannedMovesSince(Instant t, String agent) throws SQLException {
        try (Connection c = DriverManager.getConnection(dbUrl);
             java.sql.PreparedStatement ps = c.prepareStatement("SELECT count(*), count(*) FILTER (WHERE to_holder = ?),"
                     + " count(*) FILTER (WHERE reason = 'HandoffForced'),"
                     + " coalesce(extract(epoch FROM max(at) - ?) * 1000, 0)::bigint"
                     + " FROM lease_history WHERE at >= ? AND reason IN ('Handoff', 'HandoffForced', 'Moved')")) {
            ps.setString(1, agent);
            ps.setTimestamp(2, Timestamp.from(t));
            ps.setTimestamp(3, Timestamp.from(t));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new long[] {rs.getLong(1), rs.getLong(2), rs.getLong(3), rs.getLong(4)};
            }
        }
    }

    // ------------------------------------------------------------------ cluster and operator

    private Path log;

    /** Quarkus's own "started in" figure from the operator log. */
    Duration bootTime() throws IOException {
        var pattern = java.util.regex.Pattern.compile("started in (\\d+\\.\\d+)s");
        // Assignment can finish before the log line is written out (topics at 10,000): wait for it.
        await("the operator's started line").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
                .until(() -> pattern.matcher(Files.readString(log)).find());
        var m = pattern.matcher(Files.readString(log));
        return m.find() ? Duration.ofMillis((long) (Double.parseDouble(m.group(1)) * 1000)) : Duration.ZERO;
    }

    static void installCrds(KubernetesClient client) throws IOException {
        try (Stream<Path> files = Files.list(Path.of("crds"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yml")).sorted().toList()) {
                try (InputStream in = Files.newInputStream(file)) {
                    client.load(in).create();
                }
            }
        }
    }

    /**
     * The packaged operator as production runs it, but for two settings: profile "bench" (no
     * leader election: the mock API server cannot answer its permission check; production adds
     * one coordination Lease renewal per 2 s, whatever the scale) and a kubeconfig for the mock.
     */
    Process startOperator(BenchApi api) throws IOException {
        Path dir = Path.of("target/bench");
        Files.createDirectories(dir);
        log = dir.resolve("operator-" + size.leases() + "x" + size.agents() + (realApi ? "-real" : "") + ".log");
        Path kubeconfig = api.kubeconfig(dir, NS);
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx2g",
                "-Dquarkus.profile=bench",
                "-Dquarkus.http.port=0",
                "-Dstreamhouse.db.url=" + dbUrl,
                "-Dstreamhouse.db.require-durable=" + "on".equals(FSYNC),
                "-Dstreamhouse.cluster-check.enabled=false",
                "-Dstreamhouse.agent.session-timeout=" + SESSION_TIMEOUT.toSeconds() + "s",
                // Each StreamAgent publication's timing (waited, read, write) and each group plan's
                // (inputs, plan) into the log.
                "-Dquarkus.log.category.\"io.streamhouse.lease.operator.StreamAgentReconciler\".level=DEBUG",
                "-Dquarkus.log.category.\"io.streamhouse.lease.operator.GroupPlanner\".level=DEBUG",
                "-Dquarkus.log.category.\"io.streamhouse.lease.operator.StreamTopicReconciler\".level=DEBUG"));
        String extra = System.getenv("BENCH_OPERATOR_OPTS");
        if (extra != null && !extra.isBlank()) {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        if (STATUS_BUDGET != null && !STATUS_BUDGET.isBlank()) {
            cmd.add("-Dstreamhouse.publish.lease-status-writes-per-second=" + STATUS_BUDGET);
            cmd.add("-Dstreamhouse.publish.lease-status-burst=" + STATUS_BUDGET);
        }
        cmd.addAll(List.of("-jar", jar.toString()));
        System.out.println("operator log: " + log);
        ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().put("KUBECONFIG", kubeconfig.toAbsolutePath().toString());
        Process process = builder.start();
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly));
        return process;
    }

    static Pod readyPod(KubernetesClient client, int i, boolean library) {
        String name = "agent-" + i;
        Map<String, String> annotations = new HashMap<>(Map.of(StreamAgent.AGENT_ID_ANNOTATION, name,
                StreamAgent.GROUP_ANNOTATION, GROUP, StreamAgent.ADDRESS_ANNOTATION, name + ":9092"));
        if (library) {
            annotations.put(StreamAgent.SESSION_KEEPER_ANNOTATION, "agent");
        }
        client.pods().inNamespace(NS).resource(new PodBuilder()
                .withNewMetadata().withName(name).withNamespace(NS)
                    .withLabels(Map.of(StreamAgent.AGENT_LABEL, "true"))
                    .withAnnotations(annotations)
                .endMetadata()
                .withNewSpec().withNodeName("node-" + "abc".charAt(i % 3))
                    .addNewContainer().withName("agent").withImage("streamhouse/agent:bench").endContainer()
                .endSpec().build()).create();
        return setReady(client, name, true);
    }

    /** The StreamAgent the operator makes for pod {@code i} (self-kept session), owned by the pod. */
    static StreamAgent selfKeptAgent(KubernetesClient client, int i) {
        String name = "agent-" + i;
        Pod pod = client.pods().inNamespace(NS).withName(name).get();
        StreamAgent agent = new StreamAgent();
        agent.getMetadata().setName(name);
        agent.getMetadata().setNamespace(NS);
        agent.getMetadata().setOwnerReferences(List.of(new io.fabric8.kubernetes.api.model.OwnerReferenceBuilder()
                .withApiVersion("v1").withKind("Pod").withName(name).withUid(pod.getMetadata().getUid())
                .withController(true).withBlockOwnerDeletion(true).build()));
        StreamAgentSpec spec = new StreamAgentSpec();
        spec.setAgentId(name);
        spec.setGroup(GROUP);
        spec.setZone("zone-" + "abc".charAt(i % 3));
        spec.setAddress(name + ":9092");
        spec.setSessionKeeper(SessionKeeper.Agent);
        spec.setSessionTimeoutSeconds((int) SESSION_TIMEOUT.toSeconds());
        agent.setSpec(spec);
        return client.resource(agent).create();
    }

    static Pod setReady(KubernetesClient client, String name, boolean ready) {
        Pod pod = client.pods().inNamespace(NS).withName(name).get();
        pod.setStatus(new PodStatusBuilder().withPhase("Running").addNewCondition().withType("Ready")
                .withStatus(ready ? "True" : "False").endCondition().build());
        return client.pods().inNamespace(NS).resource(pod).updateStatus();
    }

    static PartitionLease createLease(KubernetesClient client, int i) {
        PartitionLease lease = new PartitionLease();
        int topic = i % TOPICS;
        int partition = i / TOPICS;
        lease.getMetadata().setName("t" + topic + "-p" + partition);
        lease.getMetadata().setNamespace(NS);
        // As an operator restart finds them: the finalizer an earlier run added (Java Operator SDK's
        // default name). A brand-new lease first costs that one write, at the API server's pace,
        // before its first reconcile; what is timed here is assignment, not that write.
        lease.getMetadata().setFinalizers(List.of("partitionleases.streamhouse.io/finalizer"));
        PartitionLeaseSpec spec = new PartitionLeaseSpec();
        spec.setTopic("topic-" + topic);
        spec.setPartition(partition);
        spec.setAgentGroup(GROUP);
        lease.setSpec(spec);
        return client.resource(lease).create();
    }

    // ------------------------------------------------------------------ observing

    /** The lease keys of this bench, as createLease (or createTopic) names them. */
    List<LeaseKey> allKeys() {
        List<LeaseKey> keys = new ArrayList<>();
        for (int i = 0; i < size.leases(); i++) {
            keys.add(TOPIC_MODE ? LeaseKey.of("topic-" + (i / TOPIC_PARTITIONS), i % TOPIC_PARTITIONS)
                    : LeaseKey.of("topic-" + (i % TOPICS), i / TOPICS));
        }
        return keys;
    }

    // What the bench reads of who holds what: the PartitionLeases' statuses, or with topics the
    // StreamTopics' counts and the StreamAgents' lists (there is no object per partition).

    long held() {
        return TOPIC_MODE ? topics.held() : leases.held();
    }

    int heldBy(String agent) {
        return TOPIC_MODE ? topics.heldBy(agent) : leases.heldBy(agent);
    }

    String busiest(String except) {
        return TOPIC_MODE ? topics.busiest(except) : leases.busiest(except);
    }

    /** With topics, one time per topic: when its status first showed every partition held by others. */
    List<Long> movedFrom(String agent, long t0) {
        return TOPIC_MODE ? topics.movedFrom(agent, t0) : leases.movedFrom(agent, t0);
    }

    String holderOf(LeaseKey key) {
        return TOPIC_MODE ? lists.listed(key).agent() : leases.snapshot().get(leaseName(key)).holder();
    }

    static io.streamhouse.lease.api.v1alpha1.StreamTopic createTopic(KubernetesClient client, int i) {
        var topic = new io.streamhouse.lease.api.v1alpha1.StreamTopic();
        topic.getMetadata().setName("topic-" + i);
        topic.getMetadata().setNamespace(NS);
        topic.getMetadata().setFinalizers(List.of("streamtopics.streamhouse.io/finalizer"));
        var spec = new io.streamhouse.lease.api.v1alpha1.StreamTopicSpec();
        spec.setTopic("topic-" + i);
        spec.setPartitions(TOPIC_PARTITIONS);
        spec.setAgentGroup(GROUP);
        topic.setSpec(spec);
        return client.resource(topic).create();
    }

    static String leaseName(LeaseKey key) {
        return "t" + key.topic().substring("topic-".length()) + "-p" + key.partition();
    }

    /** The leases {@code agent} holds as the statuses show them, with their epochs. */
    Map<LeaseKey, Long> heldEpochs(String agent) {
        if (TOPIC_MODE) {
            return lists.heldBy(agent);
        }
        Map<LeaseKey, Long> out = new HashMap<>();
        Map<String, LeaseTracker.Seen> all = leases.snapshot();
        for (LeaseKey key : allKeys()) {
            LeaseTracker.Seen seen = all.get(leaseName(key));
            if (seen != null && agent.equals(seen.holder()) && seen.epoch() != null) {
                out.put(key, seen.epoch());
            }
        }
        return out;
    }

    /**
     * The slowest of: the database commit that moved a lease (acquired_at, database clock) to the
     * new holder's StreamAgent listing it (this machine's clock, read through {@code c0}/{@code c0n}).
     */
    Duration commitToVisible(AgentLists lists, Set<LeaseKey> moved, long c0n, Instant c0) throws SQLException {
        Duration worst = Duration.ZERO;
        try (Connection c = DriverManager.getConnection(dbUrl);
             java.sql.PreparedStatement ps = c.prepareStatement(
                     "SELECT acquired_at FROM partition_lease WHERE topic = ? AND partition = ?")) {
            for (LeaseKey key : moved) {
                ps.setString(1, key.topic());
                ps.setInt(2, key.partition());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    Instant committed = rs.getTimestamp(1).toInstant();
                    AgentLists.Listed listed = lists.listed(key);
                    Instant seen = c0.plusNanos(listed.nanos() - c0n);
                    Duration lag = Duration.between(committed, seen);
                    worst = lag.compareTo(worst) > 0 ? lag : worst;
                }
            }
        }
        return worst;
    }

    /** When the leases taken from {@code agent} changed holder, from {@code t0}: first, median, last. */
    String movedTimeline(String agent, long t0) {
        List<Long> times = leases.movedFrom(agent, t0);
        if (times.isEmpty()) {
            return "no move seen";
        }
        return String.format("moves seen at %.2f s first, %.2f s median, %.2f s last", times.get(0) / 1e9,
                times.get(times.size() / 2) / 1e9, times.get(times.size() - 1) / 1e9);
    }

    /** Rows written so far to the lease store's tables (PostgreSQL's statistics). */
    long dbRowWrites() throws SQLException {
        return tableStatistic("n_tup_ins + n_tup_upd + n_tup_del", "'agent_session', 'partition_lease', 'lease_history'");
    }

    /** Rows of partition_lease read so far, by index or sequential scans (PostgreSQL's statistics). */
    long leaseRowsRead() throws SQLException {
        return tableStatistic("coalesce(idx_tup_fetch, 0) + seq_tup_read", "'partition_lease'");
    }

    /**
     * The sum of {@code expression} over pg_stat_user_tables rows of {@code tables}, read afresh
     * (other backends flush their counts at least every second: a 20 s window is off by at most that).
     */
    private long tableStatistic(String expression, String tables) throws SQLException {
        try (Connection c = DriverManager.getConnection(dbUrl); Statement st = c.createStatement()) {
            st.execute("SELECT pg_stat_force_next_flush()");
            st.execute("SELECT pg_stat_clear_snapshot()");
            try (ResultSet rs = st.executeQuery("SELECT coalesce(sum(" + expression + "), 0)"
                    + " FROM pg_stat_user_tables WHERE relname IN (" + tables + ")")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    Instant sessionExpiry(String agent) throws SQLException {
        try (Connection c = DriverManager.getConnection(dbUrl); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT expires_at FROM agent_session WHERE agent_id = '" + agent + "'")) {
            rs.next();
            Timestamp t = rs.getTimestamp(1);
            return t.toInstant();
        }
    }

    static long heapUsedMb(long pid) throws IOException, InterruptedException {
        Path jcmd = Path.of(ProcessHandle.current().info().command().orElseThrow()).resolveSibling("jcmd");
        run(jcmd.toString(), String.valueOf(pid), "GC.run");
        String info = run(jcmd.toString(), String.valueOf(pid), "GC.heap_info");
        var m = java.util.regex.Pattern.compile("used (\\d+)K").matcher(info);
        return m.find() ? Long.parseLong(m.group(1)) / 1024 : -1;
    }

    static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor(30, TimeUnit.SECONDS);
        return out;
    }

    /**
     * Writes/s this server takes from a plain loop: {@link #LOOP_THREADS} threads merge-patching
     * an annotation of the PartitionLeases (the objects the operator's status writes go to, seen
     * by the same watchers) for {@code time}. Each write changes the object (a no-op patch would
     * not reach etcd); a metadata change leaves the generation as it is, so the operator does not
     * reconcile for it (the Java Operator SDK is generation-aware).
     */
    double writeLoop(KubernetesClient client, Duration time) throws Exception {
        LongAdder done = new LongAdder();
        long end = System.nanoTime() + time.toNanos();
        long start = System.nanoTime();
        parallel(LOOP_THREADS, t -> {
            for (int i = t; System.nanoTime() < end; i += LOOP_THREADS) {
                String patch = "{\"metadata\":{\"annotations\":{\"bench.streamhouse.io/loop\":\"" + i + "\"}}}";
                if (TOPIC_MODE) {
                    client.resources(io.streamhouse.lease.api.v1alpha1.StreamTopic.class).inNamespace(NS)
                            .withName("topic-" + (i % size.topics())).patch(PatchContext.of(PatchType.JSON_MERGE), patch);
                } else {
                    int n = i % size.leases();
                    client.resources(PartitionLease.class).inNamespace(NS).withName("t" + (n % TOPICS) + "-p" + (n / TOPICS))
                            .patch(PatchContext.of(PatchType.JSON_MERGE), patch);
                }
                done.increment();
            }
        });
        return done.sum() / ((System.nanoTime() - start) / 1e9);
    }

    /** Waits until the server has served no write for {@code quiet}. */
    static void waitQuiet(BenchApi api, Duration quiet, Duration atMost) {
        long[] last = {api.writes(), System.nanoTime()};
        await("quiet API").atMost(atMost).pollInterval(Duration.ofMillis(250)).until(() -> {
            long now = api.writes();
            if (now != last[0]) {
                last[0] = now;
                last[1] = System.nanoTime();
            }
            return System.nanoTime() - last[1] > quiet.toNanos();
        });
    }

    static void waitFor(String what, Duration atMost, java.util.concurrent.Callable<Boolean> condition) {
        await(what).atMost(atMost).pollInterval(Duration.ofMillis(20)).until(condition);
    }

    interface IntTask {
        void run(int i) throws Exception;
    }

    /** Runs {@code task} for 0..n-1 on a few threads, as many clients would. */
    static void parallel(int n, IntTask task) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int index = i;
                futures.add(pool.submit(() -> {
                    task.run(index);
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
    }

    /** Starts pg_stat_statements' counts afresh (BENCH_PG_STATEMENTS=1). */
    private void resetStatements() throws SQLException {
        if (!PG_STATEMENTS) {
            return;
        }
        try (Connection c = DriverManager.getConnection(dbUrl); Statement st = c.createStatement()) {
            st.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
            st.execute("SELECT pg_stat_statements_reset()");
        }
    }

    /** The statements that took the most database time since {@link #resetStatements} (BENCH_PG_STATEMENTS=1). */
    private void printStatements(String window) throws SQLException {
        if (!PG_STATEMENTS) {
            return;
        }
        try (Connection c = DriverManager.getConnection(dbUrl); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT calls, total_exec_time, rows, toplevel,"
                     + " regexp_replace(left(query, 110), '\\s+', ' ', 'g') FROM pg_stat_statements"
                     + " ORDER BY total_exec_time DESC LIMIT 20")) {
            System.out.printf("database time by statement %s (pg_stat_statements; nested statements are inside their callers' time):%n", window);
            System.out.printf("%8s %10s %9s %8s  %s%n", "calls", "total ms", "mean ms", "rows", "statement");
            while (rs.next()) {
                System.out.printf("%8d %10.1f %9.3f %8d  %s%s%n", rs.getLong(1), rs.getDouble(2), rs.getDouble(2) / Math.max(1, rs.getLong(1)),
                        rs.getLong(3), rs.getBoolean(4) ? "" : "  (nested) ", rs.getString(5));
            }
        }
    }
}
