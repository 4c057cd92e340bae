package io.streamhouse.lease.it;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.util.Map;

/** Starts a real API server for a Quarkus test and points the operator's client at it. */
public class RealApiServerResource implements QuarkusTestResourceLifecycleManager {

    static LocalApiServer server;

    @Override
    public Map<String, String> start() {
        try {
            // Watches end every 5-10 s, so every test also exercises informers re-watching.
            server = LocalApiServer.start("--min-request-timeout=5");
        } catch (Exception e) {
            throw new IllegalStateException("could not start the local kube-apiserver: " + e.getMessage(), e);
        }
        return Map.of(
                "quarkus.kubernetes-client.api-server-url", server.server(),
                "quarkus.kubernetes-client.token", server.token(),
                "quarkus.kubernetes-client.trust-certs", "true",
                "quarkus.kubernetes-client.devservices.enabled", "false");
    }

    @Override
    public void stop() {
        if (server != null) {
            try {
                server.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
