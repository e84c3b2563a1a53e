/*
 * output.h - files the station hands out, written so that they appear whole.
 *
 * A group of files is staged in one directory (or several on one file system):
 * each file is written under a hidden temporary name (".station-tmp-<pid>-<n>"),
 * then output_group_publish() makes the data durable (one syncfs() per file
 * system rather than one fsync per file), renames every file to its final name
 * and fsyncs the directories. A reader sees either no file or the whole file,
 * before and after a crash. Callers publish a group only after the journal
 * records behind it are durable (the write-ahead rule).
 *
 * All writes go through the system-call seam (syscalls.h).
 */
#ifndef STATION_OUTPUT_H
#define STATION_OUTPUT_H

#include <stddef.h>

struct st_detail;
struct output_group;

/* A new, empty group. Returns NULL when out of memory. */
struct output_group *output_group_new(void);

/* Stages NAME in directory DIRFD (an open directory the caller keeps open until
 * publish) with LEN bytes of DATA. When SKIP_IF_SAME is 1 and NAME already holds
 * exactly DATA, nothing is written. Returns 0, ST_E_NO_SPACE, ST_E_IO (DETAIL
 * names the file and errno text) or ST_E_NO_MEMORY. */
int output_group_stage(struct output_group *g, int dirfd, const char *name, const void *data,
                       size_t len, int skip_if_same, struct st_detail *detail);

/* Stages NAME in directory DIRFD as a file the caller writes piece by piece
 * (an export streamed from the journal): *FD gets its temporary file, open
 * for writing, which the caller fills with output_fd_write and closes before
 * output_group_publish. Returns 0, ST_E_NO_SPACE, ST_E_IO (DETAIL names the
 * file and errno text) or ST_E_NO_MEMORY; *FD is -1 on failure. */
int output_group_stage_fd(struct output_group *g, int dirfd, const char *name, int *fd, struct st_detail *detail);

/* Writes LEN bytes of DATA to FD (from output_group_stage_fd for NAME), all of
 * them (st_write_all). Returns 0, ST_E_NO_SPACE or ST_E_IO (DETAIL names NAME). */
int output_fd_write(int fd, const char *name, const void *data, size_t len, struct st_detail *detail);

/* Removes NAME from DIRFD when the group is published (a stale rejection
 * note, for example). Returns 0 or ST_E_NO_MEMORY. */
int output_group_unlink(struct output_group *g, int dirfd, const char *name);

/* Makes the staged files durable, renames them into place, applies the
 * unlinks and fsyncs every directory touched. Empties the group.
 * Returns 0, ST_E_NO_SPACE or ST_E_IO. */
int output_group_publish(struct output_group *g, struct st_detail *detail);

/* Number of staged files and unlinks not yet published. */
size_t output_group_size(const struct output_group *g);

/* Removes the staged temporary files (nothing published) and frees G; NULL is fine. */
void output_group_free(struct output_group *g);

/* Deletes leftover temporary files of an earlier, interrupted run from DIRFD. */
void output_remove_stale(int dirfd);

/* Writes one file atomically right away (a group of one), in directory DIRFD.
 * Returns as output_group_publish. */
int output_write_file(int dirfd, const char *name, const void *data, size_t len, struct st_detail *detail);

/* Writes the file at PATH atomically (temporary name in the same directory,
 * fsync, rename, fsync of the directory), mode 0644. Returns as
 * output_group_publish, or ST_E_IO when the directory cannot be opened. */
int output_write_path(const char *path, const void *data, size_t len, struct st_detail *detail);

#endif
