/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config_load(): values, defaults, every kind of error with its line, drop-ins, the --print round trip
 * and the corpora under tests/unit/{good,bad}-configs. Set SOURCE_ROOT to the source tree (meson does);
 * without it the current directory is taken. Never reads /etc: every load names its files. */

#include <dirent.h>
#include <stdio.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "config.h"
#include "macro.h"
#include "strv.h"
#include "tests.h"

/* The seed 003 topology, also shipped as packaging/vpnpolicy.conf. */
#define SEED003_POOLS "[Pool]\nPrefix=10.10.10.0/24\nPrefix=fd00:4242:4242:4242::/64\n"
#define SEED003_GATEWAY "[Gateway]\nIPv4=192.168.1.1\nIPv6=fd00:1010:1010:1010::1\nDevice=eth1\n"
#define MINIMAL SEED003_POOLS SEED003_GATEWAY

static const char *tmpdir;
static char main_path[PATH_MAX], dropin_dir[PATH_MAX], iproute2_dir[PATH_MAX];

static void write_file(const char *path, const char *content) {
        FILE *f = fopen(path, "we");

        ASSERT(f);
        ASSERT(fputs(content, f) >= 0);
        ASSERT(fclose(f) == 0);
}

static void write_dropin(const char *name, const char *content) {
        char path[PATH_MAX * 2];

        (void) mkdir(dropin_dir, 0755);
        snprintf(path, sizeof(path), "%s/%s", dropin_dir, name);
        write_file(path, content);
}

static const char *source_root(void) {
        return getenv("SOURCE_ROOT") ?: ".";
}

/* The whole file, or NULL if it cannot be read. */
static char *read_text(const char *path) {
        _cleanup_(freep) char *text = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");

        if (!f)
                return NULL;
        ASSERT(getdelim(&text, &size, '\0', f) >= 0 || feof(f));
        fclose(f);
        return TAKE_PTR(text) ?: strdup("");
}

/* A fresh directory for each test: main file, drop-in dir (absent until written) and iproute2 dir. */
static void setup(void) {
        tmpdir = tests_tmpdir();
        snprintf(main_path, sizeof(main_path), "%s/vpnpolicy.conf", tmpdir);
        snprintf(dropin_dir, sizeof(dropin_dir), "%s/vpnpolicy.conf.d", tmpdir);
        snprintf(iproute2_dir, sizeof(iproute2_dir), "%s/iproute2", tmpdir);
        ASSERT(mkdir(iproute2_dir, 0755) == 0);
}

static int load_path(const char *path, const char *iproute2, Config **ret, char ***errors) {
        ConfigSource src = { .path = path, .iproute2_dir = iproute2 };

        if (streq(path, main_path))
                src.dropin_dir = dropin_dir;
        return config_load(&src, ret, errors);
}

static Config *load_ok(const char *text) {
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;

        write_file(main_path, text);
        if (load_path(main_path, iproute2_dir, &c, &errors) < 0) {
                STRV_FOREACH(e, errors)
                        fprintf(stderr, "unexpected: %s\n", *e);
                ASSERT(false);
        }
        ASSERT(strv_length(errors) == 0);
        return c;
}

/* Some error starts with "PATH:LINE: " ("PATH: " for LINE 0) and contains what. */
static bool has_error(char **errors, const char *path, unsigned line, const char *what) {
        char prefix[PATH_MAX + 32];

        if (line > 0)
                snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
        else
                snprintf(prefix, sizeof(prefix), "%s: ", path);
        STRV_FOREACH(e, errors)
                if (strncmp(*e, prefix, strlen(prefix)) == 0 && strstr(*e, what))
                        return true;
        fprintf(stderr, "no error \"%s...%s\" among:\n", prefix, what);
        STRV_FOREACH(e, errors)
                fprintf(stderr, "  %s\n", *e);
        return false;
}

/* Loads text as the main file, expects failure with exactly n errors, the first at line with what. */
static void expect_errors(const char *text, size_t n, unsigned line, const char *what) {
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;

        setup();
        write_file(main_path, text);
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        ASSERT(!c);
        ASSERT(has_error(errors, main_path, line, what));
        if (strv_length(errors) != n) {
                STRV_FOREACH(e, errors)
                        fprintf(stderr, "  %s\n", *e);
                ASSERT(strv_length(errors) == n);
        }
}

static void test_defaults(void) {
        _cleanup_(config_freep) Config *c = NULL;
        const PolicyConfig *p;
        const GatewayConfig *g;
        char s[ADDR_STRLEN];

        setup();
        c = load_ok("# only what is required\n" MINIMAL);
        p = &c->policies[0];
        g = &p->gateways[0];
        ASSERT(streq(p->table_name, "vpn") && p->table_id == 200 && p->priority == 32765);
        ASSERT(p->n_pools == 2 && p->pools[0].family == AF_INET && p->pools[1].family == AF_INET6);
        ASSERT(p->pools[0].prefixlen == 24 && p->pools[1].prefixlen == 64);
        ASSERT(g->has_ipv4 && streq(addr_to_string(AF_INET, &g->ipv4, s), "192.168.1.1"));
        ASSERT(g->has_ipv6);
        ASSERT(streq(addr_to_string(AF_INET6, &g->ipv6, s), "fd00:1010:1010:1010::1"));
        ASSERT(streq(g->device, "eth1"));
        ASSERT(strv_length(c->tunnel_match) == 2 && streq(c->tunnel_match[0], "tun*") &&
               streq(c->tunnel_match[1], "wg*"));
        ASSERT(c->mirror_routes && !c->send_redirects && c->fail_closed);
        ASSERT(c->forwarding == FORWARDING_CHECK);
        ASSERT(c->firewall_manage && c->firewall_leak_guard && !c->firewall_masquerade);
        ASSERT(!c->read_group && c->read_gid == (gid_t) -1);
        ASSERT(strv_length(c->register_users) == 0 && strv_length(c->register_groups) == 0);
        ASSERT(strv_length(c->files) == 1 && streq(c->files[0], main_path));
        ASSERT(config_has_family(c, AF_INET) && config_has_family(c, AF_INET6));
        ASSERT(config_gateway(c, AF_INET) == &g->ipv4 && config_gateway(c, AF_INET6) == &g->ipv6);
}

static void test_values_valid(void) {
        _cleanup_(config_freep) Config *c = NULL;

        setup();
        c = load_ok("\xef\xbb\xbf[Table]\n"
                    "  Name = policy_2   \n"
                    "Id=300\n"
                    "Id=4294967295\r\n"
                    "Priority=1\n"
                    "[Pool]\n"
                    "Prefix=10.10.10.0/24 ; an inih comment\n"
                    "[Gateway]\n"
                    "IPv4=192.168.1.1\n"
                    "[Tunnels]\n"
                    "Match=tap[0-9]\n"
                    "Match=wg*\n"
                    "Match=wg*\n"
                    "MirrorRoutes=off\n"
                    "[Firewall]\n"
                    "Manage=no\nLeakGuard=FALSE\nMasquerade=1\n"
                    "[Kernel]\n"
                    "SendRedirects=yes\nForwarding=enable\nFailClosed=0\n"
                    "[Control]\n"
                    "ReadGroup=0\n"
                    "RegisterUser=root\n"
                    "RegisterUser=0\n"
                    "RegisterGroup=root\n");
        ASSERT(streq(c->policies[0].table_name, "policy_2") && c->policies[0].table_id == UINT32_MAX);
        ASSERT(c->policies[0].priority == 1 && c->policies[0].n_pools == 1);
        ASSERT(!c->policies[0].gateways[0].has_ipv6 && !c->policies[0].gateways[0].device[0]);
        ASSERT(strv_length(c->tunnel_match) == 2 && streq(c->tunnel_match[0], "tap[0-9]"));
        ASSERT(streq(c->tunnel_match[1], "wg*"));
        ASSERT(!c->mirror_routes && !c->firewall_manage && !c->firewall_leak_guard);
        ASSERT(c->firewall_masquerade);
        ASSERT(c->send_redirects && c->forwarding == FORWARDING_ENABLE && !c->fail_closed);
        ASSERT(streq(c->read_group, "root") && c->read_gid == 0);
        ASSERT(strv_length(c->register_users) == 1 && streq(c->register_users[0], "root"));
        ASSERT(c->register_uids[0] == 0);
        ASSERT(strv_length(c->register_groups) == 1 && c->register_gids[0] == 0);
        ASSERT(!config_has_family(c, AF_INET6) && !config_gateway(c, AF_INET6));
}

/* One test per kind of error, each at a known line. */
static void test_errors(void) {
        expect_errors("[Table]\n[Foo]\nBar=1\n" MINIMAL, 1, 2, "[Foo]: unknown section");
        expect_errors(MINIMAL "[Table]\nFoo=1\n", 1, 9, "[Table] Foo: unknown key");
        expect_errors(MINIMAL "[Table]\nname=vpn\n", 1, 9, "[Table] name: unknown key");
        expect_errors(MINIMAL "[Table\n", 1, 8, "syntax error");
        expect_errors(MINIMAL "\n\n[Table]\nName vpn\n", 1, 11, "syntax error");
        expect_errors(MINIMAL "[Table]\n=vpn\n", 1, 9, "syntax error");
        expect_errors(MINIMAL "[Table]\nNa me=vpn\n", 1, 9, "syntax error");
        expect_errors(MINIMAL "[Table]\nName:vpn\n", 1, 9, "syntax error");
        expect_errors("Name=vpn\n" MINIMAL, 1, 1, "Name: assignment outside of any section");
        expect_errors(MINIMAL "[Table]\nName=2vpn\n", 1, 9, "[Table] Name: invalid table name \"2vpn\"");
        expect_errors(MINIMAL "[Table]\nName=main\n", 1, 9, "[Table] Name: \"main\" is reserved");
        expect_errors(MINIMAL "[Table]\nId=254\n", 1, 9, "[Table] Id: 254 is the kernel's main table");
        expect_errors(MINIMAL "[Table]\nId=0\n", 1, 9, "[Table] Id: 0 is out of range");
        expect_errors(MINIMAL "[Table]\nId=0x10\n", 1, 9, "[Table] Id: invalid number \"0x10\"");
        expect_errors(MINIMAL "[Table]\nId=4294967296\n", 1, 9, "[Table] Id: 4294967296 is out of range");
        expect_errors(MINIMAL "[Table]\nId=-1\n", 1, 9, "[Table] Id: invalid number");
        expect_errors(MINIMAL "[Table]\nPriority=32766\n", 1, 9, "[Table] Priority: 32766 is out of range");
        expect_errors(MINIMAL "[Table]\nPriority=0\n", 1, 9, "[Table] Priority: 0 is out of range");
        expect_errors(MINIMAL "Prefix=10.0.0.1/\n", 1, 8, "[Gateway] Prefix: unknown key");
        expect_errors(MINIMAL "[Pool]\nPrefix=10.0.0.1/\n", 1, 9, "[Pool] Prefix: invalid prefix");
        expect_errors(MINIMAL "[Pool]\nPrefix=10.0.0.0\n", 1, 9, "[Pool] Prefix: invalid prefix");
        expect_errors(MINIMAL "[Pool]\nPrefix=10.20.0.1/16\n", 1, 9,
                      "[Pool] Prefix: 10.20.0.1/16 has host bits set, did you mean 10.20.0.0/16?");
        expect_errors(MINIMAL "[Pool]\nPrefix=0.0.0.0/0\n", 1, 9, "would match every source address");
        expect_errors("[Pool]\nPrefix=10.10.10.0/24\n\nPrefix=10.10.10.0/24\n" SEED003_GATEWAY, 1, 4,
                      "[Pool] Prefix: 10.10.10.0/24 is already listed at ");
        expect_errors("[Pool]\nPrefix=10.10.0.0/16\n\nPrefix=10.10.10.0/24\n" SEED003_GATEWAY, 1, 4,
                      "[Pool] Prefix: 10.10.10.0/24 overlaps 10.10.0.0/16 (");
        expect_errors("[Pool]\nPrefix=fd00::/64\n[Gateway]\nIPv4=192.168.1.1\n", 1, 2,
                      "[Pool] Prefix: fd00::/64 needs [Gateway] IPv6=");
        expect_errors("[Pool]\nPrefix=10.0.0.0/8\n[Gateway]\nIPv6=fd00::1\n", 1, 2,
                      "[Pool] Prefix: 10.0.0.0/8 needs [Gateway] IPv4=");
        expect_errors("[Gateway]\nIPv4=192.168.1.1\n", 1, 0, "[Pool] Prefix: at least one pool is required");
        expect_errors(SEED003_POOLS "[Gateway]\nIPv4=192.168.1.1\nIPv6=fe80::1\n", 1, 6,
                      "[Gateway] IPv6: link-local gateway fe80::1 needs [Gateway] Device=");
        expect_errors(SEED003_POOLS "[Gateway]\nIPv4=fd00::1\nIPv6=fd00::1\n", 2, 5,
                      "[Gateway] IPv4: \"fd00::1\" is not an IPv4 address");
        expect_errors(SEED003_POOLS "[Gateway]\nIPv4=192.168.1.1\nIPv6=fd00::/64\n", 2, 6,
                      "[Gateway] IPv6: \"fd00::/64\" is a prefix");
        expect_errors(SEED003_POOLS "[Gateway]\nIPv4=10.10.10.1\nIPv6=fd00::1\n", 1, 5,
                      "[Gateway] IPv4: 10.10.10.1 is inside [Pool] Prefix=10.10.10.0/24");
        expect_errors(SEED003_POOLS "[Gateway]\nIPv4=224.0.0.1\nIPv6=fd00::1\n", 2, 5,
                      "not usable as a gateway");
        expect_errors(MINIMAL "Device=eth1:0\n", 1, 8, "[Gateway] Device: invalid interface name");
        expect_errors(MINIMAL "Device=abcdefghijklmnop\n", 1, 8, "[Gateway] Device: invalid interface name");
        expect_errors(MINIMAL "[Tunnels]\nMatch=tun *\n", 1, 9, "[Tunnels] Match: invalid pattern");
        expect_errors(MINIMAL "[Tunnels]\nMirrorRoutes=maybe\n", 1, 9,
                      "[Tunnels] MirrorRoutes: invalid boolean");
        expect_errors(MINIMAL "[Kernel]\nForwarding=on\n", 1, 9,
                      "[Kernel] Forwarding: invalid value \"on\"");
        expect_errors(MINIMAL "[Control]\nReadGroup=vpnpolicy-no-such-group\n", 1, 9,
                      "[Control] ReadGroup: no such group \"vpnpolicy-no-such-group\"");
        expect_errors(MINIMAL "[Control]\nRegisterUser=vpnpolicy-no-such-user\n", 1, 9,
                      "[Control] RegisterUser: no such user");
        expect_errors(MINIMAL "[Control]\nRegisterGroup=4294967295\n", 1, 9,
                      "[Control] RegisterGroup: no such group");
}

/* All errors are collected, in file order, each with its own line. */
static void test_errors_collected(void) {
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;

        setup();
        write_file(main_path, "[Table]\n"
                              "Id=abc\n"                /* 2 */
                              "Priority=99999\n"        /* 3 */
                              "[Nope]\n"                /* 4 */
                              "Whatever=1\n"            /* 5: skipped, the section was reported */
                              "[Pool]\n"
                              "Prefix=10.0.0.1/8\n"     /* 7 */
                              "Prefix=fd00::/64\n"      /* 8: no IPv6 gateway */
                              "garbage\n"               /* 9 */
                              "[Gateway]\n"
                              "IPv4=192.168.1.1\n"
                              "Color=blue\n");          /* 12 */
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        ASSERT(strv_length(errors) == 7);
        ASSERT(has_error(errors, main_path, 2, "[Table] Id: invalid number \"abc\""));
        ASSERT(has_error(errors, main_path, 3, "[Table] Priority:"));
        ASSERT(has_error(errors, main_path, 4, "[Nope]: unknown section"));
        ASSERT(has_error(errors, main_path, 7, "[Pool] Prefix: 10.0.0.1/8 has host bits set"));
        ASSERT(has_error(errors, main_path, 8, "[Pool] Prefix: fd00::/64 needs [Gateway] IPv6="));
        ASSERT(has_error(errors, main_path, 9, "syntax error"));
        ASSERT(has_error(errors, main_path, 12, "[Gateway] Color: unknown key"));
        /* The verify pass runs after all files: its error comes last. */
        ASSERT(strstr(errors[6], "needs [Gateway] IPv6="));
}

static void test_line_too_long(void) {
        char text[1024];

        snprintf(text, sizeof(text), MINIMAL "[Tunnels]\nMatch=%0300d\nMirrorRoutes=yes\nMatch=tap*\n", 0);
        expect_errors(text, 1, 9, "line longer than");
}

static void test_nul_byte(void) {
        static const char text[] = MINIMAL "[Tunnels]\nMatch=tun\0*\n";
        FILE *f;
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;

        setup();
        f = fopen(main_path, "we");
        ASSERT(f && fwrite(text, 1, sizeof(text) - 1, f) == sizeof(text) - 1 && fclose(f) == 0);
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        ASSERT(has_error(errors, main_path, 9, "NUL byte"));
}

static void test_missing_files(void) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        ConfigSource src = {};

        setup();
        src.path = main_path;
        src.iproute2_dir = iproute2_dir;
        ASSERT(config_load(&src, &c, &errors) == -ENOENT);
        ASSERT(strv_length(errors) == 1);
        ASSERT(has_error(errors, main_path, 0, "No such file or directory"));

        /* The default drop-in dir is PATH.d; missing is fine. */
        write_file(main_path, MINIMAL);
        errors = strv_free(errors);
        ASSERT(config_load(&src, &c, &errors) == 0);
        ASSERT(c && strv_length(errors) == 0);
}

static void test_dropins(void) {
        _cleanup_(config_freep) Config *c = NULL;
        char path[PATH_MAX + 64];

        setup();
        /* The default drop-in directory is PATH.d, the one setup() names too. */
        write_dropin("20-b.conf", "[Table]\nName=from_b\n[Pool]\nPrefix=10.30.0.0/16\n"
                                  "[Control]\nRegisterUser=root\n");
        write_dropin("10-a.conf", "[Table]\nName=from_a\nId=300\n[Pool]\nPrefix=10.20.0.0/16\n");
        write_dropin("05-c.conf.disabled", "[Table]\nName=never\n");
        write_dropin(".30-hidden.conf", "[Table]\nName=never\n");
        c = load_ok("[Table]\nName=main_name\nPriority=1000\n" MINIMAL "[Tunnels]\nMatch=tap*\n");

        ASSERT(streq(c->policies[0].table_name, "from_b"));
        ASSERT(c->policies[0].table_id == 300 && c->policies[0].priority == 1000);
        ASSERT(c->policies[0].n_pools == 4);
        ASSERT(c->policies[0].pools[2].addr.bytes[1] == 20 && c->policies[0].pools[3].addr.bytes[1] == 30);
        ASSERT(strv_length(c->register_users) == 1);
        ASSERT(strv_length(c->files) == 3);
        ASSERT(streq(c->files[0], main_path));
        snprintf(path, sizeof(path), "%s/10-a.conf", dropin_dir);
        ASSERT(streq(c->files[1], path));
        snprintf(path, sizeof(path), "%s/20-b.conf", dropin_dir);
        ASSERT(streq(c->files[2], path));
}

/* An overlap across files names the earlier file and line; errors carry the drop-in's own path. */
static void test_dropin_errors(void) {
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;
        char path[PATH_MAX + 64], what[PATH_MAX + 128];

        setup();
        write_file(main_path, MINIMAL);
        write_dropin("10-a.conf", "# comment\n[Pool]\nPrefix=10.10.10.128/25\n[Table]\nBad=1\n");
        snprintf(path, sizeof(path), "%s/10-a.conf", dropin_dir);
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        snprintf(what, sizeof(what), "overlaps 10.10.10.0/24 (%s:2)", main_path);
        ASSERT(has_error(errors, path, 3, what));
        ASSERT(has_error(errors, path, 5, "[Table] Bad: unknown key"));
        ASSERT(strv_length(errors) == 2);
}

/* Loads main_path, expecting failure with an error "FILE: ...what" (no line) for the file path. */
static void expect_file_error(const char *path, const char *what) {
        _cleanup_strv_free_ char **errors = NULL;
        Config *c = NULL;

        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) < 0);
        ASSERT(!c);
        ASSERT(has_error(errors, path, 0, what));
}

/* Only regular files are read: a FIFO drop-in used to block the loader for good (alarm() turns a
 * regression into a failure, not a hang), a drop-in linked to /dev/zero was read until ENOMEM. */
static void test_not_regular(void) {
        char path[PATH_MAX + 64];

        setup();
        write_file(main_path, MINIMAL);
        (void) mkdir(dropin_dir, 0755);
        snprintf(path, sizeof(path), "%s/10-fifo.conf", dropin_dir);
        ASSERT(mkfifo(path, 0600) == 0);
        alarm(10);
        expect_file_error(path, "a FIFO, not a regular file: not read");
        alarm(0);
        ASSERT(unlink(path) == 0);

        snprintf(path, sizeof(path), "%s/20-zero.conf", dropin_dir);
        ASSERT(symlink("/dev/zero", path) == 0);
        expect_file_error(path, "a character device, not a regular file: not read");
        ASSERT(unlink(path) == 0);

        /* The main file itself, and a directory (as before). */
        ASSERT(unlink(main_path) == 0);
        ASSERT(symlink("/dev/null", main_path) == 0);
        expect_file_error(main_path, "a character device, not a regular file: not read");
        ASSERT(unlink(main_path) == 0);
        write_file(main_path, MINIMAL);
        snprintf(path, sizeof(path), "%s/30-dir.conf", dropin_dir);
        ASSERT(mkdir(path, 0755) == 0);
        expect_file_error(path, "Is a directory");
        ASSERT(rmdir(path) == 0);

        /* A symlink to a regular file is read as ever. */
        snprintf(path, sizeof(path), "%s/../linked.conf", dropin_dir);
        write_file(path, "[Tunnels]\nMatch=wg*\n");
        snprintf(path, sizeof(path), "%s/40-linked.conf", dropin_dir);
        ASSERT(symlink("../linked.conf", path) == 0);
        config_free(load_ok(MINIMAL));
}

/* Writes size bytes of comment lines (and MINIMAL first if with_config) to path. */
static void write_sized(const char *path, size_t size, bool with_config) {
        FILE *f = fopen(path, "we");
        size_t n = 0;

        ASSERT(f);
        if (with_config) {
                ASSERT(fputs(MINIMAL, f) >= 0);
                n = strlen(MINIMAL);
        }
        while (n < size) {
                size_t k = MIN(size - n, (size_t) 80);

                /* "#...#\n": k bytes, the last a newline */
                for (size_t i = 0; i + 1 < k; i++)
                        ASSERT(fputc('#', f) != EOF);
                ASSERT(fputc('\n', f) != EOF);
                n += k;
        }
        ASSERT(fclose(f) == 0);
}

static void test_size_limit(void) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        char path[PATH_MAX + 64];

        setup();
        (void) mkdir(dropin_dir, 0755);
        snprintf(path, sizeof(path), "%s/10-big.conf", dropin_dir);

        /* Exactly at the limit: read. */
        write_sized(main_path, CONFIG_FILE_SIZE_MAX, true);
        write_sized(path, CONFIG_FILE_SIZE_MAX, false);
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == 0);
        ASSERT(c && strv_length(c->files) == 2);

        /* One byte more, in a drop-in or in the main file: refused, naming the file and the limit. */
        write_sized(path, CONFIG_FILE_SIZE_MAX + 1, false);
        expect_file_error(path, "larger than 1 MiB, the limit for a configuration file: not read");
        write_sized(path, 10, false);
        write_sized(main_path, CONFIG_FILE_SIZE_MAX + 1, true);
        expect_file_error(main_path, "larger than 1 MiB, the limit for a configuration file: not read");
}

/* An overlap is an error on the pool read later, naming the earliest pool it overlaps, whichever is the
 * larger; the errors come in the order the pools were read. */
static void test_overlaps(void) {
        _cleanup_strv_free_ char **errors = NULL;
        char what[PATH_MAX * 2 + 128];
        Config *c = NULL;

        setup();
        write_file(main_path, SEED003_GATEWAY "[Pool]\nPrefix=10.0.0.0/8\nPrefix=10.1.0.0/16\n"
                              "Prefix=10.1.1.0/24\nPrefix=10.1.0.0/16\n");
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        ASSERT_INT(strv_length(errors), 3);
        snprintf(what, sizeof(what), "%s:7: [Pool] Prefix: 10.1.0.0/16 overlaps 10.0.0.0/8 (%s:6)",
                 main_path, main_path);
        ASSERT_STREQ(errors[0], what);
        snprintf(what, sizeof(what), "%s:8: [Pool] Prefix: 10.1.1.0/24 overlaps 10.0.0.0/8 (%s:6)",
                 main_path, main_path);
        ASSERT_STREQ(errors[1], what);
        snprintf(what, sizeof(what), "%s:9: [Pool] Prefix: 10.1.0.0/16 overlaps 10.0.0.0/8 (%s:6)",
                 main_path, main_path);
        ASSERT_STREQ(errors[2], what);
        errors = strv_free(errors);

        /* The larger pool written last is the one in error, and names the first pool it covers. */
        write_file(main_path, "[Pool]\nPrefix=10.9.1.0/24\nPrefix=10.2.0.0/16\nPrefix=10.9.0.0/24\n"
                              "Prefix=10.0.0.0/8\nPrefix=10.9.1.0/24\n" SEED003_GATEWAY);
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        ASSERT_INT(strv_length(errors), 2);
        snprintf(what, sizeof(what), "%s:5: [Pool] Prefix: 10.0.0.0/8 overlaps 10.9.1.0/24 (%s:2)",
                 main_path, main_path);
        ASSERT_STREQ(errors[0], what);
        snprintf(what, sizeof(what), "%s:6: [Pool] Prefix: 10.9.1.0/24 is already listed at %s:2",
                 main_path, main_path);
        ASSERT_STREQ(errors[1], what);
        errors = strv_free(errors);

        /* One start, two lengths; and neighbours, or equal bytes of another family, do not overlap. */
        expect_errors("[Pool]\nPrefix=10.0.0.0/24\nPrefix=10.0.0.0/16\n" SEED003_GATEWAY, 1, 3,
                      "[Pool] Prefix: 10.0.0.0/16 overlaps 10.0.0.0/24 (");
        c = load_ok("[Pool]\nPrefix=10.0.0.0/25\nPrefix=10.0.0.128/25\nPrefix=a00::/8\nPrefix=10.0.1.0/24\n"
                    "Prefix=b00::/8\nPrefix=10.0.2.0/32\n" SEED003_GATEWAY);
        config_free(c);
}

static double cpu_seconds(void) {
        struct timespec ts;

        ASSERT(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* 20,000 pools took 40 s to check pairwise (53 s on the machine of issue 11), longer than the watchdog
 * gives a reload. Sorted, a few milliseconds: the bound is on CPU time, so a busy machine does not fail it,
 * and is far below what the quadratic check took. */
static void test_many_pools(void) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(freep) char *text = NULL;
        char what[PATH_MAX * 2 + 128];
        size_t size = 0;
        double t;
        FILE *f;

        setup();
        f = open_memstream(&text, &size);
        ASSERT(f);
        fputs(SEED003_GATEWAY "[Pool]\n", f);
        for (unsigned i = 0; i < 18000; i++)
                fprintf(f, "Prefix=10.%u.%u.0/24\n", i / 256 + 16, i % 256);
        for (unsigned i = 0; i < 2000; i++)
                fprintf(f, "Prefix=fd00:%x::/64\n", i);
        ASSERT(fclose(f) == 0);
        write_file(main_path, text);

        t = cpu_seconds();
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == 0);
        t = cpu_seconds() - t;
        ASSERT_INT(c->policies[0].n_pools, 20000);
        fprintf(stderr, "  20000 pools loaded and checked in %.3f s of CPU\n", t);
        ASSERT(t < 1.0);

        /* One overlap at the end is found, and named. */
        c = config_free(c);
        f = fopen(main_path, "ae");
        ASSERT(f && fputs("Prefix=10.80.207.128/25\nPrefix=fd00:7cf::/48\n", f) >= 0 && fclose(f) == 0);
        t = cpu_seconds();
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        t = cpu_seconds() - t;
        fprintf(stderr, "  20002 pools with 2 overlaps in %.3f s of CPU\n", t);
        ASSERT(t < 1.0);
        ASSERT_INT(strv_length(errors), 2);
        snprintf(what, sizeof(what), "%s:20006: [Pool] Prefix: 10.80.207.128/25 overlaps 10.80.207.0/24 "
                 "(%s:16597)", main_path, main_path);
        ASSERT_STREQ(errors[0], what);
        ASSERT(strstr(errors[1], ":20007: [Pool] Prefix: fd00:7cf::/48 overlaps fd00:7cf::/64 ("));
}

static void test_empty_resets(void) {
        _cleanup_(config_freep) Config *c = NULL;

        setup();
        write_dropin("10-reset.conf", "[Table]\nName=\nId=\n[Pool]\nPrefix=\nPrefix=10.99.0.0/16\n"
                                      "[Gateway]\nIPv6=\nDevice=\n[Kernel]\nFailClosed=\n[Control]\n"
                                      "ReadGroup=\nRegisterUser=\n");
        c = load_ok("[Table]\nName=x\nId=7\n" MINIMAL "[Kernel]\nFailClosed=no\n"
                    "[Control]\nReadGroup=root\nRegisterUser=root\n");
        ASSERT(streq(c->policies[0].table_name, "vpn") && c->policies[0].table_id == 200);
        ASSERT(c->policies[0].n_pools == 1 && c->policies[0].pools[0].addr.bytes[1] == 99);
        ASSERT(c->policies[0].gateways[0].has_ipv4 && !c->policies[0].gateways[0].has_ipv6);
        ASSERT(!c->policies[0].gateways[0].device[0]);
        ASSERT(c->fail_closed);
        ASSERT(!c->read_group && c->read_gid == (gid_t) -1 && strv_length(c->register_users) == 0);
}

static void test_match(void) {
        Config *c;

        setup();
        c = load_ok(MINIMAL);
        ASSERT(strv_length(c->tunnel_match) == 2 && streq(c->tunnel_match[0], "tun*") &&
               streq(c->tunnel_match[1], "wg*"));
        config_free(c);

        /* The first assignment replaces the default. */
        c = load_ok(MINIMAL "[Tunnels]\nMatch=tap*\n");
        ASSERT(strv_length(c->tunnel_match) == 1 && streq(c->tunnel_match[0], "tap*"));
        config_free(c);

        /* An empty one empties the list, for good if nothing follows. */
        c = load_ok(MINIMAL "[Tunnels]\nMatch=tap*\nMatch=\n");
        ASSERT(strv_length(c->tunnel_match) == 0);
        config_free(c);

        /* ...across files too: the drop-in resets what the main file said. */
        write_dropin("50-wg.conf", "[Tunnels]\nMatch=\nMatch=wg*\n");
        c = load_ok(MINIMAL "[Tunnels]\nMatch=tap*\nMatch=tun*\n");
        ASSERT(strv_length(c->tunnel_match) == 1 && streq(c->tunnel_match[0], "wg*"));
        config_free(c);

        /* A drop-in appends when it does not reset. */
        write_dropin("50-wg.conf", "[Tunnels]\nMatch=wg*\n");
        c = load_ok(MINIMAL "[Tunnels]\nMatch=tap*\n");
        ASSERT(strv_length(c->tunnel_match) == 2 && streq(c->tunnel_match[1], "wg*"));
        config_free(c);
}

/* rt_tables entries that clash with our table, hex ids included; our own rt_tables.d file is ignored. */
static void test_rt_tables_clash(void) {
        _cleanup_strv_free_ char **errors = NULL;
        char path[PATH_MAX + 64], d[PATH_MAX + 64], what[PATH_MAX * 2];
        Config *c = NULL;

        setup();
        snprintf(path, sizeof(path), "%s/rt_tables", iproute2_dir);
        write_file(path, "#\n# reserved values\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n"
                         "0x64 hexed\n  300   spaced # comment\n#200 vpn\nbogus line\n");
        snprintf(d, sizeof(d), "%s/rt_tables.d", iproute2_dir);
        ASSERT(mkdir(d, 0755) == 0);
        snprintf(path, sizeof(path), "%s/rt_tables.d/vpnpolicy.conf", iproute2_dir);
        write_file(path, "# ours: ignored\n200 other\n201 vpn\n");
        snprintf(path, sizeof(path), "%s/rt_tables.d/x.conf", iproute2_dir);
        write_file(path, "\n0xc9 taken\n");

        /* Defaults: no clash, our own file does not count. */
        config_free(load_ok(MINIMAL));

        /* Id 100 is "hexed" (0x64), at line 7 of rt_tables. */
        write_file(main_path, MINIMAL "[Table]\nId=100\n");
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        snprintf(path, sizeof(path), "%s/rt_tables", iproute2_dir);
        snprintf(what, sizeof(what), "[Table] Id: table 100 is already named \"hexed\" in %s:7", path);
        ASSERT(has_error(errors, main_path, 9, what));
        ASSERT(strv_length(errors) == 1);
        errors = strv_free(errors);

        /* Name "spaced" has id 300; ours defaults to 200: reported on the Name= line. */
        write_file(main_path, "[Table]\nName=spaced\n" MINIMAL);
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        snprintf(what, sizeof(what), "[Table] Name: table \"spaced\" already has id 300 in %s:8", path);
        ASSERT(has_error(errors, main_path, 2, what));
        ASSERT(strv_length(errors) == 1);
        errors = strv_free(errors);

        /* Both at once, the id from a drop-in of rt_tables.d, and with a default Id: no line. */
        write_file(main_path, "[Table]\nName=hexed\n" MINIMAL);
        snprintf(path, sizeof(path), "%s/rt_tables.d/x.conf", iproute2_dir);
        write_file(path, "\n0xc8 taken\n");
        ASSERT(load_path(main_path, iproute2_dir, &c, &errors) == -EINVAL);
        snprintf(what, sizeof(what), "[Table] Id: table 200 is already named \"taken\" in %s:2", path);
        ASSERT(has_error(errors, main_path, 0, what));
        ASSERT(has_error(errors, main_path, 2, "[Table] Name: table \"hexed\" already has id 100"));
        ASSERT(strv_length(errors) == 2);
        ASSERT(!c);
}

#define GUEST "[Table]\nId=201\nPriority=32000\n[Pool]\nPrefix=10.20.0.0/16\n[Gateway]\nIPv4=192.168.2.1\n"

static void write_policy(const char *name, const char *content) {
        char path[PATH_MAX * 2];

        snprintf(path, sizeof(path), "%s/policies.d", tmpdir);
        (void) mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/policies.d/%s", tmpdir, name);
        write_file(path, content);
}

static const GatewayConfig *gateway_named(const PolicyConfig *p, const char *name) {
        for (size_t i = 0; i < p->n_gateways; i++)
                if (streq(p->gateways[i].name, name))
                        return &p->gateways[i];
        return NULL;
}

/* Today's configuration is policies[0], named after its table, with the one gateway "gateway" that does
 * not probe; the legacy helpers answer for it. */
static void test_main_policy(void) {
        _cleanup_(config_freep) Config *c = NULL;
        const PolicyConfig *p;
        const GatewayConfig *g;
        InAddrUnion a;

        setup();
        c = load_ok("[Table]\nName=pools\n" MINIMAL);
        ASSERT_INT(c->n_policies, 1);
        p = &c->policies[0];
        ASSERT_STREQ(p->name, "pools");
        ASSERT_STREQ(p->table_name, "pools");
        ASSERT(p->table_id == 200 && p->priority == 32765 && p->preempt && p->preempt_hold_usec == 30000000);
        ASSERT_INT(p->n_gateways, 1);
        g = &p->gateways[0];
        ASSERT_STREQ(g->name, "gateway");
        ASSERT(g->has_ipv4 && g->has_ipv6 && streq(g->device, "eth1") && g->priority == 100);
        ASSERT(!g->probe.enabled);
        ASSERT(g->probe.interval_usec == 1000000 && g->probe.timeout_usec == 1000000);
        ASSERT(g->probe.fall == 3 && g->probe.rise == 3 && g->probe.loss_max_percent == 20);
        ASSERT(g->probe.rtt_max_usec == 0 && !g->probe.has_target4 && !g->probe.has_target6);
        ASSERT(config_gateway(c, AF_INET) == &g->ipv4 && config_gateway(c, AF_INET6) == &g->ipv6);
        ASSERT(config_has_family(c, AF_INET) && policy_has_family(p, AF_INET6));

        ASSERT(addr_parse(AF_INET, "10.10.10.77", NULL, &a) >= 0);
        ASSERT(config_policy_by_address(c, AF_INET, &a) == p);
        ASSERT(addr_parse(AF_INET, "10.10.11.1", NULL, &a) >= 0);
        ASSERT(!config_policy_by_address(c, AF_INET, &a));
        ASSERT(config_policy_by_table(c, 200) == p && !config_policy_by_table(c, 201));
}

/* Several policies and gateways in one file: names, defaults, order, probes. */
static void test_policies(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(freep) char *text = NULL;
        char path[PATH_MAX + 64], s[ADDR_STRLEN];
        const PolicyConfig *staff, *guest;
        const GatewayConfig *a, *b;
        InAddrUnion x;

        setup();
        snprintf(path, sizeof(path), "%s/tests/unit/good-configs/07-two-policies.conf", source_root());
        text = read_text(path);
        ASSERT(text);
        c = load_ok(text);
        ASSERT_INT(c->n_policies, 2);
        staff = &c->policies[0];
        guest = &c->policies[1];
        ASSERT_STREQ(staff->name, "staff");
        ASSERT(staff->table_id == 200 && staff->priority == 32000);
        ASSERT(staff->preempt && staff->preempt_hold_usec == 90000000);
        ASSERT_INT(staff->n_gateways, 2);
        a = &staff->gateways[0];
        b = &staff->gateways[1];
        ASSERT_STREQ(a->name, "nat_a");
        ASSERT_STREQ(b->name, "nat_b");
        /* Two gateways: both probe by default. */
        ASSERT(a->probe.enabled && b->probe.enabled);
        ASSERT(a->priority == 10 && b->priority == 20 && streq(b->device, "eth2"));
        ASSERT(a->probe.has_target4 && a->probe.has_target6);
        ASSERT_STREQ(addr_to_string(AF_INET, &a->probe.target4, s), "198.51.100.7");
        ASSERT_STREQ(addr_to_string(AF_INET6, &a->probe.target6, s), "2001:db8::7");
        ASSERT(b->probe.interval_usec == 500000 && b->probe.timeout_usec == 250000);
        ASSERT(b->probe.fall == 5 && b->probe.rise == 10 && b->probe.loss_max_percent == 30);
        ASSERT(b->probe.rtt_max_usec == 200000);

        /* The further policy: its table is named after it; one gateway, which does not probe. */
        ASSERT_STREQ(guest->name, "guest");
        ASSERT_STREQ(guest->table_name, "guest");
        ASSERT(guest->table_id == 201 && guest->priority == 32001 && guest->n_pools == 2);
        ASSERT(guest->n_gateways == 1 && streq(guest->gateways[0].name, "gateway"));
        ASSERT(!guest->gateways[0].probe.enabled);
        ASSERT(guest->preempt && guest->preempt_hold_usec == 30000000);

        ASSERT(addr_parse(AF_INET6, "fd00:20::1", NULL, &x) >= 0);
        ASSERT(config_policy_by_address(c, AF_INET6, &x) == guest);
        ASSERT(config_policy_by_table(c, 201) == guest);
        /* The legacy helpers are the main policy's. */
        ASSERT(config_gateway(c, AF_INET) == &a->ipv4);
        c = config_free(c);
        free(text);
        text = NULL;

        /* Priority= orders the gateways, ties in the order written; Probe=none holds among several. */
        snprintf(path, sizeof(path), "%s/tests/unit/good-configs/08-gateway-order.conf", source_root());
        text = read_text(path);
        ASSERT(text);
        c = load_ok(text);
        ASSERT_INT(c->n_policies, 3);
        ASSERT_INT(c->policies[0].n_gateways, 3);
        ASSERT_STREQ(c->policies[0].gateways[0].name, "c");
        ASSERT_STREQ(c->policies[0].gateways[1].name, "a");
        ASSERT_STREQ(c->policies[0].gateways[2].name, "b");
        ASSERT(!c->policies[0].gateways[0].probe.enabled && c->policies[0].gateways[1].probe.enabled);
        ASSERT(!c->policies[0].preempt && c->policies[0].preempt_hold_usec == 0);
        ASSERT_STREQ(c->policies[1].table_name, "lone_table");
        ASSERT(!c->policies[1].gateways[0].probe.enabled && c->policies[1].gateways[0].priority == 7);
        ASSERT(c->policies[2].gateways[0].probe.enabled);       /* Probe=icmp on a lone gateway */
}

/* The files: policies.d/NAME.conf is policy NAME, read after the main file and before the drop-ins, which
 * can change any policy; sections of one gateway name merge, an unnamed [Gateway] is "gateway". */
static void test_policy_files(void) {
        _cleanup_(config_freep) Config *c = NULL;
        char path[PATH_MAX + 64];
        const GatewayConfig *g;

        setup();
        write_policy("guest.conf", GUEST);
        write_policy("lab.conf", "[Table]\nName=lab_t\nId=202\nPriority=32001\n[Pool]\nPrefix=10.30.0.0/16\n"
                                 "[Gateway]\nName=nat\nIPv4=192.168.3.1\n");
        write_policy("disabled.conf.off", "garbage\n");
        write_policy(".hidden.conf", "garbage\n");
        write_dropin("50-x.conf", "[Gateway]\nIPv4=192.168.1.254\n"
                                  "[Gateway]\nName=backup\nIPv4=192.168.1.2\n"
                                  "[Policy]\nName=lab\n[Gateway]\nName=nat\nDevice=eth3\nPriority=5\n"
                                  "[Policy]\nName=extra\n[Table]\nId=203\nPriority=32002\n"
                                  "[Pool]\nPrefix=10.40.0.0/16\n[Gateway]\nIPv4=192.168.4.1\n");
        c = load_ok(MINIMAL "[Gateway]\nName=backup\nIPv6=fd00:1010:1010:1010::2\n");

        ASSERT_INT(strv_length(c->files), 4);
        ASSERT_STREQ(c->files[0], main_path);
        snprintf(path, sizeof(path), "%s/policies.d/guest.conf", tmpdir);
        ASSERT_STREQ(c->files[1], path);
        snprintf(path, sizeof(path), "%s/policies.d/lab.conf", tmpdir);
        ASSERT_STREQ(c->files[2], path);
        snprintf(path, sizeof(path), "%s/50-x.conf", dropin_dir);
        ASSERT_STREQ(c->files[3], path);

        ASSERT_INT(c->n_policies, 4);
        ASSERT(streq(c->policies[1].name, "guest") && streq(c->policies[2].name, "lab"));
        ASSERT(streq(c->policies[3].name, "extra"));
        /* The drop-in overrides the unnamed gateway's IPv4= as before, and adds to "backup". */
        g = gateway_named(&c->policies[0], "gateway");
        ASSERT(g && g->has_ipv4 && g->ipv4.bytes[3] == 254 && streq(g->device, "eth1"));
        g = gateway_named(&c->policies[0], "backup");
        ASSERT(g && g->has_ipv4 && g->has_ipv6 && g->ipv6.bytes[15] == 2);
        ASSERT_INT(c->policies[0].n_gateways, 2);
        g = gateway_named(&c->policies[2], "nat");
        ASSERT(g && streq(g->device, "eth3") && g->priority == 5 && g->ipv4.bytes[3] == 1);
        ASSERT_STREQ(c->policies[2].table_name, "lab_t");
        c = config_free(c);

        /* ConfigSource.policies_dir elsewhere; the default one is then not read. */
        {
                _cleanup_strv_free_ char **errors = NULL;
                char other[PATH_MAX + 16];
                ConfigSource src = { .path = main_path, .dropin_dir = "/nonexistent",
                                     .iproute2_dir = iproute2_dir };

                snprintf(other, sizeof(other), "%s/other", tmpdir);
                ASSERT(mkdir(other, 0755) == 0);
                snprintf(path, sizeof(path), "%s/only.conf", other);
                write_file(path, "[Table]\nId=300\nPriority=300\n[Pool]\nPrefix=10.50.0.0/16\n"
                                 "[Gateway]\nIPv4=192.168.5.1\n");
                src.policies_dir = other;
                ASSERT(config_load(&src, &c, &errors) == 0);
                ASSERT(c->n_policies == 2 && streq(c->policies[1].name, "only"));
        }
}

/* A policy file must be a regular file too. */
static void test_policy_file_fifo(void) {
        char path[PATH_MAX + 64];

        setup();
        write_file(main_path, MINIMAL);
        write_policy("guest.conf", GUEST);
        snprintf(path, sizeof(path), "%s/policies.d/lab.conf", tmpdir);
        ASSERT(mkfifo(path, 0600) == 0);
        alarm(10);
        expect_file_error(path, "a FIFO, not a regular file: not read");
        alarm(0);
}

/* What the errors of several policies look like, and how many: each mistake once. */
static void test_policy_errors(void) {
        /* A [Policy] whose name is invalid: its sections are skipped, not given to another policy. */
        expect_errors(MINIMAL "[Policy]\nName=a b\n[Table]\nId=junk\n[Gateway]\nIPv4=junk\n", 1, 9,
                      "[Policy] Name: invalid policy name \"a b\"");
        /* ...and one with no Name= at all. */
        expect_errors(MINIMAL "[Policy]\n[Table]\nId=junk\n", 1, 8, "[Policy] Name: missing");
        /* A [Gateway] whose name is invalid: its keys are skipped too. */
        expect_errors(MINIMAL "[Gateway]\nName=x/y\nIPv4=junk\n", 1, 9,
                      "[Gateway] Name: invalid gateway name");
        /* An invalid Id= is not also reported missing. */
        expect_errors(MINIMAL "[Policy]\nName=g\n[Table]\nId=0\nPriority=5\n[Pool]\n"
                      "Prefix=10.2.0.0/16\n[Gateway]\nIPv4=192.168.2.1\n", 1, 11,
                      "[Table] Id: 0 is out of range");
        /* Id= reset to empty in a further policy: required again. */
        expect_errors(MINIMAL "[Policy]\nName=g\n[Table]\nId=5\nId=\nPriority=5\n[Pool]\n"
                      "Prefix=10.2.0.0/16\n[Gateway]\nIPv4=192.168.2.1\n", 1, 9,
                      "[Table] Id: required for policy \"g\"");
        /* Policies are checked against each other whichever comes first. */
        expect_errors("[Table]\nId=201\n" MINIMAL "[Policy]\nName=g\n" GUEST, 1, 13,
                      "[Table] Id: table 201 is already the table of policy \"vpn\" (");
        /* A lone gateway without address is reported by its pools, not twice. */
        expect_errors("[Pool]\nPrefix=10.1.0.0/16\n[Gateway]\nName=x\nDevice=eth0\n", 1, 2,
                      "[Pool] Prefix: 10.1.0.0/16 needs [Gateway] IPv4=");
        /* ProbeTimeoutSec= against the default interval, at the line that set it. */
        expect_errors(MINIMAL "[Gateway]\nProbeTimeoutSec=1500ms\n", 1, 9,
                      "[Gateway] ProbeTimeoutSec: 1s 500ms is longer than ProbeIntervalSec=1s");
}

static int load_and_print(const char *path, Config **ret, char **ret_text) {
        _cleanup_strv_free_ char **errors = NULL;
        char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        r = load_path(path, iproute2_dir, ret, &errors);
        STRV_FOREACH(e, errors)
                fprintf(stderr, "%s\n", *e);
        if (r < 0)
                return r;
        f = open_memstream(&text, &size);
        ASSERT(f);
        ASSERT(config_print(*ret, f) == 0);
        ASSERT(fclose(f) == 0);
        *ret_text = text;
        return 0;
}

/* load -> print -> load gives an equal Config, and printing that gives the same text, which is golden's if
 * given. The printed file goes in a directory of its own: it holds every policy, and a policies.d next to
 * it would add them once more. */
static void check_round_trip(const char *path, const char *golden) {
        _cleanup_(config_freep) Config *a = NULL, *b = NULL;
        _cleanup_(freep) char *text_a = NULL, *text_b = NULL, *want = NULL;
        char printed[PATH_MAX + 64];

        fprintf(stderr, "  %s\n", path);
        ASSERT(load_and_print(path, &a, &text_a) == 0);
        snprintf(printed, sizeof(printed), "%s/printed", tmpdir);
        (void) mkdir(printed, 0755);
        snprintf(printed, sizeof(printed), "%s/printed/vpnpolicy.conf", tmpdir);
        write_file(printed, text_a);
        ASSERT(load_and_print(printed, &b, &text_b) == 0);
        ASSERT(config_equal(a, b) && config_equal(b, a));
        if (!streq(text_a, text_b)) {
                fprintf(stderr, "--- first\n%s--- second\n%s", text_a, text_b);
                ASSERT(false);
        }
        if (!golden)
                return;
        want = read_text(golden);
        if (!want || !streq(want, text_a)) {
                fprintf(stderr, "--- %s\n%s--- printed\n%s", golden, want ?: "(missing)\n", text_a);
                ASSERT(false);
        }
}


static int conf_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return n > 5 && streq(de->d_name + n - 5, ".conf");
}

/* The *.conf files of dir, sorted; fails the test if there are fewer than min. */
static char **corpus(const char *dir, size_t min) {
        _cleanup_strv_free_ char **l = NULL;
        struct dirent **des;
        int n;

        n = scandir(dir, &des, conf_filter, alphasort);
        if (n < 0)
                fprintf(stderr, "%s: %m (set SOURCE_ROOT)\n", dir);
        ASSERT(n >= 0 && (size_t) n >= min);
        for (int i = 0; i < n; i++) {
                ASSERT(strv_extendf(&l, "%s/%s", dir, des[i]->d_name) == 0);
                free(des[i]);
        }
        free(des);
        return TAKE_PTR(l);
}

static int dir_filter(const struct dirent *de) {
        return de->d_name[0] != '.' && de->d_type == DT_DIR;
}

/* The subdirectories of dir, sorted, each a case with its vpnpolicy.conf; at least min. */
static char **case_dirs(const char *dir, size_t min) {
        _cleanup_strv_free_ char **l = NULL;
        struct dirent **des;
        int n;

        n = scandir(dir, &des, dir_filter, alphasort);
        if (n < 0)
                fprintf(stderr, "%s: %m (set SOURCE_ROOT)\n", dir);
        ASSERT(n >= 0 && (size_t) n >= min);
        for (int i = 0; i < n; i++) {
                ASSERT(strv_extendf(&l, "%s/%s", dir, des[i]->d_name) == 0);
                free(des[i]);
        }
        free(des);
        return TAKE_PTR(l);
}

/* NAME.conf -> NAME.print; DIR/vpnpolicy.conf -> DIR.print. */
static void golden_path(const char *conf, char ret[static PATH_MAX + 16]) {
        size_t n = strlen(conf);
        const char *tail = "/vpnpolicy.conf";

        if (n > strlen(tail) && streq(conf + n - strlen(tail), tail))
                n -= strlen(tail);
        else
                n -= strlen(".conf");
        snprintf(ret, PATH_MAX + 16, "%.*s.print", (int) n, conf);
}

/* Every good config round-trips and prints exactly its golden NAME.print: for the configurations of one
 * policy and gateway (01-06) those are what --print gave before there were several, unchanged. */
static void test_round_trip(void) {
        _cleanup_strv_free_ char **files = NULL, **dirs = NULL;
        _cleanup_(config_freep) Config *a = NULL, *b = NULL;
        char dir[PATH_MAX], golden[PATH_MAX + 16];

        setup();
        snprintf(dir, sizeof(dir), "%s/tests/unit/good-configs", source_root());
        files = corpus(dir, 9);
        STRV_FOREACH(f, files) {
                golden_path(*f, golden);
                check_round_trip(*f, golden);
        }

        /* With policies.d and drop-ins, printed into one file. */
        snprintf(dir, sizeof(dir), "%s/tests/unit/good-configs/dirs", source_root());
        dirs = case_dirs(dir, 1);
        STRV_FOREACH(d, dirs) {
                char path[PATH_MAX + 32];

                snprintf(path, sizeof(path), "%s/vpnpolicy.conf", *d);
                golden_path(path, golden);
                check_round_trip(path, golden);
        }

        /* The shipped example is valid, round-trips, and is the seed 003 topology of 01-seed003.conf. */
        snprintf(dir, sizeof(dir), "%s/packaging/vpnpolicy.conf", source_root());
        snprintf(golden, sizeof(golden), "%s/tests/unit/good-configs/01-seed003.print", source_root());
        check_round_trip(dir, golden);
}

/* The .Bd -literal block after the first line of man that starts with marker, or NULL. */
static char *man_block(const char *man, const char *marker) {
        const char *m = strstr(man, marker), *b, *e;

        if (!m)
                return NULL;
        b = strstr(m, ".Bd -literal -offset indent\n");
        if (!b)
                return NULL;
        b += strlen(".Bd -literal -offset indent\n");
        e = strstr(b, ".Ed\n");
        return e ? strndup(b, (size_t) (e - b)) : NULL;
}

/* good-configs/dirs/staff-guest is the two-profile example of vpnpolicy.conf(5) as it stands there (so it
 * loads, round-trips and prints what staff-guest.print shows): the files, but for their comment lines. */
static void test_man_example(void) {
        static const struct {
                const char *marker, *file;
        } parts[] = {
                { ".Pa /etc/vpnpolicy/vpnpolicy.conf :\n", "vpnpolicy.conf" },
                { ".Pa /etc/vpnpolicy/policies.d/guest.conf :\n", "policies.d/guest.conf" },
                { ".Pa /etc/vpnpolicy/vpnpolicy.conf.d/50-maintenance.conf\n",
                  "vpnpolicy.conf.d/50-maintenance.conf" },
        };
        _cleanup_(freep) char *man = NULL;
        char path[PATH_MAX + 128];

        snprintf(path, sizeof(path), "%s/docs/vpnpolicy.conf.5", source_root());
        man = read_text(path);
        ASSERT(man);
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                _cleanup_(freep) char *block = man_block(man, parts[i].marker), *file = NULL;
                const char *body;

                snprintf(path, sizeof(path), "%s/tests/unit/good-configs/dirs/staff-guest/%s", source_root(),
                         parts[i].file);
                file = read_text(path);
                ASSERT(block && file);
                for (body = file; *body == '#';)
                        body = strchr(body, '\n') + 1;
                if (!streq(block, body)) {
                        fprintf(stderr, "--- vpnpolicy.conf(5)\n%s--- %s\n%s", block, path, body);
                        ASSERT(false);
                }
        }
}

/* config_equal() sees a difference in any field. */
static void test_equal(void) {
        _cleanup_(config_freep) Config *a = NULL, *b = NULL;
        _cleanup_(freep) char *text = NULL;
        char path[PATH_MAX + 64];
        PolicyConfig *p;
        GatewayConfig *g;

        setup();
        a = load_ok(MINIMAL);
        b = load_ok(MINIMAL);
        ASSERT(config_equal(a, b));
        b->fail_closed = false;
        ASSERT(!config_equal(a, b));
        b->fail_closed = true;
        b->policies[0].pools[1].prefixlen = 65;
        ASSERT(!config_equal(a, b));
        b->policies[0].pools[1].prefixlen = 64;
        b->policies[0].gateways[0].device[0] = '\0';
        ASSERT(!config_equal(a, b));
        strcpy(b->policies[0].gateways[0].device, "eth1");
        b->policies[0].gateways[0].has_ipv6 = false;
        ASSERT(!config_equal(a, b));
        a = config_free(a);
        b = config_free(b);

        snprintf(path, sizeof(path), "%s/tests/unit/good-configs/07-two-policies.conf", source_root());
        text = read_text(path);
        ASSERT(text);
        a = load_ok(text);
        b = load_ok(text);
        ASSERT(config_equal(a, b));
        p = &b->policies[1];
        g = &b->policies[0].gateways[1];
#define FLIP(field, v)                                          \
        do {                                                    \
                __typeof__(field) _saved = (field);             \
                (field) = (v);                                  \
                ASSERT(!config_equal(a, b));                    \
                (field) = _saved;                               \
                ASSERT(config_equal(a, b));                     \
        } while (0)
        FLIP(p->table_id, 999);
        FLIP(p->priority, 999);
        FLIP(p->preempt, false);
        FLIP(p->preempt_hold_usec, 1);
        FLIP(p->n_pools, 1);
        FLIP(p->name[0], 'x');
        FLIP(p->table_name[0], 'x');
        FLIP(g->name[0], 'x');
        FLIP(g->priority, 1);
        FLIP(g->ipv4.bytes[3], 9);
        FLIP(g->probe.enabled, false);
        FLIP(g->probe.interval_usec, 1);
        FLIP(g->probe.timeout_usec, 1);
        FLIP(g->probe.fall, 1);
        FLIP(g->probe.rise, 1);
        FLIP(g->probe.loss_max_percent, 1);
        FLIP(g->probe.rtt_max_usec, 1);
        FLIP(b->policies[0].gateways[0].probe.target6.bytes[15], 9);
        FLIP(b->policies[0].gateways[0].probe.has_target4, false);
        FLIP(b->policies[0].n_gateways, 1);
        FLIP(b->n_policies, 1);
#undef FLIP
}

/* Each file starts with "# expect: LINE: TEXT": rejected with an error "FILE:LINE: ...TEXT...", or for
 * LINE "-", "FILE: ...TEXT...". The iproute2/ directory beside them holds the rt_tables they clash with. */
static void test_bad_corpus(void) {
        _cleanup_strv_free_ char **files = NULL;
        char dir[PATH_MAX], iproute2[PATH_MAX + 16];
        size_t n = 0;

        snprintf(dir, sizeof(dir), "%s/tests/unit/bad-configs", source_root());
        if (getenv("CORPUS"))
                snprintf(dir, sizeof(dir), "%s", getenv("CORPUS"));
        snprintf(iproute2, sizeof(iproute2), "%s/iproute2", dir);
        files = corpus(dir, 40);

        STRV_FOREACH(f, files) {
                _cleanup_strv_free_ char **errors = NULL;
                char first[512], what[512], line[16];
                Config *c = NULL;
                FILE *in;

                in = fopen(*f, "re");
                ASSERT(in && fgets(first, sizeof(first), in));
                fclose(in);
                first[strcspn(first, "\n")] = '\0';
                if (sscanf(first, "# expect: %15[-0-9]: %511[^\n]", line, what) != 2) {
                        fprintf(stderr, "%s: bad first line \"%s\"\n", *f, first);
                        ASSERT(false);
                }

                ASSERT(load_path(*f, iproute2, &c, &errors) < 0);
                ASSERT(!c);
                if (!has_error(errors, *f, streq(line, "-") ? 0 : (unsigned) atoi(line), what)) {
                        fprintf(stderr, "%s: not rejected as expected\n", *f);
                        ASSERT(false);
                }
                n++;
        }
        fprintf(stderr, "  %zu bad configs rejected as expected\n", n);
}

/* bad-configs/dirs/CASE/: a main file with policies.d/ and drop-ins beside it. Its first line is
 * "# expect: REL:LINE: TEXT": an error "CASE/REL:LINE: ...TEXT..." (LINE "-": none), where TEXT says "@/"
 * for "CASE/". */
static void test_bad_dirs(void) {
        _cleanup_strv_free_ char **dirs = NULL;
        char dir[PATH_MAX], iproute2[PATH_MAX + 16];

        snprintf(dir, sizeof(dir), "%s/tests/unit/bad-configs/dirs", source_root());
        snprintf(iproute2, sizeof(iproute2), "%s/tests/unit/bad-configs/iproute2", source_root());
        dirs = case_dirs(dir, 10);
        STRV_FOREACH(d, dirs) {
                _cleanup_strv_free_ char **errors = NULL;
                _cleanup_(freep) char *text = NULL, *what = NULL;
                char path[PATH_MAX + 32], file[PATH_MAX * 2], rel[256], line[16], raw[512];
                Config *c = NULL;

                snprintf(path, sizeof(path), "%s/vpnpolicy.conf", *d);
                text = read_text(path);
                ASSERT(text);
                if (sscanf(text, "# expect: %255[^:]:%15[-0-9]: %511[^\n]", rel, line, raw) != 3) {
                        fprintf(stderr, "%s: bad first line\n", path);
                        ASSERT(false);
                }
                what = strdup(raw);
                ASSERT(what);
                for (char *at; (at = strstr(what, "@/"));) {
                        char *t = NULL;

                        ASSERT(asprintf(&t, "%.*s%s/%s", (int) (at - what), what, *d, at + 2) >= 0);
                        free(what);
                        what = t;
                }
                snprintf(file, sizeof(file), "%s/%s", *d, rel);
                ASSERT(load_path(path, iproute2, &c, &errors) == -EINVAL);
                ASSERT(!c);
                if (!has_error(errors, file, streq(line, "-") ? 0 : (unsigned) atoi(line), what)) {
                        fprintf(stderr, "%s: not rejected as expected\n", *d);
                        ASSERT(false);
                }
        }
        fprintf(stderr, "  %zu bad configuration directories rejected as expected\n", strv_length(dirs));
}

int main(void) {
        RUN(test_defaults);
        RUN(test_values_valid);
        RUN(test_errors);
        RUN(test_errors_collected);
        RUN(test_line_too_long);
        RUN(test_nul_byte);
        RUN(test_missing_files);
        RUN(test_dropins);
        RUN(test_dropin_errors);
        RUN(test_not_regular);
        RUN(test_size_limit);
        RUN(test_overlaps);
        RUN(test_many_pools);
        RUN(test_empty_resets);
        RUN(test_match);
        RUN(test_rt_tables_clash);
        RUN(test_main_policy);
        RUN(test_policies);
        RUN(test_policy_files);
        RUN(test_policy_file_fifo);
        RUN(test_policy_errors);
        RUN(test_round_trip);
        RUN(test_equal);
        RUN(test_man_example);
        RUN(test_bad_corpus);
        RUN(test_bad_dirs);
        TESTS_DONE();
}
