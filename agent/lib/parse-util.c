/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

/* Not strtoul(): it skips blanks, takes a sign and wraps negative numbers around. */
int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        assert(s);
        assert(ret);

        if (!*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                unsigned d;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }

        *ret = v;
        return 0;
}

int parse_u32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        assert(ret);

        r = parse_u64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;

        *ret = (uint32_t) v;
        return 0;
}

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MIN (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MIN)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)

/* systemd.time(7)'s names, minus months and years (their length varies) and "µs" (not ASCII). */
static const struct {
        const char *name;
        uint64_t usec;
} timespan_units[] = {
        { "us", 1 },                    { "usec", 1 },
        { "ms", 1000 },                 { "msec", 1000 },
        { "s", USEC_PER_SEC },          { "sec", USEC_PER_SEC },
        { "second", USEC_PER_SEC },     { "seconds", USEC_PER_SEC },
        { "m", USEC_PER_MIN },          { "min", USEC_PER_MIN },
        { "minute", USEC_PER_MIN },     { "minutes", USEC_PER_MIN },
        { "h", USEC_PER_HOUR },         { "hr", USEC_PER_HOUR },
        { "hour", USEC_PER_HOUR },      { "hours", USEC_PER_HOUR },
        { "d", USEC_PER_DAY },          { "day", USEC_PER_DAY },
        { "days", USEC_PER_DAY },
};

static int timespan_unit(const char *s, size_t n, uint64_t *ret) {
        for (size_t i = 0; i < ELEMENTSOF(timespan_units); i++)
                if (strlen(timespan_units[i].name) == n && strncmp(timespan_units[i].name, s, n) == 0) {
                        *ret = timespan_units[i].usec;
                        return 0;
                }
        return -EINVAL;
}

/* The digits after the '.', in units of unit: each digit is worth a tenth of the one before, and one worth
 * less than a microsecond must be 0, since a config value is never rounded behind the user's back. */
static int timespan_fraction(const char *digits, size_t n, uint64_t unit, uint64_t *ret) {
        uint64_t v = 0, scale = unit;
        bool exact = true;

        for (size_t i = 0; i < n; i++) {
                unsigned d = (unsigned) (digits[i] - '0');

                if (exact && scale % 10 == 0)
                        scale /= 10;
                else
                        exact = false;
                if (!exact && d != 0)
                        return -EINVAL;
                if (exact)
                        v += d * scale;         /* < unit, cannot overflow */
        }
        *ret = v;
        return 0;
}

/* One "NUMBER[.FRACTION][ ][UNIT]" at *p, moving *p past it. Without a unit the number is seconds. */
static int timespan_component(const char **p, uint64_t *ret, bool *ret_had_unit) {
        const char *s = *p, *frac = NULL;
        size_t n_frac = 0, n_unit;
        uint64_t whole = 0, unit = USEC_PER_SEC, f = 0;
        int r;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned) (*s - '0');

                if (whole > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                whole = whole * 10 + d;
        }
        if (*s == '.') {
                frac = ++s;
                n_frac = strspn(s, "0123456789");
                if (n_frac == 0)
                        return -EINVAL;
                s += n_frac;
        }
        /* "2 h" is "2h", as in systemd.time(7). */
        n_unit = strspn(s + strspn(s, " \t"), "abcdefghijklmnopqrstuvwxyz");
        if (n_unit > 0)
                s += strspn(s, " \t");
        if (n_unit > 0 && timespan_unit(s, n_unit, &unit) < 0)
                return -EINVAL;
        r = frac ? timespan_fraction(frac, n_frac, unit, &f) : 0;
        if (r < 0)
                return r;
        if (whole > (UINT64_MAX - f) / unit)
                return -ERANGE;

        *p = s + n_unit;
        *ret = whole * unit + f;
        *ret_had_unit = n_unit > 0;
        return 0;
}

int parse_timespan(const char *s, uint64_t *ret_usec) {
        uint64_t total = 0;
        unsigned n = 0;
        bool bare = false;

        assert(s);
        assert(ret_usec);

        for (const char *p = s;;) {
                uint64_t v;
                bool had_unit;
                int r;

                if (n > 0) {
                        size_t blanks = strspn(p, " \t");

                        /* Blanks only between parts; inih has trimmed the value's ends. */
                        if (blanks > 0 && !p[blanks])
                                return -EINVAL;
                        p += blanks;
                }
                if (!*p)
                        break;
                r = timespan_component(&p, &v, &had_unit);
                if (r < 0)
                        return r;
                /* "1 2" or "1min 30": a unit-less number is only taken alone. */
                bare = bare || !had_unit;
                if (bare && n > 0)
                        return -EINVAL;
                /* "1min30s" is fine, "1min,30s" is not. */
                if (*p && *p != ' ' && *p != '\t' && (*p < '0' || *p > '9'))
                        return -EINVAL;
                if (total > UINT64_MAX - v)
                        return -ERANGE;
                total += v;
                n++;
        }
        if (n == 0)
                return -EINVAL;

        *ret_usec = total;
        return 0;
}

const char *format_timespan(uint64_t usec, char buf[static TIMESPAN_STRLEN]) {
        static const struct {
                const char *name;
                uint64_t usec;
        } parts[] = {
                { "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR }, { "min", USEC_PER_MIN },
                { "s", USEC_PER_SEC }, { "ms", 1000 },         { "us", 1 },
        };
        size_t len = 0;

        if (usec == 0)
                return strcpy(buf, "0");
        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(parts) && usec > 0; i++) {
                uint64_t k = usec / parts[i].usec;

                if (k == 0)
                        continue;
                usec -= k * parts[i].usec;
                /* UINT64_MAX microseconds is 213503982 days: at most 40 characters in all. */
                len += (size_t) snprintf(buf + len, TIMESPAN_STRLEN - len, "%s%" PRIu64 "%s",
                                         len > 0 ? " " : "", k, parts[i].name);
        }
        return buf;
}

int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        assert(s);
        assert(ret);

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

const char *yes_no(bool b) {
        return b ? "yes" : "no";
}

static bool char_is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* dev_valid_name() in net/core/dev.c rejects "", ".", "..", names of IFNAMSIZ or more bytes, and any '/',
 * ':' or whitespace. We are stricter: names end up in logs, JSON, `ip` command lines and nft rules, so
 * only [A-Za-z0-9_.-] is taken, and no leading '-' that a command would read as an option. */
bool ifname_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, IFNAMSIZ);
        if (n == 0 || n >= IFNAMSIZ)
                return false;
        if (streq(s, ".") || streq(s, "..") || s[0] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!char_is_alnum(*p) && !strchr("_.-", *p))
                        return false;
        return true;
}

/* iproute2 reads names from rt_tables/rt_protos with sscanf("%s") and takes a leading digit as a number,
 * so a name must start with a letter or '_'. The rest is kept printable and shell-safe. */
bool rt_name_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, 64);
        if (n == 0 || n > 63)
                return false;
        if (!char_is_alnum(s[0]) && s[0] != '_')
                return false;
        if (s[0] >= '0' && s[0] <= '9')
                return false;
        for (const char *p = s; *p; p++)
                if (!char_is_alnum(*p) && !strchr("_.-", *p))
                        return false;
        return true;
}

bool glob_match(const char *pattern, const char *s) {
        assert(pattern);
        assert(s);

        return fnmatch(pattern, s, 0) == 0;
}
