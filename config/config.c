/*
 * config.c - the public face of config/: reading the file, choosing its path,
 * freeing the result. The YAML is parsed in config_tree.c and checked against
 * the schema in config_schema.c (see config_internal.h for how they meet).
 *
 * Relative paths in the file are resolved against the directory of the file;
 * when the file's own name is relative, that directory is first made absolute
 * with the current directory, so the stored paths stay right even if the
 * process later changes directory.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "error.h"
#include "syscalls.h"

#define CONFIG_SYSTEM_PATH "/etc/station/station.yaml"
#define CONFIG_ENV_VAR "STATION_CONFIG"

const char *config_default_path(const char *explicit_path)
{
  const char *from_env = getenv(CONFIG_ENV_VAR);
  const char *path = CONFIG_SYSTEM_PATH;

  if (explicit_path != NULL)
    path = explicit_path;
  else if (from_env != NULL && from_env[0] != '\0')
    path = from_env;
  return path;
}

void config_free(struct station_config *c)
{
  if (c == NULL)
    return;
  free(c->source_path);
  free(c->factory);
  free(c->hsm_module);
  free(c->hsm_token);
  free(c->hsm_key);
  free(c->pin_ref);
  free(c->hsm_journal_key);
  free(c->ca_certificate);
  free(c->ca_root);
  free(c->journal_path);
  free(c->gateway_certificate);
  free(c->gateway_url);
  for (size_t i = 0; i < c->usb_root_count; i++)
    free(c->usb_roots[i]);
  free(c->usb_roots);
  for (size_t i = 0; i < c->serial_port_count; i++)
    free(c->serial_ports[i].port);
  free(c->serial_ports);
  free(c);
}

/* Joins the absolute directory DIR and the relative LEN bytes of REL into a new
 * string; NULL when out of memory. */
static char *config_join_dir(const char *dir, const char *rel, size_t len)
{
  size_t dir_len = strlen(dir);
  bool need_slash = len > 0 && (dir_len == 0 || dir[dir_len - 1] != '/');
  char *joined = malloc(dir_len + 1 + len + 1);

  if (joined != NULL) {
    memcpy(joined, dir, dir_len);
    if (need_slash)
      joined[dir_len++] = '/';
    memcpy(joined + dir_len, rel, len);
    joined[dir_len + len] = '\0';
  }
  return joined;
}

/* Sets *DIR to a new string: the absolute directory holding the file NAME. */
static int config_base_dir(const struct cfg_ctx *ctx, const char *name, char **dir)
{
  int r = ST_E_CONFIG;
  const char *slash = strrchr(name, '/');
  size_t len = slash != NULL ? (size_t)(slash - name) : 0;
  char *cwd = NULL;

  while (len > 0 && name[len - 1] == '/')   /* "a//b.yaml" lives in "a" */
    len--;
  if (name[0] == '/') {
    *dir = len > 0 ? strndup(name, len) : strdup("/");
  } else if ((cwd = getcwd(NULL, 0)) == NULL) {
    r = errno == ENOMEM ? cfg_fail_memory(ctx) : ST_E_CONFIG;
    if (r == ST_E_CONFIG)
      st_detail_set(ctx->detail, "%s: cannot resolve relative paths, the current directory is unknown: %s",
                    ctx->name, strerror(errno));
    goto out;
  } else {
    *dir = config_join_dir(cwd, name, len);
  }
  if (*dir == NULL) {
    r = cfg_fail_memory(ctx);
    goto out;
  }
  r = 0;
out:
  free(cwd);
  return r;
}

int config_load_buffer(const char *name, const char *text, size_t len,
                       struct station_config **out, struct st_detail *detail)
{
  int r = ST_E_CONFIG;
  struct cfg_ctx ctx = {.detail = detail};
  char *base_dir = NULL;
  struct cfg_node *root = NULL;
  struct station_config *c = NULL;

  *out = NULL;
  if (name == NULL)
    name = "(configuration)";
  ctx.name = name;
  if (len > CFG_MAX_FILE_SIZE) {
    st_detail_set(detail, "%s: the file is larger than %d bytes (64 KiB), the most a configuration may be",
                  name, CFG_MAX_FILE_SIZE);
    goto out;
  }
  if ((r = config_base_dir(&ctx, name, &base_dir)) != 0)
    goto out;
  ctx.base_dir = base_dir;
  if ((r = cfg_tree_parse(&ctx, text, len, &root)) != 0)
    goto out;
  if ((c = calloc(1, sizeof *c)) == NULL || (c->source_path = strdup(name)) == NULL) {
    r = cfg_fail_memory(&ctx);
    goto out;
  }
  if ((r = cfg_schema_apply(&ctx, root, c)) != 0)
    goto out;
  *out = c;
  c = NULL;
  r = 0;
out:
  config_free(c);
  cfg_tree_free(root);
  free(base_dir);
  return r;
}

/* Reads the regular file PATH into a new buffer *TEXT of *LEN bytes, stopping
 * one byte past CFG_MAX_FILE_SIZE (so that a bigger file shows as too big).
 * Opens without blocking, so a FIFO in its place cannot hang the station. */
static int config_read_file(const char *path, char **text, size_t *len, struct st_detail *detail)
{
  int r = ST_E_CONFIG;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  char *buf = NULL;
  ssize_t used;
  struct stat st;

  if (fd < 0 || fstat(fd, &st) != 0) {
    st_detail_set(detail, "%s: cannot read the configuration: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    st_detail_set(detail, "%s: cannot read the configuration: not a regular file", path);
    goto out;
  }
  if ((buf = malloc(CFG_MAX_FILE_SIZE + 1)) == NULL) {
    st_detail_set(detail, "%s: out of memory", path);
    r = ST_E_NO_MEMORY;
    goto out;
  }
  if ((used = st_read_full(fd, buf, CFG_MAX_FILE_SIZE + 1)) < 0) {
    st_detail_set(detail, "%s: cannot read the configuration: %s", path, strerror(errno));
    goto out;
  }
  *text = buf;
  *len = (size_t)used;
  buf = NULL;
  r = 0;
out:
  free(buf);
  if (fd >= 0)
    close(fd);
  return r;
}

int config_load(const char *path, struct station_config **out, struct st_detail *detail)
{
  char *text = NULL;
  size_t len = 0;
  int r;

  *out = NULL;
  r = config_read_file(path, &text, &len, detail);
  if (r == 0)
    r = config_load_buffer(path, text, len, out, detail);
  free(text);
  return r;
}
