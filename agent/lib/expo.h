/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* A writer of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), which OpenMetrics parsers read too.
 * A family is declared once with its HELP and TYPE lines; its samples follow it, before the next family.
 * Names and label names are checked, label values and help texts escaped. The first error sticks and
 * everything after it is ignored: check expo_finish() once at the end. Nothing here allocates but the
 * list of the family names seen. */

typedef enum ExpoType {
        EXPO_COUNTER,           /* the name ends in _total */
        EXPO_GAUGE,
        EXPO_HISTOGRAM,         /* samples through expo_histogram() only */
        _EXPO_TYPE_MAX,
        _EXPO_TYPE_INVALID = -EINVAL,
} ExpoType;

#define EXPO_NAME_MAX 128U

typedef struct Expo {
        FILE *f;
        char family[EXPO_NAME_MAX];     /* the current family, "" before the first */
        ExpoType type;
        char **names;                   /* the families declared so far */
        size_t n_names;
        int error;                      /* the first failure, -errno */
} Expo;

void expo_init(Expo *e, FILE *f);
/* Frees what the writer holds and returns its first error (0: all written), or -EIO when the stream
 * failed. Does not close the stream. */
int expo_finish(Expo *e);

bool expo_name_valid(const char *name);
bool expo_label_name_valid(const char *name);

/* Declares a family: -EINVAL for a bad name, a counter not ending in _total or a type out of range,
 * -EEXIST for a name declared before. */
int expo_family(Expo *e, const char *name, ExpoType type, const char *help);

/* One sample of the current family (not a histogram). labels: name, value, name, value, ..., NULL (or
 * NULL for none); a NULL value leaves that label out. */
int expo_sample(Expo *e, const char *const *labels, double value);
int expo_sample_u64(Expo *e, const char *const *labels, uint64_t value);

/* One histogram of the current family: bounds[n] ascending (the +Inf bucket is added), counts[n] per
 * bucket, not cumulative (the writer adds them up), count the total observations (>= the sum of counts:
 * the rest fell above the last bound), sum their sum. */
int expo_histogram(Expo *e, const char *const *labels, const double *bounds, const uint64_t *counts, size_t n,
                   uint64_t count, double sum);

/* Escaping, for tests: the text as a label value (\\, \", \n) or as help (\\, \n), into f. */
void expo_escape_label(FILE *f, const char *s);
void expo_escape_help(FILE *f, const char *s);
/* A float as the format writes it: shortest round-trip form, +Inf, -Inf, NaN. buf of EXPO_FLOAT_MAX. */
#define EXPO_FLOAT_MAX 32U
const char *expo_format_float(double v, char buf[static EXPO_FLOAT_MAX]);
