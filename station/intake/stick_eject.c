/* stick_eject.c - runs the mount helper's eject (see stick_eject.h). */
#include "stick_eject.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

#define STICK_HELPER_DEFAULT "/usr/lib/station/station-stick-mount"

extern char **environ;

/* The last non-empty line of BUF (LEN bytes) into OUT, without the helper's
 * name in front and with control bytes dropped. */
static void stick_last_line(const char *buf, size_t len, char *out, size_t cap)
{
  size_t end = len, start, n = 0;
  while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
    end--;
  start = end;
  while (start > 0 && buf[start - 1] != '\n')
    start--;
  static const char tag[] = "station-stick-mount: ";
  if (end - start >= sizeof tag - 1 && memcmp(buf + start, tag, sizeof tag - 1) == 0)
    start += sizeof tag - 1;
  for (size_t i = start; i < end && n + 1 < cap; i++)
    if ((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f)
      out[n++] = buf[i];
  if (cap > 0)
    out[n] = '\0';
}

int stick_eject(const char *path, char *answer, size_t answer_cap)
{
  int r = ST_E_STICK_EJECT, fds[2] = {-1, -1}, status = 0;
  const char *helper = getenv("STATION_STICK_HELPER");
  char root[PATH_MAX], buf[4096];
  size_t used = 0;
  posix_spawn_file_actions_t actions;
  int actions_made = 0;
  pid_t pid;
  const char *slash = strrchr(path, '/');

  snprintf(answer, answer_cap, "%s", st_error_sentence(ST_E_STICK_EJECT));
  if (helper == NULL || helper[0] == '\0')
    helper = STICK_HELPER_DEFAULT;
  if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof root)
    return r;
  memcpy(root, path, (size_t)(slash - path));
  root[slash - path] = '\0';
  if (pipe2(fds, O_CLOEXEC) != 0 || posix_spawn_file_actions_init(&actions) != 0)
    goto out;
  actions_made = 1;
  if (posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0) != 0 ||
      posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO) != 0 ||
      posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO) != 0)
    goto out;
  {
    char *const argv[] = {(char *)helper, "--root", root, "--eject", (char *)path, NULL};
    if (posix_spawn(&pid, helper, &actions, NULL, argv, environ) != 0) {
      snprintf(answer, answer_cap, "the eject helper %s could not be run", helper);
      goto out;
    }
  }
  close(fds[1]);
  fds[1] = -1;
  for (;;) { /* everything it says; the last line is the sentence */
    ssize_t n = read(fds[0], buf + used, sizeof buf - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    used += (size_t)n;
    if (used == sizeof buf - 1) { /* keep the tail */
      memmove(buf, buf + used / 2, used - used / 2);
      used -= used / 2;
    }
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (used > 0)
    stick_last_line(buf, used, answer, answer_cap);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    r = ST_OK;
  else if (used == 0)
    snprintf(answer, answer_cap, "%s", st_error_sentence(ST_E_STICK_EJECT));
out:
  if (actions_made)
    posix_spawn_file_actions_destroy(&actions);
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  return r;
}
