package io.streamhouse.lease.store;

import io.streamhouse.lease.model.AgentId;
import io.streamhouse.lease.model.LeaseKey;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * Tells a listener, moments after commit, which leases changed holder and which sessions started
 * or ended, whoever made the change (the operator, an agent releasing, an agent shutting down).
 * Built on PostgreSQL LISTEN/NOTIFY (see V2__change_notifications.sql) over one dedicated
 * connection, reconnecting with backoff when it drops.
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

    /** A change of holder: {@code holder} is null when the lease was released. */
    public record LeaseChange(LeaseKey key, long epoch, AgentId holder) {
    }

    /** Called on the feed's own thread; must be quick (hand work to another thread or queue). */
    public interface Listener {
        void leaseChanged(LeaseChange change);

        void sessionChanged(AgentId agent);

        /** The feed (re)connected: changes made meanwhile were not reported. */
        void resynced();
    }

    private final DataSource dataSource;
    private final Listener listener;
    private final Thread thread;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean running = true;
    private volatile boolean connected;

    private ChangeFeed(DataSource dataSource, Listener listener) {
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.listener = Objects.requireNonNull(listener, "listener");
        this.thread = new Thread(this::run, "lease-change-feed");
        this.thread.setDaemon(true);
    }

    public static ChangeFeed start(DataSource dataSource, Listener listener) {
        ChangeFeed feed = new ChangeFeed(dataSource, listener);
        feed.thread.start();
        return feed;
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
                    statement.execute("LISTEN " + LEASE_CHANNEL);
                    statement.execute("LISTEN " + SESSION_CHANNEL);
                }
                PGConnection pg = connection.unwrap(PGConnection.class);
                connected = true;
                if (warned) {
                    LOG.log(System.Logger.Level.INFO, "lease change feed reconnected");
                }
                warned = false;
                backoff = Duration.ofMillis(250);
                safely(listener::resynced);
                while (running) {
                    PGNotification[] notifications = pg.getNotifications((int) POLL.toMillis());
                    if (notifications != null) {
                        for (PGNotification n : notifications) {
                            dispatch(n.getName(), n.getParameter());
                        }
                    }
                }
            } catch (SQLException | RuntimeException e) {
                connected = false;
                if (!running) {
                    break;
                }
                if (!warned) {
                    LOG.log(System.Logger.Level.WARNING, "lease change feed lost its connection (" + e.getMessage()
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

    private void dispatch(String channel, String payload) {
        try {
            if (SESSION_CHANNEL.equals(channel)) {
                listener.sessionChanged(AgentId.of(payload));
            } else if (LEASE_CHANNEL.equals(channel)) {
                listener.leaseChanged(parse(payload));
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "ignored a change notification on " + channel + " (" + payload + ")", e);
        }
    }

    /** Parses "topic/partition epoch holder" (holder empty when released). */
    static LeaseChange parse(String payload) {
        String[] parts = payload.split(" ", -1);
        if (parts.length != 3) {
            throw new IllegalArgumentException("expected 'topic/partition epoch holder', got '" + payload + "'");
        }
        int slash = parts[0].lastIndexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("expected topic/partition, got '" + parts[0] + "'");
        }
        LeaseKey key = LeaseKey.of(parts[0].substring(0, slash), Integer.parseInt(parts[0].substring(slash + 1)));
        return new LeaseChange(key, Long.parseLong(parts[1]), parts[2].isEmpty() ? null : AgentId.of(parts[2]));
    }

    private void safely(Runnable action) {
        try {
            action.run();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "lease change listener failed on resync", e);
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
