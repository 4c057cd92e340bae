package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * Tells a listener, moments after commit, what changed, whoever made the change (the operator,
 * an agent releasing, an agent shutting down). Two kinds: the operator's feed ({@link #start}:
 * every change of holder and every session that starts or ends, V2__change_notifications.sql)
 * and an agent's feed ({@link #forAgent}: its own channel, V5__agent_channel.sql). Built on
 * PostgreSQL LISTEN/NOTIFY over one dedicated connection, reconnecting with backoff when it drops.
 *
 * <p>A hint, never the truth: notifications sent while the connection was down are lost, so
 * after every (re)connect the listener is told to {@link Listener#resynced() look again} at
 * what it is waiting for. Listeners must read the row before acting.
 */
public final class ChangeFeed implements AutoCloseable {

    static final String LEASE_CHANNEL = "streamhouse_lease";
    static final String SESSION_CHANNEL = "streamhouse_session";
    private static final Duration POLL = Duration.ofMillis(500);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    private static final System.Logger LOG = System.getLogger(ChangeFeed.class.getName());

    /**
     * A change of holder: {@code holder} is null when the lease was released, {@code previous}
     * when it had none (or the payload came from a schema before V5, which did not name it).
     */
    public record LeaseChange(LeaseKey key, long epoch, AgentId holder, AgentId previous) {
    }

    /** Called on the feed's own thread; must be quick (hand work to another thread or queue). */
    public interface Listener {
        void leaseChanged(LeaseChange change);

        void sessionChanged(AgentId agent);

        /**
         * The agent's session {@code sessionEpoch} is over (ended by its agent, or expired), as
         * the database said when the feed read it, right after the notification: reported
         * before {@link #sessionChanged}. A newer incarnation, if one has started since, is not
         * reported ended.
         */
        default void sessionEnded(AgentId agent, long sessionEpoch) {
        }

        /**
         * Every notification read together has been reported. The notifications of one
         * transaction are sent together at its commit (a graceful stop ends the session and
         * releases every lease at once), so a listener that waits for this before acting sees
         * the whole transaction, unless the network split it.
         */
        default void endOfBatch() {
        }

        /** The feed (re)connected: changes made meanwhile were not reported. */
        void resynced();
    }

    /** What a feed listens to and whom it tells. */
    private interface Subscription {
        /** The channels to LISTEN on, read on each (re)connect. */
        List<String> channels(Connection connection) throws SQLException;

        /** {@code connection} is the feed's own, for a follow-up read; a failure there reconnects. */
        void notified(Connection connection, String channel, String payload) throws SQLException;

        default void endOfBatch() {
        }

        void resynced();
    }

    private final DataSource dataSource;
    private final Subscription subscription;
    private final String name;
    private final Thread thread;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean running = true;
    private volatile boolean connected;

    private ChangeFeed(DataSource dataSource, String name, Subscription subscription) {
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.subscription = subscription;
        this.name = name;
        this.thread = new Thread(this::run, name);
        this.thread.setDaemon(true);
    }

    /** The operator's feed: every change of holder and every session that starts or ends. */
    public static ChangeFeed start(DataSource dataSource, Listener listener) {
        Objects.requireNonNull(listener, "listener");
        ChangeFeed feed = new ChangeFeed(dataSource, "lease-change-feed", new Subscription() {
            @Override
            public List<String> channels(Connection connection) {
                return List.of(LEASE_CHANNEL, SESSION_CHANNEL);
            }

            @Override
            public void notified(Connection connection, String channel, String payload) throws SQLException {
                if (SESSION_CHANNEL.equals(channel)) {
                    AgentId agent = AgentId.of(payload);
                    Long ended = endedSession(connection, agent);
                    if (ended != null) {
                        listener.sessionEnded(agent, ended);
                    }
                    listener.sessionChanged(agent);
                } else if (LEASE_CHANNEL.equals(channel)) {
                    listener.leaseChanged(parse(payload));
                }
            }

            @Override
            public void endOfBatch() {
                listener.endOfBatch();
            }

            @Override
            public void resynced() {
                listener.resynced();
            }
        });
        feed.thread.start();
        return feed;
    }

    /**
     * One agent's feed, on its own channel ({@code lease_agent_channel}): {@code lookAgain} runs
     * when a lease came to the agent or left it, when a handoff is asked of it, and after every
     * (re)connect (notifications sent meanwhile are lost). The payload is never read: the agent
     * asks the database what it holds ({@link LeaseStore#assignments}).
     */
    public static ChangeFeed forAgent(DataSource dataSource, AgentId agent, Runnable lookAgain) {
        Objects.requireNonNull(agent, "agent");
        Objects.requireNonNull(lookAgain, "lookAgain");
        ChangeFeed feed = new ChangeFeed(dataSource, "streamhouse-lease-feed", new Subscription() {
            @Override
            public List<String> channels(Connection connection) throws SQLException {
                return List.of(agentChannel(connection, agent));
            }

            @Override
            public void notified(Connection connection, String channel, String payload) {
                lookAgain.run();
            }

            @Override
            public void resynced() {
                lookAgain.run();
            }
        });
        feed.thread.start();
        return feed;
    }

    /** The agent's channel, as the schema names it (lease_agent_channel: one definition for every language). */
    static String agentChannel(Connection connection, AgentId agent) throws SQLException {
        try (PreparedStatement ps = connection.prepareStatement(LeaseSql.AGENT_CHANNEL)) {
            ps.setString(1, agent.value());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        }
    }

    /**
     * The agent's session epoch when the database says that session is over, else null (live,
     * or no session). Read on the feed's connection: one primary-key read per session change,
     * which never waits for the pool.
     */
    static Long endedSession(Connection connection, AgentId agent) throws SQLException {
        try (PreparedStatement ps = connection.prepareStatement(LeaseSql.ENDED_SESSION)) {
            ps.setString(1, agent.value());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : null;
            }
        }
    }

    /** Whether the feed is listening now (for readiness and tests). */
    public boolean connected() {
        return connected;
    }

    private void run() {
        Duration backoff = Duration.ofMillis(250);
        boolean warned = false;
        while (running) {
            try (Connection connection = dataSource.getConnection()) {
                connection.setAutoCommit(true);
                try (Statement statement = connection.createStatement()) {
                    for (String channel : subscription.channels(connection)) {
                        if (!channel.matches("[a-z0-9_]+")) {
                            throw new IllegalStateException("unexpected channel name '" + channel + "'");
                        }
                        statement.execute("LISTEN " + channel);
                    }
                }
                PGConnection pg = connection.unwrap(PGConnection.class);
                connected = true;
                if (warned) {
                    LOG.log(System.Logger.Level.INFO, name + " reconnected");
                }
                warned = false;
                backoff = Duration.ofMillis(250);
                safely(subscription::resynced);
                try {
                    while (running) {
                        PGNotification[] notifications = pg.getNotifications((int) POLL.toMillis());
                        if (notifications != null) {
                            for (PGNotification n : notifications) {
                                dispatch(connection, n.getName(), n.getParameter());
                            }
                            safely(subscription::endOfBatch);
                        }
                    }
                } finally {
                    unlisten(connection);
                }
            } catch (SQLException | RuntimeException e) {
                connected = false;
                if (!running) {
                    break;
                }
                if (!warned) {
                    LOG.log(System.Logger.Level.WARNING, name + " lost its connection (" + e.getMessage()
                            + "); reconnecting with backoff, reactions fall back to periodic checks meanwhile");
                    warned = true;
                }
                if (awaitStop(backoff)) {
                    break;
                }
                backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
            }
        }
        connected = false;
        stopped.countDown();
    }

    /**
     * A pooled connection goes back to its pool still listening unless told otherwise, and the
     * driver then buffers every notification for whoever borrows it next, without bound.
     */
    private static void unlisten(Connection connection) {
        try (Statement statement = connection.createStatement()) {
            statement.execute("UNLISTEN *");
        } catch (SQLException | RuntimeException e) {
            // A broken connection listens to nothing any more; the pool discards it.
        }
    }

    private void dispatch(Connection connection, String channel, String payload) throws SQLException {
        try {
            subscription.notified(connection, channel, payload);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "ignored a change notification on " + channel + " (" + payload + ")", e);
        }
    }

    /** Parses "topic/partition epoch holder previous" (V5; V2 sent no previous); a holder is empty when none. */
    static LeaseChange parse(String payload) {
        String[] parts = payload.split(" ", -1);
        if (parts.length != 3 && parts.length != 4) {
            throw new IllegalArgumentException("expected 'topic/partition epoch holder previous', got '" + payload + "'");
        }
        int slash = parts[0].lastIndexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("expected topic/partition, got '" + parts[0] + "'");
        }
        LeaseKey key = LeaseKey.of(parts[0].substring(0, slash), Integer.parseInt(parts[0].substring(slash + 1)));
        return new LeaseChange(key, Long.parseLong(parts[1]), agentOrNull(parts[2]),
                parts.length == 4 ? agentOrNull(parts[3]) : null);
    }

    private static AgentId agentOrNull(String value) {
        return value.isEmpty() ? null : AgentId.of(value);
    }

    private void safely(Runnable action) {
        try {
            action.run();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, name + ": listener failed", e);
        }
    }

    /** Waits for {@code delay} unless closed meanwhile; true when closed. */
    private boolean awaitStop(Duration delay) {
        long deadline = System.nanoTime() + delay.toNanos();
        synchronized (this) {
            while (running) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(this, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return true;
                }
            }
        }
        return true;
    }

    @Override
    public void close() {
        running = false;
        synchronized (this) {
            notifyAll();
        }
        try {
            // The poll returns within POLL; give it a little more before leaving it to die as a daemon.
            stopped.await(POLL.toMillis() * 4, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
