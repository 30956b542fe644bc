/* test-writer.c: create, adopt, replace and retire segments; permissions; publish rules. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-util.h"
#include "writer.h"
#include "wxshm.h"

#define HOUR_MS 3600000

static int raw_open(const char *name) {
        return openat(test_shm_dirfd(), name, O_RDWR | O_CREAT, 0600);
}

static void test_create_mode(void) {
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        wxshm_writer *w;
        struct stat st;
        mode_t old;
        int fd;

        test_unlink_at_exit("mode");
        /* The umask must not decide who may read the token. */
        old = umask(0077);
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "mode", &opts), 0);
        umask(old);
        fd = raw_open("mode");
        SETUP_OK(fd >= 0 && fstat(fd, &st) == 0);
        CHECK_EQ(st.st_mode & 07777, 0640);
        CHECK_EQ(st.st_size, sizeof(struct wxshm_layout));
        close(fd);
        wxshm_writer_close(w);

        /* Reopening applies the configured mode and group again. */
        opts.mode = 0600;
        if (geteuid() == 0)
                opts.group = 1; /* "daemon" on Debian; any gid works for root */
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "mode", &opts), 0);
        fd = raw_open("mode");
        SETUP_OK(fd >= 0 && fstat(fd, &st) == 0);
        CHECK_EQ(st.st_mode & 07777, 0600);
        if (geteuid() == 0)
                CHECK_EQ(st.st_gid, 1);
        close(fd);
        wxshm_writer_close(w);

        CHECK_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "bad/name", NULL), -EINVAL);
        CHECK_EQ(wxshm_writer_open(&w, -1, "app", NULL), -EBADF);
}

static void test_adopt(void) {
        char buf[WXSHM_TOKEN_MAX + 1];
        struct segment_slot slot;
        int64_t now = test_now_ms();
        wxshm_writer *w;
        uint64_t gen;
        wxshm *h;

        test_unlink_at_exit("adopt");
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "adopt", NULL), 0);
        CHECK_EQ(wxshm_writer_current(w, buf, sizeof(buf), &slot), -ENODATA);
        CHECK_EQ(wxshm_writer_publish(w, "aaa", 3, now + HOUR_MS, now, NULL), 0);
        CHECK_EQ(wxshm_writer_publish(w, "bbb", 3, now + HOUR_MS, now, &gen), 0);
        CHECK_EQ(gen, 2);
        REQUIRE_EQ(wxshm_open(&h, "adopt"), 0);
        wxshm_writer_close(w);

        /* Closing never unlinks: the reader still reads, and a new writer adopts. */
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), 3);
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "adopt", NULL), 0);
        CHECK_EQ(wxshm_writer_current(w, buf, sizeof(buf), &slot), 3);
        CHECK(strcmp(buf, "bbb") == 0);
        CHECK_EQ(slot.generation, 2);
        CHECK_EQ(slot.expires_at_ms, now + HOUR_MS);
        CHECK_EQ(wxshm_writer_current(w, buf, 3, &slot), -ENOBUFS);
        CHECK_EQ(wxshm_writer_publish(w, "ccc", 3, now + HOUR_MS, now, &gen), 0);
        CHECK_EQ(gen, 3);

        /* Generations never go back; explicit ones (cluster mode) may jump ahead. */
        CHECK_EQ(wxshm_writer_publish_generation(w, "ddd", 3, now + HOUR_MS, now, 2), -ESTALE);
        CHECK_EQ(wxshm_writer_publish_generation(w, "ddd", 3, now + HOUR_MS, now, 10), 0);
        CHECK_EQ(wxshm_writer_publish(w, "", 0, now, now, NULL), -EINVAL);
        CHECK_EQ(wxshm_writer_publish(w, buf, WXSHM_LAYOUT_TOKEN_CAPACITY + 1, now, now, NULL), -EINVAL);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), 3);
        CHECK(strcmp(buf, "ddd") == 0);

        /* Retire, then adopt again (the app came back): a new object carries the token over. */
        wxshm_writer_retire(w);
        wxshm_writer_close(w);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -EIDRM);
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "adopt", NULL), 0);
        wxshm_close(h);
        REQUIRE_EQ(wxshm_open(&h, "adopt"), 0);
        wxshm_info info = { .size = sizeof(info) };
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), &info), 3);
        CHECK(strcmp(buf, "ddd") == 0);
        CHECK_EQ(info.generation, 10);
        wxshm_close(h);
        wxshm_writer_close(w);
}

/* Another appid's token under the name: discarded, its readers told to re-open. */
static void test_discard(void) {
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        char buf[WXSHM_TOKEN_MAX + 1];
        int64_t now = test_now_ms();
        wxshm_writer *w;
        wxshm *h;

        test_unlink_at_exit("discard");
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "discard", NULL), 0);
        CHECK_EQ(wxshm_writer_publish(w, "old-appid-token", 15, now + HOUR_MS, now, NULL), 0);
        wxshm_writer_close(w);
        REQUIRE_EQ(wxshm_open(&h, "discard"), 0);
        opts.discard = true;
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "discard", &opts), 0);
        CHECK_EQ(wxshm_writer_current(w, buf, sizeof(buf), NULL), -ENODATA);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -EIDRM);
        wxshm_close(h);
        REQUIRE_EQ(wxshm_open(&h, "discard"), 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -ENODATA);
        wxshm_close(h);
        /* An empty segment is simply kept. */
        wxshm_writer_close(w);
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "discard", &opts), 0);
        REQUIRE_EQ(wxshm_open(&h, "discard"), 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -ENODATA);
        wxshm_close(h);
        wxshm_writer_close(w);
}

static void test_replace(void) {
        struct wxshm_layout *raw;
        wxshm_writer *w;
        wxshm *h;
        int fd;

        /* Another layout version: retired for its readers, replaced under the name. */
        test_unlink_at_exit("old");
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "old", NULL), 0);
        wxshm_writer_close(w);
        fd = raw_open("old");
        SETUP_OK(fd >= 0);
        raw = mmap(NULL, sizeof(*raw), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        SETUP_OK(raw != MAP_FAILED);
        close(fd);
        raw->version = 0;
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "old", NULL), 0);
        CHECK_EQ(atomic_load(&raw->retired), 1);
        munmap(raw, sizeof(*raw));
        REQUIRE_EQ(wxshm_open(&h, "old"), 0);
        wxshm_close(h);
        wxshm_writer_close(w);

        /* Creation that died before the magic was written: finished now. */
        test_unlink_at_exit("half");
        fd = raw_open("half");
        SETUP_OK(fd >= 0 && ftruncate(fd, sizeof(struct wxshm_layout)) == 0);
        CHECK_EQ(wxshm_open(&h, "half"), -EAGAIN); /* magic 0: being made, try again */
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "half", NULL), 0);
        REQUIRE_EQ(wxshm_open(&h, "half"), 0);
        wxshm_close(h);
        wxshm_writer_close(w);
        close(fd);

        /* Our own file that is no segment (a leftover): replaced by a segment. */
        test_unlink_at_exit("junk");
        fd = raw_open("junk");
        SETUP_OK(fd >= 0 && write(fd, "not a segment", 13) == 13);
        close(fd);
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "junk", NULL), 0);
        REQUIRE_EQ(wxshm_open(&h, "junk"), 0);
        wxshm_close(h);
        wxshm_writer_close(w);
}

/* Names in the directory that are not a regular file of ours: never adopted, changed or mapped. */
static void test_not_ours(void) {
        wxshm_writer *w = NULL;
        char back[23] = "";
        struct stat st;
        int fd;

        /* Another uid's file (only root could have put it there): left exactly as it is. */
        test_unlink_at_exit("foreign");
        fd = raw_open("foreign");
        SETUP_OK(fd >= 0 && write(fd, "not a segment, keep me", 22) == 22);
        SETUP_OK(fchown(fd, 60123, 60123) == 0);
        CHECK_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "foreign", NULL), -EPERM);
        SETUP_OK(pread(fd, back, 22, 0) == 22);
        CHECK(strcmp(back, "not a segment, keep me") == 0);
        SETUP_OK(fstat(fd, &st) == 0);
        CHECK_EQ(st.st_size, 22);
        CHECK_EQ(st.st_mode & 07777, 0600);
        CHECK_EQ(st.st_uid, 60123);
        close(fd);

        /* A link pointing elsewhere is not followed. */
        test_unlink_at_exit("link");
        SETUP_OK(symlinkat("/etc/passwd", test_shm_dirfd(), "link") == 0);
        CHECK_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "link", NULL), -EPERM);

        /* A FIFO: refused, and the open does not wait for a writer. */
        test_unlink_at_exit("fifo");
        SETUP_OK(mkfifoat(test_shm_dirfd(), "fifo", 0600) == 0);
        CHECK_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "fifo", NULL), -EPERM);
        CHECK(w == NULL);
}

/* The app was removed: readers told so (-ENXIO), the name gone (-ENOENT); another object under it is kept. */
static void test_remove(void) {
        char buf[WXSHM_TOKEN_MAX + 1];
        int64_t now = test_now_ms();
        wxshm_writer *w, *w2;
        struct stat st;
        wxshm *h;

        test_unlink_at_exit("gone");
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "gone", NULL), 0);
        CHECK_EQ(wxshm_writer_publish(w, "tok", 3, now + HOUR_MS, now, NULL), 0);
        REQUIRE_EQ(wxshm_open(&h, "gone"), 0);
        CHECK_EQ(wxshm_writer_remove(w, test_shm_dirfd(), "gone"), 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -ENXIO);
        CHECK(fstatat(test_shm_dirfd(), "gone", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT, "unlinked");
        wxshm_close(h);
        CHECK_EQ(wxshm_open(&h, "gone"), -ENOENT);
        /* Again (the name is gone already): nothing to do. */
        CHECK_EQ(wxshm_writer_remove(w, test_shm_dirfd(), "gone"), 0);
        wxshm_writer_close(w);

        /* A writer whose name now holds another object (replaced): marks its own, unlinks nothing. */
        REQUIRE_EQ(wxshm_writer_open(&w, test_shm_dirfd(), "gone", NULL), 0);
        SETUP_OK(unlinkat(test_shm_dirfd(), "gone", 0) == 0);
        REQUIRE_EQ(wxshm_writer_open(&w2, test_shm_dirfd(), "gone", NULL), 0);
        CHECK_EQ(wxshm_writer_remove(w, test_shm_dirfd(), "gone"), 0);
        CHECK_EQ(atomic_load(&wxshm_writer_layout(w)->retired), WXSHM_LAYOUT_RETIRED_REMOVED);
        REQUIRE_EQ(wxshm_open(&h, "gone"), 0);
        CHECK_EQ(wxshm_read(h, buf, sizeof(buf), NULL), -ENODATA);
        wxshm_close(h);
        wxshm_writer_close(w);
        wxshm_writer_close(w2);
}

int main(void) {
        test_shm_dir();
        test_remove();
        test_create_mode();
        test_adopt();
        test_discard();
        test_replace();
        test_not_ours();
        return 0;
}
