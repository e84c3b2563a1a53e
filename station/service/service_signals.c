/* service_signals.c - the process's one signal self-pipe, for the console and
 * the headless serial server (see service.h: service_signals_open). */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

static int service_signal_write = -1;
static int service_signal_read = -1;
static int service_signal_list[8];
static size_t service_signal_count;

static void service_on_signal(int sig)
{
  int saved = errno;
  char byte = (char)sig;
  if (write(service_signal_write, &byte, 1) < 0) {
    /* the pipe is full: a wake-up is pending anyway */
  }
  errno = saved;
}

int service_signals_open(const int *signals, size_t n, int *read_fd)
{
  int fds[2];
  struct sigaction sa;
  if (n > sizeof service_signal_list / sizeof service_signal_list[0] || pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    return ST_E_INTERNAL;
  service_signal_read = fds[0];
  service_signal_write = fds[1];
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = service_on_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < n; i++) {
    service_signal_list[service_signal_count++] = signals[i];
    if (sigaction(signals[i], &sa, NULL) != 0)
      return ST_E_INTERNAL;
  }
  signal(SIGPIPE, SIG_IGN);
  *read_fd = fds[0];
  return ST_OK;
}

void service_signals_close(void)
{
  int write_fd;
  for (size_t i = 0; i < service_signal_count; i++)
    signal(service_signal_list[i], SIG_DFL);
  write_fd = service_signal_write;
  service_signal_count = 0;
  service_signal_write = -1; /* a late signal writes nowhere */
  if (write_fd >= 0)
    close(write_fd);
  if (service_signal_read >= 0)
    close(service_signal_read);
  service_signal_read = -1;
}
