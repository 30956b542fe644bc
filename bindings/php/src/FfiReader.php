<?php
// FfiReader.php: the reader through libwxshm with PHP's FFI: the handle, buffer and info kept per segment.
declare(strict_types=1);

namespace WxShm;

/** @internal */
final class FfiReader
{
    private static ?\FFI $ffi = null;
    private static ?string $why = null;
    private \FFI\CData $info;
    private \FFI\CData $infoPtr;
    private \FFI\CData $buf;
    private ?Token $last = null;    // the last Token read, handed out again while nothing changed

    /** The preloaded scope "wxshm" (FPM), else the shipped header with FFI::cdef (CLI, ffi.enable=1). */
    public static function ffi(): ?\FFI
    {
        if (self::$ffi !== null || self::$why !== null)
            return self::$ffi;
        if (!extension_loaded('ffi')) {
            self::$why = 'the FFI extension is not loaded';
            return null;
        }
        try {
            return self::$ffi = \FFI::scope('wxshm');
        } catch (\Throwable) {
        }
        try {
            // cdef() takes declarations only: drop the FFI_SCOPE/FFI_LIB lines meant for FFI::load().
            $decl = preg_replace('/^#define FFI_.*$/m', '', file_get_contents(__DIR__ . '/wxshm.h'));
            return self::$ffi = \FFI::cdef($decl, getenv('WXSHM_LIBRARY') ?: 'libwxshm.so.1');
        } catch (\Throwable $e) {
            self::$why = $e->getMessage();
            return null;
        }
    }

    public static function usable(): bool
    {
        return self::ffi() !== null;
    }

    /** Why FFI is not usable, or null. */
    public static function why(): ?string
    {
        self::ffi();
        return self::$why;
    }

    private function __construct(private \FFI $f, private ?\FFI\CData $h)
    {
        $this->info = $f->new('wxshm_info');
        $this->info->size = \FFI::sizeof($this->info);
        $this->infoPtr = \FFI::addr($this->info);
        $this->buf = $f->new('char[' . (Layout::TOKEN_MAX + 8) . ']');
    }

    /** A reader, or the errno (positive) of the failure. */
    public static function open(string $item, string $dir): self|int
    {
        $f = self::ffi() ?? throw Exception::of(Errno::EINVAL, $item, 'FFI is not usable: ' . self::$why);
        // libwxshm takes its directory from $WXSHM_DIR only: set it around the call.
        $old = getenv('WXSHM_DIR');
        if ($old !== $dir)
            putenv("WXSHM_DIR=$dir");
        try {
            $pp = $f->new('wxshm*');
            $r = $f->wxshm_open(\FFI::addr($pp), $item);
        } finally {
            if ($old !== $dir)
                putenv($old === false ? 'WXSHM_DIR' : "WXSHM_DIR=$old");
        }
        return $r < 0 ? -$r : new self($f, $pp);
    }

    /** A Token, or the errno (positive) of the failure. */
    public function read(): Token|int
    {
        $r = $this->f->wxshm_read($this->h, $this->buf, Layout::TOKEN_MAX + 1, $this->infoPtr);
        if ($r < 0 && $r !== -Errno::ESTALE)
            return -$r;
        // A Token is immutable: while the generation, state and staleness read now are the last
        // Token's, that Token is the answer (a string copy and an object less: ~40% of a read).
        $info = $this->info;
        $stale = $r < 0;
        $last = $this->last;
        if ($last !== null && $last->generation === $info->generation && $last->stale === $stale
            && $last->state->value === $info->state)
            return $last;
        return $this->last = new Token(\FFI::string($this->buf, $stale ? $info->token_length : $r), $info->generation,
                                       $info->expires_at_ms, $info->fetched_at_ms,
                                       State::tryFrom($info->state) ?? State::Unknown, $stale);
    }

    public function close(): void
    {
        if ($this->h !== null)
            $this->f->wxshm_close($this->h);
        $this->h = null;
    }

    public function __destruct()
    {
        $this->close();
    }
}
