/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800-U+DFFF), nothing above U+10FFFF. */

/* The code point at s (n bytes available): its length in bytes, or -EILSEQ. */
int utf8_decode(const char *s, size_t n, uint32_t *ret);
/* Writes cp (a valid code point) and returns its length, 1 to 4. */
size_t utf8_encode(uint32_t cp, char buf[static 4]);
