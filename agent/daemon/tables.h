/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "records.h"

/* The tables whose objects with our protocol are ours (records.h), kept in the runtime directory so that
 * a restarted agent still removes what an earlier configuration left in a table it no longer uses. */
int tables_save(const RecordTable *t, const char *dir);
int tables_load(RecordTable *t, const char *dir);
