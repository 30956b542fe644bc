/* fuzz-config.c: libFuzzer target for config_load(), the INI file parser and its key checks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One memfd for the whole run: config_load() wants a path, and a file per input would be slow. */
static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (fd < 0) {
                perror("memfd_create");
                abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        /* secret_credential must fail the same way on every machine. */
        unsetenv("CREDENTIALS_DIRECTORY");
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct agent_config *c = NULL;
        char err[CONFIG_ERROR_MAX];
        int r;

        if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
                abort();
        memset(err, 0xa5, sizeof(err));
        r = config_load(path, &c, err, sizeof(err));
        if (r == 0) {
                if (!c)
                        abort();
                config_free(c);
        } else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
                /* config.h: every error writes one line naming the file. */
                abort();
        }
        return 0;
}
