/* cascade-report.c: the cascade benchmark's table, its verdicts on wxtokend's targets, and its JSON file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "bench-cascade.h"

static uint64_t refused(const struct setup_result *r) {
        return r->e40001 + r->e42001;
}

/* Refusals away from the outside rotation: what planned rotations (or a cascade) cost. */
static uint64_t refused_elsewhere(const struct setup_result *r) {
        return refused(r) - r->errors_near;
}

static const char *ms(char *buf, size_t size, double v) {
        if (isinf(v))
                snprintf(buf, size, "never");
        else
                snprintf(buf, size, "%.0f", v);
        return buf;
}

struct verdicts {
        bool calls, planned_clean, all_back;
};

static struct verdicts judge(const struct setup_result *c) {
        return (struct verdicts){
                .calls = c->upstream == c->planned + 1,
                .planned_clean = refused_elsewhere(c) == 0,
                .all_back = c->back_within_1s == c->workers,
        };
}

#define MET(b) ((b) ? "met" : "NOT MET")

void report_table(const struct cascade_opts *o, const struct setup_result *res) {
        const struct setup_result *c = &res[SETUP_AGENT];
        char b1[16], b2[16], b3[16];

        printf("\n  %-25s %9s %8s %9s %9s %11s %9s %9s %20s %8s\n", "", "upstream", "planned", "fetches", "business",
               "refused", "of them", "refused", "back to a working", "back");
        printf("  %-25s %9s %8s %9s %9s %11s %9s %9s %20s %8s\n", "set-up", "calls", "rotat.", "on refus.", "calls",
               "40001/42001", "near out.", "elsewhere", "token p50/p99/max ms", "in 1 s");
        for (int s = 0; s < N_SETUPS; s++) {
                const struct setup_result *r = &res[s];

                if (!o->run[s])
                        continue;
                if (!r->ran) {
                        printf("  %-25s could not run: %s\n", setup_label(s), r->why);
                        continue;
                }
                printf("  %-25s %9ld %8ld %9ld %9llu %11llu %9llu %9llu %8s/%5s/%5s %4d/%-3d\n", setup_label(s),
                       r->upstream, r->planned, r->forced, (unsigned long long)r->calls,
                       (unsigned long long)refused(r), (unsigned long long)r->errors_near,
                       (unsigned long long)refused_elsewhere(r), ms(b1, sizeof(b1), r->back_p50_ms),
                       ms(b2, sizeof(b2), r->back_p99_ms), ms(b3, sizeof(b3), r->back_max_ms), r->back_within_1s,
                       r->workers);
        }
        printf("\n  upstream calls: /cgi-bin/token calls at wxemu while counting (%.0f s or more per set-up);\n"
               "  planned rotat.: fetches because the token was missing or expired (the agent: its new\n"
               "  generations less its forced refreshes); fetches on refus.: after a 40001/42001 (the agent:\n"
               "  forced refreshes); near out.: refusals within %lld ms after the outside rotation; back: per\n"
               "  worker, from the outside rotation to its first success after its last refusal near it (after\n"
               "  the rotation, if it was never refused): a cascade that never settles shows %lld ms or more.\n",
               (double)cascade_run_ms(o) / 1000, (long long)cascade_window_ms(o), (long long)cascade_window_ms(o));
        for (int s = 0; s < N_SETUPS; s++) {
                const struct setup_result *r = &res[s];

                if (o->run[s] && r->ran)
                        printf("  %s: outside rotation %.1f s in; %ld tokens issued; %llu/%llu refusals 40001/42001; "
                               "%llu other errors, %llu failed fetches, %llu source failures%s%s\n",
                               setup_label(s), r->rotation_at_s, r->generations, (unsigned long long)r->e40001,
                               (unsigned long long)r->e42001, (unsigned long long)r->other,
                               (unsigned long long)r->fetch_failed, (unsigned long long)r->source_failed,
                               r->why[0] ? "; first: " : "", r->why);
        }
        if (o->run[SETUP_AGENT] && c->ran) {
                struct verdicts v = judge(c);

                printf("\n  targets for wxtokend (reported, not asserted):\n");
                printf("  - upstream calls = planned rotations + 1 for the outside rotation: %ld = %ld + 1: %s "
                       "(forced refreshes: %ld)\n", c->upstream, c->planned, MET(v.calls), c->forced);
                printf("  - no business errors on planned rotations: %llu: %s\n",
                       (unsigned long long)refused_elsewhere(c), MET(v.planned_clean));
                printf("  - every worker back to a working token within 1 s of the outside rotation: %d of %d "
                       "(max %s ms): %s\n", c->back_within_1s, c->workers, ms(b1, sizeof(b1), c->back_max_ms),
                       MET(v.all_back));
        }
        fflush(stdout);
}

static void add_ms(cJSON *o, const char *name, double v) {
        if (isinf(v))
                cJSON_AddNullToObject(o, name);
        else
                cJSON_AddNumberToObject(o, name, v);
}

static cJSON *setup_json(const struct setup_result *r) {
        cJSON *o = cJSON_CreateObject(), *back;

        cJSON_AddBoolToObject(o, "ran", r->ran);
        cJSON_AddStringToObject(o, "note", r->why);
        if (!r->ran)
                return o;
        cJSON_AddNumberToObject(o, "seconds", r->seconds);
        cJSON_AddNumberToObject(o, "outside_rotation_at_s", r->rotation_at_s);
        cJSON_AddNumberToObject(o, "upstream_calls", (double)r->upstream);
        cJSON_AddNumberToObject(o, "tokens_issued", (double)r->generations);
        cJSON_AddNumberToObject(o, "planned_rotations", (double)r->planned);
        cJSON_AddNumberToObject(o, "calls_on_refusal", (double)r->forced);
        cJSON_AddNumberToObject(o, "business_calls", (double)r->calls);
        cJSON_AddNumberToObject(o, "business_ok", (double)r->ok);
        cJSON_AddNumberToObject(o, "errors_40001", (double)r->e40001);
        cJSON_AddNumberToObject(o, "errors_42001", (double)r->e42001);
        cJSON_AddNumberToObject(o, "errors_near_outside_rotation", (double)r->errors_near);
        cJSON_AddNumberToObject(o, "errors_elsewhere", (double)refused_elsewhere(r));
        cJSON_AddNumberToObject(o, "errors_other", (double)r->other);
        cJSON_AddNumberToObject(o, "fetch_failed", (double)r->fetch_failed);
        cJSON_AddNumberToObject(o, "source_failed", (double)r->source_failed);
        cJSON_AddNumberToObject(o, "workers", r->workers);
        back = cJSON_AddObjectToObject(o, "back_to_working_token_ms");
        add_ms(back, "p50", r->back_p50_ms);
        add_ms(back, "p99", r->back_p99_ms);
        add_ms(back, "max", r->back_max_ms);
        cJSON_AddNumberToObject(o, "workers_back_within_1s", r->back_within_1s);
        cJSON_AddNumberToObject(o, "workers_never_back", r->never_back);
        return o;
}

bool report_json(const char *path, const struct cascade_opts *o, const struct setup_result *res) {
        cJSON *root = cJSON_CreateObject(), *set, *setups;
        char *text;
        FILE *f;
        bool ok;

        cJSON_AddStringToObject(root, "benchmark", "bench-cascade");
        set = cJSON_AddObjectToObject(root, "settings");
        setups = cJSON_AddObjectToObject(root, "setups");
        cJSON_AddNumberToObject(set, "workers", o->workers);
        cJSON_AddNumberToObject(set, "rotations", o->rotations);
        cJSON_AddNumberToObject(set, "expires_in_s", o->expires_in);
        cJSON_AddNumberToObject(set, "overlap_ms", o->overlap_ms);
        cJSON_AddNumberToObject(set, "pause_min_ms", o->pause_min_ms);
        cJSON_AddNumberToObject(set, "pause_max_ms", o->pause_max_ms);
        cJSON_AddNumberToObject(set, "run_ms", (double)cascade_run_ms(o));
        cJSON_AddNumberToObject(set, "near_window_ms", (double)cascade_window_ms(o));
        cJSON_AddNumberToObject(set, "sdk_early_ms", (double)cascade_sdk_early_ms(o));
        cJSON_AddStringToObject(set, "redis_version", res[SETUP_REDIS].redis_version);
        for (int s = 0; s < N_SETUPS; s++)
                if (o->run[s])
                        cJSON_AddItemToObject(setups, setup_key(s), setup_json(&res[s]));
        if (o->run[SETUP_AGENT] && res[SETUP_AGENT].ran) {
                struct verdicts v = judge(&res[SETUP_AGENT]);
                cJSON *t = cJSON_AddObjectToObject(root, "wxtokend_targets");

                cJSON_AddBoolToObject(t, "upstream_calls_are_planned_rotations_plus_one", v.calls);
                cJSON_AddBoolToObject(t, "no_errors_on_planned_rotations", v.planned_clean);
                cJSON_AddBoolToObject(t, "every_worker_back_within_1s", v.all_back);
        }
        text = cJSON_Print(root);
        cJSON_Delete(root);
        if (!text || !(f = fopen(path, "w"))) {
                fprintf(stderr, "bench-cascade: cannot write %s\n", path);
                free(text);
                return false;
        }
        ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        ok = fclose(f) == 0 && ok;
        free(text);
        if (!ok)
                fprintf(stderr, "bench-cascade: cannot write %s\n", path);
        return ok;
}
