/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The client side of the varlink protocol with libc alone (the OpenVPN hook links nothing else; the
 * jansson-based varlink_call() in varlink.c uses the same transport): connect, send one request, read one
 * NUL-terminated reply, all within one deadline; and a strict reading of the reply's outcome. */

/* Longest error name and reason varlink_client_reply_scan() keeps; longer ones are cut. */
#define VARLINK_REPLY_TEXT_MAX 256U

/* A CLOCK_MONOTONIC deadline timeout_usec from now (UINT64_MAX: none). */
uint64_t varlink_client_deadline(uint64_t timeout_usec);

/* path as a sockaddr_un: -EINVAL when empty, -ENAMETOOLONG when it does not fit. */
int varlink_client_sockaddr(const char *path, struct sockaddr_un *ret, socklen_t *ret_len);

/* Connects to the socket at path, sends request (a C string: its NUL terminates the message) and reads
 * the reply up to its NUL, before deadline: *ret_reply (NUL-terminated, owned by the caller) and
 * *ret_size without the NUL. -ENOENT, -ECONNREFUSED, ... when the socket cannot be reached, -ETIMEDOUT,
 * -EMSGSIZE for a reply longer than reply_max, -ECONNRESET when closed without one. */
int varlink_client_transact(const char *path, const char *request, uint64_t deadline, size_t reply_max,
                            char **ret_reply, size_t *ret_size);

/* What a reply says: 0 for a reply ({"parameters": {...}} or no parameters), 1 for an error reply, its
 * name in error and its parameters' "reason" string in reason ("" when absent; both cut to fit), or
 * -EBADMSG for anything else: not one JSON object (json_scan()), "error" not a string, "parameters" not
 * an object, a member of those twice. */
int varlink_client_reply_scan(const char *reply, size_t size, char error[static VARLINK_REPLY_TEXT_MAX],
                       char reason[static VARLINK_REPLY_TEXT_MAX]);
