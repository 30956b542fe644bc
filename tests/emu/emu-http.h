/* emu-http.h: the libmicrohttpd server that carries the emulated endpoints. */
#ifndef WXEMU_HTTP_H
#define WXEMU_HTTP_H

struct http_options {
        const char *bind;       /* numeric IPv4 or IPv6 address */
        int port;               /* 0: any free port */
        const char *cert_pem;   /* both set: HTTPS */
        const char *key_pem;
};

/* Starts serving; returns the bound port, or -errno. */
int http_start(const struct http_options *o);
void http_stop(void);

#endif
