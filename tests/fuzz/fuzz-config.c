/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Config files: the bytes are the main file (no drop-ins, no policies.d, no rt_tables; further policies
 * come from [Policy] sections, as --print writes them). Besides memory errors, two properties abort: an
 * error line that does not start with the file's name, and a config that loads but whose printed form
 * does not load again to an equal config (the --check-config --print contract). */

#include <stdio.h>
#include <sys/mman.h>

#include "config.h"
#include "strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOWHERE "/nonexistent/vpnpolicy-fuzz"

/* A memfd holding data, and the path that opens it. */
static int memfd_path(const void *data, size_t size, char path[static 64]) {
        int fd;

        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                abort();
        snprintf(path, 64, "/proc/self/fd/%d", fd);
        return fd;
}

static Config *load(const char *path, char ***errors) {
        ConfigSource src = { .path = path, .dropin_dir = NOWHERE, .policies_dir = NOWHERE,
                             .iproute2_dir = NOWHERE };
        Config *c = NULL;

        if (config_load(&src, &c, errors) < 0)
                return NULL;
        return c;
}

static void check_errors(char **errors, const char *path) {
        size_t n = strlen(path);

        STRV_FOREACH(e, errors)
                if (strncmp(*e, path, n) != 0 || ((*e)[n] != ':'))
                        abort();
}

static void check_round_trip(const Config *c) {
        _cleanup_(config_freep) Config *again = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(freep) char *text = NULL;
        _cleanup_(closep) int fd = -EBADF;
        char path[64];
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f || config_print(c, f) < 0 || fclose(f) != 0)
                abort();

        fd = memfd_path(text, size, path);
        again = load(path, &errors);
        if (!again || !config_equal(c, again)) {
                STRV_FOREACH(e, errors)
                        fprintf(stderr, "%s\n", *e);
                fprintf(stderr, "printed:\n%s", text);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(closep) int fd = -EBADF;
        char path[64];

        fd = memfd_path(data, size, path);
        c = load(path, &errors);
        check_errors(errors, path);
        if (c)
                check_round_trip(c);
        return 0;
}
