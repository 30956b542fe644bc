/* test-soak-fullfs.c: state_dir on a full tmpfs: the agent keeps serving, says so, never adopts a bad state file; SOAK_FULLFS_ROTATIONS=N. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "soak-util.h"

#define SECRET "Full-Secret-5a6b7c8d"
#define READERS 3

static const char *const items[] = { "full" };
static char mnt[64];
static struct agent_proc a;
static struct emu_proc emu;

/* A small tmpfs of our own, unmounted by soak_guard however the test ends. */
static int mount_small(void) {
        strcpy(mnt, "/tmp/test-fullfs.XXXXXX");
        if (!mkdtemp(mnt))
                return -errno;
        if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") < 0) {
                int r = -errno;

                rmdir(mnt);
                return r;
        }
        return 0;
}

static void unmount_small(void) {
        struct stat st;

        soak_guard_end();
        CHECK(stat(mnt, &st) < 0 && errno == ENOENT, "%s unmounted and removed", mnt);
}

/* Fill the filesystem: whole pages until none is left. */
static void fill(void) {
        static char page[4096];
        char path[96];
        int fd;

        snprintf(path, sizeof(path), "%s/filler", mnt);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(fd >= 0, "filler: %s", strerror(errno));
        while (fd >= 0 && write(fd, page, sizeof(page)) == (ssize_t)sizeof(page))
                ;
        CHECK(errno == ENOSPC, "filled up: %s", strerror(errno));
        close(fd);
}

static void unfill(void) {
        char path[96];

        snprintf(path, sizeof(path), "%s/filler", mnt);
        CHECK(unlink(path) == 0, "filler removed");
}

static char *state_path(void) {
        static char path[160];

        snprintf(path, sizeof(path), "%s/full", a.state_dir);
        return path;
}

/* The state file's generation and token, if it is a record whose token has a good checksum; 0 if none. */
static uint64_t state_read(char *token, size_t size) {
        char *text = file_slurp(state_path());
        cJSON *o = text ? cJSON_Parse(text) : NULL;
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "generation");
        const char *t = json_str(o, "token");
        uint64_t gen = 0;

        if (cJSON_IsNumber(g) && t && soak_token_valid(t, strlen(t))) {
                gen = (uint64_t)g->valuedouble;
                snprintf(token, size, "%s", t);
        }
        cJSON_Delete(o);
        free(text);
        return gen;
}

/* The published token: checksum good and WeChat (wxemu) takes it; its generation, 0 if not. */
static uint64_t published_ok(const char *when) {
        char buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        int r = agent_read("full", buf, sizeof(buf), &info), e = -1;

        if (r > 0 && soak_token_valid(buf, (size_t)r))
                e = callback(&emu, buf);
        CHECK(r > 0 && e == 0, "%s: a good token published (read %d, getcallbackip errcode %d)", when, r, e);
        return r > 0 && e == 0 ? info.generation : 0;
}

/* A forced rotation through the socket, then a get: both answered while the disk is full. */
static uint64_t rotate(uint64_t gen) {
        char line[128], raw[4096], buf[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        cJSON *r;

        snprintf(line, sizeof(line), "{\"op\":\"refresh\",\"app\":\"full\",\"generation\":%llu}\n",
                 (unsigned long long)gen);
        r = agent_request(&a, line, raw, sizeof(raw));
        CHECK(r && json_int(r, "generation", 0) == (int)gen + 1, "refresh of generation %llu: %s",
              (unsigned long long)gen, raw);
        cJSON_Delete(r);
        r = agent_request(&a, "{\"op\":\"get\",\"app\":\"full\"}\n", raw, sizeof(raw));
        CHECK(r && agent_read("full", buf, sizeof(buf), &info) > 0 && json_str(r, "token") &&
              !strcmp(json_str(r, "token"), buf) && info.generation == gen + 1,
              "get answers the published token: %.80s", raw);
        cJSON_Delete(r);
        return gen + 1;
}

/* A reboot: the agent dies and /dev/shm is empty; only the state file is left. */
static void reboot(void) {
        char path[160];

        agent_kill9(&a);
        snprintf(path, sizeof(path), "%s/full", a.shm_dir);
        CHECK(unlink(path) == 0, "segment removed");
        agent_start(&a);
}

static void plant(const char *what, const char *content, size_t len) {
        int calls = emu_stat(&emu, "wxFull", "token_calls"), refused = agent_log_count(&a, "state file refused");
        int fd;

        agent_kill9(&a);
        fd = open(state_path(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(fd >= 0 && write(fd, content, len) == (ssize_t)len && close(fd) == 0, "planted %s", what);
        reboot();
        CHECK(agent_log_count(&a, "state file refused") == refused + 1, "%s state file refused with a log line", what);
        CHECK(emu_stat(&emu, "wxFull", "token_calls") == calls + 1, "%s: fetched instead", what);
        published_ok(what);
}

int main(void) {
        static const char *const emu_args[] = {
                "--app", "wxFull:" SECRET, "--expires-in", "120", "--checksum-tokens", "--token-length", "200", NULL,
        };
        long rotations = soak_env("SOAK_FULLFS_ROTATIONS", 3);
        char apps[512], token[WXSHM_TOKEN_MAX + 1], saved[WXSHM_TOKEN_MAX + 1];
        struct soak_item_stats total[1];
        struct soak_readers *readers;
        uint64_t gen;
        int r, calls;
        bool clean;

        r = mount_small();
        if (r < 0) {
                printf("SKIP: cannot mount a tmpfs (%s): needs root or CAP_SYS_ADMIN\n", strerror(-r));
                return EXIT_SKIP;
        }
        emu_start(&emu, emu_args);
        agent_init(&a);
        soak_guard_start(&a, &emu, mnt);
        snprintf(a.state_dir, sizeof(a.state_dir), "%s/state", mnt);
        snprintf(apps, sizeof(apps), "[app full]\nkind = token\nappid = wxFull\nsecret_file = %s\n"
                 "api_base = http://127.0.0.1:%d\n", agent_secret_file(&a, "full", SECRET), emu.port);
        agent_write_config(&a, "backoff_min = 1\nbackoff_max = 2\nmin_force_interval = 1", apps);
        agent_start(&a);
        CHECK(agent_wait_generation("full", 1, 20000), "first token");
        CHECK(state_read(token, sizeof(token)) == 1, "generation 1 saved while there is room");

        /* Full: rotations go on, readers see every one, the socket answers; the agent says what is wrong. */
        fill();
        readers = soak_readers_start(READERS, items, 1);
        gen = 1;
        for (long i = 0; i < rotations; i++)
                gen = rotate(gen);
        clean = soak_readers_stop(readers, total);
        CHECK(soak_readers_report(items, 1, total) && clean, "no torn, failed or backward read");
        CHECK(agent_log_count(&a, "No space left on device") >= 1, "the log names ENOSPC");
        CHECK(agent_notified(&a, "No space left on device"), "so does STATUS=");
        r = (int)state_read(token, sizeof(token));
        CHECK(r == 0 || r == (int)gen, "no state file older than the published token is left (generation %d of %llu)",
              r, (unsigned long long)gen);
        CHECK(access(fmt("%s/.full.tmp", a.state_dir), F_OK) < 0, "no partial temporary file left");

        /* Restarts on the full disk: the segment is adopted; after a reboot the state file may not hand out a dead token. */
        calls = emu_stat(&emu, "wxFull", "token_calls");
        agent_kill9(&a);
        agent_start(&a);
        CHECK(emu_stat(&emu, "wxFull", "token_calls") == calls, "restart on a full disk: the segment adopted");
        CHECK(published_ok("restart on a full disk") == gen, "the same generation");
        reboot();
        published_ok("reboot on a full disk");

        /* Room again: the next rotation is saved, and a reboot adopts it with no call. */
        unfill();
        gen = rotate(published_ok("before the rotation with room"));
        CHECK(state_read(saved, sizeof(saved)) == gen, "saved again once there is room");
        calls = emu_stat(&emu, "wxFull", "token_calls");
        reboot();
        CHECK(emu_stat(&emu, "wxFull", "token_calls") == calls, "reboot with room: the state file adopted");
        CHECK(agent_read("full", token, sizeof(token), &(wxshm_info){ 0 }) > 0 && !strcmp(token, saved),
              "the saved token is the one published");
        CHECK(published_ok("reboot with room") == gen, "the saved generation");

        /* Bad files planted by hand: refused, said so, fetched. */
        {
                char *text = file_slurp(state_path());
                size_t len = text ? strlen(text) : 0;

                CHECK(len > 0, "a state file to truncate");
                plant("a truncated", text ? text : "", len / 2);
                free(text);
        }
        {
                static const char garbage[] = "\x7f" "ELF\x02\x01\x01 not a record at all";

                plant("a garbage", garbage, sizeof(garbage) - 1);
        }
        plant("an empty", "", 0);
        printf("%ld rotations on a full disk, %d \"No space left on device\" log lines; restarts and reboots on a full "
               "and a freed disk, and three bad state files, all ended with a good token\n",
               rotations, agent_log_count(&a, "No space left on device"));
        /* What an operator reads (the lines, once each), and what systemd was told. */
        {
                char *log = agent_log(&a), *line, *save = NULL;
                const char *seen[8] = { 0 };
                int n_seen = 0;

                for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        const char *what = strstr(line, "state");
                        bool dup = false;

                        if (!what || !strstr(line, "app full"))
                                continue;
                        for (int i = 0; i < n_seen; i++)
                                dup |= !strncmp(seen[i], what, 40);
                        if (!dup && n_seen < 8) {
                                seen[n_seen++] = what;
                                printf("  log: %s\n", line);
                        }
                }
                free(log);
        }
        CHECK(agent_notified(&a, "STATUS=1 of 1 apps fresh; full: state file not saved: No space left on device"),
              "STATUS= as expected");
        r = harness_finish(&a);
        unmount_small();
        return r;
}
