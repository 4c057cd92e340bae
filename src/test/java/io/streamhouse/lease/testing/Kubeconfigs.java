package io.streamhouse.lease.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Kubeconfig files for operator processes started by benches and suites against a mock API server. */
public final class Kubeconfigs {

    private Kubeconfigs() {
    }

    /** Writes a kubeconfig for {@code apiServer} (no TLS, any token) with {@code namespace} as default. */
    public static Path forMock(Path file, String apiServer, String namespace) throws IOException {
        Files.writeString(file, """
                apiVersion: v1
                kind: Config
                clusters: [{name: mock, cluster: {server: "%s"}}]
                contexts: [{name: mock, context: {cluster: mock, namespace: %s, user: test}}]
                current-context: mock
                users: [{name: test, user: {token: test}}]
                """.formatted(apiServer, namespace));
        return file;
    }
}
