/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* GetMetrics replies (lib/metrics.c): the bytes are a JSON reply as a daemon of another version, or a
 * broken one, might send. Besides memory errors, the output aborts unless every line is a HELP or TYPE
 * line of a vpnpolicy family or a sample of one whose label values are closed quotes (escaping held),
 * and unless a failed rendering (-EINVAL for a non-object) wrote nothing. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* name{label="value",...} value: quotes balanced, with \\ \" \n the only escapes. */
static bool sample_ok(const char *line, size_t n) {
        bool quoted = false;

        if (strncmp(line, "vpnpolicy_", 10) != 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (quoted && line[i] == '\\') {
                        if (i + 1 >= n || !strchr("\\\"n", line[i + 1]))
                                return false;
                        i++;
                } else if (line[i] == '"')
                        quoted = !quoted;
        }
        return !quoted && n > 0 && line[n - 1] != ' ';
}

static void check_output(const char *text, size_t size) {
        for (const char *p = text, *end = text + size; p < end;) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n;

                if (!nl)
                        abort();        /* every line ends in a newline */
                n = (size_t) (nl - p);
                if (strncmp(p, "# HELP vpnpolicy_", 17) != 0 && strncmp(p, "# TYPE vpnpolicy_", 17) != 0 &&
                    !sample_ok(p, n))
                        abort();
                p = nl + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *j = json_loadb((const char *) data, size, JSON_DECODE_ANY, NULL);
        char *text = NULL;
        size_t n = 0;
        FILE *f;
        int r;

        if (!j)
                return 0;
        f = open_memstream(&text, &n);
        if (!f)
                abort();
        r = metrics_render(f, j);
        if (fclose(f) != 0)
                abort();
        if (r < 0 && n > 0 && !json_is_object(j))
                abort();
        if (r >= 0)
                check_output(text, n);
        free(text);
        json_decref(j);
        return 0;
}
