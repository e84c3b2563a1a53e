/*
 * digest_set.h - a set of SHA-256 digests.
 *
 * Open addressing with linear probing over the digests' first eight bytes
 * (already uniform), doubling when it would pass 3/4 full. The station uses
 * it to tell a CSR it refused before from a new one (the console's shift
 * counters count a re-signed stick's refusals as repeats).
 */
#ifndef STATION_DIGEST_SET_H
#define STATION_DIGEST_SET_H

#include <stddef.h>
#include <stdint.h>

struct digest_set;

/* An empty set, or NULL (out of memory). */
struct digest_set *digest_set_new(void);

/* Adds DIGEST (32 bytes). Returns 1 when it was not in the set, 0 when it
 * was, or ST_E_NO_MEMORY (the set is unchanged). */
int digest_set_add(struct digest_set *s, const uint8_t digest[32]);

/* The digests in S. */
size_t digest_set_count(const struct digest_set *s);

/* Empties S, keeping its memory. */
void digest_set_clear(struct digest_set *s);

/* Frees S; NULL is fine. */
void digest_set_free(struct digest_set *s);

#endif
