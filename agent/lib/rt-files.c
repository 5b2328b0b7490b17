/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "parse-util.h"
#include "rt-files.h"

/* The first line of every file we write; a file without it is not ours and is never overwritten. */
#define RT_FILES_HEADER "# Managed by vpnpolicyd: rewritten on start, removed on purge. Do not edit.\n"

/* Far more than our two lines: a larger file is not ours. */
#define RT_FILES_MAX_SIZE 4096

RtNameEntry *rt_name_entry_free(RtNameEntry *e) {
        if (!e)
                return NULL;
        free(e->name);
        free(e->path);
        free(e);
        return NULL;
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* Reads "ID NAME" the way iproute2's rtnl_tab_initialize() (lib/rt_names.c) does: sscanf() with "0x%x %s"
 * or "%d %s", anything after the name ignored. Returns 1 for an entry, 0 for a comment, blank or a line
 * iproute2 would reject. */
static int rt_line_parse(char *line, uint32_t *ret_id, char **ret_name) {
        unsigned long v;
        char *p = line, *end, *name;

        while (isspace((unsigned char) *p))
                p++;
        if (*p == '#' || *p == '\0')
                return 0;
        if (!isdigit((unsigned char) *p))
                return 0;

        errno = 0;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                v = strtoul(p + 2, &end, 16);
        else
                v = strtoul(p, &end, 10);
        if (errno != 0 || v > UINT32_MAX || end == p || !isspace((unsigned char) *end))
                return 0;

        name = end;
        while (isspace((unsigned char) *name))
                name++;
        if (*name == '\0')
                return 0;
        end = name;
        while (*end && !isspace((unsigned char) *end))
                end++;
        *end = '\0';

        *ret_id = (uint32_t) v;
        *ret_name = name;
        return 1;
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

static int clash_check_entry(ClashSearch *s, const char *path, unsigned line, uint32_t id,
                             const char *name) {
        bool same_name = streq(name, s->name);

        if (id == s->id && !same_name && !s->by_id)
                return rt_name_entry_new(path, line, id, name, &s->by_id);
        if (id != s->id && same_name && !s->by_name)
                return rt_name_entry_new(path, line, id, name, &s->by_name);
        return 0;
}

static int clash_search_file(ClashSearch *s, const char *path) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        unsigned line = 0;

        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : negative_errno();

        while (getline(&buf, &size, f) >= 0) {
                uint32_t id;
                char *name;
                int r;

                line++;
                if (rt_line_parse(buf, &id, &name) <= 0)
                        continue;
                r = clash_check_entry(s, path, line, id, name);
                if (r < 0)
                        return r;
        }
        return ferror(f) ? -EIO : 0;
}

/* iproute2 reads the .d files in readdir() order; we sort them so the first clash reported is stable. */
static int conf_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf") &&
                !streq(de->d_name, RT_FILES_OURS);
}

static int name_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int clash_search_dir(ClashSearch *s, const char *dir) {
        struct dirent **des = NULL;
        int n, r = 0;

        n = scandir(dir, &des, conf_filter, name_compare);
        if (n < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : negative_errno();

        for (int i = 0; i < n; i++) {
                _cleanup_(freep) char *path = NULL;

                if (r >= 0) {
                        if (asprintf(&path, "%s/%s", dir, des[i]->d_name) < 0)
                                r = -ENOMEM;
                        else
                                r = clash_search_file(s, path);
                }
                free(des[i]);
        }
        free(des);
        return r;
}

int rt_names_find_clash(const char *dir, const char *map, uint32_t id, const char *name,
                        RtNameEntry **ret_by_id, RtNameEntry **ret_by_name) {
        _cleanup_(freep) char *file = NULL, *dropins = NULL;
        ClashSearch s = { .id = id, .name = name };
        int r;

        assert(dir);
        assert(map);
        assert(name);

        if (asprintf(&file, "%s/%s", dir, map) < 0 || asprintf(&dropins, "%s/%s.d", dir, map) < 0)
                return -ENOMEM;

        r = clash_search_file(&s, file);
        if (r >= 0)
                r = clash_search_dir(&s, dropins);
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

/* Reads a file of at most RT_FILES_MAX_SIZE bytes; a larger one is -EFBIG. */
static int read_small_file(const char *path, char **ret) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        buf = malloc(RT_FILES_MAX_SIZE + 1);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t k = read(fd, buf + n, RT_FILES_MAX_SIZE + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > RT_FILES_MAX_SIZE)
                        return -EFBIG;
        }
        buf[n] = '\0';

        *ret = TAKE_PTR(buf);
        return 0;
}

static bool content_is_ours(const char *content) {
        return strncmp(content, RT_FILES_HEADER, strlen(RT_FILES_HEADER)) == 0;
}

static int write_all(int fd, const char *s) {
        size_t n = strlen(s);

        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                s += k;
                n -= (size_t) k;
        }
        return 0;
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
                r = write_all(fd, content);
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

static int install_one(const char *dir, const char *map, uint32_t id, const char *name) {
        _cleanup_(freep) char *ddir = NULL, *path = NULL, *content = NULL, *old = NULL;
        int r;

        if (asprintf(&ddir, "%s/%s.d", dir, map) < 0 || asprintf(&path, "%s/%s", ddir, RT_FILES_OURS) < 0 ||
            asprintf(&content, RT_FILES_HEADER "%" PRIu32 "\t%s\n", id, name) < 0)
                return -ENOMEM;

        r = mkdir_0755(ddir);
        if (r < 0)
                return r;

        r = read_small_file(path, &old);
        if (r == -EFBIG)
                return -EEXIST;
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

int rt_files_install(const char *dir, uint32_t table_id, const char *table_name, uint32_t proto_id,
                     const char *proto_name) {
        int r, written;

        assert(dir);

        if (!rt_name_valid(table_name) || !rt_name_valid(proto_name))
                return -EINVAL;

        r = rt_names_find_clash(dir, "rt_tables", table_id, table_name, NULL, NULL);
        if (r < 0)
                return r;
        if (r > 0)
                return -EEXIST;
        r = rt_names_find_clash(dir, "rt_protos", proto_id, proto_name, NULL, NULL);
        if (r < 0)
                return r;
        if (r > 0)
                return -EEXIST;

        r = install_one(dir, "rt_tables", table_id, table_name);
        if (r < 0)
                return r;
        written = r;
        r = install_one(dir, "rt_protos", proto_id, proto_name);
        if (r < 0)
                return r;
        return written || r;
}

static int remove_one(const char *dir, const char *map) {
        _cleanup_(freep) char *path = NULL, *old = NULL;
        int r;

        if (asprintf(&path, "%s/%s.d/%s", dir, map, RT_FILES_OURS) < 0)
                return -ENOMEM;

        r = read_small_file(path, &old);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG || (r >= 0 && !content_is_ours(old)))
                return -EEXIST;
        if (r < 0)
                return r;

        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 0;
}

int rt_files_our_table(const char *dir, uint32_t *ret_id) {
        _cleanup_(freep) char *path = NULL, *content = NULL;
        char *line, *save = NULL, *name;
        uint32_t id;
        int r;

        if (asprintf(&path, "%s/rt_tables.d/%s", dir, RT_FILES_OURS) < 0)
                return -ENOMEM;
        r = read_small_file(path, &content);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!content_is_ours(content))
                return 0;
        for (line = strtok_r(content, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (rt_line_parse(line, &id, &name) > 0) {
                        *ret_id = id;
                        return 1;
                }
        return 0;
}

int rt_files_remove(const char *dir) {
        int r, k;

        assert(dir);

        r = remove_one(dir, "rt_tables");
        k = remove_one(dir, "rt_protos");
        return r < 0 ? r : k;
}
