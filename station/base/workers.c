/* workers.c - the thread pool (see workers.h). */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

struct work_item {
  work_fn fn;
  void *arg;
  struct work_group *group;
  struct work_item *next;
};

struct work_group {
  pthread_mutex_t lock;
  pthread_cond_t done;
  size_t pending;
};

struct workers {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct work_item *head, *tail;
  int stopping;
  int nice;                         /* each thread's nice value (0: the process's) */
  unsigned count;
  pthread_t threads[64];
};

static void work_group_finish_one(struct work_group *g)
{
  pthread_mutex_lock(&g->lock);
  if (--g->pending == 0)
    pthread_cond_broadcast(&g->done);
  pthread_mutex_unlock(&g->lock);
}

/* A pool thread: takes tasks in queue order until told to stop. */
static void *workers_main(void *arg)
{
  struct workers *w = arg;
  if (w->nice != 0 && workers_thread_nice(w->nice) != 0)
    st_debug("workers: a thread keeps the process's priority: %s", strerror(errno));
  for (;;) {
    struct work_item *item;
    pthread_mutex_lock(&w->lock);
    while (w->head == NULL && !w->stopping)
      pthread_cond_wait(&w->wake, &w->lock);
    item = w->head;
    if (item != NULL) {
      w->head = item->next;
      if (w->head == NULL)
        w->tail = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    if (item == NULL)
      break;
    item->fn(item->arg);
    work_group_finish_one(item->group);
    free(item);
  }
  return NULL;
}

int workers_thread_nice(int nice)
{
  return setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}

unsigned workers_default_threads(void)
{
  cpu_set_t allowed;
  long n = 0;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    n = CPU_COUNT(&allowed);
  if (n < 1)
    n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

struct workers *workers_new(unsigned threads, const char *name, int nice)
{
  struct workers *w = calloc(1, sizeof *w);
  if (w == NULL || threads > 64)
    goto fail;
  w->nice = nice;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->wake, NULL);
  for (; w->count < threads; w->count++)
  {
    if (pthread_create(&w->threads[w->count], NULL, workers_main, w) != 0)
      goto fail;
    pthread_setname_np(w->threads[w->count], name);
  }
  return w;
fail:
  workers_free(w);
  return NULL;
}

void workers_free(struct workers *w)
{
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->lock);
  w->stopping = 1;
  pthread_cond_broadcast(&w->wake);
  pthread_mutex_unlock(&w->lock);
  for (unsigned i = 0; i < w->count; i++)
    pthread_join(w->threads[i], NULL);
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

struct work_group *work_group_new(void)
{
  struct work_group *g = calloc(1, sizeof *g);
  if (g != NULL) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* for work_group_wait_timed */
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->done, &attr);
    pthread_condattr_destroy(&attr);
  }
  return g;
}

void work_group_free(struct work_group *g)
{
  if (g == NULL)
    return;
  work_group_wait(g);
  pthread_cond_destroy(&g->done);
  pthread_mutex_destroy(&g->lock);
  free(g);
}

int workers_submit(struct workers *w, struct work_group *g, work_fn fn, void *arg)
{
  struct work_item *item = w != NULL && w->count > 0 ? malloc(sizeof *item) : NULL;
  if (item == NULL) {
    fn(arg);
    return w == NULL || w->count == 0 ? ST_OK : ST_E_NO_MEMORY;
  }
  item->fn = fn;
  item->arg = arg;
  item->group = g;
  item->next = NULL;
  pthread_mutex_lock(&g->lock);
  g->pending++;
  pthread_mutex_unlock(&g->lock);
  pthread_mutex_lock(&w->lock);
  if (w->tail != NULL)
    w->tail->next = item;
  else
    w->head = item;
  w->tail = item;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  return ST_OK;
}

/* Takes the first task of G out of W's queue, or NULL when none waits. */
static struct work_item *workers_take(struct workers *w, struct work_group *g)
{
  struct work_item *item, *prev = NULL;
  pthread_mutex_lock(&w->lock);
  for (item = w->head; item != NULL && item->group != g; item = item->next)
    prev = item;
  if (item != NULL) {
    if (prev != NULL)
      prev->next = item->next;
    else
      w->head = item->next;
    if (w->tail == item)
      w->tail = prev;
  }
  pthread_mutex_unlock(&w->lock);
  return item;
}

void work_group_help(struct workers *w, struct work_group *g)
{
  struct work_item *item;
  while (w != NULL && (item = workers_take(w, g)) != NULL) {
    item->fn(item->arg);
    work_group_finish_one(item->group);
    free(item);
  }
  work_group_wait(g);
}

void work_group_wait(struct work_group *g)
{
  pthread_mutex_lock(&g->lock);
  while (g->pending > 0)
    pthread_cond_wait(&g->done, &g->lock);
  pthread_mutex_unlock(&g->lock);
}

int work_group_wait_timed(struct work_group *g, unsigned timeout_ms)
{
  struct timespec until;
  int timed_out = 0;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&g->lock);
  while (g->pending > 0 && !timed_out)
    timed_out = pthread_cond_timedwait(&g->done, &g->lock, &until) != 0 && g->pending > 0;
  pthread_mutex_unlock(&g->lock);
  return timed_out;
}
