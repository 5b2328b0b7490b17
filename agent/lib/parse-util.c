/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <fnmatch.h>
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
