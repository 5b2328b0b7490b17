/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf-files.h"
#include "config.h"
#include "fs-util.h"
#include "parse-util.h"
#include "rt-files.h"
#include "strv.h"

/* The first line of every file we write; a file without it is not ours and is never overwritten. */
#define RT_FILES_HEADER "# Managed by vpnpolicyd: rewritten on start, removed on purge. Do not edit.\n"

/* Far more than our lines (one per policy in rt_tables.d): a larger file is not ours. */
#define RT_FILES_MAX_SIZE (64 * 1024)

RtNameEntry *rt_name_entry_free(RtNameEntry *e) {
        if (!e)
                return NULL;
        free(e->name);
        free(e->path);
        free(e);
        return NULL;
}

/* sscanf()'s "%s" after a number: optional white space, then everything up to the next white space. */
static bool scan_name(char *p, char **ret) {
        char *end;

        while (isspace((unsigned char) *p))
                p++;
        if (*p == '\0')
                return false;
        for (end = p; *end && !isspace((unsigned char) *end); end++)
                ;
        *end = '\0';
        *ret = p;
        return true;
}

/* sscanf(p, "0x%x %s") and, when that does not give both, sscanf(p, "%d %s"): scanf's %x and %d take what
 * strtoul() and strtol() take (C11 7.21.6.2). Values iproute2 cannot hold in a non-negative int come back
 * as -1. */
static bool scan_id_name(char *p, long long *ret_id, char **ret_name) {
        char *end;
        long long v;

        if (p[0] == '0' && p[1] == 'x') {
                unsigned long long u;

                errno = 0;
                u = strtoull(p + 2, &end, 16);
                if (end != p + 2 && scan_name(end, ret_name)) {
                        *ret_id = errno != 0 || u > INT32_MAX ? -1 : (long long) u;
                        return true;
                }
        }
        errno = 0;
        v = strtoll(p, &end, 10);
        if (end == p || !scan_name(end, ret_name))
                return false;
        *ret_id = errno != 0 || v < 0 || v > INT32_MAX ? -1 : v;
        return true;
}

int rt_name_line_parse(char *line, uint32_t *ret_id, char **ret_name) {
        char *p = line + strspn(line, " \t"), *name;
        long long id;

        if (IN_SET(*p, '#', '\n', '\0'))
                return 0;
        if (!scan_id_name(p, &id, &name))
                return -EBADMSG;
        if (id < 0)
                return 0;       /* iproute2 skips negative ids; a larger one would wrap around in its int */
        *ret_id = (uint32_t) id;
        *ret_name = name;
        return 1;
}

/* Name maps are small; a larger file is refused rather than read into memory. */
#define RT_NAMES_FILE_MAX (1024U * 1024U)

/* Only a regular file, opened non-blocking: a FIFO dropped into rt_tables.d must not hang the agent or
 * the CLI (iproute2 would block on it). A directory named NAME.conf is read as empty, as iproute2's
 * fgets() reads nothing from it. Lines end at '\n' only; a line longer than iproute2's 512-byte fgets()
 * buffer is read whole, where iproute2 would read its pieces as lines of their own. */
static int names_read_file(const char *path, rt_name_cb_t cb, void *userdata) {
        _cleanup_(freep) char *text = NULL;
        size_t size;
        unsigned line = 0;
        int r;

        r = read_file_regular(path, RT_NAMES_FILE_MAX, &text, &size);
        if (IN_SET(r, -ENOENT, -EISDIR))
                return 0;
        if (r < 0)
                return r;
        for (char *p = text, *end = text + size; p < end;) {
                char *nl = memchr(p, '\n', (size_t) (end - p)), *name;
                uint32_t id;

                if (nl)
                        *nl = '\0';
                line++;
                /* An embedded NUL ends the line for us as it ends sscanf()'s input for iproute2. */
                r = rt_name_line_parse(p, &id, &name);
                if (r == -EBADMSG)
                        break;  /* iproute2 says "Database ... is corrupted" and reads no further */
                if (r > 0) {
                        r = cb(path, line, id, name, userdata);
                        if (r < 0)
                                return r;
                }
                p = nl ? nl + 1 : end;
        }
        return 0;
}

int rt_names_foreach(const char *dir, const char *map, bool skip_ours, rt_name_cb_t cb, void *userdata) {
        _cleanup_(freep) char *file = NULL, *dropins = NULL;
        _cleanup_strv_free_ char **names = NULL;
        int r;

        assert(dir);
        assert(map);
        assert(cb);

        if (asprintf(&file, "%s/%s", dir, map) < 0 || asprintf(&dropins, "%s/%s.d", dir, map) < 0)
                return -ENOMEM;
        r = names_read_file(file, cb, userdata);
        if (r < 0)
                return r;
        r = conf_files_list(dropins, &names);
        if (r < 0 && r != -ENOTDIR)     /* iproute2 reads no directory there, and says nothing */
                return r;
        STRV_FOREACH(n, names) {
                _cleanup_(freep) char *path = NULL;

                if (skip_ours && streq(*n, RT_FILES_OURS))
                        continue;
                if (asprintf(&path, "%s/%s", dropins, *n) < 0)
                        return -ENOMEM;
                r = names_read_file(path, cb, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int rt_name_entry_new(const char *path, unsigned line, uint32_t id, const char *name,
                             RtNameEntry **ret) {
        _cleanup_(rt_name_entry_freep) RtNameEntry *e = NULL;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->id = id;
        e->line = line;
        e->name = strdup(name);
        e->path = strdup(path);
        if (!e->name || !e->path)
                return -ENOMEM;

        *ret = TAKE_PTR(e);
        return 0;
}

typedef struct ClashSearch {
        uint32_t id;
        const char *name;
        RtNameEntry *by_id;
        RtNameEntry *by_name;
} ClashSearch;

static int clash_check_entry(const char *path, unsigned line, uint32_t id, const char *name,
                             void *userdata) {
        ClashSearch *s = userdata;
        bool same_name = streq(name, s->name);

        if (id == s->id && !same_name && !s->by_id)
                return rt_name_entry_new(path, line, id, name, &s->by_id);
        if (id != s->id && same_name && !s->by_name)
                return rt_name_entry_new(path, line, id, name, &s->by_name);
        return 0;
}

int rt_names_find_clash(const char *dir, const char *map, uint32_t id, const char *name,
                        RtNameEntry **ret_by_id, RtNameEntry **ret_by_name) {
        ClashSearch s = { .id = id, .name = name };
        int r;

        assert(name);

        r = rt_names_foreach(dir, map, true, clash_check_entry, &s);
        if (r < 0) {
                rt_name_entry_free(s.by_id);
                rt_name_entry_free(s.by_name);
                return r;
        }

        r = s.by_id || s.by_name;
        if (ret_by_id)
                *ret_by_id = s.by_id;
        else
                rt_name_entry_free(s.by_id);
        if (ret_by_name)
                *ret_by_name = s.by_name;
        else
                rt_name_entry_free(s.by_name);
        return r;
}

/* Our file, or what sits in its place: a regular file of at most RT_FILES_MAX_SIZE bytes. Anything else
 * (larger, a directory, a FIFO) is not ours: -EEXIST. */
static int read_ours(const char *path, char **ret) {
        int r = read_file_regular(path, RT_FILES_MAX_SIZE, ret, NULL);

        return IN_SET(r, -EFBIG, -EISDIR, -EBADFD) ? -EEXIST : r;
}

static bool content_is_ours(const char *content) {
        return strncmp(content, RT_FILES_HEADER, strlen(RT_FILES_HEADER)) == 0;
}

static int fsync_path(const char *path) {
        _cleanup_(closep) int fd = -EBADF;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return negative_errno();
        return 0;
}

/* Readers see the old file or the new one, never a partial one, even after a crash: the data is synced
 * before the rename, the directory after it. The temporary name starts with '.' and does not end in
 * ".conf", so iproute2 never reads it. */
static int write_atomic(const char *dir, const char *name, const char *content) {
        _cleanup_(freep) char *tmp = NULL, *path = NULL;
        _cleanup_(closep) int fd = -EBADF;
        int r = 0;

        if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0 || asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();

        /* mkostemp() creates the file 0600; `ip` run by users must read it. */
        if (fchmod(fd, 0644) < 0)
                r = negative_errno();
        if (r >= 0)
                r = write_all(fd, content, strlen(content));
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = negative_errno();
        if (r >= 0 && rename(tmp, path) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        return fsync_path(dir);
}

static int mkdir_0755(const char *path) {
        if (mkdir(path, 0755) < 0)
                return errno == EEXIST ? 0 : negative_errno();
        /* mkdir() applies the umask; a 077 umask would hide our names from users running `ip`. */
        if (chmod(path, 0755) < 0)
                return negative_errno();
        return 0;
}

static int install_one(const char *dir, const char *map, const char *content) {
        _cleanup_(freep) char *ddir = NULL, *path = NULL, *old = NULL;
        int r;

        if (asprintf(&ddir, "%s/%s.d", dir, map) < 0 || asprintf(&path, "%s/%s", ddir, RT_FILES_OURS) < 0)
                return -ENOMEM;

        r = mkdir_0755(ddir);
        if (r < 0)
                return r;

        r = read_ours(path, &old);
        if (r < 0 && r != -ENOENT)
                return r;
        if (old && streq(old, content))
                return 0;
        if (old && !content_is_ours(old))
                return -EEXIST;

        r = write_atomic(ddir, RT_FILES_OURS, content);
        if (r < 0)
                return r;
        return 1;
}

/* Our header, then "ID\tNAME" per entry. */
static int content_build(const RtTableName *names, size_t n, char **ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        fputs(RT_FILES_HEADER, f);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%" PRIu32 "\t%s\n", names[i].id, names[i].name);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int names_check(const char *dir, const char *map, const RtTableName *names, size_t n) {
        int r;

        for (size_t i = 0; i < n; i++) {
                if (!rt_name_valid(names[i].name))
                        return -EINVAL;
                r = rt_names_find_clash(dir, map, names[i].id, names[i].name, NULL, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        return -EEXIST;
        }
        return 0;
}

int rt_files_install(const char *dir, const RtTableName *tables, size_t n_tables, uint32_t proto_id,
                     const char *proto_name) {
        _cleanup_(freep) char *table_content = NULL, *proto_content = NULL;
        const RtTableName proto = { proto_id, proto_name };
        int r, written;

        assert(dir);
        assert(tables || n_tables == 0);

        r = names_check(dir, "rt_tables", tables, n_tables);
        if (r >= 0)
                r = names_check(dir, "rt_protos", &proto, 1);
        if (r >= 0)
                r = content_build(tables, n_tables, &table_content);
        if (r >= 0)
                r = content_build(&proto, 1, &proto_content);
        if (r < 0)
                return r;

        r = install_one(dir, "rt_tables", table_content);
        if (r < 0)
                return r;
        written = r;
        r = install_one(dir, "rt_protos", proto_content);
        if (r < 0)
                return r;
        return written || r;
}

int rt_files_install_policies(const char *dir, const Config *c) {
        _cleanup_(freep) RtTableName *names = NULL;

        assert(c);

        names = calloc(c->n_policies, sizeof(RtTableName));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_policies; i++)
                names[i] = (RtTableName) { c->policies[i].table_id, c->policies[i].table_name };
        return rt_files_install(dir, names, c->n_policies, VPNPOLICY_PROTO, VPNPOLICY_PROTO_NAME);
}

static int remove_one(const char *dir, const char *map) {
        _cleanup_(freep) char *path = NULL, *old = NULL;
        int r;

        if (asprintf(&path, "%s/%s.d/%s", dir, map, RT_FILES_OURS) < 0)
                return -ENOMEM;

        r = read_ours(path, &old);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!content_is_ours(old))
                return -EEXIST;

        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 0;
}

int rt_files_our_tables(const char *dir, void (*cb)(uint32_t id, void *userdata), void *userdata) {
        _cleanup_(freep) char *path = NULL, *content = NULL;
        char *line, *save = NULL, *name;
        uint32_t id;
        int r, n = 0;

        if (asprintf(&path, "%s/rt_tables.d/%s", dir, RT_FILES_OURS) < 0)
                return -ENOMEM;
        r = read_ours(path, &content);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!content_is_ours(content))
                return 0;
        for (line = strtok_r(content, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (rt_name_line_parse(line, &id, &name) > 0) {
                        cb(id, userdata);
                        n++;
                }
        return n;
}

int rt_files_remove(const char *dir) {
        int r, k;

        assert(dir);

        r = remove_one(dir, "rt_tables");
        k = remove_one(dir, "rt_protos");
        return r < 0 ? r : k;
}
