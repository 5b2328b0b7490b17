/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Control-socket input: the bytes go through the request parser directly, then through a real server
 * connection (framing, limits, pipelining, one call at a time, held calls). A connection that neither
 * progresses nor closes once the peer has sent everything is a bug, and aborts. */

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Fuzz {
        sd_event *event;
        VarlinkServer *server;
        VarlinkCall *held;
        char dir[32];
        char path[64];
} Fuzz;

static Fuzz fuzz;

/* "f.Hold" is answered only when the connection stalls; everything else at once. */
static void fuzz_method(VarlinkCall *call, const char *method, json_t *parameters,
                        _unused_ const VarlinkPeer *peer, void *userdata) {
        Fuzz *f = userdata;

        if (streq(method, "f.Hold") && !f->held)
                f->held = call;
        else if (json_object_get(parameters, "error"))
                (void) varlink_call_errorf(call, "f.Error", "%s", method);
        else
                (void) varlink_call_reply(call, json_incref(parameters));
}

static void fuzz_cleanup(void) {
        fuzz.server = varlink_server_free(fuzz.server);
        fuzz.event = sd_event_unref(fuzz.event);
        (void) unlink(fuzz.path);
        (void) rmdir(fuzz.dir);
}

static void fuzz_setup(void) {
        if (fuzz.server)
                return;

        snprintf(fuzz.dir, sizeof(fuzz.dir), "/tmp/fuzz-varlink-XXXXXX");
        if (!mkdtemp(fuzz.dir))
                abort();
        snprintf(fuzz.path, sizeof(fuzz.path), "%s/sock", fuzz.dir);
        if (sd_event_new(&fuzz.event) < 0 ||
            varlink_server_new(fuzz.event, fuzz.path, -EBADF, fuzz_method, &fuzz, &fuzz.server) < 0)
                abort();
        atexit(fuzz_cleanup);
}

static void fuzz_parse(const uint8_t *data, size_t size) {
        while (size > 0) {
                _cleanup_(varlink_request_done) VarlinkRequest req = {};
                const uint8_t *nul = memchr(data, 0, size);
                size_t l = nul ? (size_t) (nul - data) : size;

                if (varlink_request_parse((const char *) data, l, &req) < 0)
                        abort(); /* only ENOMEM */
                if (req.invalid ? req.json || !json_is_string(json_object_get(req.invalid, "reason"))
                                : !req.method || !json_is_object(req.parameters))
                        abort();
                data += l + !!nul;
                size -= l + !!nul;
        }
}

static int fuzz_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        memcpy(sa.sun_path, fuzz.path, strlen(fuzz.path)); /* short: mkdtemp() in /tmp */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                abort();
        return fd;
}

/* Sends what the socket takes; the whole input sent, half-closes like socat. Returns true on progress. */
static bool fuzz_send(int fd, const uint8_t **data, size_t *size, bool *shut) {
        ssize_t n;

        if (*shut)
                return false;
        if (*size == 0) {
                *shut = true;
                (void) shutdown(fd, SHUT_WR);
                return true;
        }
        n = send(fd, *data, *size, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
                if (errno == EAGAIN)
                        return false;
                *size = 0; /* closed on us, e.g. after RequestTooLarge */
                *shut = true;
                return true;
        }
        *data += n;
        *size -= n;
        return true;
}

/* Drains replies. Returns 1 on progress, 0 without, -1 once the server closed. */
static int fuzz_receive(int fd) {
        char buf[4096];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
                return 1;
        if (n < 0 && errno == EAGAIN)
                return 0;
        return -1; /* EOF, or ECONNRESET when it closed with our input unread */
}

static void fuzz_connection(const uint8_t *data, size_t size) {
        _cleanup_(closep) int fd = fuzz_connect();
        bool shut = false;

        for (unsigned stalls = 0;;) {
                bool progress = fuzz_send(fd, &data, &size, &shut);
                int r;

                r = sd_event_run(fuzz.event, 0);
                if (r < 0)
                        abort();
                progress = progress || r > 0;

                r = fuzz_receive(fd);
                if (r < 0)
                        break;
                if (progress || r > 0) {
                        stalls = 0;
                        continue;
                }
                if (fuzz.held) {
                        (void) varlink_call_reply(TAKE_PTR(fuzz.held), NULL);
                        continue;
                }
                /* Level-triggered and all in-process: nothing ready twice in a row means stuck. */
                if (++stalls > 2)
                        abort();
        }

        if (fuzz.held || varlink_server_connections(fuzz.server) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_setup();
        fuzz_parse(data, size);
        fuzz_connection(data, size);
        return 0;
}
