// TestMain.java: runs JUnit 5 test classes and prints one PASS:/FAIL:/SKIP: line per test, as bindings/*/test.sh report.
package wxshm;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Usage: TestMain PREFIX CLASS... Each test method prints "PASS: PREFIX/Class.method" (or FAIL
 * with the reason, or SKIP with why); exits 1 if any failed, or if none ran at all.
 */
public final class TestMain {
        private TestMain() {
        }

        public static void main(String[] args) throws Exception {
                String prefix = args[0];
                List<org.junit.platform.engine.DiscoverySelector> sel = new ArrayList<>();
                for (int i = 1; i < args.length; i++)
                        sel.add(DiscoverySelectors.selectClass(Class.forName(args[i])));
                LauncherDiscoveryRequest req = LauncherDiscoveryRequestBuilder.request().selectors(sel).build();
                AtomicInteger failed = new AtomicInteger(), ran = new AtomicInteger();

                TestExecutionListener l = new TestExecutionListener() {
                        private String name(TestIdentifier id) {
                                /* A dynamic test (one sample) by its display name, a method by its own. */
                                String s = id.getUniqueId().contains("[dynamic-test:") ? id.getDisplayName() : id.getLegacyReportingName();
                                String cls = id.getSource().map(src -> src instanceof org.junit.platform.engine.support.descriptor.MethodSource
                                        ? ((org.junit.platform.engine.support.descriptor.MethodSource) src).getClassName() : "")
                                        .orElse("");
                                cls = cls.substring(cls.lastIndexOf('.') + 1);
                                return prefix + "/" + (cls.isEmpty() ? "" : cls + ".") + s.replaceAll("\\(.*\\)$", "");
                        }

                        @Override
                        public void executionSkipped(TestIdentifier id, String reason) {
                                System.out.println("SKIP: " + name(id) + " (" + reason + ")");
                        }

                        @Override
                        public void executionFinished(TestIdentifier id, TestExecutionResult r) {
                                if (!id.isTest()) {
                                        /* A class that failed to start (its @BeforeAll) fails all of it. */
                                        if (r.getStatus() == TestExecutionResult.Status.FAILED) {
                                                failed.incrementAndGet();
                                                System.out.println("FAIL: " + prefix + "/" + id.getDisplayName() + " (" +
                                                                   r.getThrowable().map(Throwable::toString).orElse("?") + ")");
                                        }
                                        return;
                                }
                                switch (r.getStatus()) {
                                case SUCCESSFUL:
                                        ran.incrementAndGet();
                                        System.out.println("PASS: " + name(id));
                                        break;
                                case ABORTED:
                                        System.out.println("SKIP: " + name(id) + " (" +
                                                           r.getThrowable().map(Throwable::getMessage).orElse("aborted") + ")");
                                        break;
                                default:
                                        ran.incrementAndGet();
                                        failed.incrementAndGet();
                                        Throwable t = r.getThrowable().orElse(null);
                                        System.out.println("FAIL: " + name(id) + " (" + (t == null ? "?" : t.toString()) + ")");
                                        if (t != null && System.getenv("WXJAVA_TRACE") != null)
                                                t.printStackTrace(System.out);
                                }
                                System.out.flush();
                        }
                };
                Launcher launcher = LauncherFactory.create();
                launcher.execute(req, l);
                System.exit(failed.get() > 0 || ran.get() == 0 ? 1 : 0);
        }
}
