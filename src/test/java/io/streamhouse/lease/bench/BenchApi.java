package io.streamhouse.lease.bench;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.streamhouse.lease.it.LocalApiServer;
import io.streamhouse.lease.testing.Kubeconfigs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The API server a bench runs against, and what it served: either the Fabric8 mock (in this
 * process, one request at a time, every request counted and timed by its dispatcher) or a real
 * kube-apiserver + etcd on loopback (its own {@code apiserver_request_total} and request duration
 * metrics, read from {@code /metrics}). Writes are anything but reads and watches; the leader
 * election lease (group coordination.k8s.io) is counted apart.
 */
interface BenchApi extends AutoCloseable {

    /** What the summary calls it. */
    String label();

    /** A client for the bench itself. */
    KubernetesClient client();

    /** A kubeconfig for the operator process, written under {@code dir}. */
    Path kubeconfig(Path dir, String namespace) throws IOException;

    /** Requests served so far by kind ("PATCH partitionleases/status"): {count, nanoseconds spent}. */
    Map<String, long[]> requests();

    /** Writes served so far, leader election apart. */
    default long writes() {
        return sum(requests(), false);
    }

    /** Writes served so far, leader election and Events apart. */
    default long writesButEvents() {
        return writes() - requests().entrySet().stream().filter(e -> e.getKey().startsWith("POST events"))
                .mapToLong(e -> e.getValue()[0]).sum();
    }

    /** Writes to the leader election lease so far. */
    default long leaderWrites() {
        return sum(requests(), true);
    }

    /** What the "time" column of {@link #since} means for this server. */
    String timeMeaning();

    @Override
    void close() throws Exception;

    private static long sum(Map<String, long[]> requests, boolean leader) {
        long n = 0;
        for (var e : requests.entrySet()) {
            String[] verbAndResource = e.getKey().split(" ", 2);
            String verb = verbAndResource[0];
            String resource = verbAndResource[1].split("/")[0];
            boolean read = verb.equals("GET") || verb.equals("LIST") || verb.equals("WATCH");
            if (!read && resource.equals("leases") == leader) {
                n += e.getValue()[0];
            }
        }
        return n;
    }

    /** Requests by kind since {@code before}: count and the server's time on them. */
    default String since(Map<String, long[]> before) {
        StringBuilder out = new StringBuilder();
        requests().entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            long[] b = before.getOrDefault(e.getKey(), new long[2]);
            long n = e.getValue()[0] - b[0];
            if (n > 0) {
                out.append(String.format("    %-44s %6d requests, %s %8.1f ms%n", e.getKey(), n, timeMeaning(),
                        (e.getValue()[1] - b[1]) / 1e6));
            }
        });
        return out.toString();
    }

    // ------------------------------------------------------------------ the mock

    static BenchApi mock() {
        return new Mock();
    }

    /** The Fabric8 mock in CRUD mode: serves one request at a time, so its time is "busy" time. */
    final class Mock implements BenchApi {
        private final CountingDispatcher dispatcher = new CountingDispatcher();
        private final KubernetesMockServer server;
        private final KubernetesClient client;

        Mock() {
            server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
            server.init();
            client = server.createClient();
        }

        @Override
        public String label() {
            return "Fabric8 mock API server";
        }

        @Override
        public KubernetesClient client() {
            return client;
        }

        @Override
        public Path kubeconfig(Path dir, String namespace) throws IOException {
            return Kubeconfigs.forMock(dir.resolve("kubeconfig-mock"), server.url("/"), namespace);
        }

        @Override
        public Map<String, long[]> requests() {
            return dispatcher.snapshot();
        }

        @Override
        public String timeMeaning() {
            return "mock busy";
        }

        @Override
        public void close() {
            client.close();
            server.destroy();
        }
    }

    /** Counts and times every request the mock serves, by kind. */
    final class CountingDispatcher extends KubernetesCrudDispatcher {
        private final Map<String, long[]> byKind = new ConcurrentHashMap<>();
        final LongAdder served = new LongAdder();

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            long start = System.nanoTime();
            try {
                return super.dispatch(request);
            } finally {
                long took = System.nanoTime() - start;
                long[] c = byKind.computeIfAbsent(kind(request), k -> new long[2]);
                synchronized (c) {
                    c[0]++;
                    c[1] += took;
                }
                served.increment();
            }
        }

        Map<String, long[]> snapshot() {
            Map<String, long[]> copy = new HashMap<>();
            byKind.forEach((k, c) -> {
                synchronized (c) {
                    copy.put(k, c.clone());
                }
            });
            return copy;
        }

        /** "PATCH partitionleases/status", "WATCH partitionleases", "POST events"... as the real server says. */
        static String kind(RecordedRequest request) {
            String path = request.getPath();
            int q = path.indexOf('?');
            String query = q < 0 ? "" : path.substring(q + 1);
            String[] parts = (q < 0 ? path : path.substring(0, q)).split("/");
            String resource = "?";
            String sub = "";
            boolean named = false;
            for (int i = 0; i < parts.length; i++) {
                if (parts[i].equals("namespaces") && i + 2 < parts.length) {
                    resource = parts[i + 2];
                    named = i + 3 < parts.length;
                    sub = i + 4 < parts.length ? "/" + parts[i + 4] : "";
                    break;
                }
            }
            if (resource.equals("?") && parts.length > 0) {
                resource = parts[parts.length - 1];
            }
            String verb = request.getMethod();
            if (verb.equals("GET")) {
                verb = query.contains("watch=true") ? "WATCH" : named ? "GET" : "LIST";
            }
            return verb + " " + resource + sub;
        }
    }

    // ------------------------------------------------------------------ a real API server

    static BenchApi real() throws IOException, InterruptedException {
        return new Real(LocalApiServer.start(null));
    }

    /**
     * kube-apiserver v1.20.2 + etcd (hack/kube-apiserver) on loopback. It serves requests
     * concurrently, so its time is the sum of request durations, not a busy time.
     */
    final class Real implements BenchApi {
        private static final Pattern SAMPLE = Pattern.compile("^(apiserver_request_total|apiserver_request_duration_seconds_sum)\\{(.*)} (\\S+)$");
        private static final Pattern LABEL = Pattern.compile("(\\w+)=\"([^\"]*)\"");
        private final LocalApiServer server;
        private final KubernetesClient client;

        Real(LocalApiServer server) {
            this.server = server;
            Config config = new ConfigBuilder(Config.fromKubeconfig(readKubeconfig(server.kubeconfig())))
                    .withMaxConcurrentRequests(64).withMaxConcurrentRequestsPerHost(32).build();
            this.client = new KubernetesClientBuilder().withConfig(config).build();
        }

        private static String readKubeconfig(Path path) {
            try {
                return Files.readString(path);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public String label() {
            return "kube-apiserver v1.20.2 + etcd";
        }

        @Override
        public KubernetesClient client() {
            return client;
        }

        @Override
        public Path kubeconfig(Path dir, String namespace) {
            return server.kubeconfig();
        }

        @Override
        public Map<String, long[]> requests() {
            Map<String, long[]> out = new HashMap<>();
            String metrics = client.raw("/metrics");
            for (String line : metrics.split("\n")) {
                Matcher m = SAMPLE.matcher(line);
                if (!m.matches()) {
                    continue;
                }
                Map<String, String> labels = new HashMap<>();
                Matcher l = LABEL.matcher(m.group(2));
                while (l.find()) {
                    labels.put(l.group(1), l.group(2));
                }
                String resource = labels.getOrDefault("resource", "");
                if (resource.isEmpty()) {
                    continue; // /metrics, /readyz...
                }
                String sub = labels.getOrDefault("subresource", "");
                String kind = labels.get("verb") + " " + resource + (sub.isEmpty() ? "" : "/" + sub);
                double value = Double.parseDouble(m.group(3));
                long[] c = out.computeIfAbsent(kind, k -> new long[2]);
                if (m.group(1).equals("apiserver_request_total")) {
                    c[0] += (long) value;
                } else {
                    c[1] += (long) (value * 1e9);
                }
            }
            return out;
        }

        @Override
        public String timeMeaning() {
            return "in server";
        }

        @Override
        public void close() throws Exception {
            client.close();
            server.close();
        }
    }
}
