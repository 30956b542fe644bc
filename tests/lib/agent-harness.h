/* agent-harness.h: run the real wxtokend for integration tests: config, secrets, readiness, logs. */
#ifndef AGENT_HARNESS_H
#define AGENT_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"
#include "test-emu-util.h"
#include "wxshm.h"

struct agent_proc {
        pid_t pid;
        char dir[64];           /* everything of this agent lives here */
        char conf[128];
        char state_dir[128];
        char log_file[128];     /* the agent's stderr */
        char notify_path[100];  /* fits sockaddr_un.sun_path */
        int notify_fd;          /* the NOTIFY_SOCKET the agent reports to */
        char shm_dir[64];       /* its shm_dir (/dev/shm/wxi<pid>_<n>), also exported as WXSHM_DIR */
        char socket[100];       /* its control socket, also exported as WXTOKEND_SOCKET */
        const char *env[8];     /* extra NAME=VALUE for the agent's environment, NULL-terminated */
        const char *bin;        /* the wxtokend to run; NULL: $WXTOKEND, else ./agent/wxtokend */
        bool activate;          /* start it through systemd-socket-activate on socket */
        char notified[16384];   /* every notify message received so far, one per line */
        /*
         * A thread drains the notify socket at once, as systemd does: a full socket would
         * block the agent's sd_notify. Messages are kept for agent_wait_notify.
         */
        pthread_t drain;
        pthread_mutex_t lock;
        char *msgs[256];        /* the last 256 messages, by sequence number % 256 */
        pid_t msg_pid[256];     /* who sent each (SCM_CREDENTIALS), 0 if unknown */
        unsigned long n_msgs, cursor;
        bool stop;
};

/*
 * A private directory, notify socket and shm prefix; nothing is started yet. The harness
 * keeps a pointer to a until agent_cleanup_all (also run if a REQUIRE or SETUP_OK ends the
 * test): a must be static or global, not on a stack.
 */
void agent_init(struct agent_proc *a);

/* Write a secret file (mode 0600) in the agent's directory; returns its path. */
const char *agent_secret_file(struct agent_proc *a, const char *name, const char *secret);

/* Write the config: the [agent] section with socket/state_dir/shm_dir set, extra lines, then apps. */
void agent_write_config(struct agent_proc *a, const char *agent_extra, const char *apps);

/*
 * Start wxtokend -c conf and wait (bounded) for READY=1 on the notify socket. With
 * a->activate, systemd-socket-activate listens on a->socket and starts the agent at the
 * first connection: this connects once (a status request) to trigger it.
 */
void agent_start(struct agent_proc *a);

/*
 * Only fork and exec wxtokend -c conf, without waiting: to kill it at any moment of its
 * start. Its notify messages are told from its successor's by sender pid.
 */
void agent_spawn(struct agent_proc *a);

/* One request line to the agent's socket; the reply parsed (NULL on failure) and its raw text. */
cJSON *agent_request(struct agent_proc *a, const char *line, char *raw, size_t raw_size);

/*
 * Wait (bounded) for a notify message containing what, among those not yet passed over
 * by an earlier wait, from the running agent (a killed one's late messages do not
 * count); false if none came (or the agent died).
 */
bool agent_wait_notify(struct agent_proc *a, const char *what, int max_ms);

/* Whether any notify message so far contained what. */
bool agent_notified(struct agent_proc *a, const char *what);

/* Wait (bounded) for an agent that should exit by itself (a refused start): false if it did not. */
bool agent_exited(struct agent_proc *a, int max_ms, int *status);

/* SIGTERM and wait: the exit status, or -1 if it had to be killed. */
int agent_stop(struct agent_proc *a);
void agent_kill9(struct agent_proc *a);
void agent_signal(struct agent_proc *a, int sig);

/* What the agent wrote to stderr so far (malloc'd), and how often it contains needle. */
char *agent_log(struct agent_proc *a);
int agent_log_count(struct agent_proc *a, const char *needle);

/* Kill every agent still running, remove their segment and other directories. */
void agent_cleanup_all(void);

/* Read item with libwxshm: the token length (>0) and info, or -errno. */
int agent_read(const char *item, char *buf, size_t size, wxshm_info *info);

/* The raw status words of item's segment (also before any token): state and errcode. */
bool agent_status(const char *item, int64_t *state, int64_t *errcode);

/* Poll (bounded) until item's generation reaches at least gen; false on timeout. */
bool agent_wait_generation(const char *item, uint64_t gen, int max_ms);

/* Poll (bounded) until item's state word equals state; false on timeout. */
bool agent_wait_state(const char *item, int64_t state, int max_ms);

/* A number in the agent's status of item ("forced_refreshes", "coalesced_waiters", ...); -1 if absent. */
long agent_app_number(struct agent_proc *a, const char *item, const char *field);

/* Poll (bounded) until that number is at least min: what the agent did, seen as it counts it; false on timeout. */
bool agent_wait_app_number(struct agent_proc *a, const char *item, const char *field, long min, int max_ms);

/* Start wxemu ($WXEMU, else ./tests/emu/wxemu) with args; exits 99 if it cannot. */
void emu_start(struct emu_proc *e, const char *const *args);

/* A connection to the control socket at path; -1 (errno set) if there is none. */
int socket_dial(const char *path);

/* A counter from wxemu's /emu/stats for app, -1 if absent. */
int emu_stat(struct emu_proc *e, const char *app, const char *counter);

/*
 * Run "[printf '%s\n' STDIN_LINE |] wxtokenctl ARGS" against a's socket ($WXTOKENCTL, else
 * ./tools/wxtokenctl): stdout and stderr together in out; its exit status, -1 if it did not run.
 */
int agent_ctl(const struct agent_proc *a, const char *stdin_line, const char *args, char *out, size_t size);

/*
 * n clients, each on its own connection, refresh item naming generation gen at once (each
 * answered within 10 s): how many were answered ok; the last reply read in last, if not NULL.
 * A reply that is not ok is printed to stderr.
 */
int agent_refresh_all(const struct agent_proc *a, const char *item, uint64_t gen, int n, char last[4096]);

/* The generation item's segment holds now, 0 if it cannot be read. */
uint64_t agent_generation(const char *item);

/* wxemu's first refresh token of an authorizer, run with --seed SEED (doc/wxemu.md); malloc'd. */
char *emu_seeded_refresh_token(const char *seed, const char *appid);
/* The permanent code wxemu --seed SEED gives a suite's corp corpid at first (malloc'd). */
char *emu_seeded_permanent_code(const char *seed, const char *corpid);

/* Calls wxemu answered at a platform endpoint ("api_component_token", ...) so far, ok or not; -1 if none. */
int emu_endpoint_calls(struct emu_proc *e, const char *endpoint);

void harness_sleep_ms(long ms);

/* A field of /proc/PID/status ("VmRSS", "voluntary_ctxt_switches", ...) as a number; -1 if absent. */
long proc_status(pid_t pid, const char *field);

/* The end of every integration test: stop the agent (if any) cleanly (a check), clean up, the exit code. */
int harness_finish(struct agent_proc *a);

#endif
