package io.streamhouse.lease.store;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * What the database promises about an acknowledged commit. Epoch fencing is only as good as that
 * promise: if an acknowledged holder change can be lost, an epoch can be handed out twice.
 *
 * @param standbys                streaming standbys connected now (pg_stat_replication)
 * @param synchronousStandbyNames empty when no standby has to confirm a commit
 */
public record Durability(boolean fsync, boolean fullPageWrites, String synchronousCommit,
                         String synchronousStandbyNames, int standbys) {

    /** Reads the server's settings (one query). */
    public static Durability read(DataSource dataSource) {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(LeaseSql.DURABILITY)) {
            rs.next();
            Durability d = new Durability(rs.getBoolean(1), rs.getBoolean(2), rs.getString(3), rs.getString(4),
                    rs.getInt(5));
            if (!c.getAutoCommit()) {
                c.commit();
            }
            return d;
        } catch (SQLException e) {
            throw PostgresLeaseStore.failure("read the database's durability settings", e);
        }
    }

    /**
     * How an acknowledged commit can be lost, one sentence each; empty when the settings promise
     * it cannot. {@code synchronous_commit} as the server sets it is not a risk: every lease
     * transaction sets it on for itself (and with a synchronous standby, on waits for it).
     */
    public List<String> risks() {
        List<String> risks = new ArrayList<>();
        if (!fsync) {
            risks.add("fsync is off: a crash of the database host can lose acknowledged commits");
        }
        if (!fullPageWrites) {
            risks.add("full_page_writes is off: a crash can leave torn pages and lose acknowledged commits");
        }
        if (standbys > 0 && synchronousStandbyNames.isBlank()) {
            risks.add(standbys + " standby(s) replicate asynchronously (synchronous_standby_names is empty):"
                    + " promoting one can lose acknowledged commits");
        }
        return risks;
    }

    public boolean durable() {
        return risks().isEmpty();
    }
}
