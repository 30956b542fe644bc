// FakeAgent.java: a scripted stand-in for the agent's control socket, for the client's edge cases (drops, garbage, silence).
package wxshm;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

final class FakeAgent implements AutoCloseable {
        /** What to do with request number n (from 0, over all connections), the k-th on connection c: a reply, or null to hang up. */
        interface Script {
                String answer(String line, int n, int c, int k) throws Exception;
        }

        /** A reply that is sent as is, with no newline added; without a newline at its end, the connection is closed after it. */
        static final String RAW = "\u0001raw:";
        /** Answer nothing until the client gives up. */
        static final String SILENT = "\u0001silent";

        final Path path;
        final ServerSocketChannel server;
        final Script script;
        final List<String> lines = new CopyOnWriteArrayList<>();
        final LinkedBlockingQueue<String> received = new LinkedBlockingQueue<>();
        final AtomicInteger connections = new AtomicInteger();
        private final Thread acceptor;

        FakeAgent(Path path, Script script) throws IOException {
                this.path = path;
                this.script = script;
                Files.deleteIfExists(path);
                server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                server.bind(UnixDomainSocketAddress.of(path));
                acceptor = new Thread(this::accept, "fake-agent");
                acceptor.setDaemon(true);
                acceptor.start();
        }

        private void accept() {
                try {
                        for (;;) {
                                SocketChannel c = server.accept();
                                int id = connections.getAndIncrement();
                                Thread t = new Thread(() -> serve(c, id), "fake-agent-conn");
                                t.setDaemon(true);
                                t.start();
                        }
                } catch (IOException e) {
                        /* closed */
                }
        }

        private void serve(SocketChannel c, int id) {
                ByteBuffer in = ByteBuffer.allocate(8192);
                StringBuilder line = new StringBuilder();
                int k = 0;
                try (c) {
                        for (;;) {
                                in.clear();
                                if (c.read(in) < 0)
                                        return;
                                in.flip();
                                while (in.hasRemaining()) {
                                        char ch = (char) (in.get() & 0xff);
                                        line.append(ch);
                                        if (ch != '\n')
                                                continue;
                                        String l = line.toString();
                                        line.setLength(0);
                                        int n;
                                        synchronized (lines) {
                                                n = lines.size();
                                                lines.add(l);
                                        }
                                        received.add(l);
                                        String a = script.answer(l, n, id, k++);
                                        if (a == null)
                                                return;
                                        if (a.equals(SILENT)) {
                                                c.read(ByteBuffer.allocate(1));
                                                return;
                                        }
                                        String out = a.startsWith(RAW) ? a.substring(RAW.length()) : a + "\n";
                                        ByteBuffer o = ByteBuffer.wrap(out.getBytes(StandardCharsets.UTF_8));
                                        while (o.hasRemaining())
                                                c.write(o);
                                        if (!out.endsWith("\n"))
                                                return;
                                }
                        }
                } catch (Exception e) {
                        /* the client went away */
                }
        }

        @Override
        public void close() throws IOException {
                server.close();
                Files.deleteIfExists(path);
        }
}
