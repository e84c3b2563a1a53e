/* batch.c - a batch directory in, certificates and rejection notes out (see batch.h). */
#include "batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "batch_internal.h"
#include "csr.h"
#include "engine.h"
#include "error.h"
#include "log.h"
#include "output.h"
#include "syscalls.h"
#include "workers.h"

/* Requests decided between two journal commits. */
#define BATCH_GROUP 256

struct batch_run;

/* One entry of csr/ on its way: read and prepared on a pool thread, decided
 * by the engine, then written out. */
struct batch_slot {
  char stem[NAME_MAX + 1];
  char name[NAME_MAX + 1];
  char *source;                    /* "batch:<dir>/csr/<name>", for the journal */
  struct batch_run *run;
  int intake_code;                 /* a refusal decided by the intake, or ST_OK */
  struct st_detail intake_detail;
  struct engine_request *request;  /* prepared; NULL when refused by the intake */
  struct engine_result result;
  int on_stick;                    /* its certificate was already on the stick, identical */
};

/* A group of slots. Three are in flight at once: one read and checked on the
 * pool, one decided by the engine, one written out by the publisher. */
struct batch_chunk {
  struct batch_slot *slots;
  size_t count;                    /* slots filled */
  size_t decided;                  /* slots the engine decided (and committed) */
  struct work_group *prepared;     /* its reads */
  struct work_group *published;    /* its publication */
  struct output_group *outputs;
  int publish_result;              /* ST_OK, or why its files could not be written */
  struct st_detail publish_detail;
};

#define BATCH_CHUNKS 3

struct batch_run {
  struct engine *engine;
  char root[PATH_MAX];    /* the batch directory, absolute */
  int csr_fd, certs_fd, rejected_fd;
  int rejected_notes;                  /* rejected/ held notes when the batch began */
  struct workers *publisher;          /* one thread writing the outputs */
  struct batch_entry *entries;
  size_t entry_count, next_entry;
  const struct batch_entry *previous;  /* the last entry given a slot */
  struct batch_summary *summary;
  size_t done;                         /* entries decided and committed, or skipped */
};

size_t batch_stem_len(const char *name)
{
  size_t len = strlen(name);
  if (len > 4 && (strcasecmp(name + len - 4, ".csr") == 0 || strcasecmp(name + len - 4, ".pem") == 0 ||
                  strcasecmp(name + len - 4, ".der") == 0))
    return len - 4;
  return 0;
}

size_t batch_output_stem_len(const struct batch_entry *entry)
{
  return entry->stem_len ? entry->stem_len : strlen(entry->name);
}

/* Compares the output stems of X and Y ignoring the case of ASCII letters:
 * sticks are FAT or exFAT, where certs/Board.pem and certs/board.pem are one
 * file, so two stems that differ only by case give the same output. */
static int batch_stem_cmp(const struct batch_entry *x, const struct batch_entry *y)
{
  size_t lx = batch_output_stem_len(x);
  size_t ly = batch_output_stem_len(y);
  int c = strncasecmp(x->name, y->name, lx < ly ? lx : ly);
  if (c == 0 && lx != ly)
    c = lx < ly ? -1 : 1;
  return c;
}

/* Orders entries by output stem (case folded), then by full name, so that clashing names sit together. */
static int batch_entry_cmp(const void *a, const void *b)
{
  const struct batch_entry *x = a, *y = b;
  int c = batch_stem_cmp(x, y);
  return c != 0 ? c : strcmp(x->name, y->name);
}

int batch_open_csr(int root_fd, const char *dir, int *out, struct st_detail *detail)
{
  struct stat st;
  *out = openat(root_fd, "csr", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*out >= 0)
    return ST_OK;
  if (fstatat(root_fd, "csr", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    st_detail_set(detail, "%s/csr is a symbolic link, not a directory: the station never follows links on a "
                  "stick; put the CSRs in a real directory %s/csr/", dir, dir);
  else if (errno != ENOENT)
    st_detail_set(detail, "%s/csr cannot be opened as a directory: %s (CSRs go in %s/csr/NAME.csr)", dir,
                  strerror(errno), dir);
  else
    st_detail_set(detail, "%s has no csr/ directory (CSRs go in %s/csr/NAME.csr)", dir, dir);
  return ST_E_BATCH_LAYOUT;
}

int batch_list(int csr_fd, struct batch_entry **out, size_t *count, struct st_detail *detail)
{
  int r = ST_E_IO;
  int fd = dup(csr_fd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct batch_entry *list = NULL;
  size_t n = 0, cap = 0;
  struct dirent *ent;

  if (d == NULL) {
    st_detail_set(detail, "cannot list csr/: %s", strerror(errno));
    if (fd >= 0)
      close(fd);
    goto out;
  }
  rewinddir(d); /* a dup shares its offset with every other reader of the directory */
  while ((errno = 0, ent = readdir(d)) != NULL) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
      continue;
    if (n == cap) {
      struct batch_entry *grown = realloc(list, (cap ? cap * 2 : 256) * sizeof *grown);
      if (grown == NULL) {
        r = ST_E_NO_MEMORY;
        goto out;
      }
      list = grown;
      cap = cap ? cap * 2 : 256;
    }
    list[n].name = strdup(ent->d_name);
    if (list[n].name == NULL) {
      r = ST_E_NO_MEMORY;
      goto out;
    }
    list[n].stem_len = batch_stem_len(ent->d_name);
    n++;
  }
  if (errno != 0) {
    st_detail_set(detail, "cannot list csr/: %s", strerror(errno));
    goto out;
  }
  if (n > 0)
    qsort(list, n, sizeof *list, batch_entry_cmp);
  *out = list;
  *count = n;
  list = NULL;
  n = 0;
  r = ST_OK;
out:
  for (size_t i = 0; i < n; i++)
    free(list[i].name);
  free(list);
  if (d != NULL)
    closedir(d);
  return r;
}

int batch_medium_failed(int err)
{
  return err == EIO || err == ENODEV || err == ENXIO || err == ENOMEDIUM || err == ENOTCONN || err == ESHUTDOWN ||
         err == ESTALE;
}

const char *batch_file_kind(mode_t mode)
{
  return S_ISLNK(mode) ? "a symbolic link (not followed)"
       : S_ISDIR(mode) ? "a directory"
       : S_ISFIFO(mode) ? "a FIFO"
       : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
       : S_ISSOCK(mode) ? "a socket"
                        : "not a regular file";
}

int batch_read(int csr_fd, const char *name, uint8_t **data, size_t *len, struct st_detail *detail)
{
  int r = ST_E_UNREADABLE;
  int fd = openat(csr_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  struct stat st;
  uint8_t *buf = NULL;
  ssize_t used;

  if (fd < 0) {
    if (errno == ELOOP) {
      r = ST_E_NOT_REGULAR_FILE;
      st_detail_set(detail, "the entry is a symbolic link (not followed)");
    } else {
      r = batch_medium_failed(errno) ? ST_E_IO : ST_E_UNREADABLE;
      st_detail_set(detail, "cannot open csr/%s: %s", name, strerror(errno));
    }
    goto out;
  }
  if (fstat(fd, &st) != 0) {
    r = batch_medium_failed(errno) ? ST_E_IO : ST_E_UNREADABLE;
    st_detail_set(detail, "cannot examine csr/%s: %s", name, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    r = ST_E_NOT_REGULAR_FILE;
    st_detail_set(detail, "the entry is %s", batch_file_kind(st.st_mode));
    goto out;
  }
  if (st.st_size > CSR_MAX_BYTES) {
    r = ST_E_TOO_LARGE;
    st_detail_set(detail, "the file is %lld bytes; a CSR is at most %d", (long long)st.st_size, CSR_MAX_BYTES);
    goto out;
  }
  buf = malloc(CSR_MAX_BYTES + 1);
  if (buf == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  if ((used = st_read_full(fd, buf, CSR_MAX_BYTES + 1)) < 0) {
    r = batch_medium_failed(errno) ? ST_E_IO : ST_E_UNREADABLE;
    st_detail_set(detail, "reading csr/%s failed: %s", name, strerror(errno));
    goto out;
  }
  if (used > CSR_MAX_BYTES) {
    r = ST_E_TOO_LARGE;
    st_detail_set(detail, "the file grew past %d bytes while it was read", CSR_MAX_BYTES);
    goto out;
  }
  *data = buf;
  *len = (size_t)used;
  buf = NULL;
  r = ST_OK;
out:
  free(buf);
  if (fd >= 0)
    close(fd);
  return r;
}

int batch_names_clash(const struct batch_entry *previous, const struct batch_entry *entry)
{
  return previous != NULL && entry->stem_len > 0 && batch_stem_cmp(previous, entry) == 0;
}

void batch_entries_free(struct batch_entry *entries, size_t count)
{
  for (size_t i = 0; i < count; i++)
    free(entries[i].name);
  free(entries);
}

/* Pool task: examines and reads the slot's file and prepares its request. */
static void batch_prepare_slot(void *arg)
{
  struct batch_slot *slot = arg;
  struct batch_run *run = slot->run;
  struct stat st;
  uint8_t *data = NULL;
  size_t len = 0;

  if (fstatat(run->csr_fd, slot->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    /* a stick that failed or was pulled out is a fault of the stick, not a refusal held against the CSR */
    slot->intake_code = batch_medium_failed(errno) ? ST_E_IO : ST_E_UNREADABLE;
    st_detail_set(&slot->intake_detail, "the entry csr/%s vanished or cannot be examined: %s", slot->name,
                  strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    slot->intake_code = ST_E_NOT_REGULAR_FILE;
    st_detail_set(&slot->intake_detail, "the entry is %s", batch_file_kind(st.st_mode));
  } else {
    slot->intake_code = batch_read(run->csr_fd, slot->name, &data, &len, &slot->intake_detail);
  }
  if (slot->intake_code == ST_OK)
    slot->intake_code = engine_prepare(run->engine, data, len, &slot->request);
  free(data);
}

/* Gives the next entries of csr/ their slots in CHUNK and starts reading
 * them on the pool. Refusals that need only the name are decided here. */
static void batch_fill(struct batch_run *run, struct batch_chunk *chunk)
{
  chunk->count = 0;
  while (run->next_entry < run->entry_count && chunk->count < BATCH_GROUP) {
    const struct batch_entry *entry = &run->entries[run->next_entry++];
    const struct batch_entry *previous = run->previous;
    struct batch_slot *slot = &chunk->slots[chunk->count];
    if (entry->name[0] == '.') {
      char display[NAME_MAX * 4 + 1];
      st_info("skipped hidden entry csr/%s", st_printable(display, sizeof display, entry->name));
      run->summary->skipped++;
      run->done++;
      continue;
    }
    memset(slot, 0, sizeof *slot);
    slot->run = run;
    run->previous = entry;
    chunk->count++;
    snprintf(slot->name, sizeof slot->name, "%s", entry->name);
    if (asprintf(&slot->source, "batch:%s/csr/%s", run->root, entry->name) < 0) {
      slot->source = NULL;
      slot->intake_code = ST_E_NO_MEMORY;
      continue;
    }
    snprintf(slot->stem, sizeof slot->stem, "%.*s", (int)batch_output_stem_len(entry), entry->name);
    if (entry->stem_len == 0) {
      slot->intake_code = ST_E_FILE_NAME;
      st_detail_set(&slot->intake_detail, "the name does not end in .csr, .pem or .der");
    } else if (batch_names_clash(previous, entry)) {
      slot->intake_code = ST_E_NAME_CLASH;
      if (memcmp(previous->name, entry->name, entry->stem_len) == 0)
        st_detail_set(&slot->intake_detail, "csr/%s already gives certs/%s.pem", previous->name, slot->stem);
      else
        st_detail_set(&slot->intake_detail,
                      "csr/%s already gives certs/%.*s.pem, the same file on a FAT or exFAT stick (names differ only "
                      "by case)", previous->name, (int)batch_output_stem_len(previous), previous->name);
      /* the note takes the full name, so it cannot replace the first file's note */
      snprintf(slot->stem, sizeof slot->stem, "%s", entry->name);
    } else {
      workers_submit(engine_workers(run->engine), chunk->prepared, batch_prepare_slot, slot);
    }
  }
}

/* The message of a fault of the stick itself (CODE: ST_E_NO_SPACE or
 * ST_E_IO; WHY: what failed): names the stick, says what became of the
 * certificates and what the operator does. */
static void batch_stick_fault(const struct batch_run *run, int code, const char *why, struct st_detail *detail)
{
  char copy[sizeof detail->text];
  snprintf(copy, sizeof copy, "%s", why); /* WHY may be DETAIL's own text */
  if (code == ST_E_NO_SPACE)
    st_detail_set(detail, "stick %s is full; the batch stopped. The certificates signed so far are in the journal and "
                  "are delivered, without new signatures, when the stick is back with space: free space on it and "
                  "sign it again (%s)", run->root, copy);
  else
    st_detail_set(detail, "stick %s failed or was pulled out; the batch stopped. The certificates signed so far are "
                  "in the journal and are delivered, without new signatures, when the stick is back: re-insert it "
                  "and sign it again (%s)", run->root, copy);
}

/* Decides every slot of CHUNK on the engine thread: the intake's refusals one
 * by one, the prepared requests as one group (signed together). Returns 0 or
 * the first fault; then every slot still has a result, a fault for those that
 * must not be released. */
static int batch_decide_chunk(struct batch_run *run, struct batch_chunk *chunk, struct st_detail *detail)
{
  int r = ST_OK;
  int stick = 0; /* the fault is the stick's: it failed or was pulled out while its CSRs were read */
  size_t n = 0;
  const char **sources = calloc(chunk->count + 1, sizeof *sources);
  const struct engine_request **requests = calloc(chunk->count + 1, sizeof *requests);
  struct engine_result *results = calloc(chunk->count + 1, sizeof *results);
  size_t *where = calloc(chunk->count + 1, sizeof *where);

  if (sources == NULL || requests == NULL || results == NULL || where == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  for (size_t i = 0; i < chunk->count; i++) {
    struct batch_slot *slot = &chunk->slots[i];
    if (slot->request != NULL) {
      sources[n] = slot->source;
      requests[n] = slot->request;
      where[n++] = i;
    } else if (r != ST_OK || st_error_class_of(slot->intake_code) != ST_CLASS_REFUSAL) {
      if (r == ST_OK) {
        slot->result.detail = slot->intake_detail;
        stick = slot->intake_code == ST_E_IO;
      }
      slot->result.code = r != ST_OK ? r : slot->intake_code;
      r = slot->result.code;
    } else {
      r = engine_refuse(run->engine, slot->source, slot->intake_code, slot->intake_detail.text, &slot->result);
    }
  }
  if (r == ST_OK && n > 0)
    r = engine_decide_many(run->engine, n, sources, requests, results);
  for (size_t k = 0; k < n; k++) {
    struct batch_slot *slot = &chunk->slots[where[k]];
    slot->result = results[k];
    if (r != ST_OK && slot->result.code == ST_OK) {
      free(slot->result.cert_der);
      slot->result.cert_der = NULL;
      slot->result.code = r;
    }
  }
out:
  if (r != ST_OK) {
    const char *why = "";
    for (size_t i = 0; i < chunk->count && why[0] == '\0'; i++)
      if (chunk->slots[i].result.code == r)
        why = chunk->slots[i].result.detail.text;
    if (stick)
      batch_stick_fault(run, r, why, detail);
    else
      st_detail_set(detail, "%s: %s", st_error_sentence(r), why);
  }
  free(where);
  free(results);
  free(requests);
  free(sources);
  return r;
}

/* Frees what the slots of CHUNK hold and empties it (its reads finished). */
static void batch_chunk_clear(struct batch_chunk *chunk)
{
  work_group_wait(chunk->prepared);
  work_group_wait(chunk->published);
  chunk->decided = 0;
  for (size_t i = 0; i < chunk->count; i++) {
    engine_request_free(chunk->slots[i].request);
    engine_result_cleanup(&chunk->slots[i].result);
    free(chunk->slots[i].source);
  }
  chunk->count = 0;
}

/* Text of a rejection note. */
static int batch_rejection_text(const struct batch_slot *slot, char *buf, size_t cap)
{
  const struct engine_result *res = &slot->result;
  return snprintf(buf, cap, "%s %s\ndetail: %s\nfile: csr/%s\njournal-record: %llu\n", st_error_name(res->code),
                  st_error_sentence(res->code), res->detail.text[0] ? res->detail.text : "-", slot->name,
                  (unsigned long long)res->seq);
}

/* Stages the output file(s) of one decided slot. */
static int batch_stage(struct batch_run *run, struct batch_chunk *chunk, struct batch_slot *slot,
                       struct st_detail *detail)
{
  size_t staged = output_group_size(chunk->outputs);
  int r = ST_E_NO_MEMORY;
  char file[NAME_MAX + 8], text[2048];
  BIO *pem = NULL;
  char *pem_data = NULL;
  long pem_len;
  const struct engine_result *res = &slot->result;

  if (res->code != ST_OK && st_error_class_of(res->code) != ST_CLASS_REFUSAL) {
    r = ST_OK; /* a fault: nothing of this request may leave */
    goto out;
  }
  if (res->code == ST_OK) {
    /* PEM straight from the DER: decoding the certificate again would cost more than signing it */
    pem = BIO_new(BIO_s_mem());
    if (pem == NULL || PEM_write_bio(pem, PEM_STRING_X509, "", res->cert_der, (long)res->cert_len) <= 0) {
      r = ST_E_CRYPTO;
      goto out;
    }
    pem_len = BIO_get_mem_data(pem, &pem_data);
    snprintf(file, sizeof file, "%s.pem", slot->stem);
    /* only a certificate issued before can already be on the stick: a new one has a new serial */
    r = output_group_stage(chunk->outputs, run->certs_fd, file, pem_data, (size_t)pem_len, res->from_journal, detail);
    slot->on_stick = r == ST_OK && output_group_size(chunk->outputs) == staged; /* identical, not rewritten */
    snprintf(file, sizeof file, "%s.txt", slot->stem);
    /* a stale note of an earlier run (the CSR was refused, then fixed) goes */
    if (r == ST_OK && run->rejected_notes)
      r = output_group_unlink(chunk->outputs, run->rejected_fd, file);
  } else {
    int n = batch_rejection_text(slot, text, sizeof text);
    snprintf(file, sizeof file, "%s.txt", slot->stem);
    r = output_group_stage(chunk->outputs, run->rejected_fd, file, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1,
                           0, detail);
  }
out:
  BIO_free(pem);
  return r;
}

/* Publisher task: writes the files of a committed chunk. */
static void batch_publish(void *arg)
{
  struct batch_chunk *chunk = arg;
  struct batch_run *run = chunk->slots[0].run;
  int r = ST_OK;
  for (size_t i = 0; i < chunk->decided && r == ST_OK; i++)
    r = batch_stage(run, chunk, &chunk->slots[i], &chunk->publish_detail);
  if (r == ST_OK)
    r = output_group_publish(chunk->outputs, &chunk->publish_detail);
  if (r != ST_OK) { /* name the stick and say what comes next */
    batch_stick_fault(run, r, chunk->publish_detail.text, &chunk->publish_detail);
    for (size_t i = 0; i < chunk->decided; i++) {
      const struct engine_result *res = &chunk->slots[i].result;
      if (!chunk->slots[i].on_stick && (res->code == ST_OK || st_error_class_of(res->code) == ST_CLASS_REFUSAL))
        run->summary->unwritten++; /* journaled; its file may not be on the stick */
    }
  }
  chunk->publish_result = r;
}

/* Decides CHUNK slot by slot, commits what was decided (also after a fault)
 * and hands it to the publisher. */
static int batch_run_chunk(struct batch_run *run, struct batch_chunk *chunk, struct st_detail *detail)
{
  int r = ST_OK, committed;
  struct st_detail commit_detail = {""};

  work_group_wait(chunk->prepared);
  r = batch_decide_chunk(run, chunk, detail);
  chunk->decided = chunk->count;
  /* the write-ahead rule: nothing is written out before its records are durable */
  committed = engine_commit(run->engine, &commit_detail);
  run->done += chunk->count;
  for (size_t i = 0; committed == ST_OK && i < chunk->decided; i++) { /* durable: the summary counts it */
    const struct engine_result *res = &chunk->slots[i].result;
    if (res->code == ST_OK && res->from_journal)
      run->summary->handed_back++;
    else if (res->code == ST_OK)
      run->summary->issued++;
    else if (st_error_class_of(res->code) == ST_CLASS_REFUSAL)
      run->summary->refused++;
  }
  if (committed == ST_OK && chunk->decided > 0) {
    chunk->publish_result = ST_OK;
    workers_submit(run->publisher, chunk->published, batch_publish, chunk);
  }
  if (r == ST_OK && committed != ST_OK) {
    r = committed;
    *detail = commit_detail;
  }
  return r;
}

/* Waits for CHUNK's files; returns what writing them gave. */
static int batch_wait_published(struct batch_chunk *chunk, struct st_detail *detail)
{
  work_group_wait(chunk->published);
  if (chunk->publish_result != ST_OK)
    *detail = chunk->publish_detail;
  return chunk->publish_result;
}

/* 1 when the directory DIRFD holds any entry (a stale rejection note may be
 * there to remove), 0 when it is empty or cannot be read. */
static int batch_dir_has_entries(int dirfd)
{
  int fd = dup(dirfd), found = 0;
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *ent;
  if (d != NULL)
    rewinddir(d); /* a dup shares its offset with every other reader of the directory */
  while (d != NULL && !found && (ent = readdir(d)) != NULL)
    found = strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0;
  if (d != NULL)
    closedir(d);
  else if (fd >= 0)
    close(fd);
  return found;
}

/* Opens (creating when missing) the output directory NAME under the batch root. */
static int batch_open_outdir(int root_fd, const char *name, int *out, struct st_detail *detail)
{
  int fd;
  if (mkdirat(root_fd, name, 0755) == 0) {
    if (st_sys.fsync(root_fd) != 0) {
      st_detail_set(detail, "cannot make %s/ durable: %s", name, strerror(errno));
      return ST_E_IO;
    }
  } else if (errno != EEXIST) {
    int r = errno == ENOSPC ? ST_E_NO_SPACE : ST_E_IO;
    st_detail_set(detail, "cannot create %s/: %s", name, strerror(errno));
    return r;
  }
  fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    st_detail_set(detail, "%s/ is not a directory (a symbolic link is not followed): %s", name, strerror(errno));
    return ST_E_IO;
  }
  output_remove_stale(fd);
  *out = fd;
  return ST_OK;
}

/* A batch in progress (batch.h): the run, its three chunks, and the first fault. */
struct batch {
  struct batch_run run;
  struct batch_chunk chunks[BATCH_CHUNKS];
  int root_fd;
  int current;                         /* the chunk the next step decides */
  int result;                          /* ST_OK, or the fault that ended the batch */
  struct st_detail detail;             /* ... and what it said */
};

/* Frees B and closes what it holds (after its chunks' work finished); NULL is fine. */
static void batch_free(struct batch *b)
{
  if (b == NULL)
    return;
  for (int k = 0; k < BATCH_CHUNKS; k++) {
    if (b->chunks[k].prepared != NULL && b->chunks[k].published != NULL)
      batch_chunk_clear(&b->chunks[k]);
    work_group_free(b->chunks[k].prepared);
    work_group_free(b->chunks[k].published);
    output_group_free(b->chunks[k].outputs);
    free(b->chunks[k].slots);
  }
  workers_free(b->run.publisher);
  batch_entries_free(b->run.entries, b->run.entry_count);
  if (b->run.csr_fd >= 0)
    close(b->run.csr_fd);
  if (b->run.certs_fd >= 0)
    close(b->run.certs_fd);
  if (b->run.rejected_fd >= 0)
    close(b->run.rejected_fd);
  if (b->root_fd >= 0)
    close(b->root_fd);
  free(b);
}

int batch_open(struct engine *e, const char *dir, struct batch_summary *summary, struct batch **out,
               struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct batch *b = calloc(1, sizeof *b);
  struct batch_run *run;

  memset(summary, 0, sizeof *summary);
  if (b == NULL)
    goto out;
  run = &b->run;
  *run = (struct batch_run){.engine = e, .csr_fd = -1, .certs_fd = -1, .rejected_fd = -1, .summary = summary};
  b->root_fd = -1;
  r = ST_E_BATCH_LAYOUT;
  if (realpath(dir, run->root) == NULL || (b->root_fd = open(run->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    st_detail_set(detail, "%s is not a directory that can be opened: %s", dir, strerror(errno));
    goto out;
  }
  if (batch_open_csr(b->root_fd, dir, &run->csr_fd, detail) != ST_OK)
    goto out;
  r = batch_open_outdir(b->root_fd, "certs", &run->certs_fd, detail);
  if (r == ST_OK)
    r = batch_open_outdir(b->root_fd, "rejected", &run->rejected_fd, detail);
  if (r == ST_OK)
    run->rejected_notes = batch_dir_has_entries(run->rejected_fd);
  if (r == ST_OK)
    r = batch_list(run->csr_fd, &run->entries, &run->entry_count, detail);
  if (r != ST_OK)
    goto out;
  run->publisher = workers_new(1, "st-publish", WORKERS_NICE_SLACK);
  for (int k = 0; k < BATCH_CHUNKS; k++) {
    b->chunks[k].slots = calloc(BATCH_GROUP, sizeof *b->chunks[k].slots);
    b->chunks[k].prepared = work_group_new();
    b->chunks[k].published = work_group_new();
    b->chunks[k].outputs = output_group_new();
    if (b->chunks[k].slots == NULL || b->chunks[k].prepared == NULL || b->chunks[k].published == NULL ||
        b->chunks[k].outputs == NULL)
      r = ST_E_NO_MEMORY;
  }
  if (run->publisher == NULL || r != ST_OK) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  batch_fill(run, &b->chunks[0]); /* the first group is read while the driver does other work */
  *out = b;
  b = NULL;
out:
  batch_free(b);
  return r;
}

int batch_step(struct batch *b)
{
  /* chunk i is decided while chunk i+1 is read and chunk i-1 is written out */
  int i = b->current, next = (i + 1) % BATCH_CHUNKS, before = (i + BATCH_CHUNKS - 1) % BATCH_CHUNKS;
  int r;
  if (b->result != ST_OK || b->chunks[i].count == 0)
    return 0;
  batch_fill(&b->run, &b->chunks[next]);
  r = batch_run_chunk(&b->run, &b->chunks[i], &b->detail);
  if (r == ST_OK)
    r = batch_wait_published(&b->chunks[before], &b->detail);
  batch_chunk_clear(&b->chunks[before]);
  b->current = next;
  b->result = r;
  return r == ST_OK;
}

int batch_finished(const struct batch *b)
{
  return b->result != ST_OK || b->chunks[b->current].count == 0;
}

void batch_progress(const struct batch *b, size_t *done, size_t *total)
{
  *done = b->run.done;
  *total = b->run.entry_count;
}

int batch_close(struct batch *b, struct st_detail *detail)
{
  int r = b->result;
  if (r != ST_OK)
    *detail = b->detail;
  else if (b->run.done < b->run.entry_count) /* stopped between two groups */
    b->run.summary->left = b->run.entry_count - b->run.done;
  for (int k = 0; k < BATCH_CHUNKS; k++) {
    struct st_detail late = {""};
    int published = batch_wait_published(&b->chunks[k], &late);
    if (r == ST_OK && published != ST_OK) {
      r = published;
      *detail = late;
    }
  }
  if (r == ST_OK)
    r = engine_checkpoint(b->run.engine, detail); /* a signed checkpoint at the end of every batch */
  batch_free(b);
  return r;
}

int batch_sign_directory(struct engine *e, const char *dir, struct batch_summary *summary, struct st_detail *detail)
{
  struct batch *b = NULL;
  int r = batch_open(e, dir, summary, &b, detail);
  if (r != ST_OK)
    return r;
  while (batch_step(b))
    ;
  return batch_close(b, detail);
}
