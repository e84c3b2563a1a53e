/*
 * audit.c - the journal key and head on the token, checkpoints, and the full
 * journal check (see audit.h; formats in checkpoint.h).
 *
 * The full check is one streaming pass (journal_verify_with): the checker
 * below checks each checkpoint's signature, remembers the chain value at the
 * head's seq, and hands every good record on to an optional extra checker
 * (the export). After the pass the end of the journal is compared with the
 * head.
 */
#include "audit.h"
#include "audit_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "encoding.h"
#include "error.h"
#include "hsm.h"
#include "log.h"
#include "workers.h"

/*
 * The head is written by a thread of its own, so that a request's answer does
 * not wait for the token's object store (several milliseconds on SoftHSM, far
 * more than the journal's fdatasync). audit_head_write posts the durable last
 * record; the writer writes the newest posted head, never an older one after
 * a newer one, and a head is only ever posted after its record is durable, so
 * the head on the token may lag the journal (accepted: a stop between the two)
 * but never leads it. A failed write (the token went away) is logged once and
 * tried again with the next post: issuance goes on, the head lags until the
 * token answers; audit_head_flush, which waits until the newest head is on
 * the token, reports it. The writer runs at a lower priority
 * (WORKERS_NICE_SLACK, nice +10): a head write is CPU work in the token's
 * software on the station's own cores (SoftHSM: about 0.6 ms per write), and
 * it must not take them from the request being answered or the signatures
 * being made; the head then lags a little more under load, never leads.
 */
struct audit {
  struct hsm *h;
  struct hsm_key *key;
  EVP_PKEY *pub;
  char head_label[160];
  pthread_t writer;
  int writer_running;
  pthread_mutex_t lock;
  pthread_cond_t wake, idle;
  struct journal_head wanted;         /* the newest head posted */
  int have_wanted, writing, stopping;
  uint64_t written_seq;
  int failed;                         /* the last head write failed */
  struct st_detail failure;
  int key_created;                    /* audit_open made the journal key */
};

/* Writes HEAD to the token now. Returns 0 or ST_E_JOURNAL_HEAD. */
static int audit_head_store(struct audit *a, const struct journal_head *head, struct st_detail *detail)
{
  char text[CHECKPOINT_TEXT_MAX];
  size_t len = checkpoint_head_format(text, head);
  return hsm_data_write(a->h, a->head_label, text, len, detail) < 0 ? ST_E_JOURNAL_HEAD : 0;
}

/* The head writer thread. */
static void *audit_head_writer(void *arg)
{
  struct audit *a = arg;
  if (workers_thread_nice(WORKERS_NICE_SLACK) != 0)
    st_debug("journal: the head writer keeps its priority: %s", strerror(errno));
  pthread_mutex_lock(&a->lock);
  for (;;) {
    struct journal_head head;
    struct st_detail why = {""};
    int r;
    while (!a->have_wanted && !a->stopping)
      pthread_cond_wait(&a->wake, &a->lock);
    if (!a->have_wanted)
      break;
    head = a->wanted;
    a->have_wanted = 0;
    a->writing = 1;
    pthread_mutex_unlock(&a->lock);
    r = audit_head_store(a, &head, &why);
    pthread_mutex_lock(&a->lock);
    a->writing = 0;
    if (r != 0) {
      if (!a->failed)
        st_warn("journal: the head could not be written to the token (%s); it lags the journal until the "
                "token answers again", why.text);
      a->failed = 1;
      a->failure = why;
    } else {
      if (a->failed)
        st_info("journal: the head is written to the token again (record %llu)", (unsigned long long)head.seq);
      a->failed = 0;
      a->written_seq = head.seq;
    }
    pthread_cond_broadcast(&a->idle);
  }
  pthread_mutex_unlock(&a->lock);
  return NULL;
}

int audit_open(struct hsm *h, const char *key_label, const char *journal_path, struct audit **out,
               struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY, created = 0;
  struct audit *a = calloc(1, sizeof *a);
  uint8_t where[32];
  char where_hex[65];
  if (a == NULL)
    goto out;
  a->h = h;
  pthread_mutex_init(&a->lock, NULL);
  pthread_cond_init(&a->wake, NULL);
  pthread_cond_init(&a->idle, NULL);
  /* one head per journal location: the same station's journal replaced is
   * caught; another journal path on the same token keeps a head of its own */
  EVP_Digest(journal_path, strlen(journal_path), where, NULL, EVP_sha256(), NULL);
  st_hex_encode(where_hex, where, sizeof where);
  snprintf(a->head_label, sizeof a->head_label, "%s-head-%.16s", key_label, where_hex);
  r = hsm_find_or_create_key(h, key_label, &a->key, &created, detail);
  if (r != 0)
    goto out;
  a->key_created = created;
  if (created)
    st_info("journal: made the journal-signing key \"%s\" in the token", key_label);
  a->pub = hsm_key_public(a->key);
  if (a->pub == NULL) {
    r = ST_E_JOURNAL_KEY;
    st_detail_set(detail, "the token holds no public key for the journal key \"%s\"", key_label);
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if (pthread_create(&a->writer, NULL, audit_head_writer, a) != 0)
    goto out;
  a->writer_running = 1;
  pthread_setname_np(a->writer, "st-head");
  *out = a;
  a = NULL;
  r = 0;
out:
  audit_free(a);
  return r;
}

EVP_PKEY *audit_public_key(struct audit *a)
{
  return a->pub;
}

EVP_PKEY *audit_signer(struct audit *a)
{
  return hsm_key_signer(a->key);
}

int audit_key_created(const struct audit *a)
{
  return a->key_created;
}

void audit_free(struct audit *a)
{
  if (a != NULL) {
    struct st_detail why = {""};
    if (a->writer_running && audit_head_flush(a, &why) != 0)
      st_warn("journal: the head could not be written to the token: %s", why.text);
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
    if (a->writer_running)
      pthread_join(a->writer, NULL);
    pthread_cond_destroy(&a->idle);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    EVP_PKEY_free(a->pub);
    hsm_key_free(a->key);
    free(a);
  }
}

int audit_head_read(struct audit *a, struct journal_head *head, struct st_detail *detail)
{
  char text[CHECKPOINT_TEXT_MAX];
  size_t len = 0;
  int r = hsm_data_read(a->h, a->head_label, text, sizeof text, &len, detail);
  if (r < 0) {
    r = ST_E_JOURNAL_HEAD;
  } else if (r == 1 && !checkpoint_head_parse(head, text, len)) {
    st_detail_set(detail, "the token's data object \"%s\" does not hold a journal head",
                  a->head_label);
    r = ST_E_JOURNAL_HEAD;
  }
  return r;
}

int audit_head_write(struct audit *a, struct journal *j, struct st_detail *detail)
{
  struct journal_head head;
  int r = 0;
  journal_genesis(j, head.genesis);
  journal_last(j, &head.seq, head.chain);
  (void)detail;
  pthread_mutex_lock(&a->lock);
  if (!a->have_wanted || head.seq >= a->wanted.seq) {
    a->wanted = head;
    a->have_wanted = 1;
    pthread_cond_signal(&a->wake);
  }
  pthread_mutex_unlock(&a->lock);
  return r;
}

int audit_head_flush(struct audit *a, struct st_detail *detail)
{
  int r;
  pthread_mutex_lock(&a->lock);
  while (a->have_wanted || a->writing)
    pthread_cond_wait(&a->idle, &a->lock);
  r = a->failed ? ST_E_JOURNAL_HEAD : 0;
  if (r != 0 && detail != NULL)
    *detail = a->failure;
  pthread_mutex_unlock(&a->lock);
  return r;
}

int audit_head_flush_timed(struct audit *a, unsigned timeout_ms, struct st_detail *detail)
{
  int r = 0, late = 0;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(timeout_ms / 1000);
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&a->lock);
  while ((a->have_wanted || a->writing) && !late)
    late = pthread_cond_timedwait(&a->idle, &a->lock, &until) == ETIMEDOUT;
  if (a->have_wanted || a->writing) {
    r = ST_E_HSM_TIMEOUT;
    st_detail_set(detail, "the token did not finish writing the journal head within %u ms", timeout_ms);
  } else if (a->failed) {
    r = ST_E_JOURNAL_HEAD;
    if (detail != NULL)
      *detail = a->failure;
  }
  pthread_mutex_unlock(&a->lock);
  return r;
}

int audit_key_fingerprint(EVP_PKEY *pub, char hex[65])
{
  uint8_t id[32];
  if (pub == NULL || checkpoint_key_id(pub, id) != 0)
    return ST_E_CRYPTO;
  st_hex_encode(hex, id, sizeof id);
  return 0;
}

int audit_print_fingerprint(FILE *out, EVP_PKEY *pub)
{
  char hex[65];
  int r = audit_key_fingerprint(pub, hex);
  if (r == 0)
    fprintf(out, "journal key: sha256:%s\n", hex);
  return r;
}

/* Says why a journal ending at LAST (its last record's EVENT) falls short of
 * HEAD, and returns the code. */
int audit_short(uint64_t last, enum journal_event event, const struct journal_head *head,
                       struct st_detail *detail)
{
  unsigned long long n = last, m = head->seq;
  int r;
  if (event == JOURNAL_EVENT_CHECKPOINT || last == 0) {
    st_detail_set(detail, "the journal ends at record %llu%s, but the head kept on the token is "
                  "record %llu: an older copy of the journal was restored (rolled back; records "
                  "%llu to %llu are missing)", n, last == 0 ? "" : ", a checkpoint", m, n + 1, m);
    r = ST_E_JOURNAL_ROLLBACK;
  } else {
    st_detail_set(detail, "the journal ends at record %llu, but the head kept on the token is "
                  "record %llu: its tail was cut (truncated; records %llu to %llu are missing)",
                  n, m, n + 1, m);
    r = ST_E_JOURNAL_TRUNCATED;
  }
  return r;
}

/* Says that GENESIS is not the head's. */
int audit_replaced(const uint8_t genesis[32], struct st_detail *detail)
{
  char g[65];
  st_hex_encode(g, genesis, 32);
  st_detail_set(detail, "the journal's genesis %.16s... is not the one of the head kept on the "
                "token: the whole journal was replaced by another one", g);
  return ST_E_JOURNAL_REPLACED;
}

int audit_check_journal(struct audit *a, struct journal *j, struct st_detail *detail)
{
  struct journal_head head, now;
  int r = audit_head_read(a, &head, detail);
  if (r < 0)
    return r;
  journal_genesis(j, now.genesis);
  journal_last(j, &now.seq, now.chain);
  if (r == 0) {
    st_info("journal: no head on the token yet; recording record %llu as the head",
            (unsigned long long)now.seq);
    r = audit_head_write(a, j, detail);
    if (r == 0)
      r = audit_head_flush(a, detail);
  } else if (memcmp(head.genesis, now.genesis, 32) != 0) {
    r = audit_replaced(now.genesis, detail);
  } else if (now.seq < head.seq) {
    r = audit_short(now.seq, journal_last_checkpoint(j) == now.seq && now.seq > 0
                                 ? JOURNAL_EVENT_CHECKPOINT : JOURNAL_EVENT_ISSUED,
                    &head, detail);
  } else if (now.seq == head.seq && memcmp(now.chain, head.chain, 32) != 0) {
    st_detail_set(detail, "record %llu's chain value is not the one the head kept on the token "
                  "names: the journal was rewritten from an older copy (rolled back)",
                  (unsigned long long)now.seq);
    r = ST_E_JOURNAL_ROLLBACK;
  } else {
    if (now.seq > head.seq)
      st_warn("journal: the head on the token is %llu records behind the journal (a stop between "
              "a journal write and the head update); it is brought up to date",
              (unsigned long long)(now.seq - head.seq));
    r = 0;
  }
  return r;
}

/* ---- the journal's index file (journal.h) ---- */

int audit_index_check(struct audit *a, struct journal *j, struct st_detail *detail)
{
  char msg[JOURNAL_INDEX_MSG_MAX];
  size_t msg_len = 0, sig_len = 0;
  const uint8_t *sig = NULL;
  int ok = 0;
  EVP_MD_CTX *md;
  if (journal_index_claim(j, msg, &msg_len, &sig, &sig_len) != 1)
    return 0;
  md = EVP_MD_CTX_new();
  ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, a->pub) == 1 &&
       EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg, msg_len) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return journal_index_settle(j, ok, "its signature does not verify with the journal key (the file was changed, "
                              "or written with another token)", detail);
}

/* The journal index's signer: the journal key in the token. */
static int audit_index_sign(void *arg, const char *msg, size_t len, uint8_t *sig, size_t *sig_len,
                            struct st_detail *detail)
{
  struct audit *a = arg;
  if (*sig_len < CHECKPOINT_SIG_MAX)
    return ST_E_INTERNAL;
  return checkpoint_sign(audit_signer(a), a->pub, msg, len, sig, sig_len, detail);
}

void audit_index_save(struct audit *a, struct journal *j)
{
  struct journal_index_signer signer = {audit_index_sign, a};
  struct st_detail why = {""};
  if (journal_index_due(j) && journal_index_write(j, &signer, &why) != 0)
    st_warn("journal %s: its index could not be written (%s); the next start reads the records after the last "
            "index", journal_log_path(j), why.text);
}

int audit_checkpoint(struct audit *a, struct journal *j, struct st_detail *detail)
{
  uint64_t last = 0;
  uint8_t chain[32];
  int r = 0;
  journal_last(j, &last, chain);
  if (last != journal_last_checkpoint(j) && last != 0) {
    r = checkpoint_append(j, audit_signer(a), a->pub, detail);
    if (r == 0)
      r = journal_commit(j, detail);
    if (r == 0)
      r = audit_head_write(a, j, detail);
  }
  if (r == 0)
    audit_index_save(a, j); /* at the end of a batch and at a clean close */
  return r;
}

/* ---- the full check ---- */

/* 0 when PATH (journal.path: a directory holding journal.log, or the log
 * itself) names no journal log at all; 1 otherwise (also when that cannot
 * be told: journal_verify then says why). */
static int audit_journal_exists(const char *path)
{
  struct stat st;
  char log[4096];
  if (stat(path, &st) < 0)
    return errno != ENOENT;
  if (!S_ISDIR(st.st_mode))
    return 1;
  snprintf(log, sizeof log, "%s/journal.log", path);
  return lstat(log, &st) == 0 || errno != ENOENT;
}

struct audit_pass {
  EVP_PKEY *pub;
  const struct journal_head *head;
  const struct journal_checker *extra;
  uint8_t chain_at_head[32];
  int seen_head;
};

static int audit_check_record(void *arg, const struct journal_record *rec, const uint8_t genesis[32],
                              const uint8_t prev_chain[32], struct st_detail *detail)
{
  struct audit_pass *p = arg;
  int r = 0;
  if (rec->event == JOURNAL_EVENT_CHECKPOINT && (r = checkpoint_check(rec, genesis, prev_chain, p->pub, detail)) < 0)
    return r;
  if (p->head != NULL && rec->seq == p->head->seq) {
    memcpy(p->chain_at_head, rec->chain, 32);
    p->seen_head = 1;
  }
  if (p->extra != NULL)
    r = p->extra->check(p->extra->arg, rec, genesis, prev_chain, detail);
  return r;
}

int audit_verify(const char *path, EVP_PKEY *pub, const struct journal_head *head,
                 const struct journal_checker *extra, struct audit_verify_report *report,
                 struct st_detail *detail)
{
  struct audit_pass pass = {pub, head, extra, {0}, 0};
  struct journal_checker checker = {audit_check_record, &pass};
  struct audit_verify_report local;
  struct audit_verify_report *rep = report != NULL ? report : &local;
  struct journal_verify_report *jr = &rep->journal;
  int r;

  memset(rep, 0, sizeof *rep);
  if (head != NULL && !audit_journal_exists(path)) {
    st_detail_set(detail, "journal.path %s holds no journal, but the token holds the head of one (record %llu): "
                  "the journal was deleted or moved, or journal.path was changed", path,
                  (unsigned long long)head->seq);
    return ST_E_JOURNAL_MISSING;
  }
  r = journal_verify_with(path, &checker, jr, detail);
  if (r < 0)
    return r;
  rep->unsigned_tail = jr->last_seq - jr->last_checkpoint;
  if (head == NULL) {
    if (jr->last_seq > 0) {
      st_detail_set(detail, "the token holds no journal head: the journal's end cannot be "
                    "checked against a cut tail or a restored copy");
      r = ST_E_JOURNAL_HEAD;
    }
    return r;
  }
  rep->head_found = 1;
  rep->head = *head;
  if (memcmp(head->genesis, jr->genesis, 32) != 0) {
    r = audit_replaced(jr->genesis, detail);
  } else if (jr->last_seq < head->seq) {
    r = audit_short(jr->last_seq, jr->last_event, head, detail);
  } else if (head->seq > 0 && (!pass.seen_head || memcmp(pass.chain_at_head, head->chain, 32) != 0)) {
    st_detail_set(detail, "record %llu (line %llu)'s chain value is not the one the head kept on "
                  "the token names: the journal was rewritten from an older copy (rolled back)",
                  (unsigned long long)head->seq, (unsigned long long)head->seq + 1);
    jr->bad_seq = head->seq;
    jr->bad_line = head->seq + 1;
    r = ST_E_JOURNAL_ROLLBACK;
  } else {
    rep->head_behind = jr->last_seq - head->seq;
    /* trusted: what the last seal covers, and what the head vouches for after it */
    rep->trusted = jr->last_checkpoint > head->seq ? jr->last_checkpoint : head->seq;
    if (jr->last_seq > rep->trusted) {
      unsigned long long from = rep->trusted + 1, to = jr->last_seq;
      st_detail_set(detail, "record%s %llu%s%.0llu (line %llu%s%.0llu) %s covered by no seal (signed checkpoint) and "
                    "not vouched for by the head kept on the token: the station never released %s and does not "
                    "trust %s (a commit a crash interrupted, or records added by hand); it cuts %s at its next "
                    "start and keeps %s in a file beside the journal", from == to ? "" : "s", from,
                    from == to ? "" : " to ", from == to ? 0ULL : to, from + 1, from == to ? "" : " to ",
                    from == to ? 0ULL : to + 1, from == to ? "is" : "are", from == to ? "it" : "them",
                    from == to ? "it" : "them", from == to ? "it" : "them", from == to ? "it" : "them");
      jr->bad_seq = from;
      jr->bad_line = from + 1;
      r = ST_E_JOURNAL_UNSEALED;
    }
  }
  return r;
}
