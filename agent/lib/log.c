/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool use_journal;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* stderr goes to the journal when $JOURNAL_STREAM names its device and inode (systemd.exec(5)). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(void) {
        use_journal = stderr_is_journal();
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_set_max_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0) {
                        max_level = (int) i;
                        return 0;
                }
        if (strcasecmp(s, "error") == 0) {
                max_level = LOG_ERR;
                return 0;
        }
        return -EINVAL;
}

static void log_to_journal(int level, const char *const *fields, const char *msg) {
        struct iovec iov[16];
        char message[2048 + 16], priority[16];
        size_t n = 0;

        snprintf(message, sizeof(message), "MESSAGE=%s", msg);
        snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
        iov[n++] = (struct iovec) { message, strlen(message) };
        iov[n++] = (struct iovec) { priority, strlen(priority) };
        iov[n++] = (struct iovec) { (char *) "SYSLOG_IDENTIFIER=vpnpolicyd", strlen("SYSLOG_IDENTIFIER=vpnpolicyd") };
        for (; fields && *fields && n < ELEMENTSOF(iov); fields++)
                iov[n++] = (struct iovec) { (void *) (uintptr_t) *fields, strlen(*fields) };
        (void) sd_journal_sendv(iov, (int) n);
}

int log_internal(int level, int error, const char *const *fields, const char *format, ...) {
        char msg[2048];
        int saved = errno;
        va_list ap;

        if (level > max_level)
                return error == 0 ? 0 : -abs(error);
        /* %m in the format means the error passed in, not whatever errno happens to be. */
        errno = abs(error);
        va_start(ap, format);
        vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        if (use_journal)
                log_to_journal(level, fields, msg);
        else
                fprintf(stderr, "%s: %s\n", level_names[level], msg);
        errno = saved;
        return error == 0 ? 0 : -abs(error);
}
