/* fixture.c - temporary directories, SoftHSM tokens and child commands for the unit tests (see fixture.h). */
#include "fixture.h"

#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int fixture_run(char *const argv[])
{
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int status = -1, r = -1;

  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0 && waitpid(pid, &status, 0) == pid &&
      WIFEXITED(status) && WEXITSTATUS(status) == 0)
    r = 0;
  posix_spawn_file_actions_destroy(&fa);
  return r;
}

/* nftw callback removing one entry of the tree. */
static int fixture_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int fixture_remove_tree(const char *dir)
{
  return nftw(dir, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int fixture_softhsm_token(char *dir_template, const char *label, const char *pin)
{
  char conf[256], tokens[256];
  char *init[] = {"softhsm2-util", "--init-token", "--free", "--label", (char *)label, "--pin", (char *)pin,
                  "--so-pin", "12345678", NULL};
  FILE *fp;
  int r = -1;

  if (mkdtemp(dir_template) == NULL)
    goto out;
  snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir_template);
  snprintf(tokens, sizeof tokens, "%s/tokens", dir_template);
  if (mkdir(tokens, 0700) != 0 || (fp = fopen(conf, "w")) == NULL)
    goto out;
  fprintf(fp, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
  if (fclose(fp) != 0 || setenv("SOFTHSM2_CONF", conf, 1) != 0)
    goto out;
  if (fixture_run(init) != 0) {
    fprintf(stderr, "softhsm2-util --init-token failed\n");
    goto out;
  }
  r = 0;
out:
  return r;
}

/* on_path: 1 when NAME is an executable file in one of PATH's directories. */
static int on_path(const char *name)
{
  const char *path = getenv("PATH");
  char candidate[512];

  if (path == NULL)
    path = "/usr/bin:/bin";
  while (*path != '\0') {
    size_t n = strcspn(path, ":");
    if (n > 0 && n < sizeof candidate - 2 - strlen(name)) {
      snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, path, name);
      if (access(candidate, X_OK) == 0)
        return 1;
    }
    path += n;
    if (*path == ':')
      path++;
  }
  return 0;
}

void fixture_require_tools(const char *test, const char *const *extra_files)
{
  static const char *const commands[] = {"softhsm2-util", "pkcs11-tool", "openssl", NULL};
  int missing = 0;

  if (access(FIXTURE_SOFTHSM_MODULE, R_OK) != 0) {
    fprintf(stderr, "%s: cannot run: the SoftHSM module %s is missing\n", test, FIXTURE_SOFTHSM_MODULE);
    missing = 1;
  }
  for (size_t i = 0; commands[i] != NULL; i++)
    if (!on_path(commands[i])) {
      fprintf(stderr, "%s: cannot run: the command %s is missing\n", test, commands[i]);
      missing = 1;
    }
  for (size_t i = 0; extra_files != NULL && extra_files[i] != NULL; i++)
    if (access(extra_files[i], R_OK) != 0) {
      fprintf(stderr, "%s: cannot run: %s is missing\n", test, extra_files[i]);
      missing = 1;
    }
  if (missing) {
    fprintf(stderr, "%s: install the test set with: bash packaging/install-deps.sh --test\n", test);
    exit(1);
  }
}

void fixture_setup_failed(const char *test, const char *what)
{
  fprintf(stderr, "%s: setup failed: %s\n", test, what);
  exit(1);
}
