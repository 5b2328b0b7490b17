/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "macro.h"

static const char *const type_names[_EXPO_TYPE_MAX] = {
        [EXPO_COUNTER] = "counter",
        [EXPO_GAUGE] = "gauge",
        [EXPO_HISTOGRAM] = "histogram",
};

void expo_init(Expo *e, FILE *f) {
        *e = (Expo) { .f = f, .type = _EXPO_TYPE_INVALID };
}

int expo_finish(Expo *e) {
        for (size_t i = 0; i < e->n_names; i++)
                free(e->names[i]);
        free(e->names);
        e->names = NULL;
        e->n_names = 0;
        if (e->error == 0 && (fflush(e->f) != 0 || ferror(e->f)))
                e->error = -EIO;
        return e->error;
}

static int expo_fail(Expo *e, int r) {
        if (e->error == 0)
                e->error = r;
        return r;
}

static bool name_char(char c, bool first, bool colon) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
                return true;
        return !first && c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]*, within our buffer. */
bool expo_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n >= EXPO_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char(name[i], i == 0, true))
                        return false;
        return true;
}

/* [a-zA-Z_][a-zA-Z0-9_]*; names beginning with "__" are reserved for Prometheus itself. */
bool expo_label_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n >= EXPO_NAME_MAX || strncmp(name, "__", 2) == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char(name[i], i == 0, false))
                        return false;
        return true;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);

        return n >= k && streq(s + n - k, suffix);
}

void expo_escape_label(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

void expo_escape_help(FILE *f, const char *s) {
        for (; *s; s++)
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
}

const char *expo_format_float(double v, char buf[static EXPO_FLOAT_MAX]) {
        if (isnan(v))
                return strcpy(buf, "NaN");
        if (isinf(v))
                return strcpy(buf, v > 0 ? "+Inf" : "-Inf");
        /* The shortest of %.15g and %.17g that reads back as the same double: 0.1, not 0.10000000000000001. */
        snprintf(buf, EXPO_FLOAT_MAX, "%.15g", v);
        if (strtod(buf, NULL) != v)
                snprintf(buf, EXPO_FLOAT_MAX, "%.17g", v);
        return buf;
}

static int remember_name(Expo *e, const char *name) {
        char **names;

        for (size_t i = 0; i < e->n_names; i++)
                if (streq(e->names[i], name))
                        return -EEXIST;
        names = realloc(e->names, (e->n_names + 1) * sizeof(char *));
        if (!names)
                return -ENOMEM;
        e->names = names;
        e->names[e->n_names] = strdup(name);
        if (!e->names[e->n_names])
                return -ENOMEM;
        e->n_names++;
        return 0;
}

int expo_family(Expo *e, const char *name, ExpoType type, const char *help) {
        int r;

        if (e->error < 0)
                return e->error;
        if (!expo_name_valid(name) || type < 0 || type >= _EXPO_TYPE_MAX || !help || !help[0] ||
            (type == EXPO_COUNTER) != ends_with(name, "_total"))
                return expo_fail(e, -EINVAL);
        r = remember_name(e, name);
        if (r < 0)
                return expo_fail(e, r);
        snprintf(e->family, sizeof(e->family), "%s", name);
        e->type = type;
        fprintf(e->f, "# HELP %s ", name);
        expo_escape_help(e->f, help);
        fprintf(e->f, "\n# TYPE %s %s\n", name, type_names[type]);
        return 0;
}

/* Checked before anything is written, so that a failure leaves no half line. "le" is the histograms'. */
static bool labels_valid(const char *const *labels) {
        for (size_t i = 0; labels && labels[i]; i += 2)
                if (!expo_label_name_valid(labels[i]) || streq(labels[i], "le"))
                        return false;
        return true;
}

/* name{labels,extra="value"} with the extra label (le) appended when given. */
static void write_series(Expo *e, const char *suffix, const char *const *labels, const char *extra_name,
                         const char *extra_value) {
        bool any = false;

        fprintf(e->f, "%s%s", e->family, suffix);
        for (size_t i = 0; labels && labels[i]; i += 2) {
                if (!labels[i + 1])
                        continue;
                fprintf(e->f, "%s%s=\"", any ? "," : "{", labels[i]);
                expo_escape_label(e->f, labels[i + 1]);
                fputc('"', e->f);
                any = true;
        }
        if (extra_name) {
                fprintf(e->f, "%s%s=\"", any ? "," : "{", extra_name);
                expo_escape_label(e->f, extra_value);
                fputc('"', e->f);
                any = true;
        }
        if (any)
                fputc('}', e->f);
}

static int sample_check(Expo *e, const char *const *labels) {
        if (e->error < 0)
                return e->error;
        if (!e->family[0] || e->type == EXPO_HISTOGRAM || !labels_valid(labels))
                return expo_fail(e, -EINVAL);
        return 0;
}

int expo_sample(Expo *e, const char *const *labels, double value) {
        char buf[EXPO_FLOAT_MAX];
        int r = sample_check(e, labels);

        if (r < 0)
                return r;
        write_series(e, "", labels, NULL, NULL);
        fprintf(e->f, " %s\n", expo_format_float(value, buf));
        return 0;
}

int expo_sample_u64(Expo *e, const char *const *labels, uint64_t value) {
        int r = sample_check(e, labels);

        if (r < 0)
                return r;
        write_series(e, "", labels, NULL, NULL);
        fprintf(e->f, " %" PRIu64 "\n", value);
        return 0;
}

static int histogram_check(Expo *e, const char *const *labels, const double *bounds, const uint64_t *counts,
                           size_t n, uint64_t count) {
        uint64_t total = 0;

        if (e->error < 0)
                return e->error;
        if (e->type != EXPO_HISTOGRAM || !labels_valid(labels))
                return expo_fail(e, -EINVAL);
        for (size_t i = 0; i < n; i++) {
                if (isnan(bounds[i]) || isinf(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                        return expo_fail(e, -EINVAL);
                total += counts[i];
        }
        return total <= count ? 0 : expo_fail(e, -EINVAL);
}

int expo_histogram(Expo *e, const char *const *labels, const double *bounds, const uint64_t *counts, size_t n,
                   uint64_t count, double sum) {
        char buf[EXPO_FLOAT_MAX];
        uint64_t cumulative = 0;
        int r = histogram_check(e, labels, bounds, counts, n, count);

        if (r < 0)
                return r;
        for (size_t i = 0; i <= n; i++) {
                cumulative = i < n ? cumulative + counts[i] : count;
                write_series(e, "_bucket", labels, "le", i < n ? expo_format_float(bounds[i], buf) : "+Inf");
                fprintf(e->f, " %" PRIu64 "\n", cumulative);
        }
        write_series(e, "_sum", labels, NULL, NULL);
        fprintf(e->f, " %s\n", expo_format_float(sum, buf));
        write_series(e, "_count", labels, NULL, NULL);
        fprintf(e->f, " %" PRIu64 "\n", count);
        return 0;
}
