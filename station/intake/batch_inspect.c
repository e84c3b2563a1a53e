/* batch_inspect.c - what a batch would give, before signing it (see batch.h).
 * The same listing and intake checks as batch.c (batch_internal.h), then
 * engine_prepare for the policy: no journal, no HSM, nothing written. */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch_internal.h"
#include "engine.h"
#include "error.h"
#include "xbuf.h"

/* Counts one refusal of CODE in OUT. */
static void batch_inspect_count(struct batch_inspection *out, int code)
{
  size_t i = 0;
  out->refusals++;
  while (i < out->reason_count && out->reasons[i].code != code)
    i++;
  if (i == out->reason_count && i < BATCH_INSPECT_REASONS) {
    out->reasons[i].code = code;
    out->reasons[i].count = 0;
    out->reason_count++;
  }
  if (i < out->reason_count)
    out->reasons[i].count++;
  else
    out->other++;
}

/* The digests of the CSRs that pass the checks, for the journal (may be unused). */
struct batch_digests {
  uint8_t (*sha256)[32];
  size_t count, cap;
};

/* The outcome the intake and the policy give entry NAME of CSR_FD: ST_OK or
 * a refusal. A CSR that passes goes into DIGESTS when that is not NULL. */
static int batch_inspect_entry(const struct engine *e, int csr_fd, const char *name, struct batch_digests *digests)
{
  int r;
  struct stat st;
  uint8_t *data = NULL;
  size_t len = 0;
  struct engine_request *req = NULL;

  if (fstatat(csr_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    r = batch_medium_failed(errno) ? ST_E_IO : ST_E_UNREADABLE;
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    r = ST_E_NOT_REGULAR_FILE;
    goto out;
  }
  r = batch_read(csr_fd, name, &data, &len, NULL);
  if (r == ST_OK)
    r = engine_prepare(e, data, len, &req);
  if (r == ST_OK)
    r = engine_request_refusal(req);
  if (r == ST_OK && digests != NULL) {
    uint8_t(*grown)[32] = st_array_grow(digests->sha256, &digests->cap, digests->count, sizeof *grown, 256, 0);
    if (grown == NULL) {
      r = ST_E_NO_MEMORY;
      goto out;
    }
    digests->sha256 = grown;
    engine_request_csr_sha256(req, digests->sha256[digests->count++]);
  }
out:
  engine_request_free(req);
  free(data);
  return r;
}

static int batch_inspect_digests(const struct engine *e, const char *dir, struct batch_digests *digests,
                                 struct batch_inspection *out, struct st_detail *detail)
{
  int r = ST_E_BATCH_LAYOUT;
  int root_fd = -1, csr_fd = -1;
  struct batch_entry *entries = NULL;
  const struct batch_entry *previous = NULL;
  size_t count = 0;

  memset(out, 0, sizeof *out);
  root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    st_detail_set(detail, "%s cannot be opened: %s", dir, strerror(errno));
    goto out;
  }
  if (batch_open_csr(root_fd, dir, &csr_fd, detail) != ST_OK)
    goto out;
  r = batch_list(csr_fd, &entries, &count, detail);
  for (size_t i = 0; r == ST_OK && i < count; i++) {
    const struct batch_entry *entry = &entries[i];
    int outcome;
    if (entry->name[0] == '.') {
      out->hidden++;
      continue;
    }
    out->files++;
    if (entry->stem_len == 0)
      outcome = ST_E_FILE_NAME;
    else if (batch_names_clash(previous, entry))
      outcome = ST_E_NAME_CLASH;
    else
      outcome = batch_inspect_entry(e, csr_fd, entry->name, digests);
    previous = entry;
    if (outcome == ST_E_NO_MEMORY || outcome == ST_E_IO) { /* the stick failed or was pulled out */
      r = outcome;
      if (outcome == ST_E_IO)
        st_detail_set(detail, "%s: csr/ cannot be read (the stick failed or was pulled out)", dir);
    } else if (outcome != ST_OK) {
      batch_inspect_count(out, outcome);
    }
  }
out:
  batch_entries_free(entries, count);
  if (csr_fd >= 0)
    close(csr_fd);
  if (root_fd >= 0)
    close(root_fd);
  return r;
}

int batch_inspect(const struct engine *e, const char *dir, struct batch_inspection *out, struct st_detail *detail)
{
  return batch_inspect_digests(e, dir, NULL, out, detail);
}

int batch_inspect_collect(const struct engine *e, const char *dir, struct batch_inspection *out,
                          struct batch_digests **digests, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct batch_digests *d = calloc(1, sizeof *d);
  *digests = NULL;
  if (d == NULL) {
    memset(out, 0, sizeof *out);
    return r;
  }
  r = batch_inspect_digests(e, dir, d, out, detail);
  if (r == ST_OK)
    *digests = d;
  else
    batch_digests_free(d);
  return r;
}

void batch_inspect_issued(struct engine *e, const struct batch_digests *digests, struct batch_inspection *out)
{
  for (size_t i = 0; digests != NULL && i < digests->count; i++)
    if (engine_csr_issued(e, digests->sha256[i]) > 0)
      out->issued_before++;
}

void batch_digests_free(struct batch_digests *digests)
{
  if (digests == NULL)
    return;
  free(digests->sha256);
  free(digests);
}
