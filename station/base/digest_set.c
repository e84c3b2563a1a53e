/* digest_set.c - a set of SHA-256 digests (see digest_set.h). */
#include "digest_set.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

struct digest_slot {
  uint8_t used;
  uint8_t digest[32];
};

struct digest_set {
  struct digest_slot *slots;
  size_t cap;   /* a power of two, or 0 */
  size_t count;
};

struct digest_set *digest_set_new(void)
{
  return calloc(1, sizeof(struct digest_set));
}

static size_t digest_home(const uint8_t digest[32], size_t cap)
{
  uint64_t h;
  memcpy(&h, digest, sizeof h);
  return (size_t)(h & (cap - 1));
}

/* The slot holding DIGEST, or the empty slot where it would go. */
static struct digest_slot *digest_probe(struct digest_slot *slots, size_t cap, const uint8_t digest[32])
{
  size_t i = digest_home(digest, cap);
  while (slots[i].used && memcmp(slots[i].digest, digest, 32) != 0)
    i = (i + 1) & (cap - 1);
  return &slots[i];
}

static int digest_set_grow(struct digest_set *s)
{
  size_t cap = s->cap ? s->cap * 2 : 64;
  struct digest_slot *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return ST_E_NO_MEMORY;
  for (size_t i = 0; i < s->cap; i++)
    if (s->slots[i].used)
      *digest_probe(slots, cap, s->slots[i].digest) = s->slots[i];
  free(s->slots);
  s->slots = slots;
  s->cap = cap;
  return ST_OK;
}

int digest_set_add(struct digest_set *s, const uint8_t digest[32])
{
  struct digest_slot *slot;
  if ((s->count + 1) * 4 > s->cap * 3 && digest_set_grow(s) != ST_OK)
    return ST_E_NO_MEMORY;
  slot = digest_probe(s->slots, s->cap, digest);
  if (slot->used)
    return 0;
  slot->used = 1;
  memcpy(slot->digest, digest, 32);
  s->count++;
  return 1;
}

size_t digest_set_count(const struct digest_set *s)
{
  return s->count;
}

void digest_set_clear(struct digest_set *s)
{
  if (s->cap > 0)
    memset(s->slots, 0, s->cap * sizeof *s->slots);
  s->count = 0;
}

void digest_set_free(struct digest_set *s)
{
  if (s == NULL)
    return;
  free(s->slots);
  free(s);
}
