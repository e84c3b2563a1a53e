/*
 * journal_index.c - the in-memory index of issued records.
 *
 * The station asks four questions of its journal before it signs: was this CSR
 * issued already (by CSR hash), does this device hold a certificate (the
 * latest one for a device id), was this public key certified before (the
 * first record for a key hash), was this serial ever used. The journal may
 * hold a million issued records, so the index keeps no record contents, only
 * where each record is:
 *
 *   entries   one per issued record: its location (a byte offset in the log,
 *             or past the end for a record still pending; journal.c reads it
 *             back), a 32-bit hash of each of its four keys, and the first
 *             16 bytes of the record's chain value, with which the loader
 *             checks that the line it reads back is the record indexed. 40
 *             bytes.
 *   tables    four open-addressing hash tables (linear probing), one per key,
 *             of 32-bit slots holding an entry number + 1 (0: empty). A table
 *             doubles when it would pass 3/4 full, rehashing from the stored
 *             hashes without reading the log.
 *
 * A lookup walks the probe sequence; where the stored hash equals the key's,
 * it reads that record back through the loader and compares the real key, so
 * a hash collision costs a read, never a wrong answer. With 1,000,000 issued
 * records this is 40 MiB of entries (capacity 2^20) and 4 x 8 MiB of tables
 * (2^21 slots each): about 75 bytes per record. The arrays are what the
 * index file holds (journal_index_file.c): jindex_arrays hands them out,
 * jindex_adopt takes them back.
 *
 * CSR hashes and key hashes are SHA-256 values, so their first four bytes are
 * already uniform; device ids and serials are hashed with FNV-1a and a final
 * mix.
 */
#include "journal_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"


struct jindex_table_slots {
  uint32_t *slot;  /* entry number + 1; 0 is empty */
  size_t size;     /* a power of two, or 0 before the first key */
  size_t used;
};

struct jindex {
  struct jindex_loader loader;
  struct jindex_entry *entry;
  size_t n, cap;
  struct jindex_table_slots t[JINDEX_TABLES];
  /* arrays adopted from a private mapping of the index file (jindex_adopt):
   * entries 0 to base_n - 1 stay there (entry[] then holds the ones after
   * them); the tables are written copy-on-write and move to the heap when
   * they grow */
  void *map;
  size_t map_len;
  const struct jindex_entry *base;
  size_t base_n;
  int slot_mapped[JINDEX_TABLES];
};

/* Entry number I (0-based). */
static inline const struct jindex_entry *jindex_at(const struct jindex *ix, size_t i)
{
  return i < ix->base_n ? &ix->base[i] : &ix->entry[i - ix->base_n];
}

struct jindex *jindex_new(const struct jindex_loader *loader)
{
  struct jindex *ix = calloc(1, sizeof *ix);
  if (ix != NULL)
    ix->loader = *loader;
  return ix;
}

void jindex_free(struct jindex *ix)
{
  for (int t = 0; ix != NULL && t < JINDEX_TABLES; t++)
    if (!ix->slot_mapped[t])
      free(ix->t[t].slot);
  if (ix != NULL)
    free(ix->entry);
  if (ix != NULL && ix->map != NULL)
    munmap(ix->map, ix->map_len);
  free(ix);
}

size_t jindex_memory(const struct jindex *ix)
{
  size_t n = sizeof *ix + (ix->cap + ix->base_n) * sizeof *ix->entry;
  for (int t = 0; t < JINDEX_TABLES; t++)
    n += ix->t[t].size * sizeof *ix->t[t].slot;
  return n;
}

/* The key of REC for TABLE: true and *KEY, *LEN when the record has one. */
static bool jindex_key(const struct journal_record *rec, enum jindex_table table,
                       const void **key, size_t *len)
{
  bool has = false;
  switch (table) {
  case JINDEX_CSR:
    has = rec->has_csr_sha256;
    *key = rec->csr_sha256;
    *len = 32;
    break;
  case JINDEX_KEY:
    has = rec->has_key_sha256;
    *key = rec->key_sha256;
    *len = 32;
    break;
  case JINDEX_DEVICE:
    has = rec->device != NULL && rec->device[0] != '\0';
    *key = rec->device;
    *len = has ? strlen(rec->device) : 0;
    break;
  case JINDEX_SERIAL:
    has = rec->serial_len > 0;
    *key = rec->serial;
    *len = rec->serial_len;
    break;
  default:
    break;
  }
  return has;
}

/* The 32-bit hash of a key of TABLE. */
static uint32_t jindex_hash(enum jindex_table table, const void *key, size_t len)
{
  const uint8_t *p = key;
  uint64_t h = UINT64_C(14695981039346656037);
  if (table == JINDEX_CSR || table == JINDEX_KEY) {
    h = (uint64_t)p[0] << 32 | (uint64_t)p[1] << 40 | (uint64_t)p[2] << 48 | (uint64_t)p[3] << 56;
  } else {
    for (size_t i = 0; i < len; i++)
      h = (h ^ p[i]) * UINT64_C(1099511628211);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
  }
  return (uint32_t)(h >> 32);
}

/* Looks KEY (hash H) up in TABLE. Returns 1 with *POS its slot, 0 with *POS
 * the empty slot where it would go, or a negative code from the loader. The
 * table must have a free slot. */
static int jindex_probe(struct jindex *ix, enum jindex_table table, const void *key, size_t len,
                        uint32_t h, size_t *pos)
{
  int r = 0;
  struct jindex_table_slots *t = &ix->t[table];
  struct journal_record rec;
  memset(&rec, 0, sizeof rec);
  for (size_t i = h & (t->size - 1);; i = (i + 1) & (t->size - 1)) {
    uint32_t s = t->slot[i];
    const void *k;
    size_t klen;
    *pos = i;
    if (s == 0)
      break;
    if (jindex_at(ix, s - 1)->hash[table] != h)
      continue;
    r = ix->loader.load(ix->loader.arg, jindex_at(ix, s - 1)->loc, jindex_at(ix, s - 1)->chain, &rec);
    if (r < 0)
      break;
    r = jindex_key(&rec, table, &k, &klen) && klen == len && memcmp(k, key, len) == 0;
    journal_record_cleanup(&rec);
    if (r == 1)
      break;
  }
  return r;
}

/* Makes sure TABLE can take one more key without passing 3/4 full. */
static int jindex_table_reserve(struct jindex *ix, enum jindex_table table)
{
  struct jindex_table_slots *t = &ix->t[table];
  size_t size = t->size == 0 ? 64 : t->size * 2;
  uint32_t *slot = NULL;
  if (t->size != 0 && (t->used + 1) * 4 <= t->size * 3)
    return 0;
  if (size > SIZE_MAX / sizeof *slot || (slot = calloc(size, sizeof *slot)) == NULL)
    return ST_E_NO_MEMORY;
  for (size_t i = 0; i < t->size; i++) {
    uint32_t s = t->slot[i];
    if (s == 0)
      continue;
    size_t j = jindex_at(ix, s - 1)->hash[table] & (size - 1);
    while (slot[j] != 0)
      j = (j + 1) & (size - 1);
    slot[j] = s;
  }
  if (!ix->slot_mapped[table])
    free(t->slot);
  ix->slot_mapped[table] = 0;
  t->slot = slot;
  t->size = size;
  return 0;
}

/* Makes sure one more entry, and one more key in each table, fit. */
static int jindex_reserve(struct jindex *ix)
{
  if (ix->n >= UINT32_MAX - 1)
    return ST_E_NO_MEMORY;
  if (ix->n - ix->base_n == ix->cap) {
    size_t cap = ix->cap == 0 ? 1024 : ix->cap * 2;
    struct jindex_entry *e = cap > SIZE_MAX / sizeof *e ? NULL : realloc(ix->entry, cap * sizeof *e);
    if (e == NULL)
      return ST_E_NO_MEMORY;
    ix->entry = e;
    ix->cap = cap;
  }
  for (int t = 0; t < JINDEX_TABLES; t++) {
    int r = jindex_table_reserve(ix, (enum jindex_table)t);
    if (r < 0)
      return r;
  }
  return 0;
}

int jindex_add(struct jindex *ix, uint64_t loc, const struct journal_record *rec)
{
  int r = jindex_reserve(ix);
  int found[JINDEX_TABLES] = {0}, has[JINDEX_TABLES] = {0};
  size_t pos[JINDEX_TABLES] = {0};
  struct jindex_entry *e = NULL;
  if (r < 0)
    return r;
  e = &ix->entry[ix->n - ix->base_n];
  /* First every lookup (which may fail), then every change (which cannot). */
  memset(e, 0, sizeof *e);
  e->loc = loc;
  memcpy(e->chain, rec->chain, sizeof e->chain);
  for (int t = 0; t < JINDEX_TABLES; t++) {
    const void *key;
    size_t len;
    has[t] = jindex_key(rec, (enum jindex_table)t, &key, &len);
    if (!has[t])
      continue;
    e->hash[t] = jindex_hash((enum jindex_table)t, key, len);
    r = found[t] = jindex_probe(ix, (enum jindex_table)t, key, len, e->hash[t], &pos[t]);
    if (r < 0)
      return r;
  }
  for (int t = 0; t < JINDEX_TABLES; t++) {
    if (!has[t])
      continue;
    /* A new key takes a slot; a known one keeps its first record, except a
     * device, which points to its latest. */
    if (!found[t])
      ix->t[t].used++;
    if (!found[t] || t == JINDEX_DEVICE)
      ix->t[t].slot[pos[t]] = (uint32_t)ix->n + 1;
  }
  ix->n++;
  return 0;
}

int jindex_find(struct jindex *ix, enum jindex_table table, const void *key, size_t len,
                uint64_t *loc, uint8_t chain[16])
{
  int r;
  size_t pos = 0;
  if (ix->t[table].size == 0 || len == 0)
    return 0;
  r = jindex_probe(ix, table, key, len, jindex_hash(table, key, len), &pos);
  if (r == 1) {
    *loc = jindex_at(ix, ix->t[table].slot[pos] - 1)->loc;
    memcpy(chain, jindex_at(ix, ix->t[table].slot[pos] - 1)->chain, 16);
  }
  return r;
}

void jindex_arrays(const struct jindex *ix, struct jindex_arrays *out)
{
  out->entry = ix->base;
  out->n = ix->base_n;
  out->entry2 = ix->entry;
  out->n2 = ix->n - ix->base_n;
  for (int t = 0; t < JINDEX_TABLES; t++) {
    out->slot[t] = ix->t[t].slot;
    out->size[t] = ix->t[t].size;
    out->used[t] = ix->t[t].used;
  }
}

int jindex_adopt(struct jindex *ix, struct jindex_arrays *a, void *map, size_t map_len)
{
  if (ix->n != 0 || ix->entry != NULL || ix->map != NULL || a->n2 != 0)
    return ST_E_INTERNAL;
  for (int t = 0; t < JINDEX_TABLES; t++)
    if (ix->t[t].slot != NULL)
      return ST_E_INTERNAL;
  ix->map = map;
  ix->map_len = map_len;
  ix->base = a->entry;
  ix->base_n = ix->n = a->n;
  a->entry = NULL;
  for (int t = 0; t < JINDEX_TABLES; t++) {
    ix->slot_mapped[t] = a->slot[t] != NULL;
    ix->t[t].slot = (uint32_t *)a->slot[t];
    ix->t[t].size = a->size[t];
    ix->t[t].used = a->used[t];
    a->slot[t] = NULL;
  }
  return 0;
}
