<?php
// agent.php: the binding against the real agent and wxemu; run under tests/conformance/with-agent.sh.
//   php agent.php ffi|pure
declare(strict_types=1);
require __DIR__ . '/../src/WxShm.php';

use WxShm\Segment;

$reader = $argv[1];
$failed = 0;
function check(string $what, bool $ok, string $detail = ''): void
{
    global $failed;
    echo ($ok ? 'ok   ' : 'FAIL ') . $what . ($detail !== '' ? ": $detail" : '') . "\n";
    $failed += $ok ? 0 : 1;
}
function emu(string $path, string $method = 'GET'): array
{
    $ctx = stream_context_create(['http' => ['method' => $method, 'ignore_errors' => true, 'timeout' => 10]]);
    return json_decode(file_get_contents(getenv('WXEMU_URL') . $path, false, $ctx), true) ?? [];
}
function token_calls(string $app): int
{
    return emu('/emu/stats')['apps'][getenv("WXEMU_APPID_$app")]['token_calls'];
}
function errname(callable $f): string
{
    try {
        $f();
        return 'ok';
    } catch (WxShm\Exception $e) {
        return $e->errnoName . ' ' . get_class($e);
    }
}

// read
$h = Segment::open('shop', null, $reader);
check("reader is $reader", $h->readerKind() === $reader);
$t = $h->read();
check('read', $t->token !== '' && $t->generation >= 1 && !$t->stale && $t->state === WxShm\State::Fresh,
      "generation $t->generation, state {$t->state->name}");
$biz = emu('/cgi-bin/getcallbackip?access_token=' . urlencode($t->token));
check('the token works', isset($biz['ip_list']));

// compare-and-refresh through an outside rotation: one upstream call for the forced generation
$calls = token_calls('shop');
emu('/emu/rotate?app=' . getenv('WXEMU_APPID_shop'), 'POST');
$biz = emu('/cgi-bin/getcallbackip?access_token=' . urlencode($t->token));
check('rotated token refused', ($biz['errcode'] ?? 0) === 40001);
$g2 = $h->refresh($t->generation, 5000);
$t2 = $h->read();
check('refresh gives a newer generation', $g2 > $t->generation && $t2->generation === $g2, "$t->generation -> $g2");
check('one upstream call', token_calls('shop') === $calls + 1, (token_calls('shop') - $calls) . ' calls');
check('the new token works', isset(emu('/cgi-bin/getcallbackip?access_token=' . urlencode($t2->token))['ip_list']));
// Many refresh(G) in this process (PHP: one after the other): no further upstream call, same answer.
$same = true;
for ($i = 0; $i < 8; $i++)
    $same = $same && $h->refresh($t->generation) === $g2;
check('8 more refresh(G) coalesced', $same && token_calls('shop') === $calls + 1);
// A refresh of the current generation asks the agent (the socket path, token:true).
$g3 = $h->refresh($g2, 5000);
check('refresh of the current generation over the socket', $g3 >= $g2, "$g2 -> $g3");

// unknown app
check('unknown app', str_starts_with(errname(fn() => Segment::open('nosuch', null, $reader)), 'ENOENT WxShm\NotFound'));

// permission denied as a user not in the segment's group
$cmd = sprintf('setpriv --reuid=wxconfuser --regid=wxconfuser --clear-groups env WXSHM_DIR=%s WXSHM_LIBRARY=%s php -r %s',
               escapeshellarg(getenv('WXSHM_DIR')), escapeshellarg(getenv('WXSHM_LIBRARY') ?: ''),
               escapeshellarg('require ' . var_export(realpath(__DIR__ . '/../src/WxShm.php'), true) . ';'
                   . ' try { WxShm\Segment::open("shop", null, ' . var_export($reader, true) . '); echo "ok"; }'
                   . ' catch (WxShm\Exception $e) { echo $e->errnoName, " ", get_class($e); }'));
$out = trim((string) shell_exec($cmd));
check('permission denied as wxconfuser', $out === 'EACCES WxShm\AccessDenied', $out);

// removed: drop mall from the config and reload; the open handle reads ENXIO
$m = Segment::open('mall', null, $reader);
$m->read();
$conf = getenv('WXTOKEND_CONF');
file_put_contents($conf, preg_replace('/^\[app mall\].*\z/ms', '', file_get_contents($conf)));
exec(escapeshellarg(getenv('WXTOKENCTL')) . ' reload 2>&1', $o, $rc);
check('reload', $rc === 0, implode(' ', $o));
check('removed app on the open handle', str_starts_with(errname(fn() => $m->read()), 'ENXIO WxShm\Removed'),
      errname(fn() => $m->read()));

// agent down: no socket at that path, then the agent killed
putenv('WXTOKEND_SOCKET=' . getenv('WXSHM_DIR') . '/no-such.sock');
$x = Segment::open('shop', null, $reader);
$before = $x->read();
$g = $before->generation;
check('no socket', str_starts_with(errname(fn() => $x->refresh($g)), 'ENOENT'), errname(fn() => $x->refresh($g)));
putenv('WXTOKEND_SOCKET=' . $_SERVER['WXTOKEND_SOCKET']);
posix_kill((int) getenv('WXTOKEND_PID'), SIGTERM);
for ($i = 0; $i < 500 && posix_kill((int) getenv('WXTOKEND_PID'), 0); $i++)
    usleep(10000);
$y = Segment::open('shop', null, $reader);
$r = errname(fn() => $y->refresh($g));
check('agent stopped', str_starts_with($r, 'ENOENT') || str_starts_with($r, 'ECONNREFUSED'), $r);
$t = $y->read();
check('token still readable with the agent down', $t->token !== '', $t->state->name);
// A handle that read before the stop sees the state change at the same generation, and the
// Token it was given before stays as it was (Tokens are immutable; a reader may hand one out again).
check('state read before the stop', $before->state === WxShm\State::Fresh, $before->state->name);
$after = $x->read();
check('the same handle sees the stop', $after->state === WxShm\State::Stopped && $after->generation === $g
      && $before->state === WxShm\State::Fresh, "{$after->state->name} at $after->generation");
exit($failed ? 1 : 0);
