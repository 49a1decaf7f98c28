/*
 * file.h — memory-mapped input files and atomic output files.
 *
 * Model files are mapped read-only and shared by every thread that reads weights; nothing
 * is copied. Files that matter are written atomically: into PATH.tmp.PID, fsync'd, then
 * renamed over PATH, so a crash at any moment leaves either the old file or the new one.
 */
#ifndef HEARTH_BASE_FILE_H
#define HEARTH_BASE_FILE_H

#include <stddef.h>
#include <stdio.h>
#include "base/error.h"

typedef struct file_map {
    const unsigned char *data; /* NULL for an empty file */
    size_t size;
} file_map;

/* Map path read-only. On failure returns HEARTH_ERR_IO and names the file and the reason. */
hearth_status file_map_open(file_map *m, const char *path, hearth_error *err);
void file_map_close(file_map *m);

/* Read a whole (small) file into a NUL-terminated heap buffer; *size gets the byte count.
 * Refuses files larger than max_size. */
hearth_status file_read_all(const char *path, size_t max_size, char **out, size_t *size,
                            hearth_error *err);

/* Atomic writer: fopen a temp file beside path; file_atomic_commit fsyncs, closes and
 * renames it into place; file_atomic_abort closes and removes it. */
typedef struct file_atomic {
    FILE *fp;
    char *path;
    char *tmp_path;
} file_atomic;

hearth_status file_atomic_open(file_atomic *a, const char *path, hearth_error *err);
hearth_status file_atomic_commit(file_atomic *a, hearth_error *err);
void file_atomic_abort(file_atomic *a);

#endif
