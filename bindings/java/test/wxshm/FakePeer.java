// FakePeer.java: a socket server run as another user (ClientTest's peer check): says "ready", then counts the requests of its one client.
package wxshm;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

public final class FakePeer {
        private FakePeer() {
        }

        public static void main(String[] args) throws Exception {
                ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                s.bind(UnixDomainSocketAddress.of(Path.of(args[0])));
                System.out.println("ready");
                System.out.flush();
                int requests = 0;
                try (SocketChannel c = s.accept()) {
                        ByteBuffer b = ByteBuffer.allocate(8192);
                        int n;
                        while ((n = c.read(b)) > 0) {
                                for (int i = 0; i < b.position(); i++)
                                        requests += b.get(i) == '\n' ? 1 : 0;
                                b.clear();
                        }
                }
                System.out.println("requests " + requests);
                System.out.flush();
        }
}
