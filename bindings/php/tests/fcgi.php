<?php
// fcgi.php: a minimal FastCGI client for the FPM test: php fcgi.php SOCKET SCRIPT QUERY prints the page body.
[, $sock, $script, $query] = $argv;
$c = stream_socket_client("unix://$sock", $en, $es, 5) or exit("connect: $es\n");
stream_set_timeout($c, 10);
$rec = fn(int $type, string $body) => pack('CCnnCx', 1, $type, 1, strlen($body), 0) . $body;
$pair = fn(string $k, string $v) => chr(strlen($k)) . (strlen($v) < 128 ? chr(strlen($v)) : pack('N', strlen($v) | 0x80000000)) . $k . $v;
$params = '';
foreach (['SCRIPT_FILENAME' => $script, 'SCRIPT_NAME' => '/' . basename($script), 'REQUEST_METHOD' => 'GET',
          'QUERY_STRING' => $query, 'SERVER_PROTOCOL' => 'HTTP/1.1', 'GATEWAY_INTERFACE' => 'CGI/1.1'] as $k => $v)
    $params .= $pair($k, $v);
fwrite($c, $rec(1, pack('nCx5', 1, 0)) . $rec(4, $params) . $rec(4, '') . $rec(5, ''));
$out = '';
while (($h = fread($c, 8)) !== false && strlen($h) === 8) {
    $r = unpack('Cv/Ct/nid/nlen/Cpad', $h);
    $body = $r['len'] ? stream_get_contents($c, $r['len']) : '';
    if ($r['pad'])
        fread($c, $r['pad']);
    if ($r['t'] === 6)
        $out .= $body;
    elseif ($r['t'] === 7)
        fwrite(STDERR, $body);
    elseif ($r['t'] === 3)
        break;
}
$parts = explode("\r\n\r\n", $out, 2);
echo $parts[1] ?? $out;
