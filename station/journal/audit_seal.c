/*
 * audit_seal.c - what a journal's trust rests on when a station starts
 * (audit_establish in audit.h; docs/journal-format.md, "Sealed commits").
 *
 * A record is trusted only under a seal: a checkpoint after it, signed by the
 * journal key in the token. The chain links every record to the ones before
 * it, so the last checkpoint's signature vouches for the whole file up to it:
 * checking that one signature at start is enough. After it the file may hold:
 *
 *   - records the head on the token names (same seq and chain value): written
 *     by a station from before every commit was sealed, and released by it.
 *     They are sealed now, once;
 *   - anything else: a commit a crash interrupted after part of its lines
 *     reached the disk (nothing of it was released: the seal is in the same
 *     write as its records), or lines someone added by hand with the chain
 *     recomputed. Neither is trusted: the lines are copied to
 *     "<log>.unsealed-<time>" for inspection and cut from the log.
 *
 * A journal with no record is where a journal begins. It begins with a
 * journal-init record that says why: the first journal of this token, or one
 * replacing a lost journal (the lost head's seq and genesis).
 * Without `station journal init` it begins only on a token that held neither
 * the journal key nor a head (the very first run): a token that did has lost
 * its journal, and the station says so instead of starting a new one.
 */
#include "audit.h"
#include "audit_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "encoding.h"
#include "error.h"
#include "log.h"

#define AUDIT_INIT_SOURCE "station"

/* Checks the signature of J's last checkpoint. 0 (also when J has none), or
 * ST_E_CHECKPOINT with DETAIL, or the journal's read codes. */
static int audit_check_last_seal(struct audit *a, struct journal *j, struct st_detail *detail)
{
  struct journal_record rec;
  uint8_t prev[32], genesis[32];
  int r = journal_last_seal(j, &rec, prev);
  if (r == 1) {
    journal_genesis(j, genesis);
    r = checkpoint_check(&rec, genesis, prev, audit_public_key(a), detail);
  } else if (r < 0) {
    st_detail_set(detail, "cannot read the last checkpoint of journal %s back", journal_log_path(j));
  }
  journal_record_cleanup(&rec);
  return r < 0 ? r : 0;
}

/* Appends a checkpoint over everything in J, commits it, and writes the head. */
static int audit_seal_now(struct audit *a, struct journal *j, struct st_detail *detail)
{
  int r = checkpoint_append(j, audit_signer(a), audit_public_key(a), detail);
  if (r == 0)
    r = journal_commit(j, detail);
  return r;
}

/* Posts J's last record as the head and waits until it is on the token. */
static int audit_head_now(struct audit *a, struct journal *j, struct st_detail *detail)
{
  int r = audit_head_write(a, j, detail);
  return r == 0 ? audit_head_flush(a, detail) : r;
}

/* J holds no record (see audit.h). The first journal of a token begun by the
 * first run gets its journal-init record appended, not committed: the first
 * commit seals it with its own records (no signature more at a login), and
 * the head is written first with record 0, so that a run that commits
 * nothing leaves an empty journal the head names, which the next run takes
 * up the same way. `journal init` commits its record and seal at once. */
static int audit_start(struct audit *a, struct journal *j, int init, const struct journal_head *head, char *why,
                       size_t why_cap, struct st_detail *detail)
{
  int r = 0, at_first_commit = 0;
  uint8_t genesis[32];
  char text[256], g[65] = "";
  struct journal_record rec;

  journal_genesis(j, genesis);
  if (head != NULL)
    st_hex_encode(g, head->genesis, 32);
  if (head != NULL && memcmp(head->genesis, genesis, 32) == 0) {
    if (head->seq > 0) {
      return audit_short(0, JOURNAL_EVENT_CHECKPOINT, head, detail);
    }
    at_first_commit = !init; /* the empty journal the head names: begun by a run that committed nothing */
    snprintf(text, sizeof text, "first journal of this token");
  } else if (init && head != NULL) {
    snprintf(text, sizeof text, "replaces a lost journal: the head kept on the token was record %llu of "
             "journal %.16s...", (unsigned long long)head->seq, g);
  } else if (init && !audit_key_created(a)) {
    snprintf(text, sizeof text, "a new journal on a token that already holds the journal key (no head for "
             "this journal.path)");
  } else if (init || (head == NULL && audit_key_created(a))) {
    at_first_commit = !init;
    snprintf(text, sizeof text, "first journal of this token");
  } else {
    r = ST_E_JOURNAL_MISSING;
    if (head != NULL)
      st_detail_set(detail, "journal %s holds no journal records, but the token holds the head of a journal "
                    "(record %llu, genesis %.16s...): that journal was deleted or moved, or journal.path was "
                    "changed; nothing was signed. Put the journal back where journal.path says, or, if it "
                    "is lost for good, start a new one with `station journal init` (docs/key-ceremony.md)",
                    journal_log_path(j), (unsigned long long)head->seq, g);
    else
      st_detail_set(detail, "journal %s holds no journal records, but the token already holds the journal "
                    "key: the journal of this token was deleted or moved, or journal.path was changed; "
                    "nothing was signed. Put the journal back where journal.path says, or, if it is lost "
                    "for good, start a new one with `station journal init` (docs/key-ceremony.md)",
                    journal_log_path(j));
    return r;
  }
  if (at_first_commit && (r = audit_head_now(a, j, detail)) != 0)
    return r;
  memset(&rec, 0, sizeof rec);
  rec.event = JOURNAL_EVENT_INIT;
  rec.source = AUDIT_INIT_SOURCE;
  rec.detail = text;
  rec.has_key_sha256 = 1;
  r = checkpoint_key_id(audit_public_key(a), rec.key_sha256);
  if (r == 0)
    r = journal_append(j, &rec);
  if (r == 0 && !at_first_commit)
    r = audit_seal_now(a, j, detail);
  if (r == 0 && !at_first_commit)
    r = audit_head_now(a, j, detail);
  if (r != 0)
    return r;
  st_info("journal %s: a new journal begins: %s", journal_log_path(j), text);
  if (why != NULL)
    snprintf(why, why_cap, "%s", text);
  return r;
}

int audit_establish(struct audit *a, struct journal *j, int init, char *why, size_t why_cap,
                    struct st_detail *detail)
{
  int r, have;
  struct journal_head head;
  uint8_t genesis[32], chain[32], at[32];
  uint64_t last = 0, sealed = journal_sealed(j), trusted, cut = 0;
  char saved[PATH_MAX];

  memset(&head, 0, sizeof head);
  if (why != NULL && why_cap > 0)
    why[0] = '\0';
  have = r = audit_head_read(a, &head, detail);
  if (r < 0)
    return r;
  /* an index read from its file is used only once its signature verifies */
  if ((r = audit_index_check(a, j, detail)) < 0)
    return r;
  journal_genesis(j, genesis);
  journal_last(j, &last, chain);
  if (last == 0) {
    r = audit_start(a, j, init, have ? &head : NULL, why, why_cap, detail);
    if (r == 0)
      journal_trust_upto(j, UINT64_MAX);
    return r;
  }
  if (init) {
    st_detail_set(detail, "journal %s already holds %llu records: `station journal init` starts a journal only "
                  "where journal.path holds none", journal_log_path(j), (unsigned long long)last);
    return ST_E_EXISTS;
  }
  if (have && memcmp(head.genesis, genesis, 32) != 0) {
    return audit_replaced(genesis, detail);
  }
  if (have && head.seq > last) {
    return audit_short(last, sealed == last ? JOURNAL_EVENT_CHECKPOINT : JOURNAL_EVENT_ISSUED, &head, detail);
  }
  if ((r = audit_check_last_seal(a, j, detail)) < 0)
    return r;
  trusted = sealed;
  if (have && head.seq >= sealed && head.seq > 0) {
    if (!journal_chain_at(j, head.seq, at) || memcmp(at, head.chain, 32) != 0) {
      st_detail_set(detail, "record %llu's chain value is not the one the head kept on the token names: the "
                    "journal was rewritten from an older copy (rolled back)", (unsigned long long)head.seq);
      return ST_E_JOURNAL_ROLLBACK;
    }
    trusted = head.seq;
  } else if (!have && sealed == 0 && audit_key_created(a)) {
    st_warn("journal %s: its %llu records come from before the journal key existed on this token (no "
            "checkpoint, no head): they are sealed as they are", journal_log_path(j), (unsigned long long)last);
    trusted = last;
  }
  if (last > trusted) {
    r = journal_cut_after(j, trusted, saved, sizeof saved, &cut, detail);
    if (r < 0)
      return r;
    st_warn("journal %s: cut %llu record%s (%llu to %llu) that no seal covers and the head on the token does "
            "not vouch for: the station never released %s (a commit a crash interrupted, or records added by "
            "hand); the lines are kept in %s", journal_log_path(j), (unsigned long long)cut, cut == 1 ? "" : "s",
            (unsigned long long)trusted + 1, (unsigned long long)last, cut == 1 ? "it" : "them", saved);
  }
  if (trusted > sealed) {
    r = audit_seal_now(a, j, detail);
    if (r < 0)
      return r;
    st_info("journal %s: sealed records %llu to %llu, which the head on the token vouches for", journal_log_path(j),
            (unsigned long long)sealed + 1, (unsigned long long)trusted);
  }
  journal_trust_upto(j, UINT64_MAX);
  return audit_head_now(a, j, detail);
}
