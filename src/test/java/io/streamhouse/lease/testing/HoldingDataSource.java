package io.streamhouse.lease.testing;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A DataSource that holds chosen statements, to produce an interleaving on purpose: a
 * {@link #before} gate stops the next execution of a statement whose SQL contains a marker just
 * before it reaches the database (a call in flight), an {@link #after} gate just after it
 * returned (committed, in autocommit), until the gate is released. The wait ignores interrupts,
 * as a JDBC call on the wire does (the interrupt stays set for the caller to see afterwards).
 * Every execution of a prepared statement is counted by SQL text ({@link #executions}).
 */
public final class HoldingDataSource implements DataSource {

    /** One hold: the next execution of a statement containing {@code marker}. */
    public static final class Gate {
        private final String marker;
        private final boolean after;
        private final CountDownLatch reached = new CountDownLatch(1);
        private final CountDownLatch open = new CountDownLatch(1);
        private volatile Thread thread;
        private volatile boolean used;

        private Gate(String marker, boolean after) {
            this.marker = marker;
            this.after = after;
        }

        /** Waits until a statement is held here; returns the thread that runs it. */
        public Thread awaitHeld(Duration timeout) throws InterruptedException {
            if (!reached.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("no statement containing '" + marker + "' ran within " + timeout);
            }
            return thread;
        }

        /** Lets the held statement go on. */
        public void release() {
            open.countDown();
        }

        private synchronized boolean claim(String sql, boolean afterExecution) {
            if (used || after != afterExecution || !sql.contains(marker)) {
                return false;
            }
            used = true;
            return true;
        }

        private void hold() {
            thread = Thread.currentThread();
            reached.countDown();
            boolean interrupted = false;
            while (true) {
                try {
                    if (open.await(60, TimeUnit.SECONDS)) {
                        break;
                    }
                    throw new IllegalStateException("statement containing '" + marker + "' held and never released");
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private final DataSource delegate;
    private final List<Gate> gates = new CopyOnWriteArrayList<>();
    private final Map<String, AtomicInteger> executions = new ConcurrentHashMap<>();

    public HoldingDataSource(DataSource delegate) {
        this.delegate = delegate;
    }

    /** Holds the next statement containing {@code marker} before it is sent. */
    public Gate before(String marker) {
        Gate g = new Gate(marker, false);
        gates.add(g);
        return g;
    }

    /** Holds the next statement containing {@code marker} after it returned. */
    public Gate after(String marker) {
        Gate g = new Gate(marker, true);
        gates.add(g);
        return g;
    }

    /** How many statements containing {@code marker} have returned so far. */
    public int executions(String marker) {
        return executions.entrySet().stream().filter(e -> e.getKey().contains(marker))
                .mapToInt(e -> e.getValue().get()).sum();
    }

    @Override
    public Connection getConnection() throws SQLException {
        Connection c = delegate.getConnection();
        return (Connection) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {Connection.class},
                new Forward(c, (proxy, method, args) -> {
                    Object result = invoke(c, method, args);
                    if (method.getName().equals("prepareStatement") && args != null && args[0] instanceof String sql) {
                        PreparedStatement ps = (PreparedStatement) result;
                        return Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {PreparedStatement.class},
                                new Forward(ps, (p, m, a) -> {
                                    if (!m.getName().startsWith("execute")) {
                                        return invoke(ps, m, a);
                                    }
                                    gateFor(sql, false);
                                    Object r = invoke(ps, m, a);
                                    executions.computeIfAbsent(sql, k -> new AtomicInteger()).incrementAndGet();
                                    gateFor(sql, true);
                                    return r;
                                }));
                    }
                    return result;
                }));
    }

    private void gateFor(String sql, boolean afterExecution) {
        for (Gate g : gates) {
            if (g.claim(sql, afterExecution)) {
                g.hold();
            }
        }
    }

    private static Object invoke(Object target, Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private record Forward(Object target, InvocationHandler handler) implements InvocationHandler {
        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (method.getName().equals("unwrap") || method.getName().equals("isWrapperFor")) {
                return HoldingDataSource.invoke(target, method, args);
            }
            return handler.invoke(proxy, method, args);
        }
    }

    @Override
    public Connection getConnection(String user, String password) throws SQLException {
        return getConnection();
    }

    @Override
    public PrintWriter getLogWriter() {
        return null;
    }

    @Override
    public void setLogWriter(PrintWriter out) {
    }

    @Override
    public void setLoginTimeout(int seconds) {
    }

    @Override
    public int getLoginTimeout() {
        return 0;
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        throw new SQLException("not a wrapper");
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
        return false;
    }
}
