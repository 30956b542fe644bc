/* test-notes.c: the channel notes' codec (agent/wire/notes.c): exact formats, every combination of words, bounds, round trips. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notes.h"
#include "check.h"
#include "wire.h"

static char long_name[NOTE_NAME_MAX], over_name[NOTE_NAME_MAX + 1];       /* 191 and 192 bytes */
static char long_node[NOTE_NODE_MAX], node_digit[NOTE_NODE_MAX + 1];      /* 95, and 95 + "7" */
static char long_code[NOTE_CODE_MAX], over_code[NOTE_CODE_MAX + 1];       /* 31 and 32 bytes */
static char long_token[UPSTREAM_TOKEN_MAX + 1], over_token[UPSTREAM_TOKEN_MAX + 2];
static char buf[NOTE_TEXT_MAX + 64];

static void fill(char *s, size_t n, char c) {
        memset(s, c, n);
        s[n] = '\0';
}

static void setup(void) {
        fill(long_name, NOTE_NAME_MAX - 1, 'n');
        fill(over_name, NOTE_NAME_MAX, 'n');
        over_name[NOTE_NAME_MAX - 1] = 'x';
        fill(long_node, NOTE_NODE_MAX - 1, 'd');
        fill(node_digit, NOTE_NODE_MAX, 'd');
        node_digit[NOTE_NODE_MAX - 1] = '7';
        fill(long_code, NOTE_CODE_MAX - 1, 'c');
        fill(over_code, NOTE_CODE_MAX, 'c');
        fill(long_token, UPSTREAM_TOKEN_MAX, 'T');
        fill(over_token, UPSTREAM_TOKEN_MAX + 1, 'T');
}

static void check_text(int r, const char *want) {
        if (strcmp(buf, want) != 0 || r != (int)strlen(want)) {
                fprintf(stderr, "formatted \"%s\" (%d), expected \"%s\"\n", buf, r, want);
                CHECK(false);
        }
}

/* Byte for byte what agents of every version write. */
static void test_format(void) {
        char message[400], small[16];

        check_text(note_format_pub(buf, sizeof(buf), "token:wxA", 7), "pub token:wxA 7");
        check_text(note_format_verified(buf, sizeof(buf), "token:wxA.jsapi", 9007199254740991ULL),
                   "verified token:wxA.jsapi 9007199254740991");
        check_text(note_format_force(buf, sizeof(buf), "work:ww1:mail", 3, "host-a/00ff00ff00ff00ff", 5000),
                   "force work:ww1:mail 3 host-a/00ff00ff00ff00ff 5000");
        check_text(note_format_fail(buf, sizeof(buf), "token:wxA", 4, -1, "upstream_error", "WeChat said 40164"),
                   "fail token:wxA 4 -1 upstream_error WeChat said 40164");
        check_text(note_format_sync(buf, sizeof(buf), "token:wxA", 12, 1700000000000, 1700007200000, "ACCESS_TOKEN"),
                   "sync token:wxA 12 1700000000000 1700007200000 ACCESS_TOKEN");
        check_text(note_format_retry(buf, sizeof(buf), "token:wxA", 0, "host-b/00ff00ff00ff00ff", 0, 4242),
                   "retry token:wxA 0 host-b/00ff00ff00ff00ff 0 4242");
        check_text(note_format_retry(buf, sizeof(buf), "token:wxA", 5, "host-b/1", -1, -1),
                   "retry token:wxA 5 host-b/1 -1 -1");
        /* A fail note's message is cut at NOTE_MESSAGE_MAX bytes. */
        fill(message, 350, 'm');
        CHECK_EQ(note_format_fail(buf, sizeof(buf), "token:wxA", 4, 0, "c", message),
                 (int)strlen("fail token:wxA 4 0 c ") + NOTE_MESSAGE_MAX);
        /* As snprintf: the note's length, cut to the buffer. */
        CHECK_EQ(note_format_pub(small, sizeof(small), "token:wxABCDEFGH", 7), (int)strlen("pub token:wxABCDEFGH 7"));
        CHECK(strcmp(small, "pub token:wxABC") == 0);
}

/* The words of a note, each with whether it is acceptable. */
struct word {
        const char *text;
        bool ok;
};

/* What follows NAME GEN, for one verb, and the fields it gives. */
struct tail {
        enum note_verb verb;
        const char *text;
        bool ok;
        const char *node, *code, *message, *token;
        int64_t a, b;   /* force: timeout; fail: retry; sync: fetched, expires */
};

static const struct word verbs[] = {
        { "pub", true }, { "force", true }, { "fail", true }, { "verified", true }, { "sync", true },
        { "retry", true }, { "RETRY", false }, { "retryretry", false },
        { "PUB", false }, { "pubx", false }, { "verifiedverified", false },
};

static const struct word gens[] = {
        { "1", true }, { "7", true }, { "9007199254740991", true }, { "9007199254740992", false },
        { "0", false }, { "01", false }, { "-1", false }, { "+1", false }, { "1x", false },
        { "12345678901234567", false }, { "", false },
        /* 2^64 + 1: wraps to 1 unless the digits are counted first. */
        { "18446744073709551617", false },
};

static struct word names[3];
static struct tail tails[56];
static size_t n_tails;

static void add(enum note_verb verb, const char *text, bool ok, const char *node, const char *code,
                const char *message, const char *token, int64_t a, int64_t b) {
        CHECK(n_tails < sizeof(tails) / sizeof(tails[0]));
        tails[n_tails++] = (struct tail){ verb, text, ok, node, code, message, token, a, b };
}

static char retry_long[200], force_long[200], force_digit[200], fail_code[100], fail_over[100], sync_long[2200], sync_over[2200];

static void setup_words(void) {
        names[0] = (struct word){ "token:wxA.jsapi", true };
        names[1] = (struct word){ long_name, true };
        /* A name longer than 191 bytes runs into the generation's word, which then is not one. */
        names[2] = (struct word){ over_name, false };

        add(NOTE_PUB, "", true, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_PUB, " whatever follows", true, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_VERIFIED, "", true, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FORCE, " host-a/1 1", true, "host-a/1", NULL, NULL, NULL, 1, 0);
        add(NOTE_FORCE, " host-a/1 60000", true, "host-a/1", NULL, NULL, NULL, 60000, 0);
        add(NOTE_FORCE, "\thost-a/1\t+5000 more", true, "host-a/1", NULL, NULL, NULL, 5000, 0);
        add(NOTE_FORCE, " host-a/1 60001", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FORCE, " host-a/1 0", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FORCE, " host-a/1 -5", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FORCE, " host-a/1 x", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FORCE, " host-a/1", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FORCE, "", false, NULL, NULL, NULL, NULL, 0, 0);
        snprintf(force_long, sizeof(force_long), " %s 5", long_node);
        add(NOTE_FORCE, force_long, true, long_node, NULL, NULL, NULL, 5, 0);
        /* A node id longer than 95 bytes runs into the timeout's word, as the first agents read it. */
        snprintf(force_digit, sizeof(force_digit), " %s 5", node_digit);
        add(NOTE_FORCE, force_digit, true, long_node, NULL, NULL, NULL, 7, 0);
        add(NOTE_FAIL, " -1 upstream_error WeChat said no", true, NULL, "upstream_error", "WeChat said no", NULL,
            -1, 0);
        add(NOTE_FAIL, " 86400000 quota  two  spaces ", true, NULL, "quota", "two  spaces ", NULL, 86400000, 0);
        add(NOTE_FAIL, " 5 code", true, NULL, "code", "", NULL, 5, 0);
        add(NOTE_FAIL, " 86400001 code m", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FAIL, " -2 code m", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FAIL, " x code m", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_FAIL, " 5", false, NULL, NULL, NULL, NULL, 0, 0);
        snprintf(fail_code, sizeof(fail_code), " 5 %s m", long_code);
        add(NOTE_FAIL, fail_code, true, NULL, long_code, "m", NULL, 5, 0);
        /* A code longer than 31 bytes runs into the message. */
        snprintf(fail_over, sizeof(fail_over), " 5 %s m", over_code);
        add(NOTE_FAIL, fail_over, true, NULL, long_code, "c m", NULL, 5, 0);
        add(NOTE_SYNC, " 1700000000000 1700007200000 ACCESS_TOKEN", true, NULL, NULL, NULL, "ACCESS_TOKEN",
            1700000000000, 1700007200000);
        add(NOTE_SYNC, " 1 2 T", true, NULL, NULL, NULL, "T", 1, 2);
        add(NOTE_SYNC, " 1 2 ", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_SYNC, " 1 2", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_SYNC, " 1 2 TO KEN", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_SYNC, " 1 2 TOK\x7f", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_SYNC, " 1 TOKEN", false, NULL, NULL, NULL, NULL, 0, 0);
        snprintf(sync_long, sizeof(sync_long), " 1 2 %s", long_token);
        add(NOTE_SYNC, sync_long, true, NULL, NULL, NULL, long_token, 1, 2);
        snprintf(sync_over, sizeof(sync_over), " 1 2 %s", over_token);
        add(NOTE_SYNC, sync_over, false, NULL, NULL, NULL, NULL, 0, 0);
        /* retry: NODE UID PID; uid 0 .. 2^32-2, pid 1 .. 2^31-1, -1 for "unknown". */
        add(NOTE_RETRY, " host-b/1 0 4242", true, "host-b/1", NULL, NULL, NULL, 0, 4242);
        add(NOTE_RETRY, " host-b/1 -1 -1", true, "host-b/1", NULL, NULL, NULL, -1, -1);
        add(NOTE_RETRY, " host-b/1 4294967294 2147483647 more", true, "host-b/1", NULL, NULL, NULL,
            4294967294LL, 2147483647LL);
        add(NOTE_RETRY, " host-b/1 4294967295 1", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_RETRY, " host-b/1 -2 1", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_RETRY, " host-b/1 0 0", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_RETRY, " host-b/1 0 -2", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_RETRY, " host-b/1 0 2147483648", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_RETRY, " host-b/1 0", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_RETRY, " host-b/1 x 1", false, NULL, NULL, NULL, NULL, 0, 0);
        add(NOTE_RETRY, "", false, NULL, NULL, NULL, NULL, 0, 0);
        snprintf(retry_long, sizeof(retry_long), " %s 0 1", long_node);
        add(NOTE_RETRY, retry_long, true, long_node, NULL, NULL, NULL, 0, 1);
}

static const char *const verb_names[] = { "pub", "force", "fail", "verified", "sync", "retry" };

static void check_fields(const struct note *n, const char *name, uint64_t gen, const struct tail *t) {
        CHECK_EQ(n->verb, t->verb);
        CHECK(strcmp(n->name, name) == 0);
        CHECK(n->generation == gen);
        if (t->verb == NOTE_FORCE) {
                CHECK(strcmp(n->node, t->node) == 0);
                CHECK_EQ(n->timeout_ms, t->a);
        } else if (t->verb == NOTE_FAIL) {
                CHECK(strcmp(n->code, t->code) == 0);
                CHECK(strcmp(n->message, t->message) == 0);
                CHECK_EQ(n->retry_after_ms, t->a);
        } else if (t->verb == NOTE_SYNC) {
                CHECK(strcmp(n->token, t->token) == 0);
                CHECK_EQ(n->token_len, strlen(t->token));
                CHECK_EQ(n->fetched_at_ms, t->a);
                CHECK_EQ(n->expires_at_ms, t->b);
        } else if (t->verb == NOTE_RETRY) {
                CHECK(strcmp(n->node, t->node) == 0);
                CHECK_EQ(n->caller_uid, t->a);
                CHECK_EQ(n->caller_pid, t->b);
        }
}

/* A note parsed, written again and parsed again, gives the same fields. */
static void check_round_trip(const struct note *n) {
        static struct note again;
        int len = 0;

        switch (n->verb) {
        case NOTE_PUB:
                len = note_format_pub(buf, sizeof(buf), n->name, n->generation);
                break;
        case NOTE_VERIFIED:
                len = note_format_verified(buf, sizeof(buf), n->name, n->generation);
                break;
        case NOTE_FORCE:
                len = note_format_force(buf, sizeof(buf), n->name, n->generation, n->node, n->timeout_ms);
                break;
        case NOTE_FAIL:
                len = note_format_fail(buf, sizeof(buf), n->name, n->generation, n->retry_after_ms, n->code,
                                       n->message);
                break;
        case NOTE_SYNC:
                len = note_format_sync(buf, sizeof(buf), n->name, n->generation, n->fetched_at_ms, n->expires_at_ms,
                                       n->token);
                break;
        case NOTE_RETRY:
                len = note_format_retry(buf, sizeof(buf), n->name, n->generation, n->node, n->caller_uid,
                                        n->caller_pid);
                break;
        }
        CHECK(len > 0 && (size_t)len < sizeof(buf));
        CHECK_EQ(note_parse(buf, (size_t)len, &again), 0);
        CHECK_EQ(again.verb, n->verb);
        CHECK(strcmp(again.name, n->name) == 0 && again.generation == n->generation);
        CHECK(strcmp(again.node, n->node) == 0 || n->verb != NOTE_FORCE);
        CHECK(again.timeout_ms == n->timeout_ms || n->verb != NOTE_FORCE);
        CHECK((strcmp(again.node, n->node) == 0 && again.caller_uid == n->caller_uid &&
               again.caller_pid == n->caller_pid) || n->verb != NOTE_RETRY);
        CHECK((strcmp(again.code, n->code) == 0 && strcmp(again.message, n->message) == 0 &&
               again.retry_after_ms == n->retry_after_ms) || n->verb != NOTE_FAIL);
        CHECK((strcmp(again.token, n->token) == 0 && again.fetched_at_ms == n->fetched_at_ms &&
               again.expires_at_ms == n->expires_at_ms) || n->verb != NOTE_SYNC);
}

/* Every verb with every name, generation and tail: accepted exactly when each word is. */
static void test_every_combination(void) {
        static struct note n;
        static char text[NOTE_TEXT_MAX + 64];
        unsigned cases = 0, accepted = 0;

        for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
                for (size_t m = 0; m < sizeof(names) / sizeof(names[0]); m++)
                        for (size_t g = 0; g < sizeof(gens) / sizeof(gens[0]); g++)
                                for (size_t t = 0; t < n_tails; t++) {
                                        bool ours = verbs[v].ok && !strcmp(verbs[v].text, verb_names[tails[t].verb]);
                                        /* Only a retry may name generation 0 (an app with no token yet). */
                                        bool gen_ok = gens[g].ok || (ours && tails[t].verb == NOTE_RETRY &&
                                                                     !strcmp(gens[g].text, "0"));
                                        bool want = ours && names[m].ok && gen_ok && tails[t].ok;
                                        int len = snprintf(text, sizeof(text), "%s %s %s%s", verbs[v].text,
                                                           names[m].text, gens[g].text, tails[t].text);
                                        int r;

                                        /* A tail written for another verb says nothing of this one. */
                                        if (verbs[v].ok && !ours)
                                                continue;
                                        r = note_parse(text, (size_t)len, &n);
                                        if ((r == 0) != want || (r < 0 && r != -EBADMSG)) {
                                                fprintf(stderr, "\"%.80s\": %d\n", text, r);
                                                CHECK(false);
                                        }
                                        cases++;
                                        if (r < 0)
                                                continue;
                                        accepted++;
                                        check_fields(&n, names[m].text, strtoull(gens[g].text, NULL, 10), &tails[t]);
                                        check_round_trip(&n);
                                }
        CHECK(cases > 1000 && accepted > 50);
}

static void test_edges(void) {
        static struct note n;
        static char text[NOTE_TEXT_MAX + 1];
        size_t base;

        /* The whole note is at most NOTE_TEXT_MAX - 1 bytes. */
        base = (size_t)snprintf(text, sizeof(text), "pub token:wxA 7");
        memset(text + base, ' ', sizeof(text) - base);
        CHECK_EQ(note_parse(text, NOTE_TEXT_MAX - 1, &n), 0);
        CHECK_EQ(note_parse(text, NOTE_TEXT_MAX, &n), -EBADMSG);
        /* A NUL ends the note. */
        CHECK_EQ(note_parse("pub token:wxA 7\0garbage", 23, &n), 0);
        CHECK(n.generation == 7);
        CHECK_EQ(note_parse("pub\0 token:wxA 7", 16, &n), -EBADMSG);
        CHECK_EQ(note_parse("sync token:wxA 7 1 2 TOK\0EN", 27, &n), 0);
        CHECK(strcmp(n.token, "TOK") == 0);
        /* Leading white space is skipped, as before. */
        CHECK_EQ(note_parse("  pub token:wxA 7", 17, &n), 0);
        CHECK_EQ(note_parse("", 0, &n), -EBADMSG);
        CHECK_EQ(note_parse("pub token:wxA", 13, &n), -EBADMSG);
        /* Generation 0 is a retry's alone. */
        CHECK_EQ(note_parse("retry token:wxA 0 host-b/1 0 1", 30, &n), 0);
        CHECK(n.verb == NOTE_RETRY && n.generation == 0 && n.caller_pid == 1);
        CHECK_EQ(note_parse("force token:wxA 0 host-b/1 5000", 31, &n), -EBADMSG);
        CHECK_EQ(note_parse("retry token:wxA 00 host-b/1 0 1", 31, &n), -EBADMSG);
}

static void test_token_sane(void) {
        CHECK(note_token_sane("A", 1));
        CHECK(note_token_sane("!~", 2));
        CHECK(!note_token_sane("", 0));
        CHECK(!note_token_sane("A B", 3));
        CHECK(!note_token_sane("A\x7f", 2));
        CHECK(!note_token_sane("A\x80", 2));
        CHECK(note_token_sane(long_token, UPSTREAM_TOKEN_MAX));
        CHECK(!note_token_sane(over_token, UPSTREAM_TOKEN_MAX + 1));
}

int main(void) {
        setup();
        setup_words();
        test_format();
        test_every_combination();
        test_edges();
        test_token_sane();
        return 0;
}
