/*
 * workers.h - a small pool of threads for the work that can run beside the
 * HSM: reading and checking CSRs, checking signatures the HSM made.
 *
 * Tasks are functions run once on some pool thread. Each task belongs to a
 * group; a caller waits for a group, not for the whole pool, so an intake
 * reading ahead and the engine checking signatures can share one pool
 * without waiting on each other. A pool of zero threads runs every task at
 * once on the caller's thread (the same results, without parallelism).
 */
#ifndef STATION_WORKERS_H
#define STATION_WORKERS_H

#include <stddef.h>

struct workers;
struct work_group;

/* A task: called once with ARG on a pool thread. */
typedef void (*work_fn)(void *arg);

/* The nice value of threads whose work has slack: reading the next group
 * ahead, checking signatures before their commit, writing a group's files
 * while the next is decided, putting the journal head on the token. On busy
 * cores the threads on the critical path (the engine's loop and the signing
 * threads, at the process's own priority) then run first, and these fill the
 * time they leave (docs/throughput.md: 10 % more certificates a second on 2
 * cores). */
#define WORKERS_NICE_SLACK 10

/* Starts THREADS threads (0..64) named NAME (at most 15 characters: what
 * `top -H`, `ps -L` and perf show), each at nice value NICE (0: the
 * process's own; see workers_thread_nice). Returns NULL when out of memory
 * or when a thread cannot be started. */
struct workers *workers_new(unsigned threads, const char *name, int nice);

/* Sets the calling thread's nice value to NICE (Linux keeps one per thread;
 * raising it needs no privilege). Returns 0, or -1 with errno set: the
 * thread then keeps the process's priority and does the same work. */
int workers_thread_nice(int nice);

/* A number of threads that suits this process: the CPUs it may run on (its
 * affinity, so `taskset -c 0` gives 1), at least 1, at most 8. */
unsigned workers_default_threads(void);

/* Waits for every queued task, stops the threads and frees W; NULL is fine. */
void workers_free(struct workers *w);

/* A new, empty group. NULL when out of memory. */
struct work_group *work_group_new(void);

/* Frees G (waiting for its tasks first); NULL is fine. */
void work_group_free(struct work_group *g);

/* Queues FN(ARG) in group G. Returns 0, or ST_E_NO_MEMORY (then FN was run
 * on the caller's thread before returning, so the work is never lost). */
int workers_submit(struct workers *w, struct work_group *g, work_fn fn, void *arg);

/* Blocks until every task queued in G so far has finished. */
void work_group_wait(struct work_group *g);

/* As work_group_wait, but first runs on the caller's thread, in queue
 * order, the tasks of G that are still waiting in W's queue (W: the pool
 * they were queued on): a caller that would only wait does the work itself,
 * and the tasks of other groups queued ahead of them are not waited for. */
void work_group_help(struct workers *w, struct work_group *g);

/* As work_group_wait, for at most TIMEOUT_MS milliseconds (monotonic clock).
 * Returns 0 when every task finished, 1 when the time ran out first (the
 * tasks still running go on: G must then outlive them, so it cannot be freed). */
int work_group_wait_timed(struct work_group *g, unsigned timeout_ms);

#endif
