/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rt-files.c against a scratch iproute2 directory: clash lookup, atomic install, idempotence, refusal
 * of clashes and of foreign files, removal. */

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "macro.h"
#include "rt-files.h"
#include "tests.h"

static char dir[PATH_MAX];

/* A fresh scratch directory for each test, with an empty iproute2 directory DIR in it. */
static void setup(void) {
        snprintf(dir, sizeof(dir), "%s/iproute2", tests_tmpdir());
        ASSERT(mkdir(dir, 0755) == 0);
}

/* DIR/name, in a buffer the next call overwrites. */
static const char *at(const char *name) {
        static char path[PATH_MAX * 2];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return path;
}

static void write_at(const char *name, const char *content) {
        FILE *f = fopen(at(name), "we");

        ASSERT(f && fputs(content, f) >= 0 && fclose(f) == 0);
}

static void mkdir_at(const char *name) {
        ASSERT(mkdir(at(name), 0755) == 0);
}

/* The content of DIR/name, or NULL if it does not exist. */
static char *read_at(const char *name, struct stat *ret_st) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = fopen(at(name), "re");
        if (!f)
                return NULL;
        ASSERT(getdelim(&buf, &size, '\0', f) >= 0);
        if (ret_st)
                ASSERT(fstat(fileno(f), ret_st) == 0);
        fclose(f);
        return buf;
}

static bool exists_at(const char *name) {
        return access(at(name), F_OK) == 0;
}

/* Entries of DIR/name besides "." and "..". */
static size_t count_entries(const char *name) {
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        d = opendir(at(name));
        ASSERT(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_find_clash(void) {
        RtNameEntry *by_id = NULL, *by_name = NULL;

        setup();
        /* Nothing there at all: no clash. */
        ASSERT(rt_names_find_clash(dir, "rt_tables", 200, "vpn", &by_id, &by_name) == 0);
        ASSERT(!by_id && !by_name);

        write_at("rt_tables", "255\tlocal\n254\tmain\n# 200 commented\n\t0xC8 hexname # trailing\n"
                              "-200 negative\n201\tvpn\n");
        mkdir_at("rt_tables.d");
        write_at("rt_tables.d/vpnpolicy.conf", "200 ours_is_skipped\n");
        write_at("rt_tables.d/.hidden.conf", "200 hidden\n");
        write_at("rt_tables.d/b.conf.bak", "200 notconf\n");

        ASSERT(rt_names_find_clash(dir, "rt_tables", 200, "vpn", &by_id, &by_name) == 1);
        ASSERT(by_id && by_id->id == 200 && streq(by_id->name, "hexname") && by_id->line == 4);
        ASSERT_STREQ(by_id->path, at("rt_tables"));
        ASSERT(by_name && by_name->id == 201 && by_name->line == 6);
        by_id = rt_name_entry_free(by_id);
        by_name = rt_name_entry_free(by_name);

        /* Same id and name: ours, not a clash. */
        ASSERT(rt_names_find_clash(dir, "rt_tables", 201, "vpn", &by_id, &by_name) == 0);
        ASSERT(!by_id && !by_name);

        /* From a drop-in, in sorted order: a.conf before c.conf. */
        write_at("rt_tables.d/c.conf", "77 late\n");
        write_at("rt_tables.d/a.conf", "# first\n77 early\n");
        ASSERT(rt_names_find_clash(dir, "rt_tables", 77, "mine", &by_id, NULL) == 1);
        ASSERT(by_id && streq(by_id->name, "early") && by_id->line == 2);
        ASSERT_STREQ(by_id->path, at("rt_tables.d/a.conf"));
        rt_name_entry_free(by_id);
        ASSERT(rt_names_find_clash(dir, "rt_tables", 78, "late", NULL, &by_name) == 1);
        ASSERT(by_name && by_name->id == 77);
        rt_name_entry_free(by_name);
}

static void test_line_parse(void) {
        static const struct {
                const char *line;
                int r;
                uint32_t id;
                const char *name;
        } cases[] = {
                /* What iproute2 6.1 makes of each line (checked with `ip rule add ... lookup NAME`). */
                { "200 vpn#x\n", 1, 200, "vpn#x" },            /* '#' does not end the name */
                { "200 vpn #x\n", 1, 200, "vpn" },
                { "  \t201\tb#\n", 1, 201, "b#" },
                { "0xcb c\n", 1, 203, "c" },
                { "0xC8 hexname # trailing", 1, 200, "hexname" },
                { "204x d\n", 1, 204, "x" },                   /* sscanf("%d %s"): the name starts at 'x' */
                { "0XCD e\n", 1, 0, "XCD" },                   /* not "0x": read as 0, then a name */
                { " 206 f g\n", 1, 206, "f" },
                { "+207 plus\n", 1, 207, "plus" },
                { "2147483647 max\n", 1, 2147483647, "max" },
                { "200 vpn\r\n", 1, 200, "vpn" },
                { "-5 negative\n", 0, 0, NULL },               /* skipped, not corrupt */
                { "2147483648 wraps\n", 0, 0, NULL },
                { "99999999999999999999 huge\n", 0, 0, NULL },
                { "# 200 comment\n", 0, 0, NULL },
                { "   \n", 0, 0, NULL },
                { "", 0, 0, NULL },
                { "junk 200\n", -EBADMSG, 0, NULL },            /* corrupt: iproute2 stops reading the file */
                { "200\n", -EBADMSG, 0, NULL },
                { "200 \t \n", -EBADMSG, 0, NULL },
                { "\r\n", -EBADMSG, 0, NULL },
                { "\v200 vt\n", 1, 200, "vt" },                 /* only ' ' and '\t' are skipped first, but
                                                                 * strtol() skips the rest */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *line = strdup(cases[i].line);
                uint32_t id = 0;
                char *name = NULL;

                ASSERT(line);
                ASSERT_INT(rt_name_line_parse(line, &id, &name), cases[i].r);
                if (cases[i].r <= 0)
                        continue;
                ASSERT_INT(id, cases[i].id);
                ASSERT_STREQ(name, cases[i].name);
        }
}

typedef struct Seen {
        char names[8][32];
        uint32_t ids[8];
        size_t n;
} Seen;

static int on_name(const char *path, unsigned line, uint32_t id, const char *name, void *userdata) {
        Seen *s = userdata;

        ASSERT(s->n < ELEMENTSOF(s->names));
        snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", name);
        s->ids[s->n++] = id;
        return 0;
}

/* The one reader the agent's clash check and the CLI's table names both use. */
static void test_foreach(void) {
        RtNameEntry *by_id = NULL;
        Seen seen = {};

        setup();
        write_at("rt_tables", "200 vpn#x\n201 b\ncorrupt line\n202 after_corrupt\n");
        mkdir_at("rt_tables.d");
        write_at("rt_tables.d/z.conf", "203 z\n");
        write_at("rt_tables.d/a.conf", "203 a\n");
        write_at("rt_tables.d/vpnpolicy.conf", "200 vpn\n");
        ASSERT(rt_names_foreach(dir, "rt_tables", false, on_name, &seen) == 0);
        ASSERT_INT(seen.n, 5);
        ASSERT(seen.ids[0] == 200 && streq(seen.names[0], "vpn#x"));
        ASSERT(seen.ids[1] == 201 && streq(seen.names[1], "b"));
        ASSERT(seen.ids[2] == 203 && streq(seen.names[2], "a"));
        ASSERT(streq(seen.names[3], "vpn") && streq(seen.names[4], "z"));

        seen = (Seen) {};
        ASSERT(rt_names_foreach(dir, "rt_tables", true, on_name, &seen) == 0);
        ASSERT_INT(seen.n, 4);

        /* "200 vpn#x" gives table 200 another name than "vpn": a clash, as `ip` would show it. */
        ASSERT(rt_names_find_clash(dir, "rt_tables", 200, "vpn", &by_id, NULL) == 1);
        ASSERT(by_id && streq(by_id->name, "vpn#x") && by_id->line == 1);
        rt_name_entry_free(by_id);
        /* After the corrupt line iproute2 reads nothing: 202 is free. */
        ASSERT(rt_names_find_clash(dir, "rt_tables", 202, "mine", NULL, NULL) == 0);

        /* A FIFO dropped into the .d directory is refused, never opened for a blocking read; a directory
         * named NAME.conf reads as empty, as it does for iproute2. */
        setup();
        mkdir_at("rt_tables.d");
        mkdir_at("rt_tables.d/dir.conf");
        write_at("rt_tables.d/z.conf", "200 z\n");
        seen = (Seen) {};
        ASSERT(rt_names_foreach(dir, "rt_tables", false, on_name, &seen) == 0);
        ASSERT(seen.n == 1 && streq(seen.names[0], "z"));
        ASSERT(mkfifo(at("rt_tables.d/fifo.conf"), 0644) == 0);
        ASSERT_INT(rt_names_foreach(dir, "rt_tables", false, on_name, &seen), -EBADFD);
        ASSERT_INT(rt_names_find_clash(dir, "rt_tables", 200, "vpn", NULL, NULL), -EBADFD);

        /* An embedded NUL ends its line, as it ends sscanf()'s input in iproute2. */
        setup();
        {
                static const char text[] = "201 a\0junk\n202 b\n";
                FILE *f = fopen(at("rt_tables"), "we");

                ASSERT(f && fwrite(text, 1, sizeof(text) - 1, f) == sizeof(text) - 1 && fclose(f) == 0);
        }
        seen = (Seen) {};
        ASSERT(rt_names_foreach(dir, "rt_tables", false, on_name, &seen) == 0);
        ASSERT(seen.n == 2 && streq(seen.names[0], "a") && seen.ids[1] == 202);

        /* A file where the directory should be is no directory to iproute2, not an error. */
        setup();
        write_at("rt_tables.d", "200 not-a-dir\n");
        ASSERT(rt_names_find_clash(dir, "rt_tables", 200, "vpn", NULL, NULL) == 0);
}

/* One table. */
static int install1(uint32_t id, const char *name, uint32_t proto_id, const char *proto_name) {
        const RtTableName t = { id, name };

        return rt_files_install(dir, &t, 1, proto_id, proto_name);
}

static void test_install(void) {
        struct stat st1, st2, st3, d;
        _cleanup_(freep) char *t = NULL, *p = NULL, *t2 = NULL;

        setup();
        write_at("rt_tables", "255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n");
        write_at("rt_protos", "0\tunspec\n2\tkernel\n4\tstatic\n186\tbgp\n");

        /* The .d directories are created, 0755 whatever the umask. */
        umask(077);
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == 1);
        umask(022);
        t = read_at("rt_tables.d/vpnpolicy.conf", &st1);
        p = read_at("rt_protos.d/vpnpolicy.conf", NULL);
        ASSERT(t && p);
        ASSERT(strncmp(t, "# Managed by vpnpolicyd", 23) == 0 && strstr(t, "\n200\tvpn\n"));
        ASSERT(strncmp(p, "# Managed by vpnpolicyd", 23) == 0 && strstr(p, "\n211\tvpnpolicy\n"));
        ASSERT((st1.st_mode & 07777) == 0644);
        ASSERT(stat(at("rt_protos.d"), &d) == 0 && (d.st_mode & 07777) == 0755);

        /* Unchanged: not rewritten, so the inode stays. */
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == 0);
        t2 = read_at("rt_tables.d/vpnpolicy.conf", &st2);
        ASSERT(st2.st_ino == st1.st_ino && st2.st_mtim.tv_nsec == st1.st_mtim.tv_nsec);

        /* Changed: replaced by a new file (rename), no temporary left behind. */
        ASSERT(install1(300, "vpn2", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == 1);
        free(t);
        t = read_at("rt_tables.d/vpnpolicy.conf", &st3);
        ASSERT(strstr(t, "\n300\tvpn2\n") && !strstr(t, "200"));
        ASSERT(st3.st_ino != st1.st_ino);
        ASSERT(count_entries("rt_tables.d") == 1 && count_entries("rt_protos.d") == 1);
}

/* Every policy's table, one line each; our own file read back names them all; one clash refuses all. */
static void count_table(uint32_t id, void *userdata) {
        uint32_t *sum = userdata;

        *sum += id;
}

static void test_install_tables(void) {
        const RtTableName t[] = { { 200, "staff" }, { 201, "guest" }, { 202, "lab" } };
        _cleanup_(freep) char *c = NULL;
        uint32_t sum = 0;

        setup();
        ASSERT(rt_files_install(dir, t, ELEMENTSOF(t), VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == 1);
        c = read_at("rt_tables.d/vpnpolicy.conf", NULL);
        ASSERT(c && strstr(c, "\n200\tstaff\n201\tguest\n202\tlab\n"));
        ASSERT(rt_files_our_tables(dir, count_table, &sum) == 3 && sum == 603);
        ASSERT(rt_files_install(dir, t, ELEMENTSOF(t), VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == 0);

        setup();
        write_at("rt_tables", "201 theirs\n");
        ASSERT(rt_files_install(dir, t, ELEMENTSOF(t), VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EEXIST);
        ASSERT(!exists_at("rt_tables.d/vpnpolicy.conf"));
        sum = 0;
        ASSERT(rt_files_our_tables(dir, count_table, &sum) == 0 && sum == 0);
}

static void test_install_refuses(void) {
        setup();
        write_at("rt_protos", "0\tunspec\n0xd3\tsomeone\n");
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EEXIST);
        ASSERT(!exists_at("rt_tables.d/vpnpolicy.conf"));

        setup();
        mkdir_at("rt_protos.d");
        write_at("rt_protos.d/frr.conf", "212 vpnpolicy\n");
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EEXIST);

        setup();
        write_at("rt_tables", "200 theirs\n");
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EEXIST);

        /* A file of our name that we did not write is left alone. */
        setup();
        mkdir_at("rt_tables.d");
        write_at("rt_tables.d/vpnpolicy.conf", "200 vpn\n");
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EEXIST);
        ASSERT(rt_files_remove(dir) == -EEXIST);
        ASSERT(exists_at("rt_tables.d/vpnpolicy.conf"));

        /* Nor is a FIFO or a directory in its place: refused without blocking, left alone. */
        setup();
        mkdir_at("rt_tables.d");
        ASSERT(mkfifo(at("rt_tables.d/vpnpolicy.conf"), 0644) == 0);
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EEXIST);
        ASSERT(rt_files_remove(dir) == -EEXIST);
        ASSERT(exists_at("rt_tables.d/vpnpolicy.conf"));
        setup();
        mkdir_at("rt_tables.d");
        mkdir_at("rt_tables.d/vpnpolicy.conf");
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EEXIST);

        /* Invalid names never reach a file. */
        setup();
        ASSERT(install1(200, "v p n", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == -EINVAL);
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, "") == -EINVAL);
}

static void test_remove(void) {
        setup();
        /* Nothing to remove is fine. */
        ASSERT(rt_files_remove(dir) == 0);

        write_at("rt_tables", "100 other\n");
        ASSERT(install1(200, "vpn", VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME) == 1);
        mkdir_at("rt_tables.d/keep");
        write_at("rt_tables.d/other.conf", "300 kept\n");
        ASSERT(rt_files_remove(dir) == 0);
        ASSERT(!exists_at("rt_tables.d/vpnpolicy.conf"));
        ASSERT(!exists_at("rt_protos.d/vpnpolicy.conf"));
        ASSERT(exists_at("rt_tables.d/other.conf"));
        ASSERT(rt_files_remove(dir) == 0);
}

int main(void) {
        RUN(test_line_parse);
        RUN(test_foreach);
        RUN(test_find_clash);
        RUN(test_install);
        RUN(test_install_tables);
        RUN(test_install_refuses);
        RUN(test_remove);
        TESTS_DONE();
}
