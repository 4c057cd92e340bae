package io.streamhouse.lease.testing;

import com.zaxxer.hikari.HikariDataSource;
import io.streamhouse.lease.store.PostgresLeaseStore;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The one database set-up of store-level tests: a fresh migrated database per test class
 * ({@link TestDatabases}), a store on it, and empty tables before every test.
 * <pre>{@code @RegisterExtension static final StoreDatabase db = new StoreDatabase("store", 8);}</pre>
 * Extra tables a test class writes are created by {@code ddl} and emptied with the lease tables.
 */
public final class StoreDatabase implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback {

    private final String prefix;
    private final int poolSize;
    private final List<String> ddl;
    private final List<String> ownTables;
    private HikariDataSource dataSource;
    private PostgresLeaseStore store;

    public StoreDatabase(String prefix, int poolSize) {
        this(prefix, poolSize, List.of(), List.of());
    }

    /** @param ddl statements creating the test's own tables; @param ownTables those tables, emptied before each test */
    public StoreDatabase(String prefix, int poolSize, List<String> ddl, List<String> ownTables) {
        this.prefix = prefix;
        this.poolSize = poolSize;
        this.ddl = List.copyOf(ddl);
        this.ownTables = List.copyOf(ownTables);
    }

    @Override
    public void beforeAll(ExtensionContext context) throws SQLException {
        dataSource = TestDatabases.fresh(prefix, poolSize);
        store = new PostgresLeaseStore(dataSource);
        for (String sql : ddl) {
            execute(sql);
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) throws SQLException {
        // TRUNCATE is not a row-level DELETE, so the append-only trigger on lease_history lets tests reset.
        execute("TRUNCATE agent_session, partition_lease, lease_history, lease_handoff, lease_agent_change,"
                + " lease_agent_change_log");
        for (String table : ownTables) {
            execute("TRUNCATE " + table);
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (dataSource != null) {
            dataSource.close();
        }
    }

    public HikariDataSource dataSource() {
        return dataSource;
    }

    public PostgresLeaseStore store() {
        return store;
    }

    /** One statement, in its own transaction. */
    public void execute(String sql) throws SQLException {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
