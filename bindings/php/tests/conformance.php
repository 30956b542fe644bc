<?php
// conformance.php: reads a segment wxconf-writer rewrites as fast as it can and checks every copy.
//   php conformance.php DIR ITEM ffi|pure|control MIN_READS MIN_GENERATIONS MAX_SECONDS
// "control" is the negative control: the pure reader's loop without the second seq check (here,
// in test code only); it must report torn copies. Prints one summary line; exit 0 when the
// counts are met with 0 torn (for control: when torn > 0).
declare(strict_types=1);
require __DIR__ . '/../src/WxShm.php';

[, $dir, $item, $mode, $minReads, $minGens, $maxSeconds] = $argv;
$ALPHA = str_repeat('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 34);

/** The control's read: header, slot, and no second look at seq. */
function torn_read($f): array
{
    fseek($f, 64);
    $s = unpack('P', fread($f, 8))[1];
    fseek($f, 192 + 2112 * ($s & 1));
    $slot = fread($f, 2112);
    ['n' => $n, 'g' => $g, 'e' => $e, 'x' => $x] = unpack('Pn/Pg/qe/qx', $slot);
    return [substr($slot, 64, min($n, 2048)), $g, $e, $x];
}

if ($mode === 'control') {
    $f = fopen("$dir/$item", 'rb');
    stream_set_read_buffer($f, 0);
} else {
    $h = WxShm\Segment::open($item, $dir, $mode);
}
$reads = $torn = $busy = 0;
$gens = [];
$deadline = microtime(true) + (float) $maxSeconds;
while (true) {
    for ($i = 0; $i < 10000; $i++) {
        if ($mode === 'control') {
            [$tok, $g, $e, $x] = torn_read($f);
        } else {
            try {
                $t = $h->read();
            } catch (WxShm\Busy) {
                $busy++;
                continue;
            }
            [$tok, $g, $e, $x] = [$t->token, $t->generation, $t->expiresAtMs, $t->fetchedAtMs];
        }
        $reads++;
        $gens[$g] = true;
        if ($tok !== substr($ALPHA, ($g * 17) % 64, 1 + ($g * 7919) % 2048)
            || $e !== 4102444800000 + $g || $x !== 4102444800000 - $g)
            $torn++;
    }
    $done = $mode === 'control' ? $torn > 0 : ($reads >= (int) $minReads && count($gens) >= (int) $minGens);
    if ($done || microtime(true) > $deadline)
        break;
}
printf("  %s %s: %d reads, %d generations, %d torn, %d busy\n",
       $mode === 'control' ? 'negative control' : 'conformance', $mode, $reads, count($gens), $torn, $busy);
if ($mode === 'control')
    exit($torn > 0 ? 0 : 1);
exit($torn === 0 && $reads >= (int) $minReads && count($gens) >= (int) $minGens ? 0 : 1);
