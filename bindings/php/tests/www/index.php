<?php
// index.php: the page the FPM test serves: reads the token through whatever reader the server can use.
// Preloaded under FPM with opcache.preload; loaded here otherwise.
if (!class_exists(WxShm\Segment::class))
    require __DIR__ . '/../../src/WxShm.php';
try {
    $h = WxShm\Segment::open($_GET['app'] ?? 'shop');
    $t = $h->read();
    echo json_encode(['reader' => $h->readerKind(), 'generation' => $t->generation, 'token' => $t->token,
                      'ffi_enable' => ini_get('ffi.enable'), 'sapi' => PHP_SAPI]);
} catch (Throwable $e) {
    echo json_encode(['error' => get_class($e) . ': ' . $e->getMessage(), 'sapi' => PHP_SAPI]);
}
