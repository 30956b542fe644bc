<?php
// PureReader.php: the reader without FFI, on an unbuffered stream with the latch in PHP; x86-64 only.
declare(strict_types=1);

namespace WxShm;

/**
 * @internal PHP cannot map a file, so each read is three reads of the file (header with seq, the
 * slot, seq again), each one system call on a stream with no read buffer: a buffered stream would
 * serve the second seq from its own copy and return torn tokens. The system calls order the
 * copies; the words themselves are copied whole only on x86-64, hence the restriction.
 */
final class PureReader
{
    /** @var resource|null */
    private $f;

    public static function supported(): bool
    {
        return PHP_INT_SIZE === 8 && in_array(php_uname('m'), ['x86_64', 'amd64'], true);
    }

    private function __construct($f, public readonly int $owner)
    {
        $this->f = $f;
    }

    /** doc/segment.md's trust rule as far as PHP can: a reader, or the errno (positive). */
    public static function open(string $item, string $dir): self|int
    {
        $ds = @stat($dir);
        if ($ds === false)
            return file_exists($dir) ? Errno::EACCES : Errno::ENOENT;
        if (($ds['mode'] & 0170000) !== 0040000 || ($ds['mode'] & 0022))
            return Errno::EPERM;
        $path = "$dir/$item";
        // No O_NOFOLLOW in PHP: lstat first, then compare the opened file's inode with it.
        $ls = @lstat($path);
        if ($ls === false)
            return is_executable($dir) ? Errno::ENOENT : Errno::EACCES;
        $type = $ls['mode'] & 0170000;
        if ($type === 0120000)
            return Errno::EPERM;           // a symbolic link is not the agent's
        if ($ls['uid'] !== $ds['uid'] || ($ds['uid'] > Layout::SYSTEM_UID_MAX && $ds['uid'] !== self::euid()))
            return Errno::EPERM;
        if ($type !== 0100000)
            return Errno::EBADMSG;         // never open a FIFO or device (it could block)
        $f = @fopen($path, 'rb');
        if ($f === false)
            return is_readable($path) ? Errno::ENOENT : Errno::EACCES;
        $st = fstat($f);
        if ($st['ino'] !== $ls['ino'] || $st['dev'] !== $ls['dev']) {
            fclose($f);
            return Errno::EPERM;           // replaced between the check and the open
        }
        stream_set_read_buffer($f, 0);
        $head = fread($f, Layout::HEADER_SIZE);
        $r = self::validate($head === false ? '' : $head, $st['size']);
        if ($r !== 0) {
            fclose($f);
            return $r;
        }
        return new self($f, $st['uid']);
    }

    private static function euid(): int
    {
        return function_exists('posix_geteuid') ? posix_geteuid() : getmyuid();
    }

    private static function validate(string $h, int $size): int
    {
        if ($size === 0)
            return Errno::EAGAIN;   // the agent's openat made it, it has not sized it yet
        if (strlen($h) < 16)
            return Errno::EBADMSG;
        ['m' => $magic, 'v' => $version, 'hs' => $hs] = unpack('Pm/Vv/Vhs', $h);
        if ($magic === 0 && $size === Layout::TOTAL_SIZE)
            return Errno::EAGAIN;
        if ($magic !== Layout::MAGIC)
            return Errno::EBADMSG;
        if ($version !== Layout::VERSION)
            return Errno::EPROTONOSUPPORT;
        if ($size !== Layout::TOTAL_SIZE || strlen($h) < Layout::HEADER_SIZE)
            return Errno::EBADMSG;
        ['ts' => $ts, 'ss' => $ss, 'cap' => $cap] = unpack('Pts/Vss/Vcap', $h, 16);
        if ($hs !== Layout::HEADER_SIZE || $ss !== Layout::SLOT_SIZE || $cap !== Layout::TOKEN_MAX
            || $ts < Layout::HEADER_SIZE + 2 * Layout::SLOT_SIZE || $ts > Layout::TOTAL_SIZE)
            return Errno::EBADMSG;
        return 0;
    }

    /** A Token, or the errno (positive) of the failure. */
    public function read(): Token|int
    {
        $f = $this->f;
        if ($f === null)
            return Errno::EINVAL;
        for ($i = 0; $i < 1024; $i++) {
            fseek($f, 0);
            $h = fread($f, Layout::HEADER_SIZE);             // retired (40), seq (64), state (144)
            if ($h === false || strlen($h) !== Layout::HEADER_SIZE)
                return Errno::EBADMSG;
            $retired = unpack('P', $h, 40)[1];
            $s = unpack('P', $h, 64)[1];
            if ($retired !== 0)
                return $retired === 2 ? Errno::ENXIO : Errno::EIDRM;
            fseek($f, Layout::HEADER_SIZE + Layout::SLOT_SIZE * ($s & 1));
            $slot = fread($f, Layout::SLOT_SIZE);
            fseek($f, 64);
            $again = fread($f, 8);
            if ($slot === false || $again === false || strlen($slot) !== Layout::SLOT_SIZE)
                return Errno::EBADMSG;
            if (unpack('P', $again)[1] !== $s)
                continue;
            ['n' => $n, 'g' => $g, 'e' => $e, 'x' => $x] = unpack('Pn/Pg/qe/qx', $slot);
            if ($n < 0 || $n > Layout::TOKEN_MAX)
                return Errno::EBADMSG;
            if ($g === 0)
                return Errno::ENODATA;
            $state = unpack('q', $h, 144)[1];
            return new Token(substr($slot, 64, $n), $g, $e, $x, State::tryFrom($state) ?? State::Unknown,
                             Layout::nowMs() >= $e);
        }
        return Errno::EAGAIN;
    }

    public function close(): void
    {
        if ($this->f !== null)
            fclose($this->f);
        $this->f = null;
    }

    public function __destruct()
    {
        $this->close();
    }
}
