/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-exec: wall time of a program from exec to exit, as OpenVPN runs its `up` script (fork, execve
 * with only the variables OpenVPN sets, wait), for tests/bench/run.sh.
 *
 *   bench-exec [-n RUNS] [-p PREP] [-e NAME=VALUE]... -- PROG [ARG...]
 *       Before each run, PREP (if any) runs untimed through /bin/sh -c; then t0 (CLOCK_MONOTONIC), fork,
 *       execve(PROG, ARGS, the -e variables only), waitpid, t1. Prints "MICROSECONDS EXIT_STATUS" per run.
 *   bench-exec --stamp FILE -- PROG [ARG...]
 *       Writes CLOCK_REALTIME ("SECONDS.MICROS", as notify-wait prints it) to FILE, then execs PROG with
 *       the environment it got: the start of a daemon, to time start-to-READY without the cost of
 *       `ip netns exec`.
 * Exit status: 0, or 2 on usage and system errors (a failing PROG is reported, not an error).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "runs", required_argument, NULL, 'n' },
                { "prep", required_argument, NULL, 'p' },
                { "env", required_argument, NULL, 'e' },
                { "stamp", required_argument, NULL, 's' },
                {},
        };
        const char *prep = NULL, *stamp = NULL;
        char **envp = calloc((size_t) argc + 1, sizeof(char *));
        unsigned runs = 1;
        size_t nenv = 0;
        int c;

        if (!envp)
                return 2;
        while ((c = getopt_long(argc, argv, "+n:p:e:", options, NULL)) >= 0)
                switch (c) {
                case 'n': runs = (unsigned) atoi(optarg); break;
                case 'p': prep = optarg; break;
                case 'e': envp[nenv++] = optarg; break;
                case 's': stamp = optarg; break;
                default: goto usage;
                }
        if (optind >= argc)
                goto usage;

        if (stamp) {
                FILE *f = fopen(stamp, "we");
                uint64_t t;

                if (!f)
                        return 2;
                t = now_us(CLOCK_REALTIME);
                fprintf(f, "%llu.%06llu\n", (unsigned long long) (t / 1000000), (unsigned long long) (t % 1000000));
                fclose(f);
                execvp(argv[optind], argv + optind);
                fprintf(stderr, "bench-exec: %s: %s\n", argv[optind], strerror(errno));
                return 2;
        }

        for (unsigned i = 0; i < runs; i++) {
                uint64_t t0, t1;
                int status;
                pid_t pid;

                if (prep && system(prep) != 0)
                        fprintf(stderr, "bench-exec: run %u: prep command failed\n", i);
                t0 = now_us(CLOCK_MONOTONIC);
                pid = fork();
                if (pid < 0)
                        return 2;
                if (pid == 0) {
                        int fd = open("/dev/null", O_RDWR);
                        if (fd >= 0) {
                                dup2(fd, 0);
                                dup2(fd, 1);
                                if (!getenv("BENCH_EXEC_STDERR"))
                                        dup2(fd, 2);
                        }
                        execve(argv[optind], argv + optind, envp);
                        _exit(127);
                }
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR)
                                return 2;
                t1 = now_us(CLOCK_MONOTONIC);
                printf("%llu %d\n", (unsigned long long) (t1 - t0), WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
                fflush(stdout);
        }
        return 0;

usage:
        fprintf(stderr, "usage: bench-exec [-n RUNS] [-p PREP] [-e NAME=VALUE]... -- PROG [ARG...]\n"
                        "       bench-exec --stamp FILE -- PROG [ARG...]\n");
        return 2;
}
