package io.streamhouse.lease.operator;

import jakarta.enterprise.context.ApplicationScoped;
import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready only while the lease store answers and the change feed is listening: an operator that
 * cannot compare-and-swap, or would not hear agents release, must not count as ready. (That
 * every informer has synced is the Java Operator SDK's own readiness check, next to this one.)
 */
@Readiness
@ApplicationScoped
public class StoreReadiness implements HealthCheck {

    private final DataSource dataSource;
    private final ChangeNotifications changes;

    public StoreReadiness(DataSource dataSource, ChangeNotifications changes) {
        this.dataSource = dataSource;
        this.changes = changes;
    }

    @Override
    public HealthCheckResponse call() {
        var response = HealthCheckResponse.named("lease-store");
        try (Connection c = dataSource.getConnection()) {
            if (!c.isValid(2)) {
                return response.down().withData("error", "connection not valid").build();
            }
        } catch (SQLException | RuntimeException e) {
            return response.down().withData("error", String.valueOf(e.getMessage())).build();
        }
        return changes.connected()
                ? response.up().withData("changeFeed", "listening").build()
                : response.down().withData("changeFeed", "not connected (reconnecting)").build();
    }
}
