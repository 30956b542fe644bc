/* wxconf-writer.c: publishes the conformance kit's tokens as fast as it can (or paced), for readers to catch a torn copy. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "writer.h"
#include "wxconf.h"
#include "wxshm.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
        (void)sig;
        stopping = 1;
}

static int64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
        struct wxshm_writer_options opts = WXSHM_WRITER_OPTIONS_DEFAULT;
        struct sigaction sa = { .sa_handler = on_signal };
        char rep[WXCONF_REP_SIZE];
        long seconds = 120, pause_us = 0;
        int64_t deadline, next_beat;
        wxshm_writer *w;
        uint64_t g, published = 0;
        int dir_fd, r;

        if (argc < 3 || argc > 5 || (argc >= 4 && (seconds = strtol(argv[3], NULL, 10)) <= 0) ||
            (argc == 5 && ((pause_us = strtol(argv[4], NULL, 10)) < 0 || pause_us > 999999))) {
                fprintf(stderr, "Usage: wxconf-writer DIR ITEM [SECONDS [PAUSE_US]]\n"
                                "Publish generations 1, 2, 3, ... of the conformance token in DIR/ITEM as fast as\n"
                                "possible (or PAUSE_US microseconds apart, 0..999999) for SECONDS (default 120)\n"
                                "or until SIGTERM; 'ready 1' on stdout once the first is readable, 'wrote N' at\n"
                                "the end. See tests/conformance/README.md.\n");
                return 64;
        }
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        wxconf_rep_init(rep);

        dir_fd = wxconf_open_dir(argv[1]);
        if (dir_fd < 0) {
                fprintf(stderr, "wxconf-writer: %s: %s (it must be a directory of this user, writable by it alone)\n",
                        argv[1], strerror(-dir_fd));
                return 1;
        }
        /* Any user may read the test tokens; discard: a segment left by an earlier run starts over at 1. */
        opts.mode = 0644;
        opts.discard = true;
        r = wxshm_writer_open(&w, dir_fd, argv[2], &opts);
        close(dir_fd);
        if (r < 0) {
                fprintf(stderr, "wxconf-writer: %s/%s: %s\n", argv[1], argv[2], strerror(-r));
                return 1;
        }
        /* A reader sees a live, fresh agent: only the token changes. */
        wxshm_writer_heartbeat(w, wall_ms());
        wxshm_writer_set_state(w, WXSHM_STATE_FRESH);

        deadline = mono_ms() + seconds * 1000;
        next_beat = mono_ms() + 1000;
        for (g = 1; !stopping; g++) {
                r = wxshm_writer_publish_generation(w, rep + wxconf_offset(g), wxconf_length(g),
                                                    WXCONF_BASE_MS + (int64_t)g, WXCONF_BASE_MS - (int64_t)g, g);
                if (r < 0) {
                        fprintf(stderr, "wxconf-writer: publishing generation %llu: %s\n", (unsigned long long)g,
                                strerror(-r));
                        wxshm_writer_close(w);
                        return 1;
                }
                published = g;
                if (g == 1) {
                        printf("ready 1\n");
                        fflush(stdout);
                }
                /*
                 * Paced for a reader that makes system calls per read: against a million
                 * publishes a second nearly every try of it sees seq move; a pause still puts
                 * publishes inside its reads, at a rate it can get through.
                 */
                if (pause_us > 0)
                        nanosleep(&(struct timespec){ .tv_nsec = pause_us * 1000 }, NULL);
                /* The clock every 256 generations: a publish is a fraction of a microsecond. */
                if ((g & 255) == 0 || pause_us > 0) {
                        int64_t now = mono_ms();

                        if (now >= deadline)
                                break;
                        if (now >= next_beat) {
                                wxshm_writer_heartbeat(w, wall_ms());
                                next_beat = now + 1000;
                        }
                }
        }
        wxshm_writer_set_state(w, WXSHM_STATE_STOPPED);
        wxshm_writer_close(w);
        printf("wrote %llu\n", (unsigned long long)published);
        return fflush(stdout) == 0 ? 0 : 1;
}
