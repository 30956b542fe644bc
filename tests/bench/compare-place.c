/* compare-place.c: pin the benchmark and its servers to CPUs, so where the scheduler puts them is not a lottery. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench-compare.h"

/*
 * A round trip to a process on the same CPU is a context switch; to one on another CPU
 * it is a wake-up of that CPU, which in a virtual machine whose other CPU is idle can
 * cost ten times more. Left to the scheduler, runs land on either side at random.
 */
static int cpu[2] = { -1, -1 };

bool place_init(void) {
        cpu_set_t set;
        int n = 0;

        if (sched_getaffinity(0, sizeof(set), &set) != 0)
                return false;
        for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
                if (CPU_ISSET(i, &set))
                        cpu[n++] = i;
        return n == 2;
}

/* Every thread of pid: sched_setaffinity on a pid moves only its main thread. */
static int pin_all_threads(pid_t pid, int to) {
        char path[64];
        struct dirent *d;
        cpu_set_t set;
        DIR *dir;
        int r = 0;

        CPU_ZERO(&set);
        CPU_SET(to, &set);
        snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
        if (!(dir = opendir(path)))
                return -errno;
        while ((d = readdir(dir)))
                if (d->d_name[0] != '.' && sched_setaffinity((pid_t)atol(d->d_name), sizeof(set), &set) != 0 && !r)
                        r = -errno;
        closedir(dir);
        return r;
}

int place_set(enum placement p, const pid_t *servers, int n) {
        cpu_set_t set;
        int r = 0;

        if (cpu[0] < 0 || (p == PLACE_ACROSS && cpu[1] < 0))
                return -EINVAL;
        CPU_ZERO(&set);
        CPU_SET(cpu[0], &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0)
                return -errno;
        for (int i = 0; i < n && !r; i++)
                r = pin_all_threads(servers[i], cpu[p == PLACE_ACROSS]);
        return r;
}

int place_cpu(int which) {
        return cpu[which];
}
