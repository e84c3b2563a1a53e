/*
 * audit_internal.h - what audit.c and audit_seal.c share; not for the rest
 * of the station (the contract is audit.h).
 */
#ifndef STATION_AUDIT_INTERNAL_H
#define STATION_AUDIT_INTERNAL_H

#include <stdint.h>

#include "checkpoint.h"
#include "journal.h"

struct st_detail;
struct audit;

/* Says why a journal ending at LAST (its last record's EVENT) falls short of
 * HEAD, and returns ST_E_JOURNAL_ROLLBACK (it ends on a checkpoint, or has
 * no record) or ST_E_JOURNAL_TRUNCATED. */
int audit_short(uint64_t last, enum journal_event event, const struct journal_head *head,
                struct st_detail *detail);

/* Says that GENESIS is not the head's; returns ST_E_JOURNAL_REPLACED. */
int audit_replaced(const uint8_t genesis[32], struct st_detail *detail);

/* When J was read through its index file (journal_index_claim): checks the
 * index's signature with the journal key, and trusts the index, or discards
 * it and has J read the whole log (journal_index_settle). Returns 0 or
 * journal_index_settle's code. */
int audit_index_check(struct audit *a, struct journal *j, struct st_detail *detail);

/* Writes J's index file, signed by the journal key, when it is due
 * (journal_index_due). A failure is only said on stderr: the next start
 * reads more of the log. */
void audit_index_save(struct audit *a, struct journal *j);

#endif
