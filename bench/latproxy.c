/* latproxy: a TCP proxy on 127.0.0.1 that adds a fixed one-way latency to
 * every byte in both directions, like a long network path, without limiting
 * bandwidth (a delay line per direction: bytes are timestamped when they
 * arrive and released LATENCY later). The benchmark suite uses it in front of
 * nginx and the S3 emulator; written in C so that the proxy itself is never
 * the bottleneck on a small machine (a store-and-forward Python proxy
 * saturates a core at a few hundred MB/s).
 *
 *   latproxy --upstream 127.0.0.1:PORT --latency-ms 25 [--rate-mbps R] [--port-file F] [--lifetime S] [--log F]
 *
 * --rate-mbps R limits each connection to R MB/s in each direction, as one
 * stream of an object store is limited (tens of MB/s) while many streams
 * together are not; 0 (default) does not limit.
 *
 * --log appends one line per HTTP request seen from the client (method and
 * target), so a benchmark can count requests of every tool alike. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int up_port;
static long latency_ns;
static double rate_bps; /* bytes per second per connection and direction; 0 = unlimited */
static FILE *reqlog;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct seg {
    struct seg *next;
    struct timespec due;
    size_t n;
    char data[];
} seg;

typedef struct pipe_ {
    int from, to;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    seg *head, *tail;
    int eof;
    int scan;          /* client->upstream: look for request lines */
    char line[256];    /* start of the current line */
    size_t linelen;
    int at_start;      /* at the start of a line */
    seg *spare;        /* written segments kept for reuse: no fresh memory per MB */
    int nspare;
    struct timespec free_at; /* --rate-mbps: when the connection may send again */
} pipe_;

/* Log request lines ("GET /key HTTP/1.1") of the client stream. Bodies of
 * PUTs are scanned too; benchmarks only count reads. */
static void scan_requests(pipe_ *p, const char *d, size_t n) {
    static const char *methods[] = {"GET ", "HEAD ", "PUT ", "POST ", "DELETE "};
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (p->linelen < sizeof p->line - 1) p->line[p->linelen++] = c;
        if (c != '\n') continue;
        p->line[p->linelen] = 0;
        if (p->at_start)
            for (size_t m = 0; m < sizeof methods / sizeof *methods; m++)
                if (!strncmp(p->line, methods[m], strlen(methods[m]))) {
                    pthread_mutex_lock(&log_mu);
                    fputs(p->line, reqlog);
                    fflush(reqlog);
                    pthread_mutex_unlock(&log_mu);
                    break;
                }
        p->linelen = 0;
        p->at_start = 1;
    }
}

static void ts_add(struct timespec *t, long ns) {
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

/* Reader: timestamp and queue what arrives. */
static void *reader(void *arg) {
    pipe_ *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        seg *s = p->spare;
        if (s) {
            p->spare = s->next;
            p->nspare--;
        }
        pthread_mutex_unlock(&p->mu);
        if (!s) s = malloc(sizeof *s + (1 << 20));
        if (!s) break;
        ssize_t k = read(p->from, s->data, 1 << 20);
        if (k <= 0) {
            free(s);
            break;
        }
        if (p->scan && reqlog) scan_requests(p, s->data, (size_t)k);
        clock_gettime(CLOCK_MONOTONIC, &s->due);
        ts_add(&s->due, latency_ns);
        s->n = (size_t)k;
        s->next = NULL;
        pthread_mutex_lock(&p->mu);
        if (p->tail) p->tail->next = s;
        else p->head = s;
        p->tail = s;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->eof = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Writer: release each segment when it is due. */
static void *writer(void *arg) {
    pipe_ *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->eof) pthread_cond_wait(&p->cv, &p->mu);
        seg *s = p->head;
        if (s) {
            p->head = s->next;
            if (!p->head) p->tail = NULL;
        }
        pthread_mutex_unlock(&p->mu);
        if (!s) break;
        struct timespec at = s->due;
        if (rate_bps > 0) { /* not before the previous segment has drained at the rate */
            if (p->free_at.tv_sec > at.tv_sec || (p->free_at.tv_sec == at.tv_sec && p->free_at.tv_nsec > at.tv_nsec))
                at = p->free_at;
            p->free_at = at;
            ts_add(&p->free_at, (long)((double)s->n / rate_bps * 1e9));
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {
        }
        size_t off = 0;
        while (off < s->n) {
            ssize_t k = write(p->to, s->data + off, s->n - off);
            if (k <= 0) break;
            off += (size_t)k;
        }
        int gone = off != s->n;
        pthread_mutex_lock(&p->mu);
        if (p->nspare < 64) {
            s->next = p->spare;
            p->spare = s;
            p->nspare++;
            s = NULL;
        }
        pthread_mutex_unlock(&p->mu);
        free(s);
        if (gone) { /* peer gone: unblock the reader side and drop the rest */
            shutdown(p->from, SHUT_RD);
            pthread_mutex_lock(&p->mu);
            while (!p->eof) {
                while (p->head) {
                    seg *x = p->head;
                    p->head = x->next;
                    free(x);
                }
                p->tail = NULL;
                pthread_cond_wait(&p->cv, &p->mu);
            }
            while (p->head) {
                seg *x = p->head;
                p->head = x->next;
                free(x);
            }
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
    shutdown(p->to, SHUT_WR);
    return NULL;
}

typedef struct conn {
    int c, u;
} conn;

static void *serve(void *arg) {
    conn *cn = arg;
    pipe_ up = {.from = cn->c, .to = cn->u, .scan = 1, .at_start = 1}, down = {.from = cn->u, .to = cn->c};
    pthread_mutex_init(&up.mu, NULL);
    pthread_cond_init(&up.cv, NULL);
    pthread_mutex_init(&down.mu, NULL);
    pthread_cond_init(&down.cv, NULL);
    pthread_t t[4];
    pthread_create(&t[0], NULL, reader, &up);
    pthread_create(&t[1], NULL, writer, &up);
    pthread_create(&t[2], NULL, reader, &down);
    pthread_create(&t[3], NULL, writer, &down);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    pipe_ *ps[2] = {&up, &down};
    for (int k = 0; k < 2; k++)
        while (ps[k]->spare) {
            seg *x = ps[k]->spare;
            ps[k]->spare = x->next;
            free(x);
        }
    close(cn->c);
    close(cn->u);
    free(cn);
    return NULL;
}

int main(int argc, char **argv) {
    const char *port_file = NULL;
    double lifetime = 3600, lat_ms = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--upstream")) {
            const char *c = strrchr(argv[i + 1], ':');
            up_port = atoi(c ? c + 1 : argv[i + 1]);
        } else if (!strcmp(argv[i], "--latency-ms")) lat_ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rate-mbps")) rate_bps = atof(argv[i + 1]) * 1e6;
        else if (!strcmp(argv[i], "--port-file")) port_file = argv[i + 1];
        else if (!strcmp(argv[i], "--lifetime")) lifetime = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--log")) reqlog = fopen(argv[i + 1], "a");
    }
    if (up_port <= 0) {
        fprintf(stderr, "usage: latproxy --upstream 127.0.0.1:PORT --latency-ms MS [--rate-mbps R] [--port-file F] "
                        "[--lifetime S] [--log F]\n");
        return 2;
    }
    latency_ns = (long)(lat_ms * 1e6);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 256)) {
        perror("latproxy: bind/listen");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d\n", ntohs(a.sin_port));
            fclose(f);
            rename(tmp, port_file);
        }
    } else {
        printf("%d\n", ntohs(a.sin_port));
        fflush(stdout);
    }
    alarm((unsigned)lifetime); /* bounded in time: never outlives a benchmark */
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) continue;
        int u = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in ua = {.sin_family = AF_INET, .sin_port = htons((uint16_t)up_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(u, (struct sockaddr *)&ua, sizeof ua)) {
            close(c);
            close(u);
            continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *cn = malloc(sizeof *cn);
        cn->c = c;
        cn->u = u;
        pthread_t t;
        if (pthread_create(&t, NULL, serve, cn) == 0) pthread_detach(t);
        else {
            close(c);
            close(u);
            free(cn);
        }
    }
}
