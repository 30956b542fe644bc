/* test-emu-util.h: what test-emu needs around wxemu: a child process, HTTP calls. */
#ifndef WXEMU_TEST_UTIL_H
#define WXEMU_TEST_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "check.h"

#define NOT_JSON (-100000)

/* Distinctive, so a leak into wxemu's stderr is easy to spot. */
#define SECRET_A "Sec-A-9f8e7d6c"
#define SECRET_B "Sec-B-1a2b3c4d"
#define SECRET_F "Sec-F-0f0f0f0f"
#define SECRET_C "Sec-C-5d6e7f80"
#define SECRET_Q "Sec-Q-11223344"

struct emu_proc {
        pid_t pid;
        int port;
        char dir[64];
        char port_file[128];
        char err_file[128];
};

struct http_res {
        CURLcode cc;
        long status;
        char *body;
        cJSON *json;            /* NULL unless the body parsed as JSON */
};

/* Set to make the next calls open a new connection: libcurl retries a request once when a
 * reused connection closes without an answer, which would hide a "refuse" fault. */
extern bool http_fresh_connect;

/*
 * Starts bin with args (NULL-terminated) plus --port 0 --port-file; exits 99 on failure.
 * p is kept until proc_cleanup_all (also run if a REQUIRE or SETUP_OK ends the test): it
 * must be static or global, not on a stack.
 */
void proc_start(struct emu_proc *p, const char *bin, const char *const *args);
/* SIGTERM, then a bounded wait; returns the exit status, or -1 if it had to be killed. */
int proc_stop(struct emu_proc *p);
/* Kills whatever is still running and removes temporary files; safe to call twice. */
void proc_cleanup_all(void);
/* The whole file, malloc'd and NUL-terminated; NULL if it cannot be read. */
char *file_slurp(const char *path);
/* In a forked child: drop the parent's HTTP handle (and its connections) without touching them. */
void http_forget(void);

/* method "GET" or "POST"; body may be NULL; timeout_ms bounds the whole call. */
void http_call(struct emu_proc *p, const char *method, const char *path, const char *body,
               long timeout_ms, struct http_res *res);
void http_res_free(struct http_res *res);

/* Conveniences over http_call: JSON field access with defaults for absent fields. */
int json_int(const cJSON *o, const char *name, int dflt);
const char *json_str(const cJSON *o, const char *name);

/* printf into one of a few rotating buffers, so calls can nest in arguments. */
const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* The call's errcode: 0 for a JSON answer without one, NOT_JSON - status otherwise. */
int call(struct emu_proc *p, const char *method, const char *path, const char *body);
/* A field ("access_token", "ticket") of the answer, malloc'd; NULL and a failure if absent. */
char *fetch(struct emu_proc *p, const char *method, const char *path, const char *body,
            const char *field, int *expires_in);
char *token(struct emu_proc *p, const char *app, const char *secret);
char *stable(struct emu_proc *p, const char *app, const char *secret, bool force,
             int *expires_in);
/* getcallbackip's errcode for tok (0: accepted). */
int callback(struct emu_proc *p, const char *tok);
/* POSTs a /emu/ control and checks it answered 200. */
int control(struct emu_proc *p, const char *path);
bool same(const char *a, const char *b);

/* The test groups in test-emu-faults.c. */
void test_faults(struct emu_proc *a);
void test_stats(struct emu_proc *a);
void test_quota(struct emu_proc *b);
void test_shutdown(struct emu_proc *a, struct emu_proc *b);

#endif
