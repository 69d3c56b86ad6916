/* The I/O engine: one curl multi handle driven by one dedicated thread, shared
 * by every network store in the process. Callers prepare easy handles in their
 * own thread, submit them, and wait on a private waiter; the I/O thread only
 * adds handles, drives the transfers and hands finished ones back. So
 * completions are processed (and callbacks run) in the calling thread, and any
 * number of threads can use the engine at once. One multi handle gives
 * connection reuse and HTTP/2 multiplexing across all of them.
 *
 * The engine lives while at least one network store is open (reference
 * counted), so a program that closes its stores leaves no thread behind. */
#include "store/net/net.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct zt_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    zt_hreq *head, *tail; /* completed, not yet taken */
};

typedef struct zt_engine {
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    zt_hreq *incoming; /* submitted, not yet added (LIFO is fine: order is free) */
    bool stop;
} zt_engine;

static pthread_mutex_t zt__eng_mu = PTHREAD_MUTEX_INITIALIZER;
static zt_engine *zt__eng;
static int zt__eng_refs;
static pthread_once_t zt__curl_once = PTHREAD_ONCE_INIT;
static CURLcode zt__curl_init_rc;

/* fork(): the child has no I/O thread, so an inherited engine would hang its
 * first request. The child abandons it (stores opened before the fork are not
 * usable there) and starts a fresh one on demand. */
static void zt__eng_prefork(void) { pthread_mutex_lock(&zt__eng_mu); }
static void zt__eng_postfork_parent(void) { pthread_mutex_unlock(&zt__eng_mu); }
static void zt__eng_postfork_child(void) {
    pthread_mutex_init(&zt__eng_mu, NULL);
    zt__eng = NULL;
    zt__eng_refs = 0;
}

static void zt__curl_global(void) {
    zt__curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_atfork(zt__eng_prefork, zt__eng_postfork_parent, zt__eng_postfork_child);
}

static void zt__deliver(zt_hreq *h) {
    zt_waiter *w = h->waiter;
    pthread_mutex_lock(&w->mu);
    h->qnext = NULL;
    if (w->tail) w->tail->qnext = h;
    else w->head = h;
    w->tail = h;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *zt__engine_main(void *arg) {
    zt_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        zt_hreq *in = e->incoming;
        e->incoming = NULL;
        bool stop = e->stop;
        pthread_mutex_unlock(&e->mu);
        while (in) {
            zt_hreq *next = in->qnext;
            CURLMcode mc = curl_multi_add_handle(e->multi, in->easy);
            if (mc != CURLM_OK) {
                in->cc = CURLE_FAILED_INIT;
                snprintf(in->errbuf, sizeof in->errbuf, "curl_multi_add_handle: %s",
                         curl_multi_strerror(mc));
                zt__deliver(in);
            }
            in = next;
        }
        int running = 0;
        curl_multi_perform(e->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *easy = msg->easy_handle;
            CURLcode cc = msg->data.result;
            zt_hreq *h = NULL;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h);
            curl_multi_remove_handle(e->multi, easy);
            if (h) {
                h->cc = (int)cc;
                zt__deliver(h);
            }
        }
        /* Callers wait for all their transfers, so at stop none remain. */
        if (stop && running == 0) break;
        curl_multi_poll(e->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

int zt__engine_acquire(void) {
    pthread_once(&zt__curl_once, zt__curl_global);
    if (zt__curl_init_rc != CURLE_OK) return zt__err(ZT_ENET, "libcurl initialisation failed");
    pthread_mutex_lock(&zt__eng_mu);
    int rc = 0;
    if (!zt__eng) {
        zt_engine *e = calloc(1, sizeof *e);
        if (!e || !(e->multi = curl_multi_init())) {
            free(e);
            rc = zt__err(ZT_ENOMEM, "cannot create the curl multi handle");
        } else {
            /* Multiplex HTTP/2 streams over shared connections; keep enough
             * idle connections for the default concurrency. */
            curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
            curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, 128L);
            curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
            pthread_mutex_init(&e->mu, NULL);
            if (pthread_create(&e->thread, NULL, zt__engine_main, e) != 0) {
                curl_multi_cleanup(e->multi);
                pthread_mutex_destroy(&e->mu);
                free(e);
                rc = zt__err(ZT_ENOMEM, "cannot start the network I/O thread");
            } else {
                zt__eng = e;
            }
        }
    }
    if (!rc) zt__eng_refs++;
    pthread_mutex_unlock(&zt__eng_mu);
    return rc;
}

void zt__engine_release(void) {
    pthread_mutex_lock(&zt__eng_mu);
    zt_engine *e = NULL;
    if (zt__eng_refs > 0 && --zt__eng_refs == 0) {
        e = zt__eng;
        zt__eng = NULL;
    }
    pthread_mutex_unlock(&zt__eng_mu);
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_mutex_unlock(&e->mu);
    curl_multi_wakeup(e->multi);
    pthread_join(e->thread, NULL);
    curl_multi_cleanup(e->multi);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

int zt__engine_submit(zt_hreq *h, zt_waiter *w) {
    pthread_mutex_lock(&zt__eng_mu);
    zt_engine *e = zt__eng;
    pthread_mutex_unlock(&zt__eng_mu);
    if (!e) return zt__err(ZT_ESTATE, "network engine not running");
    h->waiter = w;
    curl_easy_setopt(h->easy, CURLOPT_PRIVATE, (char *)h);
    pthread_mutex_lock(&e->mu);
    h->qnext = e->incoming;
    e->incoming = h;
    pthread_mutex_unlock(&e->mu);
    curl_multi_wakeup(e->multi);
    return 0;
}

zt_waiter *zt__waiter_new(void) {
    zt_waiter *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    return w;
}

void zt__waiter_free(zt_waiter *w) {
    if (!w) return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

zt_hreq *zt__waiter_wait(zt_waiter *w, double timeout) {
    struct timespec ts;
    if (timeout >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + timeout;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    }
    pthread_mutex_lock(&w->mu);
    while (!w->head) {
        if (timeout < 0) pthread_cond_wait(&w->cv, &w->mu);
        else if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0) break;
    }
    zt_hreq *h = w->head;
    if (h) {
        w->head = h->qnext;
        if (!w->head) w->tail = NULL;
        h->qnext = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    return h;
}
