/* Fixed-size thread pool with a FIFO queue, a countdown latch, and a
 * parallel-for in which the calling thread helps (so nested use from a pool
 * thread cannot deadlock). */
#include "util/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct zt_task {
    zt_task_fn fn;
    void *arg;
    struct zt_task *next;
} zt_task;

struct zt_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    zt_task *head, *tail;
    bool stop;
    int n;
    pthread_t *threads;
};

static void *zt__pool_main(void *p_) {
    zt_pool *p = p_;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        if (!p->head && p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        zt_task *t = p->head;
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        t->fn(t->arg);
        free(t);
    }
}

int zt__pool_create(int nthreads, zt_pool **out) {
    zt_pool *p = calloc(1, sizeof *p);
    if (!p) return zt__err(ZT_ENOMEM, "out of memory");
    if (nthreads < 1) nthreads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)nthreads, sizeof(pthread_t));
    if (!p->threads) { free(p); return zt__err(ZT_ENOMEM, "out of memory"); }
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, zt__pool_main, p) != 0) break;
        p->n++;
    }
    if (p->n == 0) {
        free(p->threads);
        free(p);
        return zt__err(ZT_ENOMEM, "cannot start threads");
    }
    *out = p;
    return 0;
}

void zt__pool_free(zt_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

int zt__pool_nthreads(const zt_pool *p) { return p->n; }

int zt__pool_submit(zt_pool *p, zt_task_fn fn, void *arg) {
    zt_task *t = malloc(sizeof *t);
    if (!t) return zt__err(ZT_ENOMEM, "out of memory");
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = t;
    else p->head = t;
    p->tail = t;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static zt_pool *zt__global;
static pthread_mutex_t zt__global_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t zt__atfork_once = PTHREAD_ONCE_INIT;

static void zt__global_free(void) {
    zt__pool_free(zt__global);
    zt__global = NULL;
}

/* fork(): the child inherits the pool but none of its threads, so tasks
 * would never run (a forked multiprocessing worker would hang). The child
 * abandons it and creates a fresh pool on first use. */
static void zt__pool_prefork(void) { pthread_mutex_lock(&zt__global_mu); }
static void zt__pool_postfork_parent(void) { pthread_mutex_unlock(&zt__global_mu); }
static void zt__pool_postfork_child(void) {
    pthread_mutex_init(&zt__global_mu, NULL);
    zt__global = NULL;
}

static void zt__pool_atfork(void) {
    pthread_atfork(zt__pool_prefork, zt__pool_postfork_parent, zt__pool_postfork_child);
    atexit(zt__global_free);
}

zt_pool *zt__pool_global(void) {
    pthread_once(&zt__atfork_once, zt__pool_atfork);
    pthread_mutex_lock(&zt__global_mu);
    if (!zt__global) {
        int n = zt__ncpu();
        const char *e = getenv("ZARRTRAJ_THREADS");
        if (e && atoi(e) > 0) n = atoi(e);
        if (zt__pool_create(n, &zt__global) != 0) zt__global = NULL;
    }
    zt_pool *p = zt__global;
    pthread_mutex_unlock(&zt__global_mu);
    return p;
}

struct zt_latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
};

zt_latch *zt__latch_new(void) {
    zt_latch *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    return l;
}

void zt__latch_add(zt_latch *l, int n) {
    pthread_mutex_lock(&l->mu);
    l->count += n;
    pthread_mutex_unlock(&l->mu);
}

void zt__latch_done(zt_latch *l) {
    pthread_mutex_lock(&l->mu);
    if (--l->count <= 0) pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void zt__latch_wait(zt_latch *l) {
    pthread_mutex_lock(&l->mu);
    while (l->count > 0) pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void zt__latch_free(zt_latch *l) {
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

typedef struct zt_pfor {
    void (*fn)(void *);
    uint8_t *args;
    size_t stride, n;
    atomic_size_t next;
    zt_latch *latch;
} zt_pfor;

static void zt__pfor_run(zt_pfor *f) {
    for (;;) {
        size_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->n) break;
        f->fn(f->args + i * f->stride);
    }
}

static void zt__pfor_worker(void *arg) {
    zt_pfor *f = arg;
    zt__pfor_run(f);
    zt__latch_done(f->latch);
}

void zt__parallel_for(zt_pool *p, size_t n, void (*fn)(void *item), void *args, size_t stride) {
    if (n == 0) return;
    zt_pfor f = {fn, args, stride, n, 0, NULL};
    int helpers = p ? zt__pool_nthreads(p) : 0;
    if ((size_t)helpers > n - 1) helpers = (int)(n - 1);
    zt_latch *l = helpers > 0 ? zt__latch_new() : NULL;
    if (!l) helpers = 0;
    f.latch = l;
    int started = 0;
    for (int i = 0; i < helpers; i++) {
        zt__latch_add(l, 1);
        if (zt__pool_submit(p, zt__pfor_worker, &f) != 0) {
            zt__latch_done(l);
            break;
        }
        started++;
    }
    zt__pfor_run(&f);
    if (l) {
        zt__latch_wait(l);
        zt__latch_free(l);
    }
    (void)started;
}
