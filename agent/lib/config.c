/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
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
/* OpenVPN's tunN (tun, ovpn-dco, ovpn) and WireGuard's wgN (wireguard, or tun under wireguard-go). */
static const char *const tunnel_match_default[] = { "tun*", "wg*" };
#define POLICIES_DIR_NAME "policies.d"

#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC (1000ULL * USEC_PER_MSEC)
#define USEC_PER_HOUR (3600ULL * USEC_PER_SEC)
#define NONE SIZE_MAX

/* Room for every key of the table below; checked by a static assertion after it. */
#define CONFIG_KEYS_MAX 48

typedef struct Position {
        const char *file; /* points into Config.files */
        unsigned line;    /* 0: not set by any file */
} Position;

/* Where a pool was written, and when: seq counts every Prefix= read, so "earlier" means read first. */
typedef struct PoolPos {
        Position pos;
        size_t seq;
} PoolPos;

typedef struct GatewayState {
        Position origin;                /* the line that made the gateway: its Name= or its first key */
        Position pos[CONFIG_KEYS_MAX];  /* where each of its keys was last set */
        Position target_pos[2];         /* ProbeTarget= of IPv4, IPv6 */
        bool probe_set;                 /* Probe= given: the default (by gateway count) no longer applies */
} GatewayState;

/* The parser's side of a PolicyConfig, parallel to Config.policies. */
typedef struct PolicyState {
        Position origin;                /* its [Policy] Name= line, its policies.d file, or the main file */
        Position pos[CONFIG_KEYS_MAX];
        bool rejected[CONFIG_KEYS_MAX]; /* an invalid value was reported: a required key is not "missing" */
        PoolPos *pool_pos;              /* parallel to PolicyConfig.pools */
        size_t pools_allocated;
        GatewayState *gateways;         /* parallel to PolicyConfig.gateways */
} PolicyState;

typedef enum SectionState {
        SECTION_NONE,    /* before the first section header */
        SECTION_KNOWN,
        SECTION_BAD,     /* unknown or malformed, already reported: its keys are skipped */
} SectionState;

typedef enum FileKind {
        FILE_MAIN,       /* the main file or a drop-in: every section, starting in the main policy */
        FILE_POLICY,     /* policies.d/NAME.conf: policy sections only, starting in policy NAME */
} FileKind;

typedef struct Parser {
        Config *config;
        PolicyState *policies;  /* parallel to Config.policies */
        size_t n_policies;      /* of them, also once the Config was handed on */
        char ***errors;
        bool failed;            /* a problem was reported */
        int error;              /* a fatal error (-ENOMEM): stop */
        int io_error;           /* the first file that could not be read */

        /* The file being read, line by line through config_reader(). */
        char *data;
        size_t size, offset;
        const char *file;
        FileKind kind;
        unsigned line;
        char *buf;
        size_t bufsize;
        SectionState section_state;
        char *section;
        unsigned section_line;
        bool section_has_keys;  /* a known key was set in this section: Name= must come before */

        /* What the policy and gateway keys apply to. NONE: a [Policy] or [Gateway] section whose Name=
         * was missing or invalid (reported once); its keys are skipped. */
        size_t policy;
        size_t gateway;         /* NONE also before the first key of a [Gateway] section */
        bool gateway_lost;

        /* The key being parsed, for error messages. */
        const char *key;

        Position pos[CONFIG_KEYS_MAX];  /* where each global key was last set */
        size_t pool_seq;
        bool match_set;                 /* Match= was assigned, the default no longer applies */
} Parser;

typedef int (*ConfigParseFn)(Parser *p, const char *value, void *dest, int ltype);

/* What a key's offset is relative to. */
typedef enum KeyScope {
        SCOPE_GLOBAL,   /* Config: [Tunnels], [Firewall], [Kernel], [Control] */
        SCOPE_POLICY,   /* the current PolicyConfig: [Table], [Pool], [Failover] */
        SCOPE_GATEWAY,  /* the current GatewayConfig */
        SCOPE_NAME,     /* [Policy] Name= and [Gateway] Name=: choose what the section's other keys set */
} KeyScope;

typedef struct ConfigKey {
        const char *section;
        const char *key;
        ConfigParseFn parse;
        int ltype;
        KeyScope scope;
        size_t offset;
} ConfigKey;

/* Every key of a scope at its default; defined after the table of keys. */
static int parser_reset_scope(Parser *p, KeyScope scope);

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
        strv_free(c->tunnel_match);
        free(c->read_group);
        strv_free(c->register_users);
        free(c->register_uids);
        strv_free(c->register_groups);
        free(c->register_gids);
        free(c);
        return NULL;
}

bool policy_has_family(const PolicyConfig *p, int family) {
        assert(p);

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

bool config_has_family(const Config *c, int family) {
        assert(c && c->n_policies > 0);

        return policy_has_family(&c->policies[0], family);
}

const GatewayConfig *policy_gateway(const PolicyConfig *p, int family) {
        for (size_t i = 0; i < p->n_gateways; i++)
                if (gateway_address(&p->gateways[i], family))
                        return &p->gateways[i];
        return NULL;
}

const InAddrUnion *config_gateway(const Config *c, int family) {
        const GatewayConfig *g;

        assert(c && c->n_policies > 0);

        g = policy_gateway(&c->policies[0], family);
        return g ? gateway_address(g, family) : NULL;
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

/* "FILE:LINE", or "FILE" for a position no line is to blame for, to name an earlier place in a message. */
#define POSITION_STRLEN (PATH_MAX + 16)

static const char *position_to_string(const Position *pos, char buf[static POSITION_STRLEN]) {
        if (pos->line > 0)
                snprintf(buf, POSITION_STRLEN, "%s:%u", pos->file, pos->line);
        else
                snprintf(buf, POSITION_STRLEN, "%s", pos->file);
        return buf;
}

/* What the policy and gateway keys apply to. */

static PolicyConfig *parser_policy(Parser *p) {
        assert(p->policy != NONE);
        return &p->config->policies[p->policy];
}

static PolicyState *parser_policy_state(Parser *p) {
        assert(p->policy != NONE);
        return &p->policies[p->policy];
}

static GatewayState *parser_gateway_state(Parser *p) {
        assert(p->gateway != NONE);
        return &parser_policy_state(p)->gateways[p->gateway];
}

static Position parser_here(const Parser *p) {
        return (Position) { p->file, p->line };
}

static void *parser_key_dest(Parser *p, const ConfigKey *k) {
        switch (k->scope) {
        case SCOPE_GLOBAL:
                return (uint8_t *) p->config + k->offset;
        case SCOPE_POLICY:
                return (uint8_t *) parser_policy(p) + k->offset;
        case SCOPE_GATEWAY:
                return (uint8_t *) &parser_policy(p)->gateways[p->gateway] + k->offset;
        default:
                return NULL;
        }
}

static size_t config_find_policy(const Config *c, const char *name) {
        /* policies[0] is named after its table only once every file is read: [Policy] never selects it. */
        for (size_t i = 1; i < c->n_policies; i++)
                if (streq(c->policies[i].name, name))
                        return i;
        return NONE;
}

/* Makes the policy of that name current, a new one at its defaults if there is none. */
static int parser_select_policy(Parser *p, const char *name, Position origin) {
        Config *c = p->config;
        PolicyConfig *policies;
        PolicyState *states;
        size_t i = config_find_policy(c, name);

        if (i != NONE) {
                p->policy = i;
                return 0;
        }
        policies = reallocarray(c->policies, c->n_policies + 1, sizeof(PolicyConfig));
        if (!policies)
                return p->error = -ENOMEM;
        c->policies = policies;
        states = reallocarray(p->policies, c->n_policies + 1, sizeof(PolicyState));
        if (!states)
                return p->error = -ENOMEM;
        p->policies = states;

        i = c->n_policies;
        c->policies[i] = (PolicyConfig) { .name = strdup(name) };
        p->policies[i] = (PolicyState) { .origin = origin };
        c->n_policies++;
        p->n_policies++;
        if (!c->policies[i].name)
                return p->error = -ENOMEM;
        p->policy = i;
        return parser_reset_scope(p, SCOPE_POLICY);
}

/* Makes the gateway of that name in the current policy current, a new one at its defaults if there is
 * none: sections of one name merge, so a drop-in overrides keys of the gateway it names. */
static int parser_select_gateway(Parser *p, const char *name) {
        PolicyConfig *pol = parser_policy(p);
        PolicyState *st = parser_policy_state(p);
        GatewayConfig *gateways;
        GatewayState *states;
        size_t i;

        for (i = 0; i < pol->n_gateways; i++)
                if (streq(pol->gateways[i].name, name)) {
                        p->gateway = i;
                        return 0;
                }
        gateways = reallocarray(pol->gateways, pol->n_gateways + 1, sizeof(GatewayConfig));
        if (!gateways)
                return p->error = -ENOMEM;
        pol->gateways = gateways;
        states = reallocarray(st->gateways, pol->n_gateways + 1, sizeof(GatewayState));
        if (!states)
                return p->error = -ENOMEM;
        st->gateways = states;

        i = pol->n_gateways;
        pol->gateways[i] = (GatewayConfig) { .name = strdup(name) };
        st->gateways[i] = (GatewayState) { .origin = parser_here(p) };
        pol->n_gateways++;
        if (!pol->gateways[i].name)
                return p->error = -ENOMEM;
        p->gateway = i;
        return parser_reset_scope(p, SCOPE_GATEWAY);
}

/* The parsers of single values. An empty value resets the key to its default, systemd style. */

static const char *const rt_names_reserved[] = { "unspec", "default", "main", "local", "all" };

/* Table and policy names: what iproute2 reads in rt_tables, minus its keywords ("all" is one of
 * `ip route show table`). kind is "table" or "policy". */
static int check_rt_name_at(Parser *p, const Position *pos, const char *section, const char *key,
                            const char *kind, const char *value) {
        if (!rt_name_valid(value))
                return parser_error_at(p, pos, section, key, "invalid %s name \"%s\": expected a letter or "
                                       "'_', then letters, digits, '_', '.' or '-', at most 63 characters",
                                       kind, value);
        for (size_t i = 0; i < ELEMENTSOF(rt_names_reserved); i++)
                if (streq(value, rt_names_reserved[i]))
                        return parser_error_at(p, pos, section, key, "\"%s\" is reserved by iproute2",
                                               value);
        return 0;
}

static int check_rt_name(Parser *p, const char *kind, const char *value) {
        Position pos = parser_here(p);

        return check_rt_name_at(p, &pos, p->key ? p->section : NULL, p->key, kind, value);
}

static int parse_table_name(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        char **name = dest, *s;
        int r;

        /* The main policy's table is "vpn"; a further policy's table is named after the policy. */
        if (!*value)
                value = p->policy == 0 ? TABLE_NAME_DEFAULT : parser_policy(p)->name;
        r = check_rt_name(p, "table", value);
        if (r < 0)
                return r;

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

/* For further policies Id= and Priority= have no default: 0 stands for "unset", and the verify pass
 * requires them, since two policies can share neither. */
static int parse_table_id(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        uint32_t *id = dest, v = 0;
        int r;

        if (!*value) {
                *id = p->policy == 0 ? TABLE_ID_DEFAULT : 0;
                return 0;
        }
        r = parse_number(p, value, 1, UINT32_MAX, &v);
        if (r < 0)
                return r;
        /* include/uapi/linux/rtnetlink.h: RT_TABLE_DEFAULT 253, RT_TABLE_MAIN 254, RT_TABLE_LOCAL 255. */
        if (v >= 253 && v <= 255)
                return parser_error(p, "%" PRIu32 " is the kernel's %s table", v,
                                    v == 253 ? "default" : v == 254 ? "main" : "local");
        if (v >= PROBE_TABLE_BASE && v - PROBE_TABLE_BASE < PROBE_TABLES_MAX)
                return parser_error(p, "%" PRIu32 " is in the range of the gateway probes' tables (%u-%u)", v,
                                    PROBE_TABLE_BASE, PROBE_TABLE_BASE + PROBE_TABLES_MAX - 1);

        *id = v;
        return 0;
}

static int parse_priority(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        uint32_t *prio = dest;

        if (!*value) {
                *prio = p->policy == 0 ? PRIORITY_DEFAULT : 0;
                return 0;
        }
        /* 0 is the local table's rule; 32766 and 32767 are main and default, which we must come before. */
        return parse_number(p, value, 1, PRIORITY_MAX, prio);
}

typedef enum NumberKind {
        NUMBER_PRIORITY,
        NUMBER_FALL,
        NUMBER_RISE,
        NUMBER_LOSS,
        _NUMBER_MAX,
} NumberKind;

static const struct {
        uint32_t def, min, max;
} number_limits[_NUMBER_MAX] = {
        [NUMBER_PRIORITY] = { GATEWAY_PRIORITY_DEFAULT, 0, UINT32_MAX },
        /* More than 100 probes in a row: minutes of a dead gateway carrying traffic at the default rate. */
        [NUMBER_FALL] = { PROBE_FALL_DEFAULT, 1, 100 },
        [NUMBER_RISE] = { PROBE_RISE_DEFAULT, 1, 100 },
        [NUMBER_LOSS] = { PROBE_LOSS_MAX_DEFAULT, 0, 100 },
};

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned fields are parsed as uint32_t");

static int parse_u32_key(Parser *p, const char *value, void *dest, int ltype) {
        uint32_t *v = dest;

        assert(ltype >= 0 && ltype < _NUMBER_MAX);
        if (!*value) {
                *v = number_limits[ltype].def;
                return 0;
        }
        return parse_number(p, value, number_limits[ltype].min, number_limits[ltype].max, v);
}

typedef enum TimespanKind {
        TIMESPAN_INTERVAL,
        TIMESPAN_TIMEOUT,
        TIMESPAN_RTT,
        TIMESPAN_HOLD,
        _TIMESPAN_MAX,
} TimespanKind;

/* A probe more often than every 100 ms is load on the gateway, not better evidence; a timeout under 10 ms
 * fails on an ordinary busy link. Beyond an hour (a day for the hold) a value is surely a typo. */
static const struct {
        uint64_t def, min, max;
} timespan_limits[_TIMESPAN_MAX] = {
        [TIMESPAN_INTERVAL] = { PROBE_INTERVAL_DEFAULT_USEC, 100 * USEC_PER_MSEC, USEC_PER_HOUR },
        [TIMESPAN_TIMEOUT] = { PROBE_TIMEOUT_DEFAULT_USEC, 10 * USEC_PER_MSEC, USEC_PER_HOUR },
        [TIMESPAN_RTT] = { PROBE_RTT_MAX_DEFAULT_USEC, 0, USEC_PER_HOUR },
        [TIMESPAN_HOLD] = { PREEMPT_HOLD_DEFAULT_USEC, 0, 24 * USEC_PER_HOUR },
};

static int parse_timespan_key(Parser *p, const char *value, void *dest, int ltype) {
        char a[TIMESPAN_STRLEN], b[TIMESPAN_STRLEN];
        uint64_t *usec = dest, v;
        int r;

        assert(ltype >= 0 && ltype < _TIMESPAN_MAX);
        if (!*value) {
                *usec = timespan_limits[ltype].def;
                return 0;
        }
        r = parse_timespan(value, &v);
        if (r == -ERANGE || (r >= 0 && (v < timespan_limits[ltype].min || v > timespan_limits[ltype].max)))
                return parser_error(p, "%s is out of range %s..%s", value,
                                    format_timespan(timespan_limits[ltype].min, a),
                                    format_timespan(timespan_limits[ltype].max, b));
        if (r < 0)
                return parser_error(p, "invalid time span \"%s\": expected a number and a unit, such as "
                                    "500ms, 2s or 1min", value);
        *usec = v;
        return 0;
}

static int parse_bool_key(Parser *p, const char *value, void *dest, int ltype) {
        bool *b = dest;

        if (!*value) {
                *b = ltype;
                return 0;
        }
        if (parse_bool(value, b) < 0)
                return parser_error(p, "invalid boolean \"%s\": expected yes or no", value);
        return 0;
}

static int parse_forwarding(Parser *p, const char *value, void *dest, int ltype) {
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

/* The parsers of keys that touch more than one field; dest is the PolicyConfig or GatewayConfig. */

/* Overlaps are checked once every file was read (verify_pool_overlaps()), in O(n log n): checked pairwise
 * here, 20,000 pools took 40 s, longer than the watchdog gives a reload. */
static int pool_append(Parser *p, PolicyConfig *pol, const Prefix *pfx) {
        PolicyState *st = parser_policy_state(p);

        if (pol->n_pools == st->pools_allocated) {
                size_t n = MAX(st->pools_allocated * 2, (size_t) 8);
                Prefix *pools;
                PoolPos *pos;

                pools = reallocarray(pol->pools, n, sizeof(Prefix));
                if (!pools)
                        return p->error = -ENOMEM;
                pol->pools = pools;
                pos = reallocarray(st->pool_pos, n, sizeof(PoolPos));
                if (!pos)
                        return p->error = -ENOMEM;
                st->pool_pos = pos;
                st->pools_allocated = n;
        }

        pol->pools[pol->n_pools] = *pfx;
        st->pool_pos[pol->n_pools] = (PoolPos) { parser_here(p), p->pool_seq++ };
        pol->n_pools++;
        return 0;
}

static int parse_pool(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        char s[PREFIX_STRLEN], masked[PREFIX_STRLEN];
        PolicyConfig *pol = dest;
        PolicyState *st = parser_policy_state(p);
        Prefix pfx, m;

        if (!*value) {
                pol->pools = mfree(pol->pools);
                pol->n_pools = 0;
                st->pool_pos = mfree(st->pool_pos);
                st->pools_allocated = 0;
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
        return pool_append(p, pol, &pfx);
}

static bool address_usable(int family, const InAddrUnion *a) {
        if (family == AF_INET)
                return !addr_is_null(family, a) && a->bytes[0] != 127 && (a->bytes[0] & 0xf0) != 0xe0 &&
                        a->in.s_addr != INADDR_BROADCAST;
        return !addr_is_null(family, a) && !IN6_IS_ADDR_LOOPBACK(&a->in6) && !IN6_IS_ADDR_MULTICAST(&a->in6);
}

static const char *family_key(int family) {
        return family == AF_INET ? "IPv4" : "IPv6";
}

static int parse_gateway(Parser *p, const char *value, void *dest, int family) {
        GatewayConfig *g = dest;
        bool *has = family == AF_INET ? &g->has_ipv4 : &g->has_ipv6;
        InAddrUnion *gw = family == AF_INET ? &g->ipv4 : &g->ipv6;
        const char *name = family_key(family);
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
        if (!address_usable(family, &a))
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

static int parse_probe(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        GatewayConfig *g = dest;
        GatewayState *st = parser_gateway_state(p);

        /* Unset, the default follows the number of gateways once every file is read (config_finish()). */
        if (!*value) {
                g->probe.enabled = false;
                st->probe_set = false;
                return 0;
        }
        if (!streq(value, "icmp") && !streq(value, "none"))
                return parser_error(p, "invalid value \"%s\": expected icmp or none", value);
        g->probe.enabled = streq(value, "icmp");
        st->probe_set = true;
        return 0;
}

/* One target per family: a later one of the same family replaces the earlier, an empty value drops both. */
static int parse_probe_target(Parser *p, const char *value, void *dest, _unused_ int ltype) {
        GatewayConfig *g = dest;
        GatewayState *st = parser_gateway_state(p);
        InAddrUnion a;
        int family;

        if (!*value) {
                g->probe.has_target4 = g->probe.has_target6 = false;
                g->probe.target4 = g->probe.target6 = (InAddrUnion) {};
                return 0;
        }
        if (strchr(value, '/'))
                return parser_error(p, "\"%s\" is a prefix, expected a plain address", value);
        if (addr_parse(AF_UNSPEC, value, &family, &a) < 0)
                return parser_error(p, "invalid address \"%s\"", value);
        if (!address_usable(family, &a))
                return parser_error(p, "%s is not usable as a probe target (unspecified, loopback, "
                                    "multicast or broadcast)", value);
        if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.in6))
                return parser_error(p, "%s is a v4-mapped address: write the IPv4 address", value);

        if (family == AF_INET) {
                g->probe.has_target4 = true;
                g->probe.target4 = a;
        } else {
                g->probe.has_target6 = true;
                g->probe.target6 = a;
        }
        st->target_pos[family == AF_INET ? 0 : 1] = parser_here(p);
        return 0;
}

/* [Gateway] Name=: which gateway of the current policy the section sets; "" or absent is the unnamed
 * gateway, so today's lone [Gateway] and drop-ins overriding its keys keep their meaning. */
static int parse_gateway_name(Parser *p, const char *value, _unused_ void *dest, _unused_ int ltype) {
        if (*value && !rt_name_valid(value)) {
                p->gateway_lost = true;
                return parser_error(p, "invalid gateway name \"%s\": expected a letter or '_', then "
                                    "letters, digits, '_', '.' or '-', at most 63 characters", value);
        }
        if (p->policy == NONE)
                return 0;
        return parser_select_gateway(p, *value ? value : GATEWAY_NAME_DEFAULT);
}

/* [Policy] Name=: the policy the following [Table], [Pool], [Gateway] and [Failover] sections of this file
 * set, made if new, so a policy may also be split over files. */
static int parse_policy_name(Parser *p, const char *value, _unused_ void *dest, _unused_ int ltype) {
        int r;

        if (!*value)
                return parser_error(p, "a policy needs a name");
        r = check_rt_name(p, "policy", value);
        if (r < 0)
                return r;
        return parser_select_policy(p, value, parser_here(p));
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
#define GLOBAL(f) SCOPE_GLOBAL, offsetof(Config, f)
#define POLICY(f) SCOPE_POLICY, offsetof(PolicyConfig, f)
#define GATEWAY(f) SCOPE_GATEWAY, offsetof(GatewayConfig, f)
#define PROBE(f) GATEWAY(probe.f)

static const ConfigKey config_keys[] = {
        { "Policy",   "Name",             parse_policy_name,    0,                 SCOPE_NAME, 0 },
        { "Table",    "Name",             parse_table_name,     0,                 POLICY(table_name) },
        { "Table",    "Id",               parse_table_id,       0,                 POLICY(table_id) },
        { "Table",    "Priority",         parse_priority,       0,                 POLICY(priority) },
        { "Pool",     "Prefix",           parse_pool,           0,                 SCOPE_POLICY, 0 },
        { "Gateway",  "Name",             parse_gateway_name,   0,                 SCOPE_NAME, 0 },
        { "Gateway",  "IPv4",             parse_gateway,        AF_INET,           SCOPE_GATEWAY, 0 },
        { "Gateway",  "IPv6",             parse_gateway,        AF_INET6,          SCOPE_GATEWAY, 0 },
        { "Gateway",  "Device",           parse_device,         0,                 GATEWAY(device) },
        { "Gateway",  "Priority",         parse_u32_key,        NUMBER_PRIORITY,   GATEWAY(priority) },
        { "Gateway",  "Probe",            parse_probe,          0,                 SCOPE_GATEWAY, 0 },
        { "Gateway",  "ProbeTarget",      parse_probe_target,   0,                 SCOPE_GATEWAY, 0 },
        { "Gateway",  "ProbeIntervalSec", parse_timespan_key,   TIMESPAN_INTERVAL, PROBE(interval_usec) },
        { "Gateway",  "ProbeTimeoutSec",  parse_timespan_key,   TIMESPAN_TIMEOUT,  PROBE(timeout_usec) },
        { "Gateway",  "FailCount",        parse_u32_key,        NUMBER_FALL,       PROBE(fall) },
        { "Gateway",  "RiseCount",        parse_u32_key,        NUMBER_RISE,       PROBE(rise) },
        { "Gateway",  "MaxLossPercent",   parse_u32_key,        NUMBER_LOSS,       PROBE(loss_max_percent) },
        { "Gateway",  "MaxRTTSec",        parse_timespan_key,   TIMESPAN_RTT,      PROBE(rtt_max_usec) },
        { "Failover", "Preempt",          parse_bool_key,       PREEMPT_DEFAULT,   POLICY(preempt) },
        { "Failover", "PreemptHoldSec",   parse_timespan_key,   TIMESPAN_HOLD,     POLICY(preempt_hold_usec) },
        { "Tunnels",  "Match",            parse_match,          0,                 GLOBAL(tunnel_match) },
        { "Tunnels",  "MirrorRoutes",     parse_bool_key,       true,              GLOBAL(mirror_routes) },
        { "Firewall", "Manage",           parse_bool_key,       true,              GLOBAL(firewall_manage) },
        { "Firewall", "LeakGuard",        parse_bool_key,       true,              GLOBAL(firewall_leak_guard) },
        { "Firewall", "Masquerade",       parse_bool_key,       false,             GLOBAL(firewall_masquerade) },
        { "Kernel",   "SendRedirects",    parse_bool_key,       false,             GLOBAL(send_redirects) },
        { "Kernel",   "Forwarding",       parse_forwarding,     FORWARDING_CHECK,  GLOBAL(forwarding) },
        { "Kernel",   "FailClosed",       parse_bool_key,       true,              GLOBAL(fail_closed) },
        { "Control",  "ReadGroup",        parse_read_group,     0,                 SCOPE_GLOBAL, 0 },
        { "Control",  "RegisterUser",     parse_register_user,  0,                 SCOPE_GLOBAL, 0 },
        { "Control",  "RegisterGroup",    parse_register_group, 0,                 SCOPE_GLOBAL, 0 },
};
static const size_t config_keys_n = ELEMENTSOF(config_keys);
_Static_assert(ELEMENTSOF(config_keys) <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX");

/* Every key of a scope at its default, by the same code that resets a key on an empty assignment, so each
 * default lives in one place. */
static int parser_reset_scope(Parser *p, KeyScope scope) {
        for (size_t i = 0; i < config_keys_n; i++) {
                const ConfigKey *k = &config_keys[i];

                if (k->scope != scope)
                        continue;
                (void) k->parse(p, "", parser_key_dest(p, k), k->ltype);
                if (p->error < 0)
                        return p->error;
        }
        return 0;
}


static const ConfigKey *config_key_find(const char *section, const char *key) {
        for (size_t i = 0; i < config_keys_n; i++)
                if (streq(config_keys[i].section, section) && streq(config_keys[i].key, key))
                        return &config_keys[i];
        return NULL;
}

static size_t config_key_index(const char *section, const char *key) {
        const ConfigKey *k = config_key_find(section, key);

        assert(k);
        return (size_t) (k - config_keys);
}

static const ConfigKey *config_section_first_key(const char *section) {
        for (size_t i = 0; i < config_keys_n; i++)
                if (streq(config_keys[i].section, section))
                        return &config_keys[i];
        return NULL;
}

/* Where a key was last set, or else the place that made its policy or gateway: the main file, a
 * policies.d file or a [Policy]/[Gateway] Name= line. */
static Position policy_position(const Parser *p, size_t i, const char *section, const char *key) {
        const PolicyState *st = &p->policies[i];
        const Position *pos = &st->pos[config_key_index(section, key)];

        return pos->line > 0 ? *pos : st->origin;
}

static Position gateway_position(const Parser *p, size_t i, size_t j, const char *key) {
        const GatewayState *st = &p->policies[i].gateways[j];
        const Position *pos = &st->pos[config_key_index("Gateway", key)];

        return pos->line > 0 ? *pos : st->origin;
}

/* Reading. inih splits "Key=Value" and trims it, but reports only the first bad line, does not tell its
 * handler the line number (INI_HANDLER_LINENO is off in distribution builds), silently truncates section
 * names and reads indented lines as continuations. So every line passes through config_reader() first: it
 * counts lines, reports malformed ones and section headers itself, strips indentation, and hands inih only
 * lines it will parse, so the handler runs while p->line is the line being parsed. */

/* The end of a section: a [Policy] section must have named its policy, or the sections after it would
 * silently set another one. */
static void parser_section_end(Parser *p) {
        Position pos = { p->file, p->section_line };

        if (p->section_state == SECTION_KNOWN && streq(p->section, "Policy") && !p->section_has_keys)
                parser_error_at(p, &pos, "Policy", "Name", "missing: a [Policy] section names the policy "
                                "the sections after it set");
}

static int parser_section_header(Parser *p, char *s) {
        const ConfigKey *k;
        size_t n = strlen(s);

        parser_section_end(p);
        p->section = mfree(p->section);
        p->section_state = SECTION_BAD;
        p->section_line = p->line;
        p->section_has_keys = false;
        if (n < 3 || s[n - 1] != ']')
                return parser_error(p, "syntax error: expected \"[Section]\"");
        for (size_t i = 1; i < n - 1; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '_' && s[i] != '-')
                        return parser_error(p, "syntax error: invalid section name \"%.*s\"", (int) n - 2,
                                            s + 1);

        p->section = strndup(s + 1, n - 2);
        if (!p->section)
                return p->error = -ENOMEM;
        k = config_section_first_key(p->section);
        if (!k) {
                Position pos = parser_here(p);
                return parser_error_at(p, &pos, p->section, NULL, "unknown section");
        }
        /* A policy file holds one policy; what applies to all of them is said once, in the main file. */
        if (p->kind == FILE_POLICY && k->scope == SCOPE_GLOBAL) {
                Position pos = parser_here(p);
                return parser_error_at(p, &pos, p->section, NULL, "not allowed in a policy file: [%s] "
                                       "applies to every policy and goes in vpnpolicy.conf or its drop-ins",
                                       p->section);
        }
        p->section_state = SECTION_KNOWN;
        if (streq(p->section, "Policy"))
                p->policy = NONE;
        if (streq(p->section, "Gateway")) {
                p->gateway = NONE;
                p->gateway_lost = false;
        }
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

/* The next line of the file in memory, as fgets() would give it to inih. */
static char *config_reader(char *str, int num, void *stream) {
        Parser *p = stream;
        const char *start, *nl;
        const char *s;
        size_t n;

        if (p->error < 0 || p->offset >= p->size)
                return NULL;
        start = p->data + p->offset;
        nl = memchr(start, '\n', p->size - p->offset);
        n = nl ? (size_t) (nl - start) + 1 : p->size - p->offset;
        p->offset += n;
        if (n + 1 > p->bufsize) {
                char *b = realloc(p->buf, n + 1);

                if (!b) {
                        p->error = -ENOMEM;
                        return NULL;
                }
                p->buf = b;
                p->bufsize = n + 1;
        }
        memcpy(p->buf, start, n);
        p->buf[n] = '\0';
        p->line++;
        p->key = NULL;

        s = parser_classify(p, p->buf, n, num);
        snprintf(str, (size_t) num, "%s\n", s ?: "");
        return str;
}

/* Where a key of the current section goes. Returns 0 to skip it (its policy or gateway was not named
 * properly, which was reported), 1 with *ret_dest and *ret_pos set. */
static int parser_key_target(Parser *p, const ConfigKey *k, void **ret_dest, Position **ret_pos) {
        size_t i = (size_t) (k - config_keys);
        int r;

        if (k->scope != SCOPE_GLOBAL && p->policy == NONE)
                return 0;
        if (k->scope == SCOPE_GATEWAY) {
                if (p->gateway_lost)
                        return 0;
                if (p->gateway == NONE) {
                        r = parser_select_gateway(p, GATEWAY_NAME_DEFAULT);
                        if (r < 0)
                                return r;
                }
        }
        *ret_dest = parser_key_dest(p, k);
        if (k->scope == SCOPE_GLOBAL)
                *ret_pos = &p->pos[i];
        else if (k->scope == SCOPE_POLICY)
                *ret_pos = &parser_policy_state(p)->pos[i];
        else
                *ret_pos = &parser_gateway_state(p)->pos[i];
        return 1;
}

/* Name= chooses what the rest of its section sets, so it must come before the rest. */
static void parser_name_key(Parser *p, const ConfigKey *k, const char *value) {
        size_t i = (size_t) (k - config_keys);

        if (p->section_has_keys) {
                parser_error(p, "must be the first key of its section, and given once: it names the %s the "
                             "section sets", streq(k->section, "Policy") ? "policy" : "gateway");
                return;
        }
        p->section_has_keys = true;
        if (k->parse(p, value, NULL, k->ltype) < 0)
                return;
        if (streq(k->section, "Gateway") && p->gateway != NONE)
                parser_gateway_state(p)->pos[i] = parser_here(p);
}

static int config_handler(void *user, _unused_ const char *section, const char *name, const char *value) {
        Parser *p = user;
        const ConfigKey *k;
        Position *pos;
        void *dest;
        int r;

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
        if (k->scope == SCOPE_NAME) {
                parser_name_key(p, k, value);
                return 1;
        }
        p->section_has_keys = true;
        r = parser_key_target(p, k, &dest, &pos);
        if (r <= 0)
                return 1;
        if (k->parse(p, value, dest, k->ltype) >= 0)
                *pos = parser_here(p);
        else if (k->scope == SCOPE_POLICY && p->policy != NONE)
                parser_policy_state(p)->rejected[k - config_keys] = true;
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

static const char *file_type_name(mode_t mode) {
        if (S_ISFIFO(mode))
                return "a FIFO";
        if (S_ISCHR(mode))
                return "a character device";
        if (S_ISBLK(mode))
                return "a block device";
        if (S_ISSOCK(mode))
                return "a socket";
        return "not a regular file";
}

static int parser_too_large(Parser *p, const char *path) {
        Position pos = { path, 0 };

        return parser_error_at(p, &pos, NULL, NULL, "larger than %d MiB, the limit for a configuration "
                               "file: not read", CONFIG_FILE_SIZE_MAX / (1024 * 1024));
}

/* Only regular files of bounded size: a FIFO would block the loader (and with it a reload until the
 * watchdog kills the daemon), /dev/zero would be read until memory runs out. */
static int parser_check_file(Parser *p, const char *path, const struct stat *st) {
        Position pos = { path, 0 };

        if (S_ISDIR(st->st_mode))
                return parser_io_error(p, path, -EISDIR);
        if (!S_ISREG(st->st_mode))
                return parser_error_at(p, &pos, NULL, NULL, "%s, not a regular file: not read",
                                       file_type_name(st->st_mode));
        if (st->st_size > CONFIG_FILE_SIZE_MAX)
                return parser_too_large(p, path);
        return 0;
}

static int parser_open_file(Parser *p, const char *path, int *ret_fd) {
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;
        int r;

        /* stat() before open(): opening a device can do something of its own (a watchdog starts). */
        if (stat(path, &st) < 0)
                return parser_io_error(p, path, negative_errno());
        r = parser_check_file(p, path, &st);
        if (r < 0)
                return r;
        /* O_NONBLOCK: should the path have become a FIFO since, open() does not wait for a writer; fstat()
         * then refuses it. */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return parser_io_error(p, path, negative_errno());
        if (fstat(fd, &st) < 0)
                return parser_io_error(p, path, negative_errno());
        r = parser_check_file(p, path, &st);
        if (r < 0)
                return r;

        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* All of fd, at most max bytes: a file that grows past the limit while read (or a /proc file, whose size
 * says 0) is refused too. */
static int read_capped(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (size == allocated) {
                        char *b;

                        allocated = MIN(MAX(allocated * 2, (size_t) 4096), max + 1);
                        b = realloc(buf, allocated);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max)
                        return -EFBIG;
        }

        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int parser_load_file(Parser *p, const char *path) {
        _cleanup_(closep) int fd = -EBADF;
        int r;

        r = parser_open_file(p, path, &fd);
        if (r < 0)
                return r;
        p->data = mfree(p->data);
        r = read_capped(fd, CONFIG_FILE_SIZE_MAX, &p->data, &p->size);
        if (r == -ENOMEM)
                return p->error = r;
        if (r == -EFBIG)
                return parser_too_large(p, path);
        if (r < 0)
                return parser_io_error(p, path, r);
        p->offset = 0;
        return 0;
}

/* Reads one file. policy: for FILE_POLICY, the policy it holds. */
static int parser_read_file(Parser *p, const char *path, FileKind kind, const char *policy) {
        int r;

        r = parser_load_file(p, path);
        if (r < 0)
                return r;
        r = strv_extend(&p->config->files, path);
        if (r < 0)
                return p->error = r;

        p->file = p->config->files[strv_length(p->config->files) - 1];
        p->kind = kind;
        p->line = 0;
        p->section = mfree(p->section);
        p->section_state = SECTION_NONE;
        p->section_has_keys = false;
        p->policy = 0;
        if (kind == FILE_POLICY) {
                r = parser_select_policy(p, policy, (Position) { p->file, 0 });
                if (r < 0)
                        return r;
        }

        r = ini_parse_stream(config_reader, p, config_handler, p);
        parser_section_end(p);
        p->data = mfree(p->data);
        if (p->error < 0)
                return p->error;
        if (r == -2)
                return p->error = -ENOMEM;
        return 0;
}

/* policies.d/NAME.conf holds policy NAME, so NAME must be a valid policy name. */
static int parser_read_policy_file(Parser *p, const char *dir, const char *file) {
        _cleanup_(freep) char *path = NULL, *name = NULL;
        Position pos;

        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return p->error = -ENOMEM;
        name = strndup(file, strlen(file) - strlen(".conf"));
        if (!name)
                return p->error = -ENOMEM;
        pos = (Position) { path, 0 };
        if (check_rt_name_at(p, &pos, "Policy", "Name", "policy", name) < 0)
                return 0;
        return parser_read_file(p, path, FILE_POLICY, name);
}

static int parser_read_dir(Parser *p, const char *dir, FileKind kind) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = conf_files_list(dir, &names);
        if (r < 0)
                return parser_io_error(p, dir, r);
        STRV_FOREACH(n, names) {
                _cleanup_(freep) char *path = NULL;

                if (p->error < 0)
                        break;
                if (kind == FILE_POLICY) {
                        (void) parser_read_policy_file(p, dir, *n);
                        continue;
                }
                if (asprintf(&path, "%s/%s", dir, *n) < 0)
                        return p->error = -ENOMEM;
                (void) parser_read_file(p, path, kind, NULL);
        }
        return p->error;
}

/* The verify pass: rules that span keys, policies and files, checked once every file was read. */

/* Every pool of every policy, sorted by family, address and then length, so that a pool comes right after
 * the pools that contain it: two prefixes overlap exactly when one contains the other. */
typedef struct PoolRef {
        const Prefix *prefix;
        const PoolPos *pos;
        size_t parent;          /* the smallest pool containing this one (index into the sorted array) */
        size_t earliest;        /* of the pools this one overlaps, the one read first; NONE if none */
} PoolRef;

static int pool_ref_compare(const void *a, const void *b) {
        const PoolRef *x = a, *y = b;
        int r;

        if (x->prefix->family != y->prefix->family)
                return x->prefix->family < y->prefix->family ? -1 : 1;
        r = memcmp(x->prefix->addr.bytes, y->prefix->addr.bytes, family_addr_size(x->prefix->family));
        if (r != 0)
                return r;
        if (x->prefix->prefixlen != y->prefix->prefixlen)
                return x->prefix->prefixlen < y->prefix->prefixlen ? -1 : 1;
        return x->pos->seq < y->pos->seq ? -1 : x->pos->seq > y->pos->seq;
}

static bool prefix_covers(const Prefix *outer, const Prefix *inner) {
        return outer->prefixlen <= inner->prefixlen && prefix_contains(outer, inner->family, &inner->addr);
}

/* Of two pools (NONE for none), the one read first. */
static size_t pool_read_first(const PoolRef *refs, size_t a, size_t b) {
        if (a == NONE || b == NONE)
                return a == NONE ? b : a;
        return refs[a].pos->seq < refs[b].pos->seq ? a : b;
}

static int pool_refs_sorted(const Parser *p, PoolRef **ret, size_t *ret_n) {
        const Config *c = p->config;
        PoolRef *refs;
        size_t n = 0;

        for (size_t i = 0; i < c->n_policies; i++)
                n += c->policies[i].n_pools;
        refs = calloc(MAX(n, (size_t) 1), sizeof(PoolRef));
        if (!refs)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < c->n_policies; i++)
                for (size_t j = 0; j < c->policies[i].n_pools; j++)
                        refs[n++] = (PoolRef) { &c->policies[i].pools[j], &p->policies[i].pool_pos[j], NONE,
                                                NONE };
        qsort(refs, n, sizeof(PoolRef), pool_ref_compare);

        *ret = refs;
        *ret_n = n;
        return 0;
}

/* For each pool, the pool read first among those it overlaps: its ancestors (the stack of pools containing
 * it, in the sorted order) and its descendants (the pools it contains, which follow it). One pass down for
 * the ancestors, one pass up to carry the descendants to their parents: O(n) after the sort. */
static int pool_refs_link(PoolRef *refs, size_t n) {
        _cleanup_(freep) size_t *stack = NULL, *above = NULL, *below = NULL;
        size_t depth = 0;

        stack = calloc(MAX(n, (size_t) 1), sizeof(size_t));
        above = calloc(MAX(n, (size_t) 1), sizeof(size_t));
        below = calloc(MAX(n, (size_t) 1), sizeof(size_t));
        if (!stack || !above || !below)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                while (depth > 0 && !prefix_covers(refs[stack[depth - 1]].prefix, refs[i].prefix))
                        depth--;
                refs[i].parent = depth > 0 ? stack[depth - 1] : NONE;
                above[i] = refs[i].parent == NONE ? NONE : pool_read_first(refs, refs[i].parent,
                                                                           above[refs[i].parent]);
                below[i] = NONE;
                stack[depth++] = i;
        }
        for (size_t i = n; i-- > 0;)
                if (refs[i].parent != NONE)
                        below[refs[i].parent] = pool_read_first(refs, below[refs[i].parent],
                                                                pool_read_first(refs, i, below[i]));
        for (size_t i = 0; i < n; i++)
                refs[i].earliest = pool_read_first(refs, above[i], below[i]);
        return 0;
}

static int pool_ref_compare_seq(const void *a, const void *b) {
        const PoolRef *const *x = a, *const *y = b;

        return (*x)->pos->seq < (*y)->pos->seq ? -1 : (*x)->pos->seq > (*y)->pos->seq;
}

static void verify_pool_report(Parser *p, const PoolRef *bad, const PoolRef *first) {
        char s[PREFIX_STRLEN], other[PREFIX_STRLEN];

        prefix_to_string(bad->prefix, s);
        if (prefix_equal(first->prefix, bad->prefix))
                parser_error_at(p, &bad->pos->pos, "Pool", "Prefix", "%s is already listed at %s:%u", s,
                                first->pos->pos.file, first->pos->pos.line);
        else
                parser_error_at(p, &bad->pos->pos, "Pool", "Prefix", "%s overlaps %s (%s:%u)", s,
                                prefix_to_string(first->prefix, other), first->pos->pos.file,
                                first->pos->pos.line);
}

/* A pool that overlaps one read before it is an error on the later one, naming the earliest it overlaps,
 * whichever policy either is in; the errors come in the order the pools were read. */
static int verify_pool_overlaps(Parser *p, const PoolRef *refs, size_t n) {
        _cleanup_(freep) const PoolRef **bad = NULL;
        size_t n_bad = 0;

        bad = calloc(MAX(n, (size_t) 1), sizeof(PoolRef *));
        if (!bad)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (refs[i].earliest != NONE && refs[refs[i].earliest].pos->seq < refs[i].pos->seq)
                        bad[n_bad++] = &refs[i];
        qsort(bad, n_bad, sizeof(PoolRef *), pool_ref_compare_seq);
        for (size_t i = 0; i < n_bad; i++)
                verify_pool_report(p, bad[i], &refs[bad[i]->earliest]);
        return 0;
}

/* The pool with the greatest (family, address) not above a: the pools containing a are that one and its
 * ancestors, if any (a pool containing a starts at or before a, so it contains that one too). */
static size_t pool_refs_lookup(const PoolRef *refs, size_t n, int family, const InAddrUnion *a) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const Prefix *x = refs[mid].prefix;
                int r = x->family != family ? (x->family < family ? -1 : 1) :
                        memcmp(x->addr.bytes, a->bytes, family_addr_size(family));

                if (r <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (size_t i = lo > 0 ? lo - 1 : NONE; i != NONE; i = refs[i].parent)
                if (prefix_contains(refs[i].prefix, family, a))
                        return i;
        return NONE;
}

/* A gateway or probe target inside a pool would be routed into the policy table it is the exit of. */
static void verify_not_in_pools(Parser *p, const PoolRef *refs, size_t n, const Position *pos,
                                const char *key, int family, const InAddrUnion *a) {
        char s[ADDR_STRLEN], pfx[PREFIX_STRLEN];

        addr_to_string(family, a, s);
        for (size_t i = pool_refs_lookup(refs, n, family, a); i != NONE; i = refs[i].parent)
                parser_error_at(p, pos, "Gateway", key, "%s is inside [Pool] Prefix=%s", s,
                                prefix_to_string(refs[i].prefix, pfx));
}

static const int families[] = { AF_INET, AF_INET6 };

static void verify_gateway_not_in_pools(Parser *p, const PoolRef *refs, size_t n, size_t i, size_t j) {
        const GatewayConfig *g = &p->config->policies[i].gateways[j];
        const GatewayState *st = &p->policies[i].gateways[j];

        for (size_t f = 0; f < ELEMENTSOF(families); f++) {
                const ProbeConfig *pr = &g->probe;
                const InAddrUnion *a = gateway_address(g, families[f]);
                const char *key = family_key(families[f]);
                Position pos = gateway_position(p, i, j, key);

                if (a)
                        verify_not_in_pools(p, refs, n, &pos, key, families[f], a);
                if (f == 0 ? pr->has_target4 : pr->has_target6)
                        verify_not_in_pools(p, refs, n, &st->target_pos[f], "ProbeTarget", families[f],
                                            f == 0 ? &pr->target4 : &pr->target6);
        }
}

static void verify_gateways_not_in_pools(Parser *p, const PoolRef *refs, size_t n) {
        for (size_t i = 0; i < p->config->n_policies; i++)
                for (size_t j = 0; j < p->config->policies[i].n_gateways; j++)
                        verify_gateway_not_in_pools(p, refs, n, i, j);
}

/* Pools across all policies: none overlaps another, and no gateway lies inside one. */
static int verify_pools_global(Parser *p) {
        _cleanup_(freep) PoolRef *refs = NULL;
        size_t n;
        int r;

        r = pool_refs_sorted(p, &refs, &n);
        if (r < 0)
                return r;
        r = pool_refs_link(refs, n);
        if (r < 0)
                return r;
        r = verify_pool_overlaps(p, refs, n);
        if (r < 0)
                return r;
        verify_gateways_not_in_pools(p, refs, n);
        return 0;
}

/* " for policy NAME" for the further policies, to say which in a message about a file or a [Policy] line;
 * nothing for the main policy, whose messages are as they were before there were several. */
static const char *policy_label(const Config *c, size_t i, char buf[static 96]) {
        if (i == 0)
                return "";
        snprintf(buf, 96, " for policy \"%s\"", c->policies[i].name);
        return buf;
}

static void verify_policy_pools(Parser *p, size_t i) {
        const PolicyConfig *pol = &p->config->policies[i];
        bool has4 = false, has6 = false;
        char label[96];

        if (pol->n_pools == 0)
                parser_error_at(p, &p->policies[i].origin, "Pool", "Prefix",
                                "at least one pool is required%s", policy_label(p->config, i, label));
        for (size_t j = 0; j < pol->n_gateways; j++) {
                has4 = has4 || pol->gateways[j].has_ipv4;
                has6 = has6 || pol->gateways[j].has_ipv6;
        }
        for (size_t j = 0; j < pol->n_pools; j++) {
                char s[PREFIX_STRLEN];
                int family = pol->pools[j].family;

                if (family == AF_INET ? has4 : has6)
                        continue;
                parser_error_at(p, &p->policies[i].pool_pos[j].pos, "Pool", "Prefix",
                                "%s needs [Gateway] %s=", prefix_to_string(&pol->pools[j], s),
                                family_key(family));
        }
}

/* Two gateways of one policy with one address would be one next hop under two names. */
static void verify_gateway_address(Parser *p, size_t i, size_t j, int family) {
        const PolicyConfig *pol = &p->config->policies[i];
        const GatewayConfig *g = &pol->gateways[j];
        const InAddrUnion *a = gateway_address(g, family);
        const char *key = family_key(family);
        Position pos = gateway_position(p, i, j, key);
        char s[ADDR_STRLEN], where[POSITION_STRLEN];

        if (!a)
                return;
        addr_to_string(family, a, s);

        /* A link-local address means nothing without the link: the kernel wants "via fe80::1 dev eth1". */
        if (family == AF_INET6 && addr_is_link_local(family, a) && !g->device[0])
                parser_error_at(p, &pos, "Gateway", key, "link-local gateway %s needs [Gateway] Device=", s);

        for (size_t k = 0; k < j; k++) {
                const InAddrUnion *b = gateway_address(&pol->gateways[k], family);
                Position other = gateway_position(p, i, k, key);

                if (b && addr_equal(family, a, b)) {
                        parser_error_at(p, &pos, "Gateway", key, "%s is already the %s= of gateway \"%s\" "
                                        "(%s)", s, key, pol->gateways[k].name,
                                        position_to_string(&other, where));
                        break;
                }
        }
}

static void verify_probe_target(Parser *p, size_t i, size_t j, int family) {
        const GatewayConfig *g = &p->config->policies[i].gateways[j];
        const GatewayState *st = &p->policies[i].gateways[j];
        bool has = family == AF_INET ? g->probe.has_target4 : g->probe.has_target6;
        const InAddrUnion *t = family == AF_INET ? &g->probe.target4 : &g->probe.target6;
        const InAddrUnion *a = gateway_address(g, family);
        char s[ADDR_STRLEN];

        if (!has)
                return;
        addr_to_string(family, t, s);
        /* The target is probed through the gateway of its family, so there must be one. */
        if (!a)
                parser_error_at(p, &st->target_pos[family == AF_INET6], "Gateway", "ProbeTarget",
                                "%s is an %s address, but gateway \"%s\" has no %s=", s, family_key(family),
                                g->name, family_key(family));
        else if (addr_equal(family, a, t))
                parser_error_at(p, &st->target_pos[family == AF_INET6], "Gateway", "ProbeTarget",
                                "%s is the gateway itself, which is probed anyway", s);
}

static void verify_probe_times(Parser *p, size_t i, size_t j) {
        const ProbeConfig *pr = &p->config->policies[i].gateways[j].probe;
        char a[TIMESPAN_STRLEN], b[TIMESPAN_STRLEN];
        Position pos;

        /* A probe still waiting for its reply when the next is due would overlap it. */
        if (pr->timeout_usec > pr->interval_usec) {
                pos = gateway_position(p, i, j, "ProbeTimeoutSec");
                parser_error_at(p, &pos, "Gateway", "ProbeTimeoutSec", "%s is longer than "
                                "ProbeIntervalSec=%s", format_timespan(pr->timeout_usec, a),
                                format_timespan(pr->interval_usec, b));
        }
        if (pr->rtt_max_usec > pr->timeout_usec) {
                pos = gateway_position(p, i, j, "MaxRTTSec");
                parser_error_at(p, &pos, "Gateway", "MaxRTTSec", "%s is longer than ProbeTimeoutSec=%s, "
                                "after which a reply counts as lost anyway",
                                format_timespan(pr->rtt_max_usec, a), format_timespan(pr->timeout_usec, b));
        }
}

static void verify_policy_gateways(Parser *p, size_t i) {
        const PolicyConfig *pol = &p->config->policies[i];

        for (size_t j = 0; j < pol->n_gateways; j++) {
                const GatewayConfig *g = &pol->gateways[j];

                /* A lone gateway without address is reported by the pools that need one. */
                if (pol->n_gateways > 1 && !g->has_ipv4 && !g->has_ipv6) {
                        Position pos = gateway_position(p, i, j, "Name");
                        parser_error_at(p, &pos, "Gateway", "Name",
                                        "gateway \"%s\" has neither IPv4= nor IPv6=", g->name);
                }
                verify_gateway_address(p, i, j, AF_INET);
                verify_gateway_address(p, i, j, AF_INET6);
                verify_probe_target(p, i, j, AF_INET);
                verify_probe_target(p, i, j, AF_INET6);
                verify_probe_times(p, i, j);
        }
}

/* What a further policy must say, since two policies can share none of it. */
static void verify_policy_required(Parser *p, size_t i) {
        const PolicyConfig *pol = &p->config->policies[i];
        char where[POSITION_STRLEN];
        Position pos;

        if (i == 0)
                return;
        pos = p->policies[i].origin;
        if (streq(pol->name, p->config->policies[0].name)) {
                Position main = policy_position(p, 0, "Table", "Name");
                parser_error_at(p, &pos, "Policy", "Name", "\"%s\" is the name of the main policy, which is "
                                "named after its table (%s)", pol->name, position_to_string(&main, where));
        }
        if (pol->table_id == 0 && !p->policies[i].rejected[config_key_index("Table", "Id")])
                parser_error_at(p, &pos, "Table", "Id", "required for policy \"%s\"", pol->name);
        if (pol->priority == 0 && !p->policies[i].rejected[config_key_index("Table", "Priority")])
                parser_error_at(p, &pos, "Table", "Priority", "required for policy \"%s\"", pol->name);
}

/* No two policies on one table (by id or name) or one rule priority. Policies are few: pairwise. */
static void verify_policy_pair(Parser *p, size_t i, size_t j) {
        const PolicyConfig *a = &p->config->policies[i], *b = &p->config->policies[j];
        char where[POSITION_STRLEN];
        Position pos, other;

        if (a->table_id != 0 && a->table_id == b->table_id) {
                pos = policy_position(p, i, "Table", "Id");
                other = policy_position(p, j, "Table", "Id");
                parser_error_at(p, &pos, "Table", "Id", "table %" PRIu32 " is already the table of policy "
                                "\"%s\" (%s)", a->table_id, b->name, position_to_string(&other, where));
        }
        if (streq(a->table_name, b->table_name)) {
                pos = policy_position(p, i, "Table", "Name");
                other = policy_position(p, j, "Table", "Name");
                parser_error_at(p, &pos, "Table", "Name", "table \"%s\" is already the table of policy "
                                "\"%s\" (%s)", a->table_name, b->name, position_to_string(&other, where));
        }
        if (a->priority != 0 && a->priority == b->priority) {
                pos = policy_position(p, i, "Table", "Priority");
                other = policy_position(p, j, "Table", "Priority");
                parser_error_at(p, &pos, "Table", "Priority", "%" PRIu32 " is already the priority of "
                                "policy \"%s\" (%s)", a->priority, b->name,
                                position_to_string(&other, where));
        }
}

static void verify_policies_distinct(Parser *p, size_t i) {
        for (size_t j = 0; j < i; j++)
                verify_policy_pair(p, i, j);
}

/* Returns -errno if dir cannot be read (reported once), else 0. */
static int verify_rt_tables_policy(Parser *p, const char *dir, size_t i) {
        _cleanup_(rt_name_entry_freep) RtNameEntry *by_id = NULL, *by_name = NULL;
        const PolicyConfig *pol = &p->config->policies[i];
        Position pos;
        int r;

        if (pol->table_id == 0)
                return 0;
        r = rt_names_find_clash(dir, "rt_tables", pol->table_id, pol->table_name, &by_id, &by_name);
        if (r < 0) {
                pos = policy_position(p, i, "Table", "Id");
                parser_error_at(p, &pos, "Table", "Id", "cannot check %s/rt_tables for clashes: %s", dir,
                                strerror(-r));
                if (p->io_error == 0)
                        p->io_error = r;
                return r;
        }
        if (by_id) {
                pos = policy_position(p, i, "Table", "Id");
                parser_error_at(p, &pos, "Table", "Id", "table %" PRIu32 " is already named \"%s\" in %s:%u",
                                by_id->id, by_id->name, by_id->path, by_id->line);
        }
        if (by_name) {
                pos = policy_position(p, i, "Table", "Name");
                parser_error_at(p, &pos, "Table", "Name", "table \"%s\" already has id %" PRIu32 " in %s:%u",
                                by_name->name, by_name->id, by_name->path, by_name->line);
        }
        return 0;
}

static void verify_rt_tables_in(Parser *p, const char *dir) {
        for (size_t i = 0; i < p->config->n_policies; i++)
                if (verify_rt_tables_policy(p, dir, i) < 0)
                        return;
}

static void verify_rt_tables(Parser *p, const char *iproute2_dir) {
        if (iproute2_dir) {
                verify_rt_tables_in(p, iproute2_dir);
                return;
        }
        verify_rt_tables_in(p, IPROUTE2_DIR_DEFAULT);
        verify_rt_tables_in(p, IPROUTE2_DIR_VENDOR);
}

static int config_verify(Parser *p, const char *iproute2_dir) {
        int r;

        for (size_t i = 0; i < p->config->n_policies; i++) {
                verify_policy_required(p, i);
                verify_policies_distinct(p, i);
                verify_policy_pools(p, i);
        }
        r = verify_pools_global(p);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->config->n_policies; i++)
                verify_policy_gateways(p, i);
        verify_rt_tables(p, iproute2_dir);
        return 0;
}

/* Finishing: defaults that depend on more than one key. */

static int gateway_compare(const void *a, const void *b) {
        const GatewayConfig *x = a, *y = b;

        return x->priority < y->priority ? -1 : x->priority > y->priority;
}

/* Lower Priority= first, ties in the order written: insertion sort, stable, on a handful of gateways. */
static void policy_sort_gateways(PolicyConfig *pol) {
        GatewayConfig *g = pol->gateways;

        for (size_t i = 1; i < pol->n_gateways; i++)
                for (size_t j = i; j > 0 && gateway_compare(&g[j - 1], &g[j]) > 0; j--) {
                        GatewayConfig t = g[j];

                        g[j] = g[j - 1];
                        g[j - 1] = t;
                }
}

static int config_finish(Parser *p) {
        Config *c = p->config;

        for (size_t i = 0; !p->match_set && i < ELEMENTSOF(tunnel_match_default); i++)
                if (strv_extend(&c->tunnel_match, tunnel_match_default[i]) < 0)
                        return -ENOMEM;
        c->policies[0].name = strdup(c->policies[0].table_name);
        if (!c->policies[0].name)
                return -ENOMEM;

        /* Probing a lone gateway would change nothing but add load (there is no other to fail over to):
         * only from two gateways on is Probe=icmp the default. */
        for (size_t i = 0; i < c->n_policies; i++)
                for (size_t j = 0; j < c->policies[i].n_gateways; j++)
                        if (!p->policies[i].gateways[j].probe_set)
                                c->policies[i].gateways[j].probe.enabled = c->policies[i].n_gateways > 1;
        return 0;
}

static int config_new(Parser *p) {
        p->config = calloc(1, sizeof(Config));
        if (!p->config)
                return -ENOMEM;
        p->config->policies = calloc(1, sizeof(PolicyConfig));
        p->policies = calloc(1, sizeof(PolicyState));
        if (!p->config->policies || !p->policies)
                return -ENOMEM;
        p->config->n_policies = p->n_policies = 1;
        p->policy = 0;
        p->gateway = NONE;

        /* The main policy's origin is the main file, set once it is read. */
        if (parser_reset_scope(p, SCOPE_GLOBAL) < 0 || parser_reset_scope(p, SCOPE_POLICY) < 0)
                return p->error;
        p->match_set = false;
        return 0;
}

static void parser_done(Parser *p) {
        for (size_t i = 0; i < p->n_policies; i++) {
                free(p->policies[i].pool_pos);
                free(p->policies[i].gateways);
        }
        free(p->policies);
        config_free(p->config);
        free(p->data);
        free(p->buf);
        free(p->section);
}

static int config_paths(const ConfigSource *src, const char *path, char **ret_dropins, char **ret_policies) {
        _cleanup_(freep) char *dropins = NULL, *policies = NULL;
        const char *slash;
        int n;

        if (src && src->dropin_dir)
                dropins = strdup(src->dropin_dir);
        else if (asprintf(&dropins, "%s.d", path) < 0)
                dropins = NULL;
        /* dirname(path)/policies.d, or policies.d for a path without '/'. */
        slash = strrchr(path, '/');
        n = slash ? (int) (slash - path + 1) : 0;
        if (src && src->policies_dir)
                policies = strdup(src->policies_dir);
        else if (asprintf(&policies, "%.*s" POLICIES_DIR_NAME, n, path) < 0)
                policies = NULL;
        if (!dropins || !policies)
                return -ENOMEM;

        *ret_dropins = TAKE_PTR(dropins);
        *ret_policies = TAKE_PTR(policies);
        return 0;
}

int config_load(const ConfigSource *src, Config **ret, char ***errors) {
        _cleanup_(parser_done) Parser p = { .errors = errors };
        _cleanup_(freep) char *dropins = NULL, *policies = NULL;
        const char *path;
        int r;

        assert(ret);

        path = src && src->path ? src->path : CONFIG_PATH_DEFAULT;
        r = config_paths(src, path, &dropins, &policies);
        if (r < 0)
                return r;
        r = config_new(&p);
        if (r < 0)
                return r;

        r = parser_read_file(&p, path, FILE_MAIN, NULL);
        if (r < 0)
                return r;
        p.policies[0].origin = (Position) { p.config->files[0], 0 };
        r = parser_read_dir(&p, policies, FILE_POLICY);
        if (r < 0)
                return r;
        r = parser_read_dir(&p, dropins, FILE_MAIN);
        if (r < 0)
                return r;
        r = config_finish(&p);
        if (r < 0)
                return r;
        r = config_verify(&p, src ? src->iproute2_dir : NULL);
        if (r < 0)
                return r;

        if (p.error < 0)
                return p.error;
        if (p.io_error < 0)
                return p.io_error;
        if (p.failed)
                return -EINVAL;

        for (size_t i = 0; i < p.config->n_policies; i++)
                policy_sort_gateways(&p.config->policies[i]);
        *ret = TAKE_PTR(p.config);
        return 0;
}
