package io.streamhouse.lease.store;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** With no database to talk to, every operation fails fast with one clear error. */
class StoreUnavailableTest {

    HikariDataSource dataSource;
    LeaseStore store;

    @BeforeEach
    void pointAtAClosedPort() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort(); // free now, and nothing will listen on it
        }
        dataSource = Database.pool(new Database.PoolSettings(
                "jdbc:postgresql://127.0.0.1:" + port + "/streamhouse", "u", "p", 2, Duration.ofMillis(1500)));
        store = new PostgresLeaseStore(dataSource);
    }

    @AfterEach
    void close() {
        dataSource.close();
    }

    @Test
    void everyOperationReportsTheStoreAsUnavailable() {
        AgentId a = AgentId.of("agent-a");
        LeaseKey key = LeaseKey.of("orders", 0);

        assertThatThrownBy(() -> store.acquire(AcquireRequest.ifFree(key, a, 1), "Assigned"))
                .isInstanceOf(StoreUnavailableException.class)
                .hasMessageStartingWith("lease store unavailable: could not acquire orders/0");
        assertThatThrownBy(() -> store.renew(a, 1))
                .isInstanceOf(StoreUnavailableException.class)
                .hasMessageStartingWith("lease store unavailable: could not renew agent-a");
        assertThatThrownBy(() -> store.fenced(key, a, 1, 1, c -> 1))
                .isInstanceOf(StoreUnavailableException.class);
        assertThatThrownBy(() -> store.validate(key, a, 1, 1))
                .isInstanceOf(StoreUnavailableException.class);
    }

    @Test
    void refusesAUrlThatIsNotPostgres() {
        assertThatThrownBy(() -> new Database.PoolSettings("jdbc:mysql://x/y?password=secret", "u", "p", 1, Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("database url must start with jdbc:postgresql:, got jdbc:mysql://x/y?password=***");
    }
}
