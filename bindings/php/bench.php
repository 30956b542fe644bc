<?php
// bench.php: per-read cost of Segment::read() (ffi, pure) vs str_repeat() of the token's length vs a
// socket get on a kept-open connection, against the real agent; medians of rounds. Run by bench.sh.
declare(strict_types=1);
require __DIR__ . '/src/WxShm.php';

const ROUNDS = 7;

function median(array $a): float
{
    sort($a);
    return $a[intdiv(count($a), 2)];
}

/** ns per call of $f, the median of ROUNDS rounds of $n calls. */
function measure(int $n, callable $f): float
{
    $f();
    $r = [];
    for ($k = 0; $k < ROUNDS; $k++) {
        $t0 = hrtime(true);
        for ($i = 0; $i < $n; $i++)
            $f();
        $r[] = (hrtime(true) - $t0) / $n;
    }
    return median($r);
}

$ffi = WxShm\Segment::open('shop', null, 'ffi');
$pure = WxShm\Segment::open('shop', null, 'pure');
$len = strlen($ffi->read()->token);
$res = [];
$res['read (FFI, libwxshm)'] = measure(100000, fn() => $ffi->read());
$res['read (pure, unbuffered stream)'] = measure(20000, fn() => $pure->read());
$res["baseline str_repeat('x', $len)"] = measure(100000, fn() => str_repeat('x', $len));
$c = stream_socket_client('unix://' . getenv('WXTOKEND_SOCKET'));
$res['socket get (kept-open connection)'] = measure(2000, function () use ($c) {
    fwrite($c, "{\"op\":\"get\",\"app\":\"shop\"}\n");
    $r = json_decode(fgets($c, 16384), true);
    if (!isset($r['token']))
        throw new RuntimeException('get failed');
});
$base = $res["baseline str_repeat('x', $len)"];
$get = $res['socket get (kept-open connection)'];
$lines = [sprintf('PHP %s, token of %d bytes, medians of %d rounds', PHP_VERSION, $len, ROUNDS),
          sprintf('%-36s %12s %12s %12s', 'operation', 'ns/op', 'x baseline', 'get / this')];
foreach ($res as $name => $ns)
    $lines[] = sprintf('%-36s %12.0f %12.1f %12.1f', $name, $ns, $ns / $base, $get / $ns);
$text = implode("\n", $lines) . "\n";
echo $text;
file_put_contents(getenv('WXRESULTS') . '/bench-binding-php.txt', $text);
