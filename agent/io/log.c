/* log.c: one line per state change, to the journal with fields when under journald, else stderr (timestamped text or JSON). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int level_max = LOG_INFO;
static bool to_journal;
static bool as_json;

static const char *const level_names[] = {
        [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* systemd sets JOURNAL_STREAM to the device:inode of stderr when stderr goes to journald. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(int max_level) {
        level_max = max_level;
        to_journal = stderr_is_journal();
}

void log_set_level(int max_level) {
        level_max = max_level;
}

void log_set_json(bool json) {
        as_json = json;
}

/* Now as RFC 3339 in UTC with milliseconds: the journal stamps its own lines, a file does not. */
static void timestamp(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;
        size_t n;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* One JSON object on one line (cJSON escapes); false if it could not be built. */
static bool log_json_line(const char *when, int level, const char *app, long errcode, const char *msg) {
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        bool ok = o && cJSON_AddStringToObject(o, "time", when) && cJSON_AddStringToObject(o, "level", level_names[level]) &&
                  (!app || cJSON_AddStringToObject(o, "app", app)) &&
                  (!errcode || cJSON_AddNumberToObject(o, "errcode", (double)errcode)) &&
                  cJSON_AddStringToObject(o, "message", msg) && (line = cJSON_PrintUnformatted(o));

        if (ok)
                fprintf(stderr, "%s\n", line);
        cJSON_free(line);
        cJSON_Delete(o);
        return ok;
}

int log_level_parse(const char *s) {
        for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
                if (level_names[i] && strcmp(s, level_names[i]) == 0)
                        return i;
        return -EINVAL;
}

void log_app(int level, const char *app, long errcode, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        int saved = errno;

        if (level > level_max)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (to_journal) {
                char message[1200], priority[16], app_field[96], err_field[40];
                struct iovec iov[4];
                int n = 0;

                snprintf(message, sizeof(message), "MESSAGE=%s%s%s", app ? app : "", app ? ": " : "", msg);
                snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
                iov[n++] = (struct iovec){ message, strlen(message) };
                iov[n++] = (struct iovec){ priority, strlen(priority) };
                if (app) {
                        snprintf(app_field, sizeof(app_field), "APP=%s", app);
                        iov[n++] = (struct iovec){ app_field, strlen(app_field) };
                }
                if (errcode) {
                        snprintf(err_field, sizeof(err_field), "ERRCODE=%ld", errcode);
                        iov[n++] = (struct iovec){ err_field, strlen(err_field) };
                }
                sd_journal_sendv(iov, n);
        } else {
                char when[40];

                timestamp(when, sizeof(when));
                if (as_json && log_json_line(when, level, app, errcode, msg))
                        goto done;
                if (app)
                        fprintf(stderr, "%s wxtokend: %s: app %s: %s\n", when, level_names[level], app, msg);
                else
                        fprintf(stderr, "%s wxtokend: %s: %s\n", when, level_names[level], msg);
        }
done:
        errno = saved;
}
