/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * notify-wait: the receiving end of the sd_notify protocol, for tests.
 *
 * Binds an AF_UNIX datagram socket at PATH (or "@name" for the abstract namespace, which is per network
 * namespace, so tests use paths), prints every line of every datagram as "SECONDS.MICROS LINE" (CLOCK_REALTIME,
 * so it compares with bash's $EPOCHREALTIME), and exits:
 *   0  when a line equals the --until text (default "READY=1"),
 *   1  on timeout (--timeout-ms, default 10000; 0 waits forever),
 *   2  on a usage or system error.
 * With --keep it does not stop at the match but goes on printing (WATCHDOG=1, RELOADING=1, STOPPING=1...)
 * until the timeout or SIGTERM/SIGINT; it then exits 0 if the --until text was seen, else 1.
 *
 * The protocol (sd_notify(3)): each datagram is a block of newline-separated KEY=VALUE lines; a sender
 * may attach SCM_CREDENTIALS or SCM_RIGHTS, so received descriptors are closed.
 * The socket file is removed on every exit, so a finished run leaves nothing behind.
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* sd_notify datagrams are small, but STATUS= may carry a long text: the kernel's limit for one AF_UNIX
 * datagram is the socket buffer, so take up to 64 KiB and say so when a datagram was cut. */
#define DATAGRAM_MAX (64 * 1024)

typedef struct Args {
        const char *path;
        const char *until;
        uint64_t timeout_ms;
        bool keep;
} Args;

static void help(void) {
        printf("Usage: notify-wait [OPTIONS] SOCKET\n"
               "Receive sd_notify datagrams at SOCKET (a path, or @name for an abstract socket),\n"
               "print each line with a timestamp, and exit when a line equals the --until text.\n\n"
               "  --until TEXT       line to wait for (default READY=1)\n"
               "  --timeout-ms MS    give up after MS milliseconds, exit 1 (default 10000; 0 = never)\n"
               "  --keep             keep printing after the match, until timeout or SIGTERM;\n"
               "                     exit 0 if the match was seen (default timeout then: never)\n"
               "  -h --help          this text\n");
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_args(int argc, char *argv[], Args *ret) {
        enum { ARG_UNTIL = 0x100, ARG_TIMEOUT, ARG_KEEP };
        static const struct option options[] = {
                { "until",      required_argument, NULL, ARG_UNTIL   },
                { "timeout-ms", required_argument, NULL, ARG_TIMEOUT },
                { "keep",       no_argument,       NULL, ARG_KEEP    },
                { "help",       no_argument,       NULL, 'h'         },
                {}
        };
        Args a = { .until = "READY=1", .timeout_ms = UINT64_MAX };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_UNTIL:
                        a.until = optarg;
                        break;
                case ARG_TIMEOUT:
                        if (parse_u64(optarg, &a.timeout_ms) < 0) {
                                fprintf(stderr, "notify-wait: bad --timeout-ms value: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_KEEP:
                        a.keep = true;
                        break;
                case 'h':
                        help();
                        exit(EXIT_SUCCESS);
                default:
                        return -EINVAL;
                }

        if (optind != argc - 1) {
                fprintf(stderr, "notify-wait: expected exactly one SOCKET argument, see --help\n");
                return -EINVAL;
        }
        a.path = argv[optind];
        if (a.timeout_ms == UINT64_MAX)
                a.timeout_ms = a.keep ? 0 : 10000;
        *ret = a;
        return 0;
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Fills *ret_sa; returns the address length for bind(), or -errno. */
static int sockaddr_from_path(const char *path, struct sockaddr_un *ret_sa) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, n);
        if (path[0] == '@')
                sa.sun_path[0] = '\0'; /* abstract: no trailing NUL counted, see unix(7) */
        *ret_sa = sa;
        return (int) (offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
}

static int socket_open(const char *path) {
        struct sockaddr_un sa;
        struct stat st;
        int fd, len;

        len = sockaddr_from_path(path, &sa);
        if (len < 0)
                return len;

        /* A stale socket from a killed run would make bind() fail with EADDRINUSE; remove it, but never
         * anything that is not a socket. */
        if (path[0] != '@' && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                (void) unlink(path);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, (socklen_t) len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int signalfd_open(void) {
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

/* Closes descriptors a sender may have attached (sd_pid_notify_with_fds()), so none leak into us. */
static void close_passed_fds(struct msghdr *mh) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *fds = (int *) (void *) CMSG_DATA(c);
                for (size_t i = 0; i < n; i++)
                        close(fds[i]);
        }
}

/* Prints the lines of one datagram; returns true if one of them equals until. */
static bool print_datagram(char *buf, size_t len, bool truncated, const char *until) {
        uint64_t t = now_usec(CLOCK_REALTIME);
        bool match = false;
        char *line = buf, *nl;

        buf[len] = '\0';
        for (; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl = '\0';
                if (*line == '\0')
                        continue;
                printf("%llu.%06llu %s\n", (unsigned long long) (t / 1000000),
                       (unsigned long long) (t % 1000000), line);
                if (until && strcmp(line, until) == 0)
                        match = true;
        }
        if (truncated)
                printf("%llu.%06llu (datagram truncated at %d bytes)\n", (unsigned long long) (t / 1000000),
                       (unsigned long long) (t % 1000000), DATAGRAM_MAX);
        fflush(stdout);
        return match;
}

/* Drains the socket; returns 1 if the until text was seen, 0 if not, -errno on error. */
static int receive_all(int fd, char *buf, const char *until) {
        bool match = false;

        for (;;) {
                union {
                        struct cmsghdr cmsghdr;
                        uint8_t buf[CMSG_SPACE(sizeof(int) * 16) + CMSG_SPACE(sizeof(struct ucred))];
                } control;
                struct iovec iov = { .iov_base = buf, .iov_len = DATAGRAM_MAX };
                struct msghdr mh = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = &control,
                        .msg_controllen = sizeof(control),
                };
                ssize_t n;

                n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return match;
                        return -errno;
                }
                close_passed_fds(&mh);
                if (print_datagram(buf, (size_t) n > DATAGRAM_MAX ? DATAGRAM_MAX : (size_t) n, (size_t) n > DATAGRAM_MAX, until))
                        match = true;
        }
}

static int run(const Args *a, int fd, int sfd) {
        static char buf[DATAGRAM_MAX + 1];
        uint64_t deadline = a->timeout_ms ? now_usec(CLOCK_MONOTONIC) + a->timeout_ms * 1000 : 0;
        bool seen = false;

        for (;;) {
                struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
                int timeout = -1, r;

                if (deadline) {
                        uint64_t now = now_usec(CLOCK_MONOTONIC);
                        if (now >= deadline)
                                return seen ? 0 : 1;
                        timeout = (int) ((deadline - now + 999) / 1000);
                }
                r = poll(p, 2, timeout);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (p[0].revents) {
                        r = receive_all(fd, buf, a->until);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                seen = true;
                                if (!a->keep)
                                        return 0;
                        }
                }
                if (p[1].revents)
                        return seen ? 0 : 1;
        }
}

int main(int argc, char *argv[]) {
        Args a;
        int fd, sfd, r;

        if (parse_args(argc, argv, &a) < 0)
                return 2;

        sfd = signalfd_open();
        if (sfd < 0) {
                fprintf(stderr, "notify-wait: signalfd: %s\n", strerror(-sfd));
                return 2;
        }
        fd = socket_open(a.path);
        if (fd < 0) {
                fprintf(stderr, "notify-wait: cannot bind %s: %s\n", a.path, strerror(-fd));
                return 2;
        }

        r = run(&a, fd, sfd);
        if (a.path[0] != '@')
                (void) unlink(a.path);
        if (r < 0) {
                fprintf(stderr, "notify-wait: %s\n", strerror(-r));
                return 2;
        }
        return r;
}
