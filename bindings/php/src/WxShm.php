<?php
// WxShm.php: read the WeChat access token wxtokend publishes in shared memory, from PHP (namespace WxShm).
declare(strict_types=1);

namespace WxShm;

/** Errors keep the errno (getCode()) and its name; a subclass per kind. */
class Exception extends \RuntimeException
{
    public function __construct(public readonly int $errno, public readonly string $errnoName,
                                string $message, public readonly ?string $item = null)
    {
        parent::__construct(($item !== null ? "$item: " : '') . $message . " ($errnoName)", $errno);
    }

    /** @internal the subclass for an errno, as libwxshm's negative returns. */
    public static function of(int $errno, ?string $item = null, ?string $what = null): self
    {
        [$class, $name, $text] = Errno::KINDS[$errno] ?? [self::class, "E$errno", 'error'];
        return new $class($errno, $name, $what ?? $text, $item);
    }
}
class NotFound extends Exception {}
class Removed extends Exception {}
class Retired extends Exception {}
class AccessDenied extends Exception {}
class NotTrusted extends Exception {}
class BadSegment extends Exception {}
class VersionNotSupported extends Exception {}
class NoData extends Exception {}
class Busy extends Exception {}
class RateLimited extends Busy
{
    public ?int $retryAfterMs = null;
}
class Timeout extends Exception {}
class UpstreamFailed extends Exception {}
class TooManyWaiters extends Exception {}
class AgentStopping extends Exception {}
class ProtocolError extends Exception {}
class InvalidArgument extends Exception {}

/** @internal Linux errno values and what each means here. */
final class Errno
{
    const EPERM = 1, ENOENT = 2, EIO = 5, ENXIO = 6, EAGAIN = 11, EACCES = 13, EBUSY = 16,
        EINVAL = 22, ELOOP = 40, EIDRM = 43, ENODATA = 61, EPROTO = 71, EBADMSG = 74,
        EPROTONOSUPPORT = 93, ETIMEDOUT = 110, ECONNREFUSED = 111, ESTALE = 116;
    const KINDS = [
        self::ENOENT => [NotFound::class, 'ENOENT', 'not found (not known yet, or no agent)'],
        self::ENXIO => [Removed::class, 'ENXIO', 'removed from the agent\'s configuration'],
        self::EIDRM => [Retired::class, 'EIDRM', 'retired'],
        self::EACCES => [AccessDenied::class, 'EACCES', 'access denied'],
        self::EPERM => [NotTrusted::class, 'EPERM', 'not made by the agent: not trusted'],
        self::EBADMSG => [BadSegment::class, 'EBADMSG', 'not a wxshm segment, or corrupt'],
        self::EPROTONOSUPPORT => [VersionNotSupported::class, 'EPROTONOSUPPORT', 'newer layout version'],
        self::ENODATA => [NoData::class, 'ENODATA', 'no token yet'],
        self::EAGAIN => [Busy::class, 'EAGAIN', 'busy, try again'],
        self::ETIMEDOUT => [Timeout::class, 'ETIMEDOUT', 'no new token in time'],
        self::EIO => [UpstreamFailed::class, 'EIO', 'the upstream call failed'],
        self::EBUSY => [TooManyWaiters::class, 'EBUSY', 'too many waiters'],
        self::ECONNREFUSED => [AgentStopping::class, 'ECONNREFUSED', 'the agent is stopping or not running'],
        self::EPROTO => [ProtocolError::class, 'EPROTO', 'the agent\'s reply was not understood'],
        self::EINVAL => [InvalidArgument::class, 'EINVAL', 'invalid argument'],
    ];
}

/** What the agent is doing for the app; the token stays readable in every state. */
enum State: int
{
    case Unknown = -1;
    case Starting = 0;
    case Fresh = 1;
    case Refreshing = 2;
    case Retrying = 3;
    case ConfigError = 4;
    case Quota = 5;
    case Stopped = 6;
}

/** One consistent copy of the token; stale tokens are returned with $stale = true, never dropped. */
readonly class Token
{
    public function __construct(public string $token, public int $generation, public int $expiresAtMs,
                                public int $fetchedAtMs, public State $state, public bool $stale) {}
}

/** @internal the layout (doc/segment.md), the name grammar, where things are. */
final class Layout
{
    const MAGIC = 0x4745534D48535857, VERSION = 1, HEADER_SIZE = 192, SLOT_SIZE = 2112,
        TOKEN_MAX = 2048, TOTAL_SIZE = 4416, SYSTEM_UID_MAX = 999, GENERATION_LIMIT = 1 << 53;
    const DEFAULT_DIR = '/dev/shm/wxtokend', DEFAULT_SOCKET = '/run/wxtokend/wxtokend.sock';

    public static function nameValid(string $item): bool
    {
        return preg_match('/\A[A-Za-z0-9_-]{1,64}(?:\.(?=[A-Za-z0-9_.-]{1,40}\z)[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?)?\z/', $item) === 1;
    }

    /** Like secure_getenv(): a setuid/setgid process takes no directions from its environment. */
    private static function env(string $name): ?string
    {
        if (function_exists('posix_getuid') &&
            (posix_getuid() !== posix_geteuid() || posix_getgid() !== posix_getegid()))
            return null;
        $v = getenv($name);
        return $v === false ? null : $v;
    }

    public static function dirValid(?string $d): bool
    {
        return $d !== null && str_starts_with($d, '/') && strlen($d) < 256;
    }

    public static function dir(): string
    {
        $d = self::env('WXSHM_DIR');
        return self::dirValid($d) ? $d : self::DEFAULT_DIR;
    }

    public static function socket(): string
    {
        $s = self::env('WXTOKEND_SOCKET');
        return $s !== null && $s !== '' ? $s : self::DEFAULT_SOCKET;
    }

    public static function nowMs(): int
    {
        return (int) floor(microtime(true) * 1000);
    }
}

/**
 * An app's segment, opened once and read as often as wanted. Reads go through libwxshm with FFI
 * when FFI is usable (CLI, or preloaded under FPM), else, on x86-64 only, through the pure reader.
 */
final class Segment
{
    private FfiReader|PureReader|null $reader;
    private ?Client $client = null;

    private function __construct(public readonly string $item, public readonly string $dir,
                                 FfiReader|PureReader $reader)
    {
        $this->reader = $reader;
    }

    /**
     * Open the segment of $item ("shop", "mall.jsapi") in $dir (default $WXSHM_DIR or
     * /dev/shm/wxtokend). $reader: null (FFI if usable, else pure), 'ffi' or 'pure'.
     */
    public static function open(string $item, ?string $dir = null, ?string $reader = null): self
    {
        if (!Layout::nameValid($item))
            throw Exception::of(Errno::EINVAL, null, 'not an item name');
        if ($dir !== null && !Layout::dirValid($dir))
            throw Exception::of(Errno::EINVAL, $item, 'the directory must be absolute and < 256 bytes');
        $dir ??= Layout::dir();
        $reader ??= getenv('WXSHM_PHP_READER') ?: null;
        if ($reader === null)
            $reader = FfiReader::usable() ? 'ffi' : 'pure';
        if ($reader === 'ffi')
            return new self($item, $dir, self::again(fn() => FfiReader::open($item, $dir), $item));
        if ($reader !== 'pure')
            throw Exception::of(Errno::EINVAL, $item, "no reader '$reader'");
        if (!PureReader::supported())
            throw Exception::of(Errno::EINVAL, $item, 'FFI is not usable and the pure reader is for x86-64 only');
        return new self($item, $dir, self::again(fn() => PureReader::open($item, $dir), $item));
    }

    /** A segment being made reads -EAGAIN: open again, 20 times a millisecond apart. */
    private static function again(\Closure $open, string $item): FfiReader|PureReader
    {
        for ($i = 0; ; $i++) {
            $r = $open();
            if (!is_int($r))
                return $r;
            if ($r !== Errno::EAGAIN || $i >= 20)
                throw Exception::of($r, $item);
            usleep(1000);
        }
    }

    /** 'ffi' or 'pure'. */
    public function readerKind(): string
    {
        return $this->reader instanceof FfiReader ? 'ffi' : 'pure';
    }

    /** The token (no system call through FFI). A retired segment is re-opened once. */
    public function read(): Token
    {
        $reader = $this->reader ?? throw Exception::of(Errno::EINVAL, $this->item, 'the segment is closed');
        $t = $reader->read();
        if ($t instanceof Token)
            return $t;
        for ($reopened = false, $busy = 0; ; ) {
            if ($t === Errno::EIDRM && !$reopened) {
                $reopened = true;
                // Open the name again before letting the old one go: if that fails, the handle
                // stays as it was (the next read() tries again) and the re-open's error is thrown.
                $fresh = self::again($reader instanceof FfiReader
                    ? fn() => FfiReader::open($this->item, $this->dir)
                    : fn() => PureReader::open($this->item, $this->dir), $this->item);
                $reader->close();
                $reader = $this->reader = $fresh;
            } elseif ($t === Errno::EAGAIN && $busy++ < 3) {
                usleep(1000);
            } else {
                throw Exception::of($t, $this->item);
            }
            $t = $reader->read();
            if ($t instanceof Token)
                return $t;
        }
    }

    /**
     * WeChat refused the token of $generation (40001/40014/42001): ask the agent for a newer one
     * and wait; returns the generation now published. Never fetch a token yourself.
     */
    public function refresh(int $generation, int $timeoutMs = 5000): int
    {
        if ($generation < 0 || $generation >= Layout::GENERATION_LIMIT)
            throw Exception::of(Errno::EINVAL, $this->item, 'generation out of range');
        // Already newer here (another request of this process, or any process, got it): no request.
        try {
            $g = $this->read()->generation;
            if ($g > $generation)
                return $g;
        } catch (Exception) {
        }
        $this->client ??= new Client(Layout::socket(), $this->dir);
        return $this->client->refresh($this->item, $generation, $timeoutMs)[0];
    }

    public function close(): void
    {
        $this->reader?->close();
        $this->reader = null;
        $this->client?->close();
        $this->client = null;
    }

    public function __destruct()
    {
        $this->close();
    }
}

require_once __DIR__ . '/FfiReader.php';
require_once __DIR__ . '/PureReader.php';
require_once __DIR__ . '/Client.php';
