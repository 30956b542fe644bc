/* demo-watch.c: ./dev demo's screen: each app's generation, remaining life and last refresh, every few seconds; or the first token. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
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

/* Whether item's segment holds a token a reader can use. */
static bool has_token(const char *item) {
        char token[WXSHM_TOKEN_MAX + 1];
        wxshm_info info = { .size = sizeof(info) };
        wxshm *h;
        int r = wxshm_open(&h, item);

        if (r < 0)
                return false;
        r = wxshm_read(h, token, sizeof(token), &info);
        wxshm_close(h);
        return r > 0;
}

/* --first-token SECONDS: wait until every app has a token, show them once; 0, or 1 at the limit. */
static int first_token(int seconds, int n, char **items) {
        for (long waited = 0; waited < seconds * 1000L && !stop; waited += 50) {
                int have = 0;

                for (int i = 0; i < n; i++)
                        have += has_token(items[i]);
                if (have == n) {
                        for (int i = 0; i < n; i++)
                                show(items[i]);
                        fflush(stdout);
                        return 0;
                }
                usleep(50000);
        }
        fprintf(stderr, "demo-watch: not every app had a token within %d s\n", seconds);
        return 1;
}

int main(int argc, char **argv) {
        int interval = 3;

        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if (argc >= 3 && strcmp(argv[1], "--first-token") == 0 && argc >= 4)
                return first_token(atoi(argv[2]), argc - 3, argv + 3);
        if (argc < 2 || argv[1][0] == '-') {
                fprintf(stderr, "usage: demo-watch [--first-token SECONDS] APP... (segments in $WXSHM_DIR)\n");
                return 2;
        }
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
