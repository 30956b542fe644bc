<?php
// unit.php: the parts that need no agent: names, errors and their classes, the reader chosen, bad arguments.
//   php unit.php ffi|pure
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
function thrown(callable $f): ?WxShm\Exception
{
    try {
        $f();
    } catch (WxShm\Exception $e) {
        return $e;
    }
    return null;
}

foreach (['shop' => true, 'mall.jsapi' => true, 'platform.wx0123456789abcdef' => true, str_repeat('a', 64) => true,
          str_repeat('a', 65) => false, 'a.' . str_repeat('b', 41) => false, 'a.b.c' => true, 'a.b.c.d' => false, 'a..c' => false, 'a.b.' => false, '' => false,
          "shop\n" => false, '../x' => false, 'sh op' => false] as $name => $ok)
    check('name ' . json_encode($name), WxShm\Layout::nameValid((string) $name) === $ok);

$e = thrown(fn() => Segment::open('bad!name', null, $reader));
check('bad name is InvalidArgument with EINVAL', $e instanceof WxShm\InvalidArgument && $e->getCode() === 22
      && $e->errno === 22 && $e->errnoName === 'EINVAL');
$e = thrown(fn() => Segment::open('shop', 'relative/dir', $reader));
check('relative dir is EINVAL', $e instanceof WxShm\InvalidArgument);
$e = thrown(fn() => Segment::open('shop', '/nonexistent-wxshm-dir', $reader));
check('missing dir is NotFound', $e instanceof WxShm\NotFound && $e->getCode() === 2, (string) $e?->getMessage());
check('every kind is a WxShm\Exception and a RuntimeException',
      is_subclass_of(WxShm\RateLimited::class, WxShm\Busy::class) && is_subclass_of(WxShm\Busy::class, WxShm\Exception::class)
      && is_subclass_of(WxShm\Exception::class, RuntimeException::class));
foreach (WxShm\Errno::KINDS as $errno => [$class, $name])
    check("errno $errno is $name", get_class(WxShm\Exception::of($errno)) === $class
          && WxShm\Exception::of($errno)->errnoName === $name && WxShm\Exception::of($errno)->getCode() === $errno);
$t = new WxShm\Token('x', 1, 2, 3, WxShm\State::Fresh, false);
check('Token is readonly', thrown(fn() => null) === null && (function () use ($t) {
    try {
        $t->token = 'y';
    } catch (Error) {
        return true;
    }
    return false;
})());
exit($failed ? 1 : 0);
