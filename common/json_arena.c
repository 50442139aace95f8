#include "json_arena.h"

#include <cJSON.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* The first chunk holds the tree of any ordinary tweet (a 4 KB event makes about
 * 30 KB of nodes and strings); bigger documents chain more chunks. */
#define S_FIRST_CHUNK (128 * 1024)
#define S_ALIGN 16

typedef struct chunk_t {
    struct chunk_t *next;
    size_t size, used;
    _Alignas(S_ALIGN) unsigned char data[];
} chunk_t;

typedef struct {
    chunk_t *first, *current;
    int active;
} arena_t;

static __thread arena_t s_arena;
static pthread_once_t s_hooks_once = PTHREAD_ONCE_INIT;

static int s_owns(const arena_t *a, const void *p)
{
    for (const chunk_t *c = a->first; c; c = c->next)
        if ((const unsigned char *) p >= c->data && (const unsigned char *) p < c->data + c->size)
            return 1;
    return 0;
}

static chunk_t *s_chunk_new(size_t size)
{
    chunk_t *c = malloc(sizeof *c + size);
    if (c) {
        c->next = NULL;
        c->size = size;
        c->used = 0;
    }
    return c;
}

static void *s_alloc(size_t size)
{
    arena_t *a = &s_arena;
    if (!a->active)
        return malloc(size);
    size = (size + S_ALIGN - 1) & ~(size_t) (S_ALIGN - 1);
    chunk_t *c = a->current;
    if (!c || c->size - c->used < size) {
        /* the next chunk of the chain if it is big enough, else a new one after it */
        chunk_t *next = c ? c->next : a->first;
        if (!next || next->size < size) {
            size_t want = size > S_FIRST_CHUNK ? size : S_FIRST_CHUNK;
            chunk_t *fresh = s_chunk_new(want);
            if (!fresh)
                return NULL;
            if (c) {
                fresh->next = c->next;
                c->next = fresh;
            } else {
                fresh->next = a->first;
                a->first = fresh;
            }
            next = fresh;
        }
        next->used = 0;
        a->current = c = next;
    }
    void *p = c->data + c->used;
    c->used += size;
    return p;
}

void *rtp_json_arena_alloc(size_t size)
{
    return s_arena.active ? s_alloc(size) : NULL;
}

static void s_free(void *p)
{
    /* inside the window the tree goes all at once at end(); a pointer of ours
     * freed outside it (a tree kept past end(), which is a bug) is ignored too */
    if (p && !s_owns(&s_arena, p))
        free(p);
}

static void s_install_hooks(void)
{
    cJSON_Hooks hooks = {s_alloc, s_free};
    cJSON_InitHooks(&hooks);
}

void rtp_json_arena_begin(void)
{
    pthread_once(&s_hooks_once, s_install_hooks);
    arena_t *a = &s_arena;
    a->current = a->first;
    if (a->first)
        a->first->used = 0;
    a->active = 1;
}

void rtp_json_arena_end(void)
{
    arena_t *a = &s_arena;
    a->active = 0;
    /* keep one chunk of the ordinary size for the next parse, free the rest */
    chunk_t *keep = NULL, *c = a->first;
    while (c) {
        chunk_t *next = c->next;
        if (!keep && c->size == S_FIRST_CHUNK) {
            keep = c;
            keep->next = NULL;
            keep->used = 0;
        } else
            free(c);
        c = next;
    }
    a->first = a->current = keep;
}
