/* test-agent-authorizers-2000.c: 2,000 accounts under one component, added over the real socket, wxemu answering after 50 ms: one api_authorizer_token call each, no warning, one save for a burst of adds, a failed save undoes its whole batch (counts, never times). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "authorizers-util.h"
#include "check.h"
#include "scale-util.h"
#include "wire.h"

#define N 2000
#define LATENCY_MS 50
#define BURST 16                        /* adds read by the agent in one turn */
#define CONNS 32                        /* clients adding at once, each waiting for its answer */

static struct emu_proc emu;
static struct agent_proc a;

/* A burst of BURST adds read in one turn is written once, and every client is answered "added" after it. */
static void test_burst(void) {
        char *lines[BURST], (*replies)[1024] = calloc(BURST, sizeof(*replies));
        int watch = auths_watch(&a), added = 0;

        SETUP_OK(replies, "out of memory");
        for (int i = 0; i < BURST; i++)
                lines[i] = auths_add_line(i);
        auths_burst(&a, lines, BURST, replies);
        for (int i = 0; i < BURST; i++) {
                added += strstr(replies[i], "\"authorizer\":\"added\"") != NULL;
                free(lines[i]);
        }
        CHECK_EQ(added, BURST);
        /* Group commit: one rename of the file for the whole burst (it was one per add). */
        CHECK_EQ(auths_saves(watch), 1);
        CHECK_EQ(auths_file_records(&a), BURST);
        close(watch);
        free(replies);
}

/*
 * The save of a burst fails (its temporary file's name taken by a directory): every change
 * in it is undone and every client told; nothing of it is in the file or the list.
 */
static void test_failed_save(void) {
        char *lines[BURST], (*replies)[1024] = calloc(BURST, sizeof(*replies)), tmp[256], appid[16];
        int refused = 0, gone = 0;

        SETUP_OK(replies, "out of memory");
        snprintf(tmp, sizeof(tmp), "%s/." AUTHS_COMPONENT ".authorizers.tmp", a.state_dir);
        SETUP_OK(mkdir(tmp, 0700) == 0, "mkdir %s: %m", tmp);
        /* Half remove accounts held, half add accounts wxemu does not know (never called if undone). */
        for (int i = 0; i < BURST; i++) {
                lines[i] = malloc(256);
                SETUP_OK(lines[i], "out of memory");
                auths_appid(i, appid);
                if (i % 2)
                        snprintf(lines[i], 256, "{\"op\":\"authorizer_remove\",\"component\":\"" AUTHS_COMPONENT
                                 "\",\"appid\":\"%s\"}\n", appid);
                else
                        snprintf(lines[i], 256, "{\"op\":\"authorizer_add\",\"component\":\"" AUTHS_COMPONENT
                                 "\",\"appid\":\"wxz%08d\",\"refresh_token\":\"refreshtoken@@@x%d\"}\n", i, i);
        }
        auths_burst(&a, lines, BURST, replies);
        for (int i = 0; i < BURST; i++) {
                refused += strstr(replies[i], "\"ok\":false") && strstr(replies[i], "cannot write");
                free(lines[i]);
        }
        SETUP_OK(rmdir(tmp) == 0, "rmdir %s: %m", tmp);
        CHECK_EQ(refused, BURST);
        CHECK_EQ(auths_file_records(&a), N);
        CHECK_EQ(auths_listed(), N);
        /* The removals undone: their segments still hold their tokens. */
        CHECK_EQ(auths_fresh(N), N);
        for (int i = 0; i < BURST; i += 2) {
                char name[32], buf[WXSHM_TOKEN_MAX + 1];
                wxshm_info info = { .size = sizeof(info) };

                snprintf(name, sizeof(name), AUTHS_COMPONENT ".wxz%08d", i);
                gone += agent_read(name, buf, sizeof(buf), &info) < 0;
        }
        CHECK_EQ(gone, BURST / 2);
        free(replies);
}

/* The list's pages over the socket: the default page, then the last one (no "next"); wxtokenctl reads them all. */
static void test_pages(void) {
        char *raw = malloc(PROTOCOL_REPLY_MAX);
        cJSON *o;

        SETUP_OK(raw, "out of memory");
        o = agent_request(&a, "{\"op\":\"authorizer_list\",\"component\":\"" AUTHS_COMPONENT "\"}\n", raw,
                          PROTOCOL_REPLY_MAX);
        CHECK(o && json_int(o, "total", -1) == N && json_int(o, "next", -1) == PROTOCOL_STATUS_LIMIT_DEFAULT &&
              cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "authorizers")) == PROTOCOL_STATUS_LIMIT_DEFAULT,
              "the first page: %.200s", raw);
        cJSON_Delete(o);
        o = agent_request(&a, "{\"op\":\"authorizer_list\",\"component\":\"" AUTHS_COMPONENT "\",\"offset\":1990,"
                          "\"limit\":500}\n", raw, PROTOCOL_REPLY_MAX);
        CHECK(o && json_int(o, "total", -1) == N && !cJSON_GetObjectItemCaseSensitive(o, "next") &&
              cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "authorizers")) == N - 1990,
              "the last page: %.200s", raw);
        cJSON_Delete(o);
        CHECK_EQ(auths_listed(), N);
        free(raw);
}

int main(void) {
        int watch, added, saves, calls;

        auths_start(&emu, &a, N, LATENCY_MS, NULL);
        test_burst();
        /* The rest as many clients would: CONNS at once, each its next add once answered. */
        watch = auths_watch(&a);
        added = auths_add(&a, BURST, N, CONNS);
        saves = auths_saves(watch);
        close(watch);
        CHECK_EQ(added, N - BURST);
        /* Bounds for a loaded machine and a sanitizer build, not expectations (the queue takes some 4 s). */
        CHECK(auths_wait_fresh(N, 300000), "every account's segment holds a token: %d of %d", auths_fresh(N), N);
        calls = emu_endpoint_calls(&emu, "api_authorizer_token");
        CHECK_EQ(calls, N);
        CHECK_EQ(auths_warnings(&a), 0);
        CHECK_EQ(auths_file_records(&a), N);
        test_pages();
        printf("%d accounts: %d added over %d connections in %d saves, %d fresh, %d api_authorizer_token calls\n", N,
               added, CONNS, saves, auths_fresh(N), calls);

        /* A restart adopts every token from its state file: no call. */
        SETUP_OK(agent_stop(&a) == 0, "the agent stops cleanly");
        agent_start(&a);
        CHECK(auths_wait_fresh(N, 300000), "after the restart every account holds a token");
        CHECK_EQ(emu_endpoint_calls(&emu, "api_authorizer_token"), calls);
        CHECK_EQ(auths_file_records(&a), N);

        /* Last: it logs the failed save. */
        test_failed_save();
        return harness_finish(&a);
}
