/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>

#include "conf-files.h"
#include "strv.h"

static int conf_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf");
}

/* strcmp(), not alphasort(): the order must not depend on the locale. */
static int conf_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int conf_files_list(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **names = NULL;
        struct dirent **des = NULL;
        int n, r = 0;

        n = scandir(dir, &des, conf_filter, conf_compare);
        if (n < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                n = 0;
        }
        for (int i = 0; i < n; i++) {
                if (r >= 0)
                        r = strv_extend(&names, des[i]->d_name);
                free(des[i]);
        }
        free(des);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(names);
        return 0;
}
