<?php
// samples.php: every sample of wxconf-samples DIR read through one reader must give its EXPECTED line.
//   php samples.php DIR ffi|pure
declare(strict_types=1);
require __DIR__ . '/../src/WxShm.php';

[, $dir, $reader] = $argv;
$bad = 0;
foreach (file("$dir/EXPECTED", FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
    [$item, $want] = explode(' ', $line, 2);
    try {
        $h = WxShm\Segment::open($item, $dir, $reader);
        $t = $h->read();
        $got = $t->stale ? 'stale' : 'ok';
        if ($item === 'valid' && $t->token !== substr(str_repeat('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 33), 17, 1 + 7919 % 2048))
            $got = 'wrong-token';
        $h->close();
    } catch (WxShm\Exception $e) {
        $got = $e->errnoName;
    }
    $ok = $got === $want;
    $bad += $ok ? 0 : 1;
    printf("%s %-45s want %-16s got %s\n", $ok ? 'ok ' : 'BAD', $item, $want, $got);
}
exit($bad ? 1 : 0);
