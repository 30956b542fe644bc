/* lease.c: cluster mode's lease rules, pure: every time is an argument. */
#include "lease.h"

int64_t lease_tick_ms(int64_t lease_ms) {
        int64_t t = lease_ms / 3;

        return t > 1000 ? 1000 : t;
}

int64_t lease_deadline(int64_t sent_ms, int64_t lease_ms) {
        return sent_ms + lease_ms;
}

bool lease_expired(const struct core_lease *l, int64_t now_ms) {
        return l->holder && now_ms >= l->deadline_ms;
}

bool lease_should_send(const struct core_lease *l, int64_t now_ms, int64_t lease_ms) {
        int64_t renew_every = lease_ms / 3;

        if (l->inflight)
                return false;
        return !l->holder || now_ms - l->sent_ms >= renew_every / 2;
}

enum lease_answer lease_on_renewal(const struct core_lease *l, bool ours) {
        if (!l->holder)
                return LEASE_KEEP;      /* lost meanwhile (its deadline passed): a late renewal gives nothing back */
        return ours ? LEASE_EXTENDED : LEASE_LOST;
}

enum lease_answer lease_on_claim(const struct core_lease *l, bool won, bool stopping) {
        return won && !stopping && !l->holder ? LEASE_WON : LEASE_KEEP;
}

int64_t lease_call_budget(const struct core_lease *l, int64_t now_ms, int64_t lease_ms, bool resuming,
                          int64_t cap_ms) {
        int64_t margin = lease_ms / 10 < 200 ? lease_ms / 10 : 200;
        int64_t left = l->deadline_ms - now_ms - margin;

        if (!l->holder || left < lease_ms / 4 || now_ms < l->quiet_until_ms || resuming)
                return 0;
        return left < cap_ms ? left : cap_ms;
}

int64_t lease_quiet_after_resume(const struct core_lease *l, bool record_found, bool servable,
                                 int64_t read_sent_ms, int64_t lease_ms) {
        int64_t until = read_sent_ms + lease_ms;

        if (!l->holder || record_found || !servable || l->quiet_until_ms >= until)
                return l->quiet_until_ms;
        return until;
}
