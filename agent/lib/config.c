/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <ctype.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "conf-files.h"
#include "config.h"
#include "parse-util.h"
#include "rt-files.h"
#include "strv.h"

#define TABLE_NAME_DEFAULT "vpn"
#define TABLE_ID_DEFAULT 200
/* Before the main table's rule at 32766, so pool traffic never reaches the main table's default route. */
#define PRIORITY_DEFAULT 32765
#define PRIORITY_MAX 32765
#define TUNNEL_MATCH_DEFAULT "tun*"

/* Room for every key of the table below; checked by a static assertion after it. */
#define CONFIG_KEYS_MAX 32

typedef struct Position {
        const char *file; /* points into Config.files */
        unsigned line;    /* 0: not set by any file */
} Position;

typedef enum SectionState {
        SECTION_NONE,    /* before the first section header */
        SECTION_KNOWN,
        SECTION_BAD,     /* unknown or malformed, already reported: its keys are skipped */
} SectionState;

typedef struct Parser {
        Config *config;
        char ***errors;
        bool failed;            /* a problem was reported */
        int error;              /* a fatal error (-ENOMEM): stop */
        int io_error;           /* the first file that could not be read */

        /* The file being read, line by line through config_reader(). */
        FILE *f;
        const char *file;
        unsigned line;
        char *buf;
        size_t bufsize;
        SectionState section_state;
        char *section;

        /* The key being parsed, for error messages. */
        const char *key;

        Position pos[CONFIG_KEYS_MAX];  /* where each key of config_keys[] was last set */
        Position *pool_pos;             /* parallel to Config.pools */
        bool match_set;                 /* Match= was assigned, the default no longer applies */
} Parser;

typedef int (*ConfigParseFn)(Parser *p, const char *value, void *dest, int ltype);

typedef struct ConfigKey {
        const char *section;
        const char *key;
        ConfigParseFn parse;
        int ltype;
        size_t offset;
} ConfigKey;

static const char *const forwarding_mode_table[_FORWARDING_MAX] = {
        [FORWARDING_CHECK] = "check",
        [FORWARDING_ENABLE] = "enable",
};

const char *forwarding_mode_to_string(ForwardingMode m) {
        if (m < 0 || m >= _FORWARDING_MAX)
                return NULL;
        return forwarding_mode_table[m];
}

ForwardingMode forwarding_mode_from_string(const char *s) {
        if (!s)
                return _FORWARDING_INVALID;
        for (int i = 0; i < _FORWARDING_MAX; i++)
                if (streq(s, forwarding_mode_table[i]))
                        return (ForwardingMode) i;
        return _FORWARDING_INVALID;
}

static void policy_config_done(PolicyConfig *p) {
        for (size_t i = 0; i < p->n_gateways; i++)
                free(p->gateways[i].name);
        free(p->gateways);
        free(p->pools);
        free(p->table_name);
        free(p->name);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_policies; i++)
                policy_config_done(&c->policies[i]);
        free(c->policies);
        strv_free(c->files);
        free(c->table_name);
        free(c->pools);
        strv_free(c->tunnel_match);
        free(c->read_group);
        strv_free(c->register_users);
        free(c->register_uids);
        strv_free(c->register_groups);
        free(c->register_gids);
        free(c);
        return NULL;
}

bool config_has_family(const Config *c, int family) {
        assert(c);

        for (size_t i = 0; i < c->n_pools; i++)
                if (c->pools[i].family == family)
                        return true;
        return false;
}

bool policy_has_family(const PolicyConfig *p, int family) {
        for (size_t i = 0; i < p->n_pools; i++)
                if (p->pools[i].family == family)
                        return true;
        return false;
}

const PolicyConfig *config_policy_by_address(const Config *c, int family, const InAddrUnion *a) {
        for (size_t i = 0; i < c->n_policies; i++)
                for (size_t j = 0; j < c->policies[i].n_pools; j++)
                        if (prefix_contains(&c->policies[i].pools[j], family, a))
                                return &c->policies[i];
        return NULL;
}

const PolicyConfig *config_policy_by_table(const Config *c, uint32_t table_id) {
        for (size_t i = 0; i < c->n_policies; i++)
                if (c->policies[i].table_id == table_id)
                        return &c->policies[i];
        return NULL;
}

const InAddrUnion *gateway_address(const GatewayConfig *g, int family) {
        if (family == AF_INET && g->has_ipv4)
                return &g->ipv4;
        if (family == AF_INET6 && g->has_ipv6)
                return &g->ipv6;
        return NULL;
}

const InAddrUnion *config_gateway(const Config *c, int family) {
        assert(c);

        if (family == AF_INET && c->has_gateway4)
                return &c->gateway4;
        if (family == AF_INET6 && c->has_gateway6)
                return &c->gateway6;
        return NULL;
}

/* Error reporting. Every problem is one line, "FILE:LINE: WHAT: MESSAGE" or "FILE: WHAT: MESSAGE" when
 * no line is to blame; WHAT is "[Section] Key", "[Section]" or absent. */

static void parser_add_error(Parser *p, const Position *pos, const char *what, const char *msg) {
        _cleanup_(freep) char *where = NULL;
        int r;

        p->failed = true;
        if (!p->errors)
                return;

        if (pos->line > 0)
                r = asprintf(&where, "%s:%u", pos->file, pos->line);
        else
                r = asprintf(&where, "%s", pos->file);
        if (r < 0) {
                p->error = -ENOMEM;
                return;
        }
        r = what ? strv_extendf(p->errors, "%s: %s: %s", where, what, msg)
                 : strv_extendf(p->errors, "%s: %s", where, msg);
        if (r < 0)
                p->error = r;
}

_printf_(5, 0) static int parser_verrorf(Parser *p, const Position *pos, const char *section,
                                         const char *key, const char *fmt, va_list ap) {
        _cleanup_(freep) char *msg = NULL, *what = NULL;
        int r;

        if (vasprintf(&msg, fmt, ap) < 0)
                return p->error = -ENOMEM;
        if (section && key)
                r = asprintf(&what, "[%s] %s", section, key);
        else if (section)
                r = asprintf(&what, "[%s]", section);
        else if (key)
                r = asprintf(&what, "%s", key);
        else
                r = 0;
        if (r < 0)
                return p->error = -ENOMEM;

        parser_add_error(p, pos, what, msg);
        return -EINVAL;
}

/* At a given place, for the verify pass. Returns -EINVAL so callers can "return parser_error_at(...)". */
_printf_(5, 6) static int parser_error_at(Parser *p, const Position *pos, const char *section,
                                          const char *key, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = parser_verrorf(p, pos, section, key, fmt, ap);
        va_end(ap);
        return r;
}

/* At the current line, for the key being parsed (if any). */
_printf_(2, 3) static int parser_error(Parser *p, const char *fmt, ...) {
        Position pos = { p->file, p->line };
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = parser_verrorf(p, &pos, p->key ? p->section : NULL, p->key, fmt, ap);
        va_end(ap);
        return r;
}

/* The parsers of single values. An empty value resets the key to its default, systemd style; the defaults
 * are set by calling every parser with "" (see config_new()), so each default lives in one place. */

static int parse_table_name(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        static const char *const reserved[] = { "unspec", "default", "main", "local", "all" };
        char **name = dest, *s;

        if (!*value)
                value = TABLE_NAME_DEFAULT;
        if (!rt_name_valid(value))
                return parser_error(p, "invalid table name \"%s\": expected a letter or '_', then letters, "
                                    "digits, '_', '.' or '-', at most 63 characters", value);
        /* iproute2 gives these a meaning of their own: "all" is a keyword of `ip route show table`. */
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (streq(value, reserved[i]))
                        return parser_error(p, "\"%s\" is reserved by iproute2", value);

        s = strdup(value);
        if (!s)
                return p->error = -ENOMEM;
        free(*name);
        *name = s;
        return 0;
}

static int parse_number(Parser *p, const char *value, uint32_t min, uint32_t max, uint32_t *ret) {
        uint32_t v;
        int r;

        r = parse_u32(value, &v);
        if (r == -ERANGE || (r >= 0 && (v < min || v > max)))
                return parser_error(p, "%s is out of range %" PRIu32 "..%" PRIu32, value, min, max);
        if (r < 0)
                return parser_error(p, "invalid number \"%s\"", value);

        *ret = v;
        return 0;
}

static int parse_table_id(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        uint32_t *id = dest, v = 0;
        int r;

        if (!*value) {
                *id = TABLE_ID_DEFAULT;
                return 0;
        }
        r = parse_number(p, value, 1, UINT32_MAX, &v);
        if (r < 0)
                return r;
        /* include/uapi/linux/rtnetlink.h: RT_TABLE_DEFAULT 253, RT_TABLE_MAIN 254, RT_TABLE_LOCAL 255. */
        if (v >= 253 && v <= 255)
                return parser_error(p, "%" PRIu32 " is the kernel's %s table", v,
                                    v == 253 ? "default" : v == 254 ? "main" : "local");

        *id = v;
        return 0;
}

static int parse_priority(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        uint32_t *prio = dest;

        if (!*value) {
                *prio = PRIORITY_DEFAULT;
                return 0;
        }
        /* 0 is the local table's rule; 32766 and 32767 are main and default, which we must come before. */
        return parse_number(p, value, 1, PRIORITY_MAX, prio);
}

static int parse_bool_key(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        bool *b = dest;

        if (!*value) {
                *b = ltype;
                return 0;
        }
        if (parse_bool(value, b) < 0)
                return parser_error(p, "invalid boolean \"%s\": expected yes or no", value);
        return 0;
}

static int parse_forwarding(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        ForwardingMode *m = dest, v;

        v = *value ? forwarding_mode_from_string(value) : (ForwardingMode) ltype;
        if (v < 0)
                return parser_error(p, "invalid value \"%s\": expected check or enable", value);
        *m = v;
        return 0;
}

static int parse_device(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        char *ifname = dest;

        if (*value && !ifname_valid(value))
                return parser_error(p, "invalid interface name \"%s\": 1 to %d characters of letters, "
                                    "digits, '_', '.' or '-'", value, IFNAMSIZ - 1);
        strcpy(ifname, value);
        return 0;
}

/* The parsers of keys that touch more than one field; they take the Config from the parser. */

static int pool_check_against(Parser *p, const Prefix *pfx, const char *s) {
        const Config *c = p->config;

        for (size_t i = 0; i < c->n_pools; i++) {
                char other[PREFIX_STRLEN];

                prefix_to_string(&c->pools[i], other);
                if (prefix_equal(&c->pools[i], pfx))
                        return parser_error(p, "%s is already listed at %s:%u", s, p->pool_pos[i].file,
                                            p->pool_pos[i].line);
                if (prefix_overlaps(&c->pools[i], pfx))
                        return parser_error(p, "%s overlaps %s (%s:%u)", s, other, p->pool_pos[i].file,
                                            p->pool_pos[i].line);
        }
        return 0;
}

static int pool_append(Parser *p, const Prefix *pfx) {
        Config *c = p->config;
        Position *pos;
        Prefix *pools;

        pools = reallocarray(c->pools, c->n_pools + 1, sizeof(Prefix));
        if (!pools)
                return p->error = -ENOMEM;
        c->pools = pools;
        pos = reallocarray(p->pool_pos, c->n_pools + 1, sizeof(Position));
        if (!pos)
                return p->error = -ENOMEM;
        p->pool_pos = pos;

        c->pools[c->n_pools] = *pfx;
        p->pool_pos[c->n_pools] = (Position) { p->file, p->line };
        c->n_pools++;
        return 0;
}

static int parse_pool(Parser *p, const char *value, _unused_ void *dest, _unused_ int ltype) {
        char s[PREFIX_STRLEN], masked[PREFIX_STRLEN];
        Prefix pfx, m;
        int r;

        if (!*value) {
                p->config->pools = mfree(p->config->pools);
                p->config->n_pools = 0;
                p->pool_pos = mfree(p->pool_pos);
                return 0;
        }

        if (prefix_parse(value, &pfx) < 0)
                return parser_error(p, "invalid prefix \"%s\": expected ADDRESS/LENGTH", value);
        prefix_to_string(&pfx, s);
        /* "from 0.0.0.0/0 lookup vpn" would take the host's own traffic too. */
        if (pfx.prefixlen == 0)
                return parser_error(p, "%s would match every source address", s);
        if (prefix_has_host_bits(&pfx)) {
                m = pfx;
                prefix_mask(&m);
                return parser_error(p, "%s has host bits set, did you mean %s?", s,
                                    prefix_to_string(&m, masked));
        }
        r = pool_check_against(p, &pfx, s);
        if (r < 0)
                return r;

        return pool_append(p, &pfx);
}

static bool gateway_usable(int family, const InAddrUnion *a) {
        if (family == AF_INET)
                return !addr_is_null(family, a) && a->bytes[0] != 127 && (a->bytes[0] & 0xf0) != 0xe0 &&
                        a->in.s_addr != INADDR_BROADCAST;
        return !addr_is_null(family, a) && !IN6_IS_ADDR_LOOPBACK(&a->in6) && !IN6_IS_ADDR_MULTICAST(&a->in6);
}

static int parse_gateway(Parser *p, const char *value, _unused_ void *dest, int family) {
        Config *c = p->config;
        bool *has = family == AF_INET ? &c->has_gateway4 : &c->has_gateway6;
        InAddrUnion *gw = family == AF_INET ? &c->gateway4 : &c->gateway6;
        const char *name = family == AF_INET ? "IPv4" : "IPv6";
        InAddrUnion a;

        if (!*value) {
                *has = false;
                *gw = (InAddrUnion) {};
                return 0;
        }
        if (strchr(value, '/'))
                return parser_error(p, "\"%s\" is a prefix, expected a plain %s address", value, name);
        if (addr_parse(family, value, NULL, &a) < 0) {
                if (addr_parse(AF_UNSPEC, value, NULL, NULL) >= 0)
                        return parser_error(p, "\"%s\" is not an %s address", value, name);
                return parser_error(p, "invalid %s address \"%s\"", name, value);
        }
        if (!gateway_usable(family, &a))
                return parser_error(p, "%s is not usable as a gateway (unspecified, loopback, multicast or "
                                    "broadcast)", value);
        /* A v4-mapped address (::ffff:a.b.c.d) is never a neighbour on an IPv6 link: the kernel refuses
         * such a gateway (EHOSTUNREACH), and the route would be retried forever. */
        if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.in6))
                return parser_error(p, "%s is a v4-mapped address, not usable as an IPv6 gateway (an IPv4 "
                                    "gateway goes in IPv4=)", value);

        *has = true;
        *gw = a;
        return 0;
}

/* Match= patterns are checked against interface names: the characters of ifname_valid() plus fnmatch(3)'s
 * "*?[]!^". Anything else could never match and is more likely a typo. */
static bool match_pattern_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("_.-*?[]!^", *c))
                        return false;
        return true;
}

static int parse_match(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        char ***l = dest;

        /* The first assignment replaces the default, an empty one empties the list. */
        if (!*value || !p->match_set) {
                *l = strv_free(*l);
                p->match_set = true;
        }
        if (!*value)
                return 0;
        if (!match_pattern_valid(value))
                return parser_error(p, "invalid pattern \"%s\": expected letters, digits, '_', '.', '-' and "
                                    "glob characters, at most 64", value);
        if (strv_contains(*l, value))
                return 0;
        if (strv_extend(l, value) < 0)
                return p->error = -ENOMEM;
        return 0;
}

/* A name or a number, as chown(1) takes them. Returns the canonical name so the printed config shows what
 * the number resolved to. NSS sets errno inconsistently when an entry does not exist (getpwnam(3)), so any
 * failure other than ENOMEM counts as "not found". */
static int lookup_user(const char *s, char **ret_name, uid_t *ret_uid) {
        struct passwd *pw;
        uint32_t u;
        char *name;

        errno = 0;
        pw = parse_u32(s, &u) >= 0 ? getpwuid((uid_t) u) : getpwnam(s);
        if (!pw)
                return errno == ENOMEM ? -ENOMEM : -ESRCH;
        name = strdup(pw->pw_name);
        if (!name)
                return -ENOMEM;

        *ret_name = name;
        *ret_uid = pw->pw_uid;
        return 0;
}

static int lookup_group(const char *s, char **ret_name, gid_t *ret_gid) {
        struct group *gr;
        uint32_t u;
        char *name;

        errno = 0;
        gr = parse_u32(s, &u) >= 0 ? getgrgid((gid_t) u) : getgrnam(s);
        if (!gr)
                return errno == ENOMEM ? -ENOMEM : -ESRCH;
        name = strdup(gr->gr_name);
        if (!name)
                return -ENOMEM;

        *ret_name = name;
        *ret_gid = gr->gr_gid;
        return 0;
}

static int parse_read_group(Parser *p, const char *value, _unused_ void *dest, _unused_ int ltype) {
        Config *c = p->config;
        char *name;
        gid_t gid;
        int r;

        if (!*value) {
                c->read_group = mfree(c->read_group);
                c->read_gid = (gid_t) -1;
                return 0;
        }
        r = lookup_group(value, &name, &gid);
        if (r == -ENOMEM)
                return p->error = r;
        if (r < 0)
                return parser_error(p, "no such group \"%s\"", value);

        free(c->read_group);
        c->read_group = name;
        c->read_gid = gid;
        return 0;
}

/* Users and groups share the list code below. */
_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t), "uid_t/gid_t size");

/* Appends NAME (taken) and ID to the parallel lists, unless ID is listed already. */
static int id_list_add(char ***names, uint32_t **ids, char *name, uint32_t id) {
        size_t n = strv_length(*names);
        uint32_t *t;
        int r;

        for (size_t i = 0; i < n; i++)
                if ((*ids)[i] == id) {
                        free(name);
                        return 0;
                }

        t = reallocarray(*ids, n + 1, sizeof(uint32_t));
        if (!t) {
                free(name);
                return -ENOMEM;
        }
        *ids = t;
        t[n] = id;
        r = strv_extend(names, name);
        free(name);
        return r;
}

static int parse_register(Parser *p, const char *value, bool user) {
        Config *c = p->config;
        char ***names = user ? &c->register_users : &c->register_groups;
        uint32_t **ids = user ? (uint32_t **) &c->register_uids : (uint32_t **) &c->register_gids;
        char *name;
        uint32_t id;
        int r;

        if (!*value) {
                *names = strv_free(*names);
                *ids = mfree(*ids);
                return 0;
        }
        if (user)
                r = lookup_user(value, &name, (uid_t *) &id);
        else
                r = lookup_group(value, &name, (gid_t *) &id);
        if (r == -ENOMEM)
                return p->error = r;
        if (r < 0)
                return parser_error(p, "no such %s \"%s\"", user ? "user" : "group", value);

        r = id_list_add(names, ids, name, id);
        if (r < 0)
                return p->error = r;
        return 0;
}

static int parse_register_user(Parser *p, const char *value, _unused_ void *dest, _unused_ int ltype) {
        return parse_register(p, value, true);
}

static int parse_register_group(Parser *p, const char *value, _unused_ void *dest, _unused_ int ltype) {
        return parse_register(p, value, false);
}

/* The contract of docs/vpnpolicy.conf.5: add keys, never rename them. */
#define FIELD(f) offsetof(Config, f)

static const ConfigKey config_keys[] = {
        { "Table",    "Name",          parse_table_name,     0,                FIELD(table_name) },
        { "Table",    "Id",            parse_table_id,       0,                FIELD(table_id) },
        { "Table",    "Priority",      parse_priority,       0,                FIELD(priority) },
        { "Pool",     "Prefix",        parse_pool,           0,                0 },
        { "Gateway",  "IPv4",          parse_gateway,        AF_INET,          0 },
        { "Gateway",  "IPv6",          parse_gateway,        AF_INET6,         0 },
        { "Gateway",  "Device",        parse_device,         0,                FIELD(gateway_device) },
        { "Tunnels",  "Match",         parse_match,          0,                FIELD(tunnel_match) },
        { "Tunnels",  "MirrorRoutes",  parse_bool_key,       true,             FIELD(mirror_routes) },
        { "Firewall", "Manage",        parse_bool_key,       true,             FIELD(firewall_manage) },
        { "Firewall", "LeakGuard",     parse_bool_key,       true,             FIELD(firewall_leak_guard) },
        { "Firewall", "Masquerade",    parse_bool_key,       false,            FIELD(firewall_masquerade) },
        { "Kernel",   "SendRedirects", parse_bool_key,       false,            FIELD(send_redirects) },
        { "Kernel",   "Forwarding",    parse_forwarding,     FORWARDING_CHECK, FIELD(forwarding) },
        { "Kernel",   "FailClosed",    parse_bool_key,       true,             FIELD(fail_closed) },
        { "Control",  "ReadGroup",     parse_read_group,     0,                0 },
        { "Control",  "RegisterUser",  parse_register_user,  0,                0 },
        { "Control",  "RegisterGroup", parse_register_group, 0,                0 },
};
_Static_assert(ELEMENTSOF(config_keys) <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX");

static const ConfigKey *config_key_find(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].section, section) && streq(config_keys[i].key, key))
                        return &config_keys[i];
        return NULL;
}

static bool config_section_known(const char *section) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].section, section))
                        return true;
        return false;
}

static const Position *parser_position(const Parser *p, const char *section, const char *key) {
        const ConfigKey *k = config_key_find(section, key);

        assert(k);
        return &p->pos[k - config_keys];
}

/* Reading. inih splits "Key=Value" and trims it, but reports only the first bad line, does not tell its
 * handler the line number (INI_HANDLER_LINENO is off in distribution builds), silently truncates section
 * names and reads indented lines as continuations. So every line passes through config_reader() first: it
 * counts lines, reports malformed ones and section headers itself, strips indentation, and hands inih only
 * lines it will parse, so the handler runs while p->line is the line being parsed. */

static int parser_section_header(Parser *p, char *s) {
        size_t n = strlen(s);

        p->section = mfree(p->section);
        p->section_state = SECTION_BAD;
        if (n < 3 || s[n - 1] != ']')
                return parser_error(p, "syntax error: expected \"[Section]\"");
        for (size_t i = 1; i < n - 1; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '_' && s[i] != '-')
                        return parser_error(p, "syntax error: invalid section name \"%.*s\"", (int) n - 2,
                                            s + 1);

        p->section = strndup(s + 1, n - 2);
        if (!p->section)
                return p->error = -ENOMEM;
        if (!config_section_known(p->section)) {
                Position pos = { p->file, p->line };
                return parser_error_at(p, &pos, p->section, NULL, "unknown section");
        }
        p->section_state = SECTION_KNOWN;
        return 0;
}

/* "Key = value": the key is letters, digits and '_', so inih's first '=' or ':' is ours. */
static int parser_check_assignment(Parser *p, const char *s) {
        const char *eq = strchr(s, '='), *end;

        if (!eq)
                return parser_error(p, "syntax error: expected \"[Section]\" or \"Key=Value\"");
        end = eq;
        while (end > s && isblank((unsigned char) end[-1]))
                end--;
        if (end == s)
                return parser_error(p, "syntax error: missing key before '='");
        for (const char *c = s; c < end; c++)
                if (!isalnum((unsigned char) *c) && *c != '_')
                        return parser_error(p, "syntax error: invalid key \"%.*s\"", (int) (end - s), s);
        return 0;
}

/* Returns the text inih should see for the line just read, or NULL for none. */
static char *parser_classify(Parser *p, char *s, size_t n, int max) {
        char *end;

        if (strlen(s) != n) {
                parser_error(p, "syntax error: NUL byte in line");
                return NULL;
        }
        if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
                s += 3;
        while (isspace((unsigned char) *s))
                s++;
        end = s + strlen(s);
        while (end > s && isspace((unsigned char) end[-1]))
                *--end = '\0';

        if (*s == '\0' || *s == '#' || *s == ';')
                return NULL;
        /* inih needs room for the line, '\n' and NUL, and would cut a longer one silently. */
        if (end - s + 2 > max) {
                parser_error(p, "syntax error: line longer than %d characters", max - 2);
                return NULL;
        }
        if (*s == '[')
                return parser_section_header(p, s) < 0 ? NULL : s;
        return parser_check_assignment(p, s) < 0 ? NULL : s;
}

static char *config_reader(char *str, int num, void *stream) {
        Parser *p = stream;
        const char *s;
        ssize_t n;

        if (p->error < 0)
                return NULL;
        n = getline(&p->buf, &p->bufsize, p->f);
        if (n < 0)
                return NULL;
        p->line++;
        p->key = NULL;

        s = parser_classify(p, p->buf, (size_t) n, num);
        snprintf(str, (size_t) num, "%s\n", s ?: "");
        return str;
}

static int config_handler(void *user, _unused_ const char *section, const char *name, const char *value) {
        Parser *p = user;
        const ConfigKey *k;

        /* inih's section is ours, possibly truncated: ours is used. */
        if (p->error < 0)
                return 0;
        if (p->section_state == SECTION_BAD)
                return 1;

        p->key = name;
        if (p->section_state == SECTION_NONE) {
                parser_error(p, "assignment outside of any section");
                return 1;
        }
        k = config_key_find(p->section, name);
        if (!k) {
                parser_error(p, "unknown key");
                return 1;
        }
        if (k->parse(p, value, (uint8_t *) p->config + k->offset, k->ltype) >= 0)
                p->pos[k - config_keys] = (Position) { p->file, p->line };
        return 1;
}

/* A problem with a whole file or directory: reported, remembered for config_load()'s return value, and
 * not fatal to the other files. */
static int parser_io_error(Parser *p, const char *path, int error) {
        Position pos = { path, 0 };

        parser_error_at(p, &pos, NULL, NULL, "%s", strerror(-error));
        if (p->io_error == 0)
                p->io_error = error;
        return error;
}

static int parser_read_file(Parser *p, const char *path) {
        _cleanup_(fclosep) FILE *f = NULL;
        struct stat st;
        int r;

        f = fopen(path, "re");
        if (!f)
                return parser_io_error(p, path, negative_errno());
        if (fstat(fileno(f), &st) < 0)
                return parser_io_error(p, path, negative_errno());
        if (S_ISDIR(st.st_mode))
                return parser_io_error(p, path, -EISDIR);

        r = strv_extend(&p->config->files, path);
        if (r < 0)
                return p->error = r;

        p->f = f;
        p->file = p->config->files[strv_length(p->config->files) - 1];
        p->line = 0;
        p->section = mfree(p->section);
        p->section_state = SECTION_NONE;

        r = ini_parse_stream(config_reader, p, config_handler, p);
        p->f = NULL;
        if (p->error < 0)
                return p->error;
        if (r == -2)
                return p->error = -ENOMEM;
        if (ferror(f))
                return parser_io_error(p, path, -EIO);
        return 0;
}

static int parser_read_dropins(Parser *p, const char *dir) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = conf_files_list(dir, &names);
        if (r < 0)
                return parser_io_error(p, dir, r);
        STRV_FOREACH(n, names) {
                _cleanup_(freep) char *path = NULL;

                if (p->error < 0)
                        break;
                if (asprintf(&path, "%s/%s", dir, *n) < 0)
                        return p->error = -ENOMEM;
                (void) parser_read_file(p, path);
        }
        return p->error;
}

/* The verify pass: rules that span keys, checked once every file was read. */

static Position parser_position_or_main(const Parser *p, const char *section, const char *key) {
        const Position *pos = parser_position(p, section, key);

        if (pos->line > 0)
                return *pos;
        return (Position) { p->config->files[0], 0 };
}

static void verify_pools(Parser *p) {
        const Config *c = p->config;
        Position main_pos = { c->files[0], 0 };

        if (c->n_pools == 0)
                parser_error_at(p, &main_pos, "Pool", "Prefix", "at least one pool is required");

        for (size_t i = 0; i < c->n_pools; i++) {
                char s[PREFIX_STRLEN];
                int family = c->pools[i].family;

                if (config_gateway(c, family))
                        continue;
                parser_error_at(p, &p->pool_pos[i], "Pool", "Prefix", "%s needs [Gateway] %s=",
                                prefix_to_string(&c->pools[i], s), family == AF_INET ? "IPv4" : "IPv6");
        }
}

static void verify_gateway(Parser *p, int family) {
        const Config *c = p->config;
        const char *key = family == AF_INET ? "IPv4" : "IPv6";
        const InAddrUnion *gw = config_gateway(c, family);
        Position pos = parser_position_or_main(p, "Gateway", key);
        char s[ADDR_STRLEN], pfx[PREFIX_STRLEN];

        if (!gw)
                return;
        addr_to_string(family, gw, s);

        /* A link-local address means nothing without the link: the kernel wants "via fe80::1 dev eth1". */
        if (family == AF_INET6 && addr_is_link_local(family, gw) && !c->gateway_device[0])
                parser_error_at(p, &pos, "Gateway", key, "link-local gateway %s needs [Gateway] Device=", s);

        for (size_t i = 0; i < c->n_pools; i++)
                if (prefix_contains(&c->pools[i], family, gw))
                        parser_error_at(p, &pos, "Gateway", key, "%s is inside [Pool] Prefix=%s", s,
                                        prefix_to_string(&c->pools[i], pfx));
}

static void verify_rt_tables_in(Parser *p, const char *dir) {
        _cleanup_(rt_name_entry_freep) RtNameEntry *by_id = NULL, *by_name = NULL;
        const Config *c = p->config;
        Position pos;
        int r;

        r = rt_names_find_clash(dir, "rt_tables", c->table_id, c->table_name, &by_id, &by_name);
        if (r < 0) {
                pos = parser_position_or_main(p, "Table", "Id");
                parser_error_at(p, &pos, "Table", "Id", "cannot check %s/rt_tables for clashes: %s", dir,
                                strerror(-r));
                if (p->io_error == 0)
                        p->io_error = r;
                return;
        }
        if (by_id) {
                pos = parser_position_or_main(p, "Table", "Id");
                parser_error_at(p, &pos, "Table", "Id", "table %" PRIu32 " is already named \"%s\" in %s:%u",
                                by_id->id, by_id->name, by_id->path, by_id->line);
        }
        if (by_name) {
                pos = parser_position_or_main(p, "Table", "Name");
                parser_error_at(p, &pos, "Table", "Name", "table \"%s\" already has id %" PRIu32 " in %s:%u",
                                by_name->name, by_name->id, by_name->path, by_name->line);
        }
}

static void verify_rt_tables(Parser *p, const char *iproute2_dir) {
        if (iproute2_dir) {
                verify_rt_tables_in(p, iproute2_dir);
                return;
        }
        verify_rt_tables_in(p, IPROUTE2_DIR_DEFAULT);
        verify_rt_tables_in(p, IPROUTE2_DIR_VENDOR);
}

static void config_verify(Parser *p, const char *iproute2_dir) {
        verify_pools(p);
        verify_gateway(p, AF_INET);
        verify_gateway(p, AF_INET6);
        verify_rt_tables(p, iproute2_dir);
}

/* Every key at its default, by the same code that resets a key on an empty assignment. */
static int config_new(Parser *p) {
        p->config = calloc(1, sizeof(Config));
        if (!p->config)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];

                (void) k->parse(p, "", (uint8_t *) p->config + k->offset, k->ltype);
                if (p->error < 0)
                        return p->error;
        }
        p->match_set = false;
        return 0;
}

#define GATEWAY_NAME_DEFAULT "gateway"
#define GATEWAY_PRIORITY_DEFAULT 100
#define PREEMPT_HOLD_DEFAULT_USEC (30ULL * 1000000ULL)

/* The main file's policy, from the [Table], [Pool] and [Gateway] keys. */
static int config_main_policy(Config *c) {
        PolicyConfig *p;
        GatewayConfig *g;

        c->policies = calloc(1, sizeof(PolicyConfig));
        if (!c->policies)
                return -ENOMEM;
        c->n_policies = 1;
        p = &c->policies[0];
        *p = (PolicyConfig) {
                .name = strdup(c->table_name),
                .table_name = strdup(c->table_name),
                .table_id = c->table_id,
                .priority = c->priority,
                .pools = c->n_pools > 0 ? calloc(c->n_pools, sizeof(Prefix)) : NULL,
                .n_pools = c->n_pools,
                .gateways = calloc(1, sizeof(GatewayConfig)),
                .n_gateways = 1,
                .preempt = true,
                .preempt_hold_usec = PREEMPT_HOLD_DEFAULT_USEC,
        };
        if (!p->name || !p->table_name || (c->n_pools > 0 && !p->pools) || !p->gateways)
                return -ENOMEM;
        if (c->n_pools > 0)
                memcpy(p->pools, c->pools, c->n_pools * sizeof(Prefix));
        g = &p->gateways[0];
        *g = (GatewayConfig) {
                .name = strdup(GATEWAY_NAME_DEFAULT),
                .has_ipv4 = c->has_gateway4,
                .has_ipv6 = c->has_gateway6,
                .ipv4 = c->gateway4,
                .ipv6 = c->gateway6,
                .priority = GATEWAY_PRIORITY_DEFAULT,
        };
        snprintf(g->device, sizeof(g->device), "%s", c->gateway_device);
        return g->name ? 0 : -ENOMEM;
}

static int config_finish(Parser *p) {
        if (!p->match_set && strv_extend(&p->config->tunnel_match, TUNNEL_MATCH_DEFAULT) < 0)
                return -ENOMEM;
        return config_main_policy(p->config);
}

static void parser_done(Parser *p) {
        config_free(p->config);
        free(p->buf);
        free(p->section);
        free(p->pool_pos);
}

int config_load(const ConfigSource *src, Config **ret, char ***errors) {
        _cleanup_(parser_done) Parser p = { .errors = errors };
        _cleanup_(freep) char *dropins = NULL;
        const char *path;
        int r;

        assert(ret);

        path = src && src->path ? src->path : CONFIG_PATH_DEFAULT;
        if (src && src->dropin_dir)
                dropins = strdup(src->dropin_dir);
        else if (asprintf(&dropins, "%s.d", path) < 0)
                dropins = NULL;
        if (!dropins)
                return -ENOMEM;

        r = config_new(&p);
        if (r < 0)
                return r;

        r = parser_read_file(&p, path);
        if (r < 0)
                return r;
        r = parser_read_dropins(&p, dropins);
        if (r < 0)
                return r;
        r = config_finish(&p);
        if (r < 0)
                return r;
        config_verify(&p, src ? src->iproute2_dir : NULL);

        if (p.error < 0)
                return p.error;
        if (p.io_error < 0)
                return p.io_error;
        if (p.failed)
                return -EINVAL;

        *ret = TAKE_PTR(p.config);
        return 0;
}
