package io.streamhouse.lease.operator;

import jakarta.enterprise.context.ApplicationScoped;
import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready only while the lease store answers, the change feed is listening and the database cannot
 * lose an acknowledged commit ({@link DurabilityCheck}): an operator that cannot compare-and-swap,
 * would not hear agents release, or could hand an epoch out twice must not count as ready. (That
 * every informer has synced is the Java Operator SDK's own readiness check, next to this one.)
 */
@Readiness
@ApplicationScoped
public class StoreReadiness implements HealthCheck {

    private final DataSource dataSource;
    private final ChangeNotifications changes;
    private final DurabilityCheck durability;

    public StoreReadiness(DataSource dataSource, ChangeNotifications changes, DurabilityCheck durability) {
        this.dataSource = dataSource;
        this.changes = changes;
        this.durability = durability;
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
        if (!changes.connected()) {
            return response.down().withData("changeFeed", "not connected (reconnecting)").build();
        }
        response.withData("changeFeed", "listening");
        DurabilityCheck.Verdict verdict = durability.verdict();
        if (verdict.message() != null) {
            response.withData("durability", verdict.message());
        }
        return verdict.ready() ? response.up().build() : response.down().build();
    }
}
