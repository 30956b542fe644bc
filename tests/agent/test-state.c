/* test-state.c: state files: round trip, mode 0600, appid checks, and every corrupt file refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state-file.h"
#include "test-util.h"

static char dir[] = "/tmp/test-state.XXXXXX";

static void put(const char *name, const char *content) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        SETUP_OK(f && fputs(content, f) >= 0 && fclose(f) == 0);
}

static void cleanup(void) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void) {
        struct state_record rec = { .generation = 42, .expires_at_ms = 1800000000000, .fetched_at_ms = 1799999000000 };
        struct state_record back;
        char path[256];
        struct stat st;
        mode_t old;

        SETUP_OK(mkdtemp(dir));
        atexit(cleanup);
        strcpy(rec.token, "ACCESS_TOKEN_abc");
        rec.token_len = strlen(rec.token);

        /* Round trip; mode 0600 whatever the umask. */
        old = umask(0);
        CHECK_EQ(state_save(dir, "shop", "wx123", &rec), 0);
        umask(old);
        snprintf(path, sizeof(path), "%s/shop", dir);
        SETUP_OK(stat(path, &st) == 0);
        CHECK_EQ(st.st_mode & 07777, 0600);
        memset(&back, 0, sizeof(back));
        CHECK_EQ(state_load(dir, "shop", "wx123", &back), 0);
        CHECK_EQ(back.generation, 42);
        CHECK_EQ(back.expires_at_ms, rec.expires_at_ms);
        CHECK_EQ(back.fetched_at_ms, rec.fetched_at_ms);
        CHECK(strcmp(back.token, rec.token) == 0 && back.token_len == rec.token_len);

        CHECK_EQ(back.forced_day, 0);
        CHECK_EQ(back.forced_today, 0);

        /* Saved with its rename left to the next state_sync_dir: readable under its name at once, mode 0600. */
        rec.generation = 43;
        old = umask(0);
        CHECK_EQ(state_save_rename_later(dir, "shop", "wx123", &rec), 0);
        umask(old);
        SETUP_OK(stat(path, &st) == 0);
        CHECK_EQ(st.st_mode & 07777, 0600);
        CHECK(state_load(dir, "shop", "wx123", &back) == 0 && back.generation == 43, "the new record, at once");
        CHECK_EQ(state_sync_dir(dir), 0);
        snprintf(path, sizeof(path), "%s/no-such-dir", dir);
        CHECK_EQ(state_sync_dir(path), -ENOENT);
        snprintf(path, sizeof(path), "%s/shop", dir);
        rec.generation = 42;
        CHECK_EQ(state_save(dir, "shop", "wx123", &rec), 0);

        /* The forced-refresh budget survives a restart with the token. */
        rec.forced_day = 20425;
        rec.forced_today = 3;
        rec.quota_day = 20424;
        CHECK_EQ(state_save(dir, "shop", "wx123", &rec), 0);
        CHECK_EQ(state_load(dir, "shop", "wx123", &back), 0);
        CHECK_EQ(back.forced_day, 20425);
        CHECK_EQ(back.forced_today, 3);
        CHECK_EQ(back.quota_day, 20424);
        CHECK_EQ(back.generation, 42);

        /* A file written before the budget existed still loads, with an empty budget. */
        put("old", "{\"version\":1,\"item\":\"old\",\"appid\":\"wx123\",\"generation\":5,"
                   "\"expires_at_ms\":1800000000000,\"fetched_at_ms\":1799999000000,\"token\":\"tok\"}");
        back.forced_today = 9;
        CHECK_EQ(state_load(dir, "old", "wx123", &back), 0);
        CHECK_EQ(back.generation, 5);
        CHECK_EQ(back.forced_today, 0);
        CHECK_EQ(back.quota_day, 0);

        /* No temporary file is left behind. */
        snprintf(path, sizeof(path), "%s/.shop.tmp", dir);
        CHECK(access(path, F_OK) != 0);

        /* Another appid's record, another item's name, none at all. */
        CHECK_EQ(state_load(dir, "shop", "wx999", &back), -EXDEV);
        CHECK_EQ(state_load(dir, "none", "wx123", &back), -ENOENT);
        put("other", "{\"version\":1,\"item\":\"shop\",\"appid\":\"wx123\",\"generation\":1,"
                     "\"expires_at_ms\":1,\"fetched_at_ms\":1,\"token\":\"x\"}");
        CHECK_EQ(state_load(dir, "other", "wx123", &back), -EBADMSG);

        /* Corrupt files: each refused, and back is left untouched. */
        back.generation = 7;
        put("bad", "");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "{\"version\":1,\"item\":\"bad\",\"appid\":\"wx123\",\"generation\":3,\"expires_at_ms\":18");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "{\"version\":2,\"item\":\"bad\",\"appid\":\"wx123\",\"generation\":3,"
                   "\"expires_at_ms\":1,\"fetched_at_ms\":1,\"token\":\"x\"}");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "{\"version\":1,\"item\":\"bad\",\"appid\":\"wx123\",\"generation\":0,"
                   "\"expires_at_ms\":1,\"fetched_at_ms\":1,\"token\":\"x\"}");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "{\"version\":1,\"item\":\"bad\",\"appid\":\"wx123\",\"generation\":3,"
                   "\"expires_at_ms\":1,\"fetched_at_ms\":1,\"token\":\"\"}");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "{\"version\":1,\"item\":\"bad\",\"appid\":\"wx123\",\"generation\":1.5,"
                   "\"expires_at_ms\":1,\"fetched_at_ms\":1,\"token\":\"x\"}");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "{\"version\":1,\"item\":\"bad\",\"appid\":\"wx123\",\"generation\":3,"
                   "\"expires_at_ms\":1,\"fetched_at_ms\":1,\"token\":\"x\",\"forced_today\":-1}");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "{\"version\":1,\"item\":\"bad\",\"appid\":\"wx123\",\"generation\":3,"
                   "\"expires_at_ms\":1,\"fetched_at_ms\":1,\"token\":\"x\",\"quota_day\":\"7\"}");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        put("bad", "not json at all");
        CHECK_EQ(state_load(dir, "bad", "wx123", &back), -EBADMSG);
        CHECK_EQ(back.generation, 7);

        /* Removed (after a failed save it holds a superseded token); removing nothing is no error. */
        CHECK_EQ(state_save(dir, "gone", "wx123", &rec), 0);
        CHECK_EQ(state_remove(dir, "gone"), 0);
        CHECK_EQ(state_load(dir, "gone", "wx123", &back), -ENOENT);
        CHECK_EQ(state_remove(dir, "gone"), 0);

        /* A full directory (here: one that cannot be written) fails the save, keeps the old file. */
        if (geteuid() != 0) {
                SETUP_OK(chmod(dir, 0500) == 0);
                rec.generation = 43;
                CHECK(state_save(dir, "shop", "wx123", &rec) < 0);
                SETUP_OK(chmod(dir, 0700) == 0);
                CHECK_EQ(state_load(dir, "shop", "wx123", &back), 0);
                CHECK_EQ(back.generation, 42);
        }
        return 0;
}
