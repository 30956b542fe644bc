/* test-segment.c: app-name and prefix validation, segment paths, header validation. */
#include <errno.h>
#include <string.h>

#include "segment.h"
#include "wxshm.h"
#include "test-util.h"

/* s = n copies of c, then a NUL (s holds n + 1 bytes). */
static char *run(char *s, char c, size_t n) {
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_names(void) {
        char long_name[160];

        CHECK(segment_name_valid("app"));
        CHECK(segment_name_valid("A-b_9"));
        CHECK(segment_name_valid("app.jsapi"));
        CHECK(segment_name_valid("app.wx_card"));
        CHECK(!segment_name_valid(NULL));
        CHECK(!segment_name_valid(""));
        CHECK(!segment_name_valid("."));
        CHECK(!segment_name_valid("app."));
        CHECK(!segment_name_valid(".jsapi"));
        /* An account's ticket: one more dot inside the suffix, never a third part, an empty one or a dot at an end. */
        CHECK(segment_name_valid("a.b.c"));
        CHECK(segment_name_valid("comp.wxa00000001.jsapi"));
        CHECK(segment_name_valid("crm.wwc00000001.agent_config"));
        CHECK(!segment_name_valid("a.b.c.d"));
        CHECK(!segment_name_valid("a..c"));
        CHECK(!segment_name_valid("a.b.."));
        CHECK(!segment_name_valid("a.b.c."));
        CHECK(!segment_name_valid("a.b./c"));
        CHECK(!segment_name_valid("../etc"));
        CHECK(!segment_name_valid("a/b"));
        CHECK(!segment_name_valid("a b"));
        CHECK(!segment_name_valid("caf\xc3\xa9"));
        CHECK(!segment_name_valid("app\n"));

        CHECK(segment_name_valid("platform.wx0123456789abcdef"));
        CHECK(!segment_name_valid("a..b"));
        CHECK(!segment_name_valid("a.b."));

        /* The app part: 64 characters fit, 65 do not. */
        CHECK(segment_name_valid(run(long_name, 'x', 64)));
        CHECK(!segment_name_valid(run(long_name, 'x', 65)));
        /* The suffix: 40 characters fit, 41 do not, also behind the longest app part (105 bytes in all). */
        run(long_name, 'x', 64);
        long_name[64] = '.';
        CHECK(segment_name_valid(run(long_name + 65, 's', 40)) && segment_name_valid(long_name));
        CHECK_EQ(strlen(long_name), WIRE_NAME_MAX);
        CHECK_EQ(WIRE_NAME_MAX, 105);
        run(long_name + 65, 's', 41);
        CHECK(!segment_name_valid(long_name));
        /* An account's ticket's suffix counts its dot: 40 bytes in all fit, 41 do not. */
        run(long_name + 65, 's', 40);
        long_name[65 + 27] = '.';
        CHECK(segment_name_valid(long_name));
        run(long_name + 65, 's', 41);
        long_name[65 + 27] = '.';
        CHECK(!segment_name_valid(long_name));
        strcpy(long_name, "app.");
        CHECK(segment_name_valid(run(long_name + 4, 's', 40)) && segment_name_valid(long_name));
        run(long_name + 4, 's', 41);
        CHECK(!segment_name_valid(long_name));
        /* The app part too long behind a valid suffix; a second dot inside a suffix that fits is an account's ticket. */
        run(long_name, 'x', 65);
        strcat(long_name, ".jsapi");
        CHECK(!segment_name_valid(long_name));
        CHECK(segment_name_valid("app.js.api"));
        /* The config's own app names take no suffix. */
        CHECK(wire_app_name_valid(run(long_name, 'x', 64)));
        CHECK(!wire_app_name_valid(run(long_name, 'x', 65)));
        CHECK(!wire_app_name_valid("shop.jsapi"));
        CHECK(!wire_app_name_valid(""));
        CHECK(!wire_app_name_valid(NULL));
}

static void test_dirs(void) {
        char long_dir[SEGMENT_DIR_MAX + 1];

        CHECK(segment_dir_valid("/dev/shm/wxtokend"));
        CHECK(!segment_dir_valid("dev/shm/wxtokend"));
        CHECK(!segment_dir_valid(""));
        CHECK(!segment_dir_valid(NULL));
        memset(long_dir, 'x', sizeof(long_dir));
        long_dir[0] = '/';
        long_dir[SEGMENT_DIR_MAX - 1] = '\0';
        CHECK(segment_dir_valid(long_dir));
        long_dir[SEGMENT_DIR_MAX - 1] = 'x';
        long_dir[SEGMENT_DIR_MAX] = '\0';
        CHECK(!segment_dir_valid(long_dir));

        /* The reader's directory comes from the environment, but only if it is a valid one. */
        setenv("WXSHM_DIR", "/dev/shm/other", 1);
        CHECK(strcmp(segment_reader_dir(), "/dev/shm/other") == 0);
        setenv("WXSHM_DIR", "relative/evil", 1);
        CHECK(strcmp(segment_reader_dir(), WXSHM_DEFAULT_DIR) == 0);
        unsetenv("WXSHM_DIR");
        CHECK(strcmp(segment_reader_dir(), WXSHM_DEFAULT_DIR) == 0);
}

static void header_init(struct wxshm_layout *seg) {
        memset(seg, 0, sizeof(*seg));
        seg->version = WXSHM_LAYOUT_VERSION;
        seg->header_size = offsetof(struct wxshm_layout, slot);
        seg->total_size = sizeof(*seg);
        seg->slot_size = sizeof(struct wxshm_layout_slot);
        seg->token_capacity = WXSHM_LAYOUT_TOKEN_CAPACITY;
        seg->heartbeat_interval_ms = 5000;
        atomic_store(&seg->magic, WXSHM_LAYOUT_MAGIC);
}

static void test_validate(void) {
        static struct wxshm_layout seg;

        header_init(&seg);
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), 0);
        CHECK_EQ(segment_validate(&seg, sizeof(seg) + 4096), 0);
        /* Truncated: the object is smaller than the layout. */
        CHECK_EQ(segment_validate(&seg, sizeof(seg) - 1), -EBADMSG);
        CHECK_EQ(segment_validate(&seg, 0), -EBADMSG);

        atomic_store(&seg.magic, 0x1122334455667788u);
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EBADMSG);
        /* Zero: the writer sets magic last, so the segment is still being made. */
        atomic_store(&seg.magic, 0);
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EAGAIN);

        header_init(&seg);
        seg.version = 2;
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EPROTONOSUPPORT);

        header_init(&seg);
        seg.total_size = sizeof(seg) + 1; /* claims more than the object has */
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EBADMSG);
        header_init(&seg);
        seg.total_size = 100;
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EBADMSG);
        header_init(&seg);
        seg.token_capacity = 1u << 30; /* would let a length field reach past the slot */
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EBADMSG);
        header_init(&seg);
        seg.slot_size = 8;
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EBADMSG);
        header_init(&seg);
        seg.header_size = 0;
        CHECK_EQ(segment_validate(&seg, sizeof(seg)), -EBADMSG);
}

static void test_copy(void) {
        static struct wxshm_layout seg;
        struct segment_slot slot;
        char buf[WXSHM_LAYOUT_TOKEN_CAPACITY];

        header_init(&seg);
        /* Readers use slot[seq & 1]: an odd counter selects slot 1. */
        atomic_store(&seg.seq, 7);
        atomic_store(&seg.slot[1].length, 5);
        atomic_store(&seg.slot[1].generation, 3);
        memcpy((void *)seg.slot[1].token, "hello...", 8);
        atomic_store(&seg.slot[0].length, 3);
        atomic_store(&seg.slot[0].generation, 2);
        CHECK_EQ(segment_copy(&seg, &slot, buf, sizeof(buf)), 0);
        CHECK_EQ(slot.generation, 3);
        CHECK_EQ(slot.length, 5);
        CHECK(memcmp(buf, "hello", 5) == 0);

        atomic_store(&seg.seq, 8);
        CHECK_EQ(segment_copy(&seg, &slot, buf, sizeof(buf)), 0);
        CHECK_EQ(slot.generation, 2);

        /* A length beyond the slot is refused, never used to size a copy. */
        atomic_store(&seg.slot[0].length, UINT64_MAX);
        CHECK_EQ(segment_copy(&seg, &slot, buf, sizeof(buf)), -EBADMSG);
        atomic_store(&seg.slot[0].length, WXSHM_LAYOUT_TOKEN_CAPACITY + 1);
        CHECK_EQ(segment_copy(&seg, &slot, buf, sizeof(buf)), -EBADMSG);
        atomic_store(&seg.slot[0].length, WXSHM_LAYOUT_TOKEN_CAPACITY);
        CHECK_EQ(segment_copy(&seg, &slot, buf, sizeof(buf)), 0);
}

int main(void) {
        test_names();
        test_dirs();
        test_validate();
        test_copy();
        return 0;
}
