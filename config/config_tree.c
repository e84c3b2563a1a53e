/*
 * config_tree.c - YAML text to a tree of cfg_node, with libyaml's event API.
 *
 * This is the only file of the station that includes <yaml.h>. The events of
 * one document are folded into cfg_node trees (a stack of the containers still
 * open), keeping for each node where it starts in the file. Anything the
 * configuration has no use for and that could be abused is refused here:
 * a second document, anchors and aliases (the "billion laughs"), explicit tags,
 * and nesting deeper than CFG_MAX_DEPTH. Syntax errors carry libyaml's own
 * problem text and position.
 */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "error.h"
#include "xbuf.h"

/* The state of one parse: the tree so far and the containers still open. */
struct tree_builder {
  const struct cfg_ctx *ctx;
  const char *text;
  size_t len;
  struct cfg_node *root;
  struct cfg_node *open[CFG_MAX_DEPTH];
  size_t depth;
  unsigned documents;
  bool finished;
};

void cfg_tree_free(struct cfg_node *node)
{
  if (node == NULL)
    return;
  for (size_t i = 0; i < node->item_count; i++)
    cfg_tree_free(node->items[i]);
  free(node->items);
  free(node->text);
  free(node);
}

/* A new node of KIND starting at MARK; NULL when out of memory. */
static struct cfg_node *tree_node_new(enum cfg_node_kind kind, yaml_mark_t mark)
{
  struct cfg_node *node = calloc(1, sizeof *node);
  if (node != NULL) {
    node->kind = kind;
    node->line = (unsigned)mark.line + 1;
    node->column = (unsigned)mark.column + 1;
  }
  return node;
}

/* Adds CHILD to the innermost open container, or makes it the root. Takes
 * CHILD in every case (freed on failure). */
static int tree_attach(struct tree_builder *b, struct cfg_node *child)
{
  int r = ST_E_NO_MEMORY;
  struct cfg_node *parent = b->depth > 0 ? b->open[b->depth - 1] : NULL, **items;

  if (parent == NULL) {
    b->root = child;
    child = NULL;
    r = 0;
    goto out;
  }
  items = st_array_grow(parent->items, &parent->item_capacity, parent->item_count, sizeof *items, 8, 0);
  if (items == NULL) {
    r = cfg_fail_memory(b->ctx);
    goto out;
  }
  parent->items = items;
  parent->items[parent->item_count++] = child;
  child = NULL;
  r = 0;
out:
  cfg_tree_free(child);
  return r;
}

/* Refuses an anchor or an explicit tag on the node starting at MARK. */
static int tree_refuse_decorations(struct tree_builder *b, yaml_mark_t mark,
                                   const yaml_char_t *anchor, const yaml_char_t *tag)
{
  int r = 0;
  unsigned line = (unsigned)mark.line + 1, column = (unsigned)mark.column + 1;

  if (anchor != NULL)
    r = cfg_fail_at(b->ctx, line, column,
                    "anchors and aliases are not allowed (found anchor &%.40s); write the value out",
                    (const char *)anchor);
  else if (tag != NULL)
    r = cfg_fail_at(b->ctx, line, column,
                    "tags are not allowed (found %.40s); write a plain or quoted value",
                    (const char *)tag);
  return r;
}

/* Adds the scalar of EVENT to the tree. */
static int tree_take_scalar(struct tree_builder *b, const yaml_event_t *event)
{
  int r = tree_refuse_decorations(b, event->start_mark, event->data.scalar.anchor,
                                  event->data.scalar.tag);
  struct cfg_node *node = NULL;

  if (r != 0)
    goto out;
  node = tree_node_new(CFG_NODE_SCALAR, event->start_mark);
  if (node == NULL || (node->text = malloc(event->data.scalar.length + 1)) == NULL) {
    r = cfg_fail_memory(b->ctx);
    goto out;
  }
  memcpy(node->text, event->data.scalar.value, event->data.scalar.length);
  node->text[event->data.scalar.length] = '\0';
  node->length = event->data.scalar.length;
  node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  r = tree_attach(b, node);
  node = NULL;
out:
  cfg_tree_free(node);
  return r;
}

/* Opens a sequence or a mapping (KIND) that starts at MARK. */
static int tree_open(struct tree_builder *b, enum cfg_node_kind kind, yaml_mark_t mark,
                     const yaml_char_t *anchor, const yaml_char_t *tag)
{
  int r = tree_refuse_decorations(b, mark, anchor, tag);
  struct cfg_node *node = NULL;

  if (r != 0)
    goto out;
  if (b->depth == CFG_MAX_DEPTH) {
    r = cfg_fail_at(b->ctx, (unsigned)mark.line + 1, (unsigned)mark.column + 1,
                    "nesting deeper than %d levels: expected the flat layout of the station's configuration",
                    CFG_MAX_DEPTH);
    goto out;
  }
  node = tree_node_new(kind, mark);
  if (node == NULL) {
    r = cfg_fail_memory(b->ctx);
    goto out;
  }
  b->open[b->depth] = node;
  r = tree_attach(b, node);   /* takes the node, even when it fails */
  node = NULL;
  if (r == 0)
    b->depth++;
out:
  cfg_tree_free(node);
  return r;
}

/* Folds one parser event into the tree. */
static int tree_take_event(struct tree_builder *b, const yaml_event_t *event)
{
  int r = 0;

  switch (event->type) {
  case YAML_DOCUMENT_START_EVENT:
    if (++b->documents > 1)
      r = cfg_fail_at(b->ctx, (unsigned)event->start_mark.line + 1,
                      (unsigned)event->start_mark.column + 1,
                      "a second YAML document: expected exactly one document in the file");
    break;
  case YAML_ALIAS_EVENT:
    r = cfg_fail_at(b->ctx, (unsigned)event->start_mark.line + 1,
                    (unsigned)event->start_mark.column + 1,
                    "anchors and aliases are not allowed (found alias *%.40s); write the value out",
                    (const char *)event->data.alias.anchor);
    break;
  case YAML_SCALAR_EVENT:
    r = tree_take_scalar(b, event);
    break;
  case YAML_SEQUENCE_START_EVENT:
    r = tree_open(b, CFG_NODE_SEQUENCE, event->start_mark, event->data.sequence_start.anchor,
                  event->data.sequence_start.tag);
    break;
  case YAML_MAPPING_START_EVENT:
    r = tree_open(b, CFG_NODE_MAPPING, event->start_mark, event->data.mapping_start.anchor,
                  event->data.mapping_start.tag);
    break;
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    b->depth--;   /* libyaml only emits balanced ends */
    break;
  case YAML_STREAM_END_EVENT:
    b->finished = true;
    break;
  default:        /* stream start, document end, no event */
    break;
  }
  return r;
}

/* Line and column (1-based) of byte OFFSET of the text, counting UTF-8
 * characters; used for reader errors, which libyaml gives as an offset. */
static void tree_position_of(const struct tree_builder *b, size_t offset, unsigned *line,
                             unsigned *column)
{
  *line = 1;
  *column = 1;
  for (size_t i = 0; i < offset && i < b->len; i++) {
    unsigned char c = (unsigned char)b->text[i];
    if (c == '\n') {
      ++*line;
      *column = 1;
    } else if ((c & 0xc0) != 0x80) {
      ++*column;
    }
  }
}

/* Turns libyaml's failure into the station's message. */
static int tree_fail_syntax(const struct tree_builder *b, const yaml_parser_t *parser)
{
  const char *problem = parser->problem != NULL ? parser->problem : "unknown error";
  unsigned line, column;
  int r;

  if (parser->error == YAML_MEMORY_ERROR) {
    r = cfg_fail_memory(b->ctx);
  } else if (parser->error == YAML_READER_ERROR) {
    tree_position_of(b, parser->problem_offset, &line, &column);
    if (parser->problem_value >= 0)
      r = cfg_fail_at(b->ctx, line, column, "invalid YAML: %s (byte 0x%02x); expected UTF-8 text",
                      problem, (unsigned)parser->problem_value);
    else
      r = cfg_fail_at(b->ctx, line, column, "invalid YAML: %s; expected UTF-8 text", problem);
  } else if (parser->context != NULL) {
    r = cfg_fail_at(b->ctx, (unsigned)parser->problem_mark.line + 1,
                    (unsigned)parser->problem_mark.column + 1,
                    "invalid YAML: %s (%s at line %u, column %u)", problem, parser->context,
                    (unsigned)parser->context_mark.line + 1, (unsigned)parser->context_mark.column + 1);
  } else {
    r = cfg_fail_at(b->ctx, (unsigned)parser->problem_mark.line + 1,
                    (unsigned)parser->problem_mark.column + 1, "invalid YAML: %s", problem);
  }
  return r;
}

int cfg_tree_parse(const struct cfg_ctx *ctx, const char *text, size_t len, struct cfg_node **root)
{
  int r = ST_E_CONFIG;
  struct tree_builder b = {.ctx = ctx, .text = text != NULL ? text : "", .len = len};
  yaml_parser_t parser;
  bool parser_ready = false;
  yaml_event_t event;

  *root = NULL;
  if (!yaml_parser_initialize(&parser)) {
    r = cfg_fail_memory(ctx);
    goto out;
  }
  parser_ready = true;
  yaml_parser_set_input_string(&parser, (const unsigned char *)b.text, b.len);
  while (!b.finished) {
    if (!yaml_parser_parse(&parser, &event)) {
      r = tree_fail_syntax(&b, &parser);
      goto out;
    }
    r = tree_take_event(&b, &event);
    yaml_event_delete(&event);
    if (r != 0)
      goto out;
  }
  if (b.root == NULL) {
    r = cfg_fail_at(ctx, 1, 1, "empty file: expected a mapping with factory, hsm, ca and journal");
    goto out;
  }
  *root = b.root;
  b.root = NULL;
  r = 0;
out:
  cfg_tree_free(b.root);
  if (parser_ready)
    yaml_parser_delete(&parser);
  return r;
}
