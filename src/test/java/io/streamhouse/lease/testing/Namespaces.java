package io.streamhouse.lease.testing;

import java.util.concurrent.atomic.AtomicInteger;

/** Namespaces of their own for tests that share one API server, so that tests never see each other. */
public final class Namespaces {

    private static final AtomicInteger RUN = new AtomicInteger();

    private Namespaces() {
    }

    /** {@code prefix}, a counter and a per-JVM tail: unique in this run and across runs on one server. */
    public static String unique(String prefix) {
        return prefix + RUN.incrementAndGet() + "-" + System.nanoTime() % 100000;
    }
}
