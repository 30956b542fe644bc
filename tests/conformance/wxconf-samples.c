/* wxconf-samples.c: sample segments, good and bad, and DIR/EXPECTED: what opening then reading each must give. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "writer.h"
#include "wxconf.h"
#include "wxshm.h"

/* The stale sample's expiry: 2001-09-09, long past; fetched two hours before. */
#define STALE_EXPIRES_MS INT64_C(1000000000000)
#define STALE_FETCHED_MS (STALE_EXPIRES_MS - 7200000)

enum make {
        MAKE_NONE,      /* nothing under the name */
        MAKE_TOKEN,     /* a segment holding token(1) */
        MAKE_STALE,     /* token(1), expired */
        MAKE_EMPTY,     /* a segment, no token published */
        MAKE_TRUNCATE,  /* a valid segment cut to half its size */
        MAKE_MAGIC,     /* another magic */
        MAKE_VERSION,   /* layout version 2 */
        MAKE_CREATING,  /* magic still 0: the agent has not finished making it */
        MAKE_UNSIZED,   /* 0 bytes: the agent's openat made it, it is not sized yet */
        MAKE_RETIRED,   /* retired = 1: re-open the name */
        MAKE_REMOVED,   /* retired = 2: the app was removed */
        MAKE_LINK,      /* a symbolic link to "valid" */
        MAKE_FIFO,
        MAKE_OWNER,     /* a valid segment of another owner than the directory's (root only) */
};

struct sample {
        const char *item;
        enum make make;
        const char *expect;
};

/* Names beside the ones below: exactly at and just past each limit of the grammar. */
#define NAME64 "n123456789012345678901234567890123456789012345678901234567890123"
#define SUFFIX40 "s123456789012345678901234567890123456789"

static const struct sample samples[] = {
        { "valid", MAKE_TOKEN, "ok" },
        { "valid.jsapi", MAKE_TOKEN, "ok" },
        { "stale", MAKE_STALE, "stale" },
        { "nodata", MAKE_EMPTY, "ENODATA" },
        { "truncated", MAKE_TRUNCATE, "EBADMSG" },
        { "foreign", MAKE_MAGIC, "EBADMSG" },
        { "newer", MAKE_VERSION, "EPROTONOSUPPORT" },
        { "creating", MAKE_CREATING, "EAGAIN" },
        { "unsized", MAKE_UNSIZED, "EAGAIN" },
        { "retired", MAKE_RETIRED, "EIDRM" },
        { "removed", MAKE_REMOVED, "ENXIO" },
        { "link", MAKE_LINK, "EPERM" },
        /* O_NONBLOCK opens a FIFO at once; it is then no regular file. */
        { "fifo", MAKE_FIFO, "EBADMSG" },
        { "wrongowner", MAKE_OWNER, "EPERM" },
        { "missing", MAKE_NONE, "ENOENT" },
        /* Valid names, no file: the name must pass before the file system answers. */
        { NAME64, MAKE_NONE, "ENOENT" },
        { "platform.wx0123456789abcdef", MAKE_NONE, "ENOENT" },
        { "x." SUFFIX40, MAKE_NONE, "ENOENT" },
        /* An account's ticket: one more dot inside the suffix (COMPONENT.APPID.TYPE). */
        { "plat.wxa00000001.jsapi", MAKE_NONE, "ENOENT" },
        /* Invalid names: refused before anything is opened. */
        { "bad!name", MAKE_NONE, "EINVAL" },
        { NAME64 "4", MAKE_NONE, "EINVAL" },
        { "x." SUFFIX40 "0", MAKE_NONE, "EINVAL" },
        { "three.dots.x.y", MAKE_NONE, "EINVAL" },
        { "empty..part", MAKE_NONE, "EINVAL" },
        { "ends.in.", MAKE_NONE, "EINVAL" },
        { ".jsapi", MAKE_NONE, "EINVAL" },
        { "valid.", MAKE_NONE, "EINVAL" },
        { "../valid", MAKE_NONE, "EINVAL" },
};

static void die(const char *what, const char *item, int r) {
        fprintf(stderr, "wxconf-samples: %s %s: %s\n", what, item, strerror(r < 0 ? -r : r));
        exit(1);
}

/* One word or half-word of the layout, written in place (host byte order, as the layout is). */
static void patch(int dir_fd, const char *item, const void *value, size_t size, off_t offset) {
        int fd = openat(dir_fd, item, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 || pwrite(fd, value, size, offset) != (ssize_t)size)
                die("patching", item, -errno);
        close(fd);
}

static void patch64(int dir_fd, const char *item, uint64_t value, size_t offset) {
        patch(dir_fd, item, &value, sizeof(value), (off_t)offset);
}

/* A segment through libwxshm's writer, holding token(1) with the given times unless empty. */
static void make_segment(int dir_fd, const char *item, bool empty, int64_t expires_at_ms, int64_t fetched_at_ms) {
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        char rep[WXCONF_REP_SIZE];
        wxshm_writer *w;
        int r;

        wxconf_rep_init(rep);
        opts.mode = 0644;
        r = wxshm_writer_open(&w, dir_fd, item, &opts);
        if (r < 0)
                die("making", item, r);
        wxshm_writer_set_state(w, WXSHM_STATE_FRESH);
        if (!empty) {
                r = wxshm_writer_publish_generation(w, rep + wxconf_offset(1), wxconf_length(1), expires_at_ms,
                                                    fetched_at_ms, 1);
                if (r < 0)
                        die("publishing in", item, r);
        }
        wxshm_writer_close(w);
}

/* Whether the sample could be made here (wrongowner needs root); the file is made if so. */
static bool make_sample(int dir_fd, const struct sample *s) {
        const char *item = s->item;

        if (s->make == MAKE_OWNER && geteuid() != 0)
                return false;
        switch (s->make) {
        case MAKE_NONE:
                return true;
        case MAKE_LINK:
                if (symlinkat("valid", dir_fd, item) < 0)
                        die("making", item, -errno);
                return true;
        case MAKE_FIFO:
                if (mkfifoat(dir_fd, item, 0644) < 0 || fchmodat(dir_fd, item, 0644, 0) < 0)
                        die("making", item, -errno);
                return true;
        case MAKE_STALE:
                make_segment(dir_fd, item, false, STALE_EXPIRES_MS, STALE_FETCHED_MS);
                return true;
        case MAKE_EMPTY:
                make_segment(dir_fd, item, true, 0, 0);
                return true;
        default:
                make_segment(dir_fd, item, false, WXCONF_BASE_MS + 1, WXCONF_BASE_MS - 1);
                break;
        }
        switch (s->make) {
        case MAKE_TRUNCATE:
        case MAKE_UNSIZED: {
                int fd = openat(dir_fd, item, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
                off_t size = s->make == MAKE_UNSIZED ? 0 : (off_t)sizeof(struct wxshm_layout) / 2;

                if (fd < 0 || ftruncate(fd, size) < 0)
                        die("truncating", item, -errno);
                close(fd);
                break;
        }
        case MAKE_MAGIC:
                /* "NOTWXSHM": not ours, and not the zero of a segment being made either. */
                patch64(dir_fd, item, UINT64_C(0x4d48535857544f4e), offsetof(struct wxshm_layout, magic));
                break;
        case MAKE_VERSION: {
                uint32_t version = WXSHM_LAYOUT_VERSION + 1;

                patch(dir_fd, item, &version, sizeof(version), offsetof(struct wxshm_layout, version));
                break;
        }
        case MAKE_CREATING:
                patch64(dir_fd, item, 0, offsetof(struct wxshm_layout, magic));
                break;
        case MAKE_RETIRED:
                patch64(dir_fd, item, 1, offsetof(struct wxshm_layout, retired));
                break;
        case MAKE_REMOVED:
                patch64(dir_fd, item, 2, offsetof(struct wxshm_layout, retired));
                break;
        case MAKE_OWNER:
                /* nobody: the file is no longer the directory owner's, whatever else it is. */
                if (fchownat(dir_fd, item, 65534, (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
                        die("chown", item, -errno);
                break;
        default:
                break;
        }
        return true;
}

int main(int argc, char **argv) {
        const size_t n = sizeof(samples) / sizeof(samples[0]);
        FILE *expected;
        int dir_fd, fd;

        if (argc != 2) {
                fprintf(stderr, "Usage: wxconf-samples DIR\n"
                                "Make DIR (0751) with sample segments and DIR/EXPECTED, one line per sample:\n"
                                "'<item> <result>', result ok, stale or an errno name. See tests/conformance/README.md.\n");
                return 64;
        }
        dir_fd = wxconf_open_dir(argv[1]);
        if (dir_fd < 0)
                die("directory", argv[1], dir_fd);
        /* A second run starts from nothing: every sample is made anew. */
        for (size_t i = 0; i < n; i++)
                if (strchr(samples[i].item, '/') == NULL && unlinkat(dir_fd, samples[i].item, 0) < 0 &&
                    errno != ENOENT)
                        die("removing", samples[i].item, -errno);

        fd = openat(dir_fd, "EXPECTED.new", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || fchmod(fd, 0644) < 0 || !(expected = fdopen(fd, "w")))
                die("writing", "EXPECTED", -errno);
        for (size_t i = 0; i < n; i++)
                if (make_sample(dir_fd, &samples[i]))
                        fprintf(expected, "%s %s\n", samples[i].item, samples[i].expect);
        if (fflush(expected) != 0 || fsync(fd) < 0 || fclose(expected) != 0 ||
            renameat(dir_fd, "EXPECTED.new", dir_fd, "EXPECTED") < 0)
                die("writing", "EXPECTED", -errno);
        close(dir_fd);
        return 0;
}
