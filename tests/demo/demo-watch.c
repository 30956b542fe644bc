/* demo-watch.c: ./dev demo's screen: each app's generation, remaining life and last refresh, every few seconds. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wxshm.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        stop = 1;
}

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line for item: what a reader of its segment sees right now. */
static void show(const char *item) {
        char token[WXSHM_TOKEN_MAX + 1];
        wxshm_info info;
        wxshm *h;
        int r = wxshm_open(&h, item);

        if (r < 0) {
                printf("  %-8s  %s\n", item, strerror(-r));
                return;
        }
        info.size = sizeof(info);
        r = wxshm_read(h, token, sizeof(token), &info);
        wxshm_close(h);
        if (r < 0 && r != -ESTALE) {
                printf("  %-8s  %s\n", item, strerror(-r));
                return;
        }
        printf("  %-8s  %10llu  %8llds  %10llds ago  %-12s  %.12s...%s\n", item, (unsigned long long)info.generation,
               (info.expires_at_ms - now_ms()) / 1000, (now_ms() - info.fetched_at_ms) / 1000,
               wxshm_state_name(info.state), token, r == -ESTALE ? "  (expired)" : "");
}

int main(int argc, char **argv) {
        int interval = 3;

        if (argc < 2) {
                fprintf(stderr, "usage: demo-watch APP... (segments in $WXSHM_DIR)\n");
                return 2;
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!stop) {
                time_t t = time(NULL);
                char when[16];

                strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
                printf("%s    %-8s  %10s  %9s  %14s  %-12s  %s\n", when, "app", "generation", "expires", "refreshed",
                       "state", "token");
                for (int i = 1; i < argc; i++)
                        show(argv[i]);
                printf("\n");
                fflush(stdout);
                for (int s = 0; s < interval * 10 && !stop; s++)
                        usleep(100000);
        }
        return 0;
}
