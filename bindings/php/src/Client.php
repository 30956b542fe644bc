<?php
// Client.php: refresh over the agent's Unix socket, one kept-open connection, with the server's uid checked.
declare(strict_types=1);

namespace WxShm;

/**
 * @internal PHP runs one request at a time per process, so there is nothing to coalesce within
 * a process beyond Segment::refresh() answering from the segment when it is already newer; the
 * agent shares one upstream call among all processes waiting for the same generation.
 */
final class Client
{
    /** @var resource|null */
    private $conn = null;

    public function __construct(private string $path, private string $dir) {}

    /** [generation, token or null] for a refresh of $item's $generation; throws Exception. */
    public function refresh(string $item, int $generation, int $timeoutMs): array
    {
        if ($timeoutMs <= 0)
            $timeoutMs = 5000;
        $timeoutMs = min($timeoutMs, 60000);
        $line = json_encode(['op' => 'refresh', 'app' => $item, 'generation' => $generation,
                             'timeout_ms' => $timeoutMs, 'token' => true]) . "\n";
        for ($attempt = 0; ; $attempt++) {
            $reused = $this->conn !== null;
            $c = $this->conn ??= $this->connect($item);
            stream_set_timeout($c, intdiv($timeoutMs + 1000, 1000), (($timeoutMs + 1000) % 1000) * 1000);
            $sent = @fwrite($c, $line);
            $reply = $sent === strlen($line) ? fgets($c, 16384) : false;
            if ($reply !== false && str_ends_with($reply, "\n"))
                break;
            $timedOut = stream_get_meta_data($c)['timed_out'];
            $this->close();
            if ($timedOut)
                throw Exception::of(Errno::ETIMEDOUT, $item, 'no reply from the agent in time');
            // A kept connection the agent closed (idle, or evicted): once more on a new one.
            if (!$reused || $attempt > 0 || $reply !== false)
                throw Exception::of(Errno::EPROTO, $item, 'the agent closed the connection');
        }
        $j = json_decode($reply, true);
        if (!is_array($j) || !isset($j['ok']))
            throw Exception::of(Errno::EPROTO, $item);
        if ($j['ok'] === true) {
            if (!is_int($j['generation'] ?? null))
                throw Exception::of(Errno::EPROTO, $item, 'no generation in the reply');
            return [$j['generation'], is_string($j['token'] ?? null) ? $j['token'] : null];
        }
        $errno = match ($j['error'] ?? null) {
            'rate_limited' => Errno::EAGAIN,
            'timeout' => Errno::ETIMEDOUT,
            'upstream_failed' => Errno::EIO,
            'too_many_waiters' => Errno::EBUSY,
            'permission_denied' => Errno::EACCES,
            'unknown_app' => Errno::ENOENT,
            'shutting_down' => Errno::ECONNREFUSED,
            default => Errno::EPROTO,
        };
        if ($errno !== Errno::EAGAIN)
            throw Exception::of($errno, $item, is_string($j['message'] ?? null) ? $j['message'] : null);
        $e = new RateLimited(Errno::EAGAIN, 'EAGAIN', 'rate limited: forced refreshes are spaced', $item);
        $e->retryAfterMs = is_int($j['retry_after_ms'] ?? null) ? $j['retry_after_ms'] : null;
        throw $e;
    }

    /** @return resource */
    private function connect(string $item)
    {
        $c = @stream_socket_client("unix://{$this->path}", $errno, $errstr, 5);
        if ($c === false) {
            // PHP gives the connect errno; ENOENT (no socket) and ECONNREFUSED as libwxshm.
            throw Exception::of(match ($errno) {
                Errno::ENOENT, Errno::EACCES, Errno::ECONNREFUSED => $errno,
                default => Errno::ECONNREFUSED,
            }, $item, "cannot connect to {$this->path}: $errstr");
        }
        $uid = self::peerUid($c) ?? @fileowner($this->path);
        $owner = @fileowner($this->dir);
        if ($uid === false || $owner === false || ($uid !== 0 && $uid !== $owner)) {
            fclose($c);
            throw Exception::of(Errno::EPERM, $item, 'the socket\'s server is neither the segment\'s owner nor root');
        }
        return $c;
    }

    /**
     * The server's uid, or null if PHP cannot tell. PHP's socket_get_option() reads only the first
     * int of SO_PEERCRED's struct ucred, the pid; the uid is then that process's effective uid from
     * /proc. Without the sockets extension or /proc, the caller falls back to the socket file's
     * owner, which is weaker (it says who made the file, not who answers on it).
     */
    private static function peerUid($c): ?int
    {
        if (!function_exists('socket_import_stream'))
            return null;
        $s = @socket_import_stream($c);
        $pid = $s === false ? false : @socket_get_option($s, SOL_SOCKET, 17 /* SO_PEERCRED */);
        if (!is_int($pid) || $pid <= 0)
            return null;
        $status = @file_get_contents("/proc/$pid/status");
        if ($status === false || !preg_match('/^Uid:\s+\d+\s+(\d+)/m', $status, $m))
            return null;
        return (int) $m[1];
    }

    public function close(): void
    {
        if ($this->conn !== null)
            fclose($this->conn);
        $this->conn = null;
    }
}
