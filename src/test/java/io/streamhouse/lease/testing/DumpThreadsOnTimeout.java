package io.streamhouse.lease.testing;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.TimeoutException;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * When a test gives up waiting (Awaitility, a future, a barrier), prints every thread of this
 * JVM with its stack and the locks it holds or waits for, so that a rare hang says where it hung
 * (in a JDBC read: the database; elsewhere: ours) instead of only that it did. The failure is
 * passed on unchanged.
 */
public final class DumpThreadsOnTimeout implements TestExecutionExceptionHandler {

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        if (isTimeout(failure)) {
            StringBuilder out = new StringBuilder("==== threads when " + context.getDisplayName() + " timed out ====\n");
            for (ThreadInfo t : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
                out.append('"').append(t.getThreadName()).append("\" ").append(t.getThreadState());
                if (t.getLockName() != null) {
                    out.append(" on ").append(t.getLockName());
                }
                out.append('\n');
                for (StackTraceElement e : t.getStackTrace()) {
                    out.append("    at ").append(e).append('\n');
                }
            }
            System.out.println(out);
        }
        throw failure;
    }

    static boolean isTimeout(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof ConditionTimeoutException || t instanceof TimeoutException
                    || t instanceof BrokenBarrierException) {
                return true;
            }
        }
        return false;
    }
}
