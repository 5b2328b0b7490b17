/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs-util.h"
#include "macro.h"
#include "parse-util.h"
#include "tables.h"

#define TABLES_FILE "tables"

int tables_save(const RecordTable *t, const char *dir) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        size_t size = 0;
        FILE *f;

        if (asprintf(&path, "%s/" TABLES_FILE, dir) < 0)
                return -ENOMEM;
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_tables; i++)
                fprintf(f, "%" PRIu32 "\n", t->tables[i]);
        if (fclose(f) != 0)
                return -ENOMEM;
        /* Never through a name someone planted: the temp file is made O_EXCL|O_NOFOLLOW. */
        return write_file_atomic_at(AT_FDCWD, path, text, size, 0644);
}

/* One table id per line; anything else is ignored (the file is ours, but never trusted). */
int tables_load(RecordTable *t, const char *dir) {
        _cleanup_(freep) char *path = NULL, *line = NULL;
        size_t size = 0;
        FILE *f;

        if (asprintf(&path, "%s/" TABLES_FILE, dir) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : negative_errno();
        while (getline(&line, &size, f) > 0) {
                uint32_t id;

                line[strcspn(line, "\n")] = 0;
                if (parse_u32(line, &id) >= 0 && id > 0 && (id < 253 || id > 255))
                        (void) records_add_table(t, id);
        }
        fclose(f);
        return 0;
}
