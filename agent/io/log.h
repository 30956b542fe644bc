/* log.h: one line per state change, to the journal with fields when under journald, else stderr. */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Choose the sink (journald if stderr is the journal's stream) and the lowest priority shown. */
void log_setup(int max_level);
void log_set_level(int max_level);

/*
 * Outside journald: json true writes each line as one JSON object (time, level, app,
 * errcode, message), false as "TIME wxtokend: LEVEL: ..." text; the journal is unaffected.
 */
void log_set_json(bool json);

/* "error", "warning", "notice", "info", "debug" -> LOG_ERR ..; -EINVAL otherwise. */
int log_level_parse(const char *s);

/*
 * Log fmt at level. app (may be NULL) becomes the APP= journal field and a prefix on
 * stderr; errcode, if non-zero, the ERRCODE= field. Callers redact secrets first.
 */
void log_app(int level, const char *app, long errcode, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(...) log_app(LOG_ERR, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_app(LOG_WARNING, NULL, 0, __VA_ARGS__)
#define log_notice(...) log_app(LOG_NOTICE, NULL, 0, __VA_ARGS__)
#define log_info(...) log_app(LOG_INFO, NULL, 0, __VA_ARGS__)
#define log_debug(...) log_app(LOG_DEBUG, NULL, 0, __VA_ARGS__)

#endif
