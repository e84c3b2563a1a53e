/* service_queue.c - the service's event queue (see service.h). */
#include "service_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "log.h"

void service_event_init(struct service_event *ev, int kind)
{
  memset(ev, 0, sizeof *ev);
  ev->kind = (enum service_event_kind)kind;
  ev->time_ms = st_wall_ms();
}

void service_text(const struct service *s, char *out, size_t cap, const char *in)
{
  if (s->options.headless)
    snprintf(out, cap, "%s", in != NULL ? in : "");
  else
    st_printable_utf8(out, cap, in != NULL ? in : "");
}

void service_push(struct service *s, const struct service_event *ev)
{
  struct service_event_node *node = NULL;
  uint64_t one = 1;
  pthread_mutex_lock(&s->event_mutex);
  if (ev->kind == SERVICE_EVENT_REQUEST && s->event_count >= SERVICE_QUEUE_MAX)
    goto out; /* the console is behind: the log loses lines, the counts are in the next event */
  node = malloc(sizeof *node);
  if (node == NULL)
    goto out;
  node->event = *ev;
  node->event.time_ms = st_wall_ms(); /* when it happened: now, not when the event was begun */
  node->next = NULL;
  *s->events_tail = node;
  s->events_tail = &node->next;
  s->event_count++;
  if (s->events_held)
    s->events_unsignalled = 1;
  else if (write(s->event_fd, &one, sizeof one) < 0) {
    /* the counter is already non-zero: the driver wakes anyway */
  }
out:
  pthread_mutex_unlock(&s->event_mutex);
}

void service_hold_events(struct service *s)
{
  pthread_mutex_lock(&s->event_mutex);
  s->events_held = 1;
  pthread_mutex_unlock(&s->event_mutex);
}

void service_release_events(struct service *s)
{
  uint64_t one = 1;
  pthread_mutex_lock(&s->event_mutex);
  s->events_held = 0;
  if (s->events_unsignalled && write(s->event_fd, &one, sizeof one) < 0) {
    /* the counter is already non-zero: the driver wakes anyway */
  }
  s->events_unsignalled = 0;
  pthread_mutex_unlock(&s->event_mutex);
}

int service_next_event(struct service *s, struct service_event *ev)
{
  int found = 0;
  uint64_t count;
  struct service_event_node *node;
  pthread_mutex_lock(&s->event_mutex);
  node = s->events;
  if (node != NULL) {
    s->events = node->next;
    if (s->events == NULL)
      s->events_tail = &s->events;
    s->event_count--;
    *ev = node->event;
    free(node);
    found = 1;
  } else if (read(s->event_fd, &count, sizeof count) < 0) {
    /* nothing to clear */
  }
  pthread_mutex_unlock(&s->event_mutex);
  return found;
}

int service_event_fd(const struct service *s)
{
  return s->event_fd;
}

int service_queue_init(struct service *s)
{
  s->events_tail = &s->events;
  s->commands_tail = &s->commands;
  s->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->event_fd < 0 || pthread_mutex_init(&s->event_mutex, NULL) != 0 ||
      pthread_mutex_init(&s->command_mutex, NULL) != 0)
    return ST_E_INTERNAL;
  return ST_OK;
}

void service_queue_cleanup(struct service *s)
{
  while (s->events != NULL) {
    struct service_event_node *node = s->events;
    s->events = node->next;
    free(node);
  }
  while (s->commands != NULL) {
    struct service_command *c = s->commands;
    s->commands = c->next;
    free(c);
  }
  if (s->event_fd >= 0)
    close(s->event_fd);
  pthread_mutex_destroy(&s->event_mutex);
  pthread_mutex_destroy(&s->command_mutex);
}
