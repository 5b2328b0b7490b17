/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpnpolicyctl metrics: the agent's GetMetrics reply in the Prometheus text format (lib/metrics.c), on
 * standard output or, with --output, into a file replaced atomically, for node_exporter's textfile
 * collector. When the agent cannot be asked the output is still valid: vpnpolicy_up 0. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "fs-util.h"
#include "macro.h"
#include "metrics.h"

static int parse_args(int argc, char *argv[], const char **ret_output) {
        const char *output = NULL;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--output") && i + 1 < argc && argv[i + 1][0]) {
                        output = argv[++i];
                        continue;
                }
                if (streq(argv[i], "--output"))
                        fprintf(stderr, "metrics: --output needs a file name.\n");
                else
                        fprintf(stderr, "metrics: unknown argument '%s' (only --output FILE).\n", argv[i]);
                return -EINVAL;
        }
        *ret_output = output;
        return 0;
}

/* The whole text first, so a failure half-way leaves no half file and prints nothing partial. */
static int render(json_t *reply, char **ret, size_t *ret_size) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        int r;

        if (!f)
                return -ENOMEM;
        r = reply ? metrics_render(f, reply) : metrics_render_down(f);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int emit(const char *output, const char *text, size_t size) {
        int r;

        if (!output) {
                if (fwrite(text, 1, size, stdout) != size || fflush(stdout) != 0) {
                        fprintf(stderr, "metrics: failed to write to standard output.\n");
                        return -EIO;
                }
                return 0;
        }
        /* node_exporter (another user) reads the file: 0644 whatever umask we were started with. */
        umask(0022);
        r = write_file_atomic_at(AT_FDCWD, output, text, size, 0644);
        if (r < 0)
                fprintf(stderr, "metrics: failed to write %s: %s\n", output, strerror(-r));
        return r;
}

int ctl_metrics(const CtlContext *c, int argc, char *argv[]) {
        _cleanup_(freep) char *text = NULL;
        const char *output;
        json_t *reply = NULL;
        size_t size = 0;
        int r, k;

        if (parse_args(argc, argv, &output) < 0)
                return CTL_EXIT_USAGE;
        r = ctl_call(c, "io.vpnpolicy.GetMetrics", NULL, &reply);
        if (r != CTL_EXIT_OK) {
                json_decref(reply);
                reply = NULL;
        }
        k = render(reply, &text, &size);
        json_decref(reply);
        if (k < 0) {
                fprintf(stderr, "metrics: failed to format the reply: %s\n", strerror(-k));
                return CTL_EXIT_FAILURE;
        }
        if (emit(output, text, size) < 0)
                return CTL_EXIT_FAILURE;
        return r;
}
